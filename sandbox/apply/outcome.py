"""What a sync did: per object an action (created, configured, pruned, ...) with why, and the
sync's outcome with the hooks it ran."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sandbox.apply.dryrun import Comparison
from sandbox.apply.hooks import HookRun
from sandbox.model import ObjectKey


class Action(StrEnum):
    CREATED = "created"
    CONFIGURED = "configured"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"  # would change, not applied: another object of the sync failed
    FAILED = "failed"
    PRUNED = "pruned"
    KEPT = "kept"  # left from Git but not provably the app's: not deleted
    ORPHANED = "orphaned"  # left from Git, prune is off


@dataclass(frozen=True)
class ObjectResult:
    key: ObjectKey
    action: Action
    message: str = ""
    source: str = ""
    comparison: Comparison | None = None  # what the dry-run found, when one ran


@dataclass(frozen=True)
class SyncOutcome:
    app: str
    revision: str
    results: tuple[ObjectResult, ...]
    ok: bool
    message: str
    hooks: tuple[HookRun, ...] = ()  # the hooks this sync ran, in order

    def count(self, action: Action) -> int:
        return sum(1 for r in self.results if r.action == action)

    def summary(self) -> str:
        parts = [f"{self.count(a)} {a}" for a in Action if self.count(a)]
        parts += [f"{h.phase} hook {h.key.kind}/{h.key.name}: {h.message}" for h in self.hooks]
        return ", ".join(parts) or "nothing to do"
