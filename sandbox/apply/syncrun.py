"""One sync as it goes: what it syncs over, what its checks found, and what it did so far;
``Syncer`` carries one through a sync's steps."""

from __future__ import annotations

from dataclasses import dataclass, field

from sandbox.apply.desired import DesiredSet
from sandbox.apply.dryrun import Comparison
from sandbox.apply.hooks import HookRun
from sandbox.apply.inventory import Entry, Inventory
from sandbox.apply.outcome import Action, ObjectResult
from sandbox.apply.plan import SyncPlan, kind_rank
from sandbox.model import DesiredObject, ObjectKey


@dataclass
class SyncRun:
    """One sync as it goes: what it syncs over, what the checks found, what it did so far."""

    desired: DesiredSet
    previous: Inventory | None
    inventory_extra: dict[str, str] | None
    check_creations: bool
    checked: dict[ObjectKey, Comparison] = field(default_factory=dict)
    results: list[ObjectResult] = field(default_factory=list)
    hooks: list[HookRun] = field(default_factory=list)
    run_hooks: bool = False
    plan: SyncPlan = field(init=False)
    objects: list[DesiredObject] = field(init=False)  # in apply order
    coming: set[tuple[str, str]] = field(init=False)  # (group, kind) this sync's CRDs bring

    def __post_init__(self) -> None:
        self.objects = sorted(self.desired.objects.values(), key=lambda o: (kind_rank(o.key.kind), o.key))
        self.coming = self.desired.crd_kinds()

    def applied_entries(self) -> list[Entry]:
        """What this sync applied (or found unchanged) of the desired set."""
        return [
            Entry(r.key, self.desired.objects[r.key].manifest["apiVersion"])
            for r in self.results
            if r.key in self.desired.objects and r.action not in (Action.FAILED, Action.SKIPPED)
        ]

    def leftover(self) -> list[Entry]:
        return [
            e for e in (self.previous.entries if self.previous else ()) if e.key not in self.desired.objects
        ]
