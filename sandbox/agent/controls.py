"""What a person sets on one app, and what its definition in Git sets: rollback (auto-sync
paused at a revision), resume, auto-sync and self-heal on or off, a Flux object's suspend."""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Iterable

from sandbox.agent.services import Services
from sandbox.agent.settings import AppSettings
from sandbox.apply.desired import DesiredSet
from sandbox.model import ObjectKey
from sandbox.source.appconfig import AppSpec
from sandbox.source.envrepo import CommitInfo, EnvRepoError


class Controls(ABC):
    """The settings part of an app's controller (``AppController``): what it reads and
    changes of the controller is declared here."""

    s: Services
    spec: AppSpec
    settings: AppSettings
    target: DesiredSet | None
    deployed_revision: str | None
    git_revision: str
    last_result: str
    message: str
    drift: set[ObjectKey]

    @property
    @abstractmethod
    def name(self) -> str: ...

    @abstractmethod
    def render(self, revision: str) -> DesiredSet: ...

    @abstractmethod
    def sync(self, trigger: str, revision: str | None = None) -> None: ...

    @abstractmethod
    def check_drift(self, keys: Iterable[ObjectKey]) -> None: ...

    @abstractmethod
    def _commit(self, revision: str) -> CommitInfo | None: ...

    def rollback(self, revision: str) -> None:
        try:
            wanted = self.s.repo.resolve(revision)
        except EnvRepoError:
            wanted = revision
        if wanted == self.deployed_revision and self.last_result != "Failed":
            # Already there: pausing auto-sync would make the app look OutOfSync over nothing.
            self.message = f"already at {wanted[:7]}: nothing to roll back, auto-sync left as it was"
            self.s.event("info", self.name, self.message)
            return
        self.settings = dataclasses.replace(self.settings, paused_at=revision)
        self.s.save_settings()
        self.target = self.render(revision)
        self.sync("rollback")

    def resume(self) -> None:
        self.settings = dataclasses.replace(self.settings, auto_sync=True, paused_at=None)
        self.s.save_settings()
        self.s.event("info", self.name, f"auto-sync on: following Git at {self.git_revision[:7]}")
        self.target = self.render(self.git_revision)
        self.sync("manual")

    def set_auto_sync(self, on: bool) -> None:
        if on:
            self.resume()
            return
        self.settings = dataclasses.replace(self.settings, auto_sync=False)
        self.s.save_settings()
        self.s.event("info", self.name, "auto-sync off: new commits are shown, not deployed")

    @property
    def suspended(self) -> bool:
        """A Flux Kustomization or HelmRelease with spec.suspend: true in Git."""
        return self.spec.suspended

    def follow_definition(self, spec: AppSpec, head: str) -> None:
        """The definition's auto-sync or self-heal changed in Git (a Flux object's suspend, an
        Application's syncPolicy.automated): follow it, as Flux and Argo CD do from that commit
        on (a rollback stays paused until resumed)."""
        self.settings = dataclasses.replace(
            self.settings, auto_sync=spec.auto_sync and not self.settings.paused, self_heal=spec.self_heal
        )
        self.s.save_settings()
        said = (
            "suspended"
            if self.suspended
            else f"auto-sync {'on' if spec.auto_sync else 'off'}, self-heal {'on' if spec.self_heal else 'off'}"
        )
        self.s.event("info", self.name, f"{said}: its definition changed at {head[:7]}")

    def set_self_heal(self, on: bool) -> None:
        self.settings = dataclasses.replace(self.settings, self_heal=on)
        self.s.save_settings()
        self.s.event("info", self.name, f"self-heal {'on' if on else 'off'}")
        if on and self.drift:
            self.check_drift(tuple(self.drift))

    def default_rollback_target(self) -> str | None:
        deployed = self.deployed_revision
        if not deployed:
            return None
        found = self.s.history.last_healthy_before(self.name, deployed)
        if found:
            return found
        info = self._commit(deployed)
        return info.parents[0] if info and info.parents else None
