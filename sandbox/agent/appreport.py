"""What one app's controller shows: its facts, state and health for the snapshot, the commit
revert would undo, and its health kept current in the history and said in the events."""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod

from sandbox.agent.appview import AppFacts, app_health, app_state
from sandbox.agent.failures import Failure
from sandbox.agent.history import SyncRecord
from sandbox.agent.revert import choose_target
from sandbox.agent.services import Services
from sandbox.agent.settings import AppSettings
from sandbox.agent.snapshot import AppState, RevertTarget
from sandbox.apply.desired import DesiredSet
from sandbox.apply.dryrun import Comparison
from sandbox.kube.client import KubeError
from sandbox.model import Health, ObjectKey, Problem
from sandbox.source.appspec import AppSpec


class AppReport(ABC):
    """The reporting part of an app's controller (``AppController``): what it reads of the
    controller is declared here."""

    spec: AppSpec
    s: Services
    settings: AppSettings
    git_revision: str
    target: DesiredSet | None
    deployed: DesiredSet | None
    deployed_revision: str | None
    comparisons: dict[ObjectKey, Comparison]
    drift: set[ObjectKey]
    config_problems: tuple[Problem, ...]
    rendered_ever: bool
    removed: bool
    operation: str
    last_sync: float | None
    last_result: str
    message: str
    syncs: tuple[SyncRecord, ...]
    failure: Failure | None
    record_id: int | None
    recorded_health: str
    announced_health: str
    _revert_memo: tuple[tuple[object, ...], RevertTarget | None] | None
    _running_memo: tuple[str, tuple[ObjectKey, ...]] | None = None

    @property
    @abstractmethod
    def name(self) -> str: ...

    def health(self) -> Health:
        return app_health(self.facts(), self.s.cache)

    def view(self) -> AppState:
        state = app_state(self.facts(), self.s.cache)
        return dataclasses.replace(state, revert_target=self._revert_target(state.health))

    def facts(self) -> AppFacts:
        failure = self.failure
        target = self.target
        problems = (*(target.problems if target else ()), *self.config_problems)
        return AppFacts(
            spec=self.spec, git_revision=self.git_revision, target=target, deployed=self.deployed,
            deployed_revision=self.deployed_revision, comparisons=dict(self.comparisons),
            drift=frozenset(self.drift), settings=self.settings, problems=problems,
            rendered_ever=self.rendered_ever or self.deployed_revision is not None, operation=self.operation,
            last_sync=self.last_sync, last_result=self.last_result, message=self.message, syncs=self.syncs,
            removed=self.removed, retry_at=failure.retry_at if failure else None,
            attempts=failure.attempts if failure else 0, running=self._running(),
        )  # fmt: skip

    def _running(self) -> tuple[ObjectKey, ...]:
        """What its inventory lists, where the deployed revision is not rendered (an app kept
        while what defines it does not render): read once per deployed revision."""
        if self.deployed is not None or not self.deployed_revision:
            return ()
        memo = self._running_memo
        if memo is None or memo[0] != self.deployed_revision:
            try:
                inventory = self.s.syncer.inventories.load(self.name)
            except KubeError:
                return ()  # the cluster does not answer: asked again at the next view
            entries = inventory.entries if inventory is not None else ()
            self.s.syncer.watch_kinds((e.api_version, e.key.kind) for e in entries)
            memo = self._running_memo = (self.deployed_revision, tuple(e.key for e in entries))
        return memo[1]

    def revert_target(self) -> RevertTarget | None:
        """What revert undoes when no commit is named (see revert.choose_target)."""
        return self._revert_target(self.health())

    def _revert_target(self, health: Health) -> RevertTarget | None:
        head_failed = self.failure is not None and self.failure.revision == self.git_revision
        key = (
            self.git_revision,
            self.deployed_revision,
            head_failed,
            health == Health.DEGRADED,
            self.settings.paused,
        )
        if self._revert_memo is None or self._revert_memo[0] != key:  # it reads git: once per change
            found = choose_target(
                self.s.repo, self.spec.path, self.git_revision, self.deployed_revision, head_failed=head_failed,
                degraded=health == Health.DEGRADED, paused=self.settings.paused,
            )  # fmt: skip
            self._revert_memo = (key, found)
        return self._revert_memo[1]

    def track_health(self, state: AppState) -> None:
        """Keep the deployed sync's health in the history current (rollback needs 'Healthy'), and
        say so in the events when the app's health changes."""
        if state.operation != "Idle" or state.removed:
            return  # a removed app's objects going is its removal's record, not a health of its last sync
        health = str(state.health)
        # An app not deployed has no health of its own to announce (an app-of-apps' is its
        # apps', rolled up, before it applied them): its sync's outcome says what happened.
        if health != self.announced_health and state.deployed_revision:
            if self.announced_health:
                worst = next(
                    (o for o in state.objects if o.health == state.health and o.health_message), None
                )
                why = (
                    f": {worst.key} {worst.health_message}"
                    if worst and state.health != Health.HEALTHY
                    else ""
                )
                level = "error" if state.health == Health.DEGRADED else "info"
                self.s.event(level, self.name, f"{health} at {state.deployed_revision[:7]}{why}")
            self.announced_health = health
        if self.record_id and health != self.recorded_health:
            self.recorded_health = health
            try:
                self.s.history.update_health(self.record_id, health)
            except Exception:  # history is informative; a locked file must not stop the agent
                pass
