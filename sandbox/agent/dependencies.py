"""Flux's dependsOn (and an app its parent must apply first): an app syncs only once the apps
it depends on are Ready. A following agent looks again every few seconds and never waits in
place; a one-shot command, whose apps sync in order, waits here."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod

from sandbox.agent.commands import DependsOn
from sandbox.agent.failures import Failure
from sandbox.agent.services import Services
from sandbox.agent.settings import AppSettings
from sandbox.apply.desired import DesiredSet
from sandbox.source.appconfig import AppSpec

DEPENDS_POLL = 2.0  # how often an app waiting for its dependsOn looks again
DEPENDS_TIMEOUT = 300.0  # a one-shot sync waits this long for them (Flux's default timeout is its interval)


class Dependencies(ABC):
    """The dependsOn part of an app's controller (``AppController``): what it reads and
    changes of the controller is declared here."""

    s: Services
    spec: AppSpec
    settings: AppSettings
    automated: bool
    target: DesiredSet | None
    deployed_revision: str | None
    failure: Failure | None
    git_revision: str
    message: str
    _depends_poll: bool

    @property
    @abstractmethod
    def name(self) -> str: ...

    @abstractmethod
    def sync(self, trigger: str, revision: str | None = None) -> None: ...

    @abstractmethod
    def fail(self, revision: str, trigger: str, message: str) -> None: ...

    def follow_dependencies(self, trigger: str) -> None:
        """Look again whether the apps this one depends on are Ready; sync when they are."""
        self._depends_poll = False
        # A commit's sync may have got there first, once the dependency was Ready: no second
        # one, whether it succeeded or failed (a failure is tried again on its backoff).
        tried = self.target is not None and (
            (self.deployed_revision == self.target.revision and not self.failure)
            or (self.failure is not None and self.failure.revision == self.target.revision)
        )
        if self.automated and self.settings.auto_sync and not self.settings.paused and not tried:
            self.sync(trigger)

    def _dependencies_ready(self, trigger: str) -> bool:
        """Flux's dependsOn: sync only once the apps this one depends on are Ready. A following
        agent looks again soon; a one-shot command waits here, its apps synced in order."""
        waiting = self.s.waiting_on(self.spec)
        if not waiting:
            return True
        # Failed for good is said so, not as a wait: a following agent looks again (a commit may
        # mend it), but nothing will come of waiting alone.
        message = (f"{waiting.failed_message()} (it syncs once that is mended)" if waiting.for_good
                   else waiting.waiting_message())  # fmt: skip
        if message != self.message:
            self.message = message
            self.s.event("warning", self.name, message)  # said at once: a wait must not look like a hang
            self.s.publish()
        if self.automated:
            if not self._depends_poll:  # one look pending at a time, however many commits come
                self._depends_poll = True
                self.s.schedule(DEPENDS_POLL, DependsOn(self.name, trigger))
            return False
        self.s.finish_awaited(self.spec)  # their syncs, put aside, end first: this wait holds the worker
        waiting = self.s.waiting_on(self.spec)
        deadline = time.monotonic() + DEPENDS_TIMEOUT
        while waiting and not waiting.for_good and time.monotonic() < deadline:
            time.sleep(0.25)
            waiting = self.s.waiting_on(self.spec)
        if waiting.for_good:
            self.fail(self.git_revision, trigger, waiting.failed_message())
            return False
        if waiting:
            self.fail(
                self.git_revision, trigger,
                f"not Ready after {DEPENDS_TIMEOUT:.0f}s: {waiting.waiting_message()}",
            )  # fmt: skip
            return False
        return True
