"""The order a sync takes, as a pure value: what the sync executes and a preview shows.

From an app's desired set and its inventory, with no I/O: the PreSync hooks; each wave (Argo
CD's sync-wave) with its Namespaces and CRDs first, then the other objects grouped by kind in
Helm's install order, then that wave's Sync hooks; the PostSync and SyncFail hooks; what was
left from Git and is pruned last, in reverse kind order; and which objects can be checked only
once a Namespace or CRD the same sync brings exists. ``Syncer`` walks a plan step by step, so
the order printed and the order applied are one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.apply.desired import FIRST_STAGE, DesiredSet
from sandbox.apply.hooks import hooks_at
from sandbox.apply.inventory import Entry, Inventory
from sandbox.manifest.waves import Phase, wave_of
from sandbox.model import DesiredObject, ObjectKey

KIND_ORDER = (
    "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodDisruptionBudget",
    "ServiceAccount", "Secret", "ConfigMap", "StorageClass", "PersistentVolume",
    "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding",
    "Role", "RoleBinding", "Service", "DaemonSet", "Pod", "ReplicationController", "ReplicaSet",
    "Deployment", "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass",
    "Ingress", "APIService", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
)  # fmt: skip

# Whether the cluster knows a kind now (apiVersion, kind), and whether a namespace exists now.
KnowsKind = Callable[[str, str], bool]
HasNamespace = Callable[[str], bool]


def kind_rank(kind: str) -> int:
    """Position in the apply order; custom resources come after every built-in kind."""
    return KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)


@dataclass(frozen=True)
class Wave:
    """One sync wave: its Namespaces and CRDs (applied, then waited for), the rest one group
    per kind (each group in parallel), then its Sync hooks."""

    number: int
    first: tuple[DesiredObject, ...]
    by_kind: tuple[tuple[DesiredObject, ...], ...]
    hooks: tuple[DesiredObject, ...]

    @property
    def objects(self) -> tuple[DesiredObject, ...]:
        return (*self.first, *(o for group in self.by_kind for o in group))


@dataclass(frozen=True)
class SyncPlan:
    app: str
    revision: str
    pre_sync: tuple[DesiredObject, ...]
    waves: tuple[Wave, ...]
    post_sync: tuple[DesiredObject, ...]
    sync_fail: tuple[DesiredObject, ...]
    prune: tuple[Entry, ...]  # left from Git, in the order a prune deletes them
    later: tuple[ObjectKey, ...]  # checked once a Namespace or CRD this sync brings exists

    @property
    def objects(self) -> tuple[DesiredObject, ...]:
        """Every object the sync applies, in the order it applies them."""
        return tuple(o for wave in self.waves for o in wave.objects)

    def lines(self) -> list[str]:
        """The plan as people read it, one step a line."""
        out = [f"{self.app} at {self.revision[:7]}:"]
        out += [f"  PreSync hook {h.key}" for h in self.pre_sync]
        for wave in self.waves:
            out.append(f"  wave {wave.number}:")
            out += [f"    {o.key}, then wait until it is established" for o in wave.first]
            for group in wave.by_kind:
                later = [o for o in group if o.key in self.later]
                out.append(f"    {', '.join(str(o.key) for o in group)}")
                out += [f"      {o.key} is checked once what it needs exists" for o in later]
            out += [f"    Sync hook {h.key}" for h in wave.hooks]
        out += [f"  PostSync hook {h.key}" for h in self.post_sync]
        out += [f"  prune {e.key}" for e in self.prune]
        out += [f"  on failure: SyncFail hook {h.key}" for h in self.sync_fail]
        return out

    def to_json(self) -> dict[str, Any]:
        def keys(objects: tuple[DesiredObject, ...]) -> list[str]:
            return [str(o.key) for o in objects]

        return {
            "app": self.app,
            "revision": self.revision,
            "preSync": keys(self.pre_sync),
            "waves": [
                {
                    "wave": w.number,
                    "first": keys(w.first),
                    "byKind": [keys(g) for g in w.by_kind],
                    "hooks": keys(w.hooks),
                }
                for w in self.waves
            ],  # fmt: skip
            "postSync": keys(self.post_sync),
            "syncFail": keys(self.sync_fail),
            "prune": [str(e.key) for e in self.prune],
            "later": [str(k) for k in self.later],
        }


def plan(
    desired: DesiredSet,
    previous: Inventory | None,
    knows_kind: KnowsKind = lambda _api_version, _kind: True,
    has_namespace: HasNamespace = lambda _name: True,
) -> SyncPlan:
    """The plan of syncing ``desired`` over what ``previous`` (its inventory) recorded."""
    objects = sorted(desired.objects.values(), key=lambda o: (kind_rank(o.key.kind), o.key))
    hooks = desired.rendered.hooks
    sync_hooks = hooks_at(hooks, Phase.SYNC)
    by_wave: dict[int, list[DesiredObject]] = {}
    for obj in objects:
        by_wave.setdefault(wave_of(obj.manifest), []).append(obj)
    numbers = sorted({*by_wave, *(wave_of(h.manifest) for h in sync_hooks)})
    waves = tuple(
        _wave(n, by_wave.get(n, []), [h for h in sync_hooks if wave_of(h.manifest) == n]) for n in numbers
    )
    leftover = [e for e in (previous.entries if previous else ()) if e.key not in desired.objects]
    return SyncPlan(
        app=desired.app,
        revision=desired.revision,
        pre_sync=tuple(hooks_at(hooks, Phase.PRE_SYNC)),
        waves=waves,
        post_sync=tuple(hooks_at(hooks, Phase.POST_SYNC)),
        sync_fail=tuple(hooks_at(hooks, Phase.SYNC_FAIL)),
        prune=tuple(prune_order(leftover)),
        later=tuple(_later(desired, objects, knows_kind, has_namespace)),
    )


def prune_order(entries: list[Entry]) -> list[Entry]:
    """Dependents before what they depend on: the reverse of the apply order."""
    return sorted(entries, key=lambda e: (-kind_rank(e.key.kind), e.key))


def _wave(number: int, objects: list[DesiredObject], hooks: list[DesiredObject]) -> Wave:
    first = tuple(o for o in objects if o.key.kind in FIRST_STAGE)
    rest = [o for o in objects if o.key.kind not in FIRST_STAGE]
    ranks = sorted({kind_rank(o.key.kind) for o in rest})
    groups = tuple(tuple(o for o in rest if kind_rank(o.key.kind) == rank) for rank in ranks)
    return Wave(number, first, groups, tuple(hooks))


def _later(
    desired: DesiredSet, objects: list[DesiredObject], knows_kind: KnowsKind, has_namespace: HasNamespace
) -> list[ObjectKey]:
    """Objects of a kind this sync's CRDs bring and the cluster does not know yet, and objects
    in a namespace this sync creates: a dry-run can judge them only once those exist."""
    coming = desired.crd_kinds()
    created = {o.key.name for o in objects if o.key.kind == "Namespace" and not has_namespace(o.key.name)}
    return [
        o.key
        for o in objects
        if ((group_of(o.manifest["apiVersion"]), o.key.kind) in coming
            and not knows_kind(o.manifest["apiVersion"], o.key.kind))
        or (o.key.namespace in created and o.key.kind not in FIRST_STAGE)
    ]  # fmt: skip


def group_of(api_version: str) -> str:
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""
