"""Sync: one pass that makes the cluster match one app's desired set, or changes nothing.

As Flux's ssa package does it: every object is checked by a server-side dry-run before any
is applied, and one the API server refuses stops the sync with nothing applied or pruned.
Namespaces and CRDs go first (objects inside a new namespace, or of a kind a new CRD brings,
can only be checked once those exist); then the rest in waves by a stable kind order
(Helm's install order), each wave in parallel; prune last, in reverse order. An object is
applied only when it is missing or the dry-run says applying would change it.

An object belongs to the app that applied it first (its tracking annotation says which):
another app that renders it fails for that object and never takes it over.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum

from sandbox.apply import diff
from sandbox.apply.desired import FIRST_STAGE, DesiredSet
from sandbox.apply.dryrun import Comparison, DryRun, OwnerOf, Verdict
from sandbox.apply.inventory import (
    APP_LABEL,
    Entry,
    Inventory,
    InventoryStore,
    claimed_by,
    conflict,
    other_repo,
)
from sandbox.apply.kube import Kube, KubeError, Resource
from sandbox.apply.livecache import LiveCache
from sandbox.model import DesiredObject, Manifest, ObjectKey

KIND_ORDER = (
    "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodDisruptionBudget",
    "ServiceAccount", "Secret", "ConfigMap", "StorageClass", "PersistentVolume",
    "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding",
    "Role", "RoleBinding", "Service", "DaemonSet", "Pod", "ReplicationController", "ReplicaSet",
    "Deployment", "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass",
    "Ingress", "APIService", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
)  # fmt: skip
ESTABLISH_TIMEOUT = 30.0
WORKERS = 32


def kind_rank(kind: str) -> int:
    """Position in the apply order; custom resources come after every built-in kind."""
    return KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)


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

    def count(self, action: Action) -> int:
        return sum(1 for r in self.results if r.action == action)

    def summary(self) -> str:
        parts = [f"{self.count(a)} {a}" for a in Action if self.count(a)]
        return ", ".join(parts) or "nothing to do"


class Syncer:
    """Applies and prunes one app at a time, sharing the watch cache with the agent."""

    def __init__(self, kube: Kube, dry: DryRun, cache: LiveCache, inventories: InventoryStore) -> None:
        self.kube = kube
        self.dry = dry
        self.cache = cache
        self.inventories = inventories
        self.pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="sync")
        self._namespaces: set[str] = set()

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def watch_kinds(self, kinds: Iterable[tuple[str, str]]) -> list[str]:
        """Make sure the cache follows each (apiVersion, kind); the unknown ones are returned."""
        unknown = []
        for api_version, kind in dict.fromkeys(kinds):
            resource = self.kube.resource_for(api_version, kind)
            if resource is None:
                unknown.append(f"{api_version} {kind}")
            elif not self.cache.watching(resource):
                self.cache.watch(resource, APP_LABEL)
        return unknown

    def sync(
        self,
        desired: DesiredSet,
        *,
        prune: bool,
        namespace: str,
        owner_of: OwnerOf,
        inventory_extra: dict[str, str] | None = None,
        rebuild: bool = False,
    ) -> SyncOutcome:
        """Apply an app's desired set; prune what the inventory and annotations both claim.

        On an app's first deploy (no inventory yet: nothing of it runs that a half-applied
        commit could break) objects that do not exist are created without a dry-run first,
        as ``kubectl apply`` would; a refused one stops the sync after its wave.

        The app's target namespace is created when Git does not declare it (as Argo CD's
        CreateNamespace option does), and is not tracked, so prune never deletes it.

        ``rebuild``: the app deployed before, so a missing inventory was lost (deleted by hand):
        it is rebuilt from the objects that carry the app's tracking annotation before anything
        is pruned. An app another env repo deployed is never touched from this one (its
        inventory says which repo): one repo must not prune another's objects.
        """
        app, revision = desired.app, desired.revision
        if not desired.ok:
            problems = "; ".join(str(p) for p in desired.problems)
            return self._failed(desired, (), f"render failed, nothing applied or pruned: {problems}")
        objects = sorted(desired.objects.values(), key=lambda o: (kind_rank(o.key.kind), o.key))
        previous = self.inventories.load(app)
        owner = other_repo(previous, (inventory_extra or {}).get("repo"))
        if owner is not None:
            return self._failed(
                desired, (),
                f"app {app} on this cluster belongs to the env repo {owner}: nothing applied or pruned. "
                f"Name the app differently here, or remove it from {owner} (or delete that folder) first",
            )  # fmt: skip
        if previous is None and rebuild:
            previous = self.inventories.rebuild(app, self.kube)
        check_creations = previous is not None and bool(previous.entries)
        self.watch_kinds((e.api_version, e.key.kind) for e in (previous.entries if previous else ()))
        unknown = self.watch_kinds((o.manifest["apiVersion"], o.key.kind) for o in objects)
        coming = desired.crd_kinds()
        unknown_here = [u for u in unknown if (_group(u.split()[0]), u.split()[1]) not in coming]
        if unknown_here:
            detail = "; ".join(
                f"{o.source} ({o.key}): the cluster does not know {o.manifest['apiVersion']} {o.key.kind}"
                for o in objects
                if f"{o.manifest['apiVersion']} {o.key.kind}" in unknown_here
            )
            return self._failed(desired, (), f"{detail}; nothing applied or pruned")

        conflicts = self._conflicts(app, objects, owner_of)
        if conflicts:
            return self._refused(desired, objects, conflicts, {})

        # Check everything that can be checked now; what needs a new namespace or CRD waits.
        now = [o for o in objects if (_group(o.manifest["apiVersion"]), o.key.kind) not in coming or
               self.kube.resource_for(o.manifest["apiVersion"], o.key.kind) is not None]  # fmt: skip
        checked = self._compare(desired, now, check_creations)
        failed = {k: c for k, c in checked.items() if c.verdict == Verdict.FAILED}
        if failed:
            return self._refused(desired, objects, failed, checked)

        # Before anything is applied, the inventory names every object this sync may create: a
        # sync cut short (the agent killed, the API server gone) leaves nothing untracked.
        known = previous.keys() if previous else set()
        arriving = [Entry(o.key, o.manifest["apiVersion"]) for o in objects if o.key not in known]
        if arriving:
            entries = (*(previous.entries if previous else ()), *arriving)
            previous = Inventory(app, previous.revision if previous else "", entries)
            self.inventories.save(previous, inventory_extra)
        declared = {o.key.name for o in objects if o.key.kind == "Namespace"}
        try:
            if namespace and namespace not in declared:
                self._ensure_namespace(namespace)
        except KubeError as exc:
            return self._failed(desired, (), f"namespace {namespace}: {exc.message}; nothing applied")
        first = [o for o in objects if o.key.kind in FIRST_STAGE]
        results = self._apply_wave(desired, first, checked)
        if first:
            try:
                self._wait_established(first, results)
            except KubeError as exc:
                return self._failed(desired, results, f"{exc.message}; nothing else applied or pruned")
            if coming:
                self.kube.resources(refresh=True)  # new CRDs bring new kinds
                unknown = self.watch_kinds((o.manifest["apiVersion"], o.key.kind) for o in objects)
                if unknown:
                    return self._failed(
                        desired, results,
                        f"the cluster does not know {', '.join(unknown)}; nothing else applied or pruned",
                    )  # fmt: skip
        rest = [o for o in objects if o.key.kind not in FIRST_STAGE]
        # Objects whose namespace or kind did not exist before: checked now, all before any.
        waiting = [
            o for o in rest if o.key not in checked or (check_creations and not checked[o.key].validated)
        ]
        if waiting:
            late = self._compare(desired, waiting, check_creations)
            checked.update(late)
            failed = {k: c for k, c in late.items() if c.verdict == Verdict.FAILED}
            if failed:
                applied = sum(1 for r in results if r.action in (Action.CREATED, Action.CONFIGURED))
                outcome = self._refused(desired, rest, failed, checked)
                note = f" (but {applied} Namespace/CRD object(s) were applied before)" if applied else ""
                return SyncOutcome(app, revision, (*results, *outcome.results), False, outcome.message + note)
        for rank in sorted({kind_rank(o.key.kind) for o in rest}):
            wave = [o for o in rest if kind_rank(o.key.kind) == rank]
            if any(r.action == Action.FAILED for r in results):
                # Objects the API server refused only when applied (a first deploy's creations,
                # or a race with another writer): stop here, the waves after need this one.
                results += [ObjectResult(o.key, Action.SKIPPED, "not applied: an earlier wave failed",
                                         o.source, checked.get(o.key)) for o in wave]  # fmt: skip
                continue
            results += self._apply_wave(desired, wave, checked)
        failed_results = [r for r in results if r.action == Action.FAILED]
        not_applied = (Action.FAILED, Action.SKIPPED)
        applied_entries = [
            Entry(r.key, desired.objects[r.key].manifest["apiVersion"])
            for r in results
            if r.action not in not_applied
        ]
        leftover = [e for e in (previous.entries if previous else ()) if e.key not in desired.objects]
        if failed_results:
            # A failed apply never prunes: the last good revision's objects stay tracked.
            kept = [*applied_entries, *leftover]
            kept += [Entry(r.key, desired.objects[r.key].manifest["apiVersion"]) for r in results
                     if r.action in not_applied and previous and r.key in previous.keys()]  # fmt: skip
            self.inventories.save(Inventory(app, previous.revision if previous else "", tuple(kept)),
                                  inventory_extra)  # fmt: skip
            message = f"{len(failed_results)} object(s) failed to apply; nothing pruned: " + "; ".join(
                f"{r.key} ({r.source}): {r.message}" for r in failed_results[:5]
            )
            return SyncOutcome(app, revision, tuple(results), False, message)
        pruned, still_owned = self._prune(app, leftover, prune)
        results += pruned
        self.inventories.save(
            Inventory(app, revision, tuple(applied_entries) + tuple(still_owned)), inventory_extra
        )
        outcome = SyncOutcome(app, revision, tuple(results), True, "")
        return SyncOutcome(app, revision, outcome.results, True, outcome.summary())

    # -- checks -------------------------------------------------------------------------------

    def _conflicts(
        self, app: str, objects: list[DesiredObject], owner_of: OwnerOf
    ) -> dict[ObjectKey, Comparison]:
        found = {}
        for obj in objects:
            claim = owner_of(obj.key, self.cache.get(obj.key))
            if claim is not None and claim.app != app:
                found[obj.key] = Comparison(Verdict.CONFLICT, conflict(claim, app, obj.source))
        return found

    def _compare(
        self, desired: DesiredSet, objects: list[DesiredObject], check_creations: bool
    ) -> dict[ObjectKey, Comparison]:
        def one(obj: DesiredObject) -> tuple[ObjectKey, Comparison]:
            live = self.cache.get(obj.key)
            if live is None and not check_creations:
                return obj.key, Comparison(Verdict.DIFFERS, validated=False)
            return obj.key, self.dry.compare(obj.key, desired.marked[obj.key], live)

        if len(objects) > 1:
            return dict(self.pool.map(one, objects))
        return dict(map(one, objects))

    def _refused(
        self,
        desired: DesiredSet,
        objects: list[DesiredObject],
        failed: dict[ObjectKey, Comparison],
        checked: dict[ObjectKey, Comparison],
    ) -> SyncOutcome:
        """Nothing applied: the failed objects, and what the others would have done."""
        results = []
        for obj in objects:
            comparison = failed.get(obj.key) or checked.get(obj.key)
            if obj.key in failed:
                action, message = Action.FAILED, failed[obj.key].message
            elif comparison is not None and comparison.verdict == Verdict.SAME:
                action, message = Action.UNCHANGED, ""
            else:
                action, message = Action.SKIPPED, "not applied: another object of this sync failed"
            results.append(ObjectResult(obj.key, action, message, obj.source, comparison))
        detail = "; ".join(f"{obj.key} ({obj.source}): {failed[obj.key].message}"
                           for obj in objects if obj.key in failed)  # fmt: skip
        count = len(failed)
        message = f"{count} object(s) refused; nothing applied or pruned: {detail}"
        return SyncOutcome(desired.app, desired.revision, tuple(results), False, message)

    def _failed(self, desired: DesiredSet, results: Iterable[ObjectResult], message: str) -> SyncOutcome:
        return SyncOutcome(desired.app, desired.revision, tuple(results), False, message)

    # -- applying -----------------------------------------------------------------------------

    def reapply(self, desired: DesiredSet, checked: dict[ObjectKey, Comparison]) -> list[ObjectResult]:
        """Apply objects of a desired set again as they are (self-heal), as ``checked`` found them."""
        return self._apply_wave(
            desired, [desired.objects[k] for k in checked if k in desired.objects], checked
        )

    def _ensure_namespace(self, name: str) -> None:
        if name in self._namespaces:
            return
        # its own field manager: the namespace is not one of the app's objects, never pruned
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        self.kube.apply(namespace, field_manager="gitops-sandbox-namespace")
        self._namespaces.add(name)

    def _apply_wave(
        self, desired: DesiredSet, wave: list[DesiredObject], checked: dict[ObjectKey, Comparison]
    ) -> list[ObjectResult]:
        if not wave:
            return []

        def one(obj: DesiredObject) -> ObjectResult:
            return self._apply_one(desired, obj, checked.get(obj.key))

        if len(wave) == 1:
            return [one(wave[0])]
        return list(self.pool.map(one, wave))

    def _apply_one(self, desired: DesiredSet, obj: DesiredObject, check: Comparison | None) -> ObjectResult:
        if check is not None and check.verdict == Verdict.SAME:
            return ObjectResult(obj.key, Action.UNCHANGED, source=obj.source, comparison=check)
        marked = desired.marked[obj.key]
        try:
            created, result = self.kube.apply(marked)
        except KubeError as exc:
            if exc.transient:  # the API server went away in the middle: say so, it is retried
                exc = KubeError(exc.status, exc.reason, f"interrupted: {exc.message}", exc.body)
            return ObjectResult(
                obj.key, Action.FAILED, exc.message, obj.source, Comparison(Verdict.FAILED, exc.message)
            )
        self.dry.verified.record(obj.key, diff.content_hash(marked), result)
        action = Action.CREATED if created else Action.CONFIGURED
        return ObjectResult(obj.key, action, source=obj.source, comparison=Comparison(Verdict.SAME))

    def _wait_established(self, objects: list[DesiredObject], results: list[ObjectResult]) -> None:
        """Namespaces Active and CRDs Established before anything that needs them is applied."""
        ok = {r.key for r in results if r.action != Action.FAILED}
        failed = [r for r in results if r.action == Action.FAILED]
        if failed:
            raise KubeError(422, "Invalid", "; ".join(f"{r.key} ({r.source}): {r.message}" for r in failed))
        deadline = time.monotonic() + ESTABLISH_TIMEOUT
        pending = [o for o in objects if o.key in ok]
        while pending and time.monotonic() < deadline:
            still = []
            for obj in pending:
                resource = self.kube.resource_for(obj.manifest["apiVersion"], obj.key.kind)
                live = self.kube.read(resource, "", obj.key.name) if resource else None
                if not _established(live):
                    still.append(obj)
            pending = still
            if pending:
                time.sleep(0.1)
        if pending:
            names = ", ".join(str(o.key) for o in pending)
            raise KubeError(504, "Timeout", f"not established after {ESTABLISH_TIMEOUT:.0f}s: {names}")

    # -- pruning ------------------------------------------------------------------------------

    def watch_inventory(self, app: str) -> None:
        """Follow every kind an app's inventory lists (to show what it left behind)."""
        found = self.inventories.load(app)
        self.watch_kinds((e.api_version, e.key.kind) for e in (found.entries if found else ()))

    def prune_all(self, app: str) -> list[ObjectResult]:
        """Delete every object the app's inventory and annotations both claim, then the inventory
        (the app was removed from the env repo, with prune on)."""
        previous = self.inventories.load(app)
        entries = list(previous.entries) if previous else []
        self.watch_kinds((e.api_version, e.key.kind) for e in entries)
        results, _owned = self._prune(app, entries, True)
        self.inventories.delete(app)
        return results

    def _prune(self, app: str, leftover: list[Entry], prune: bool) -> tuple[list[ObjectResult], list[Entry]]:
        results: list[ObjectResult] = []
        still_owned: list[Entry] = []
        for entry in sorted(leftover, key=lambda e: (-kind_rank(e.key.kind), e.key)):
            resource = self.kube.resource_for(entry.api_version, entry.key.kind)
            if resource is None:
                continue  # the kind itself is gone (its CRD was pruned): so is the object
            live = self.cache.get(entry.key) or self.kube.read(resource, entry.key.namespace, entry.key.name)
            if live is None:
                continue
            if not claimed_by(live, app, entry.key):
                results.append(ObjectResult(
                    entry.key, Action.KEPT,
                    "not deleted: it lacks this app's tracking annotation (created or taken over by hand?)",
                ))  # fmt: skip
                continue
            if not prune:
                results.append(ObjectResult(entry.key, Action.ORPHANED, "prune is off for this app"))
                still_owned.append(entry)
                continue
            self._delete(entry.key, resource)
            results.append(ObjectResult(entry.key, Action.PRUNED))
        return results, still_owned

    def _delete(self, key: ObjectKey, resource: Resource) -> None:
        self.kube.delete(key, resource)
        self.dry.verified.forget(key)


def _group(api_version: str) -> str:
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def _established(live: Manifest | None) -> bool:
    if live is None:
        return False
    if live.get("kind") == "Namespace":
        return (live.get("status") or {}).get("phase") == "Active"
    conditions = (live.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)
