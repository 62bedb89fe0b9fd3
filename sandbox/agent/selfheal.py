"""Drift and self-heal of one app: live objects compared with the deployed revision, and
re-applied from it when self-heal is on (never from a newer target that failed)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable

from sandbox.agent.failures import Failure
from sandbox.agent.services import Services
from sandbox.agent.settings import AppSettings
from sandbox.agent.status import object_outcomes
from sandbox.apply.desired import DesiredSet
from sandbox.apply.dryrun import Comparison, Verdict
from sandbox.apply.outcome import Action, ObjectResult
from sandbox.model import Health, ObjectKey
from sandbox.source.envrepo import CommitInfo


class SelfHealing(ABC):
    """The drift and self-heal part of an app's controller (``AppController``): what it reads
    and changes of the controller is declared here."""

    s: Services
    settings: AppSettings
    automated: bool
    target: DesiredSet | None
    deployed: DesiredSet | None
    drift: set[ObjectKey]
    comparisons: dict[ObjectKey, Comparison]
    heal_failure: Failure | None
    record_id: int | None
    recorded_health: str

    @property
    @abstractmethod
    def name(self) -> str: ...

    @property
    @abstractmethod
    def syncing(self) -> bool: ...

    @abstractmethod
    def health(self) -> Health: ...

    @abstractmethod
    def _commit(self, revision: str) -> CommitInfo | None: ...

    @abstractmethod
    def _take_results(self, target: DesiredSet, results: Iterable[ObjectResult]) -> None: ...

    @abstractmethod
    def _record_failure(
        self, previous: Failure | None, revision: str, message: str, sync_id: int,
        results: Iterable[ObjectResult], desired: DesiredSet | None,
    ) -> Failure: ...  # fmt: skip

    @abstractmethod
    def _refresh_syncs(self) -> None: ...

    @property
    def may_heal(self) -> bool:
        return (
            self.automated
            and self.settings.self_heal
            and self.settings.auto_sync
            and not self.settings.paused
        )

    def check_drift(self, keys: Iterable[ObjectKey]) -> None:
        """Live objects changed: compare them with the deployed revision, and heal when allowed."""
        deployed = self.deployed
        if deployed is None or self.syncing:
            return
        wanted = [k for k in keys if k in deployed.marked]

        def compare(key: ObjectKey) -> tuple[ObjectKey, Comparison]:
            return key, self.s.dry.compare(key, deployed.marked[key], self.s.cache.get(key))

        found = dict(self.s.syncer.pool.map(compare, wanted) if len(wanted) > 1 else map(compare, wanted))
        heal: dict[ObjectKey, Comparison] = {}
        for key, comparison in found.items():
            self._compare_target(key, deployed, comparison)
            if comparison.verdict == Verdict.SAME:
                self.drift.discard(key)
            elif self.may_heal:
                heal[key] = comparison
            elif key not in self.drift:
                self.drift.add(key)
                self.s.event("warning", self.name, f"drift: {key} differs from Git ({self._why_no_heal()})")
        if heal:
            self._heal(deployed, heal)

    def _why_no_heal(self) -> str:
        if self.settings.paused:
            return "rolled back: auto-sync paused"
        if not self.settings.auto_sync:
            return "auto-sync is off"
        if not self.settings.self_heal:
            return "self-heal is off"
        return "a one-shot command does not heal"

    def _compare_target(self, key: ObjectKey, deployed: DesiredSet, found: Comparison) -> None:
        target = self.target
        if target is None or not target.ok or key not in target.marked:
            return
        if target is deployed or target.marked[key] == deployed.marked[key]:
            self.comparisons[key] = found
        else:
            self.comparisons[key] = self.s.dry.compare(key, target.marked[key], self.s.cache.get(key))

    def _heal(self, deployed: DesiredSet, checked: dict[ObjectKey, Comparison]) -> None:
        revision = deployed.revision
        info = self._commit(revision)
        sync_id = self.s.history.start(
            self.name, revision, info.author if info else "", info.subject if info else "", "drift"
        )
        results = self.s.syncer.reapply(deployed, checked)
        if self.target is deployed:
            self._take_results(deployed, results)
        ok = all(r.action != Action.FAILED for r in results)
        for r in results:
            if r.action != Action.FAILED:
                self.drift.discard(r.key)
        names = ", ".join(str(r.key) for r in results)
        if ok:
            message = f"self-heal re-applied {names} from {revision[:7]}"
            recorded = object_outcomes(results, deployed, self.s.cache.get)
            health = str(self.health())
            self.s.history.finish(sync_id, "Succeeded", health, message, recorded)
            # The newest sync that did not fail is what the cluster runs: its row's health is
            # kept current from here on (a re-created Deployment goes Progressing, then Healthy).
            self.record_id, self.recorded_health = sync_id, health
            self.s.event("info", self.name, f"drift undone: {message}")
        else:
            # Kept apart from the sync's failure: a heal that fails says nothing of Git's head,
            # whose failure (if any) still decides the retry and what revert undoes.
            message = "self-heal failed: " + "; ".join(f"{r.key}: {r.message}" for r in results if r.message)
            self.heal_failure = self._record_failure(
                self.heal_failure, revision, message, sync_id, results, deployed
            )
            self.s.event("error", self.name, f"drift not undone: {message}")
        self._refresh_syncs()
