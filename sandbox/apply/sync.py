"""Sync: one pass that makes the cluster match a rendered revision.

Stages as Flux's ssa package does: Namespaces and CRDs first, waiting until they are
established; then the rest in waves by a stable kind order (Helm's install order), each wave
applied in parallel; prune last, in reverse order. An object is applied only when it is
missing, or when the server-side dry-run says applying would change it; an object whose
desired manifest and live resourceVersion are what we verified last time costs no call at
all (the watch cache would have told us of any change since).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sandbox.apply import diff
from sandbox.apply.inventory import APP_LABEL, Entry, Inventory, InventoryStore, claimed_by, mark
from sandbox.apply.kube import Kube, KubeError, Resource
from sandbox.apply.livecache import LiveCache
from sandbox.model import DesiredObject, Manifest, ObjectKey, Rendered

KIND_ORDER = (
    "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodDisruptionBudget",
    "ServiceAccount", "Secret", "ConfigMap", "StorageClass", "PersistentVolume",
    "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding",
    "Role", "RoleBinding", "Service", "DaemonSet", "Pod", "ReplicationController", "ReplicaSet",
    "Deployment", "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass",
    "Ingress", "APIService", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
)  # fmt: skip
FIRST_STAGE = ("Namespace", "CustomResourceDefinition")
ESTABLISH_TIMEOUT = 30.0
WORKERS = 32


def kind_rank(kind: str) -> int:
    """Position in the apply order; custom resources come after every built-in kind."""
    return KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)


@dataclass(frozen=True)
class ObjectResult:
    key: ObjectKey
    action: str  # created | configured | unchanged | pruned | failed | kept | orphaned
    message: str = ""
    source: str = ""


@dataclass(frozen=True)
class SyncOutcome:
    app: str
    revision: str
    results: tuple[ObjectResult, ...]
    ok: bool
    message: str

    def count(self, action: str) -> int:
        return sum(1 for r in self.results if r.action == action)

    def summary(self) -> str:
        actions = ("created", "configured", "unchanged", "pruned", "failed", "kept", "orphaned")
        parts = [f"{self.count(a)} {a}" for a in actions if self.count(a)]
        return ", ".join(parts) or "nothing to do"


@dataclass
class Verified:
    """What we last proved in sync, per object: the desired hash and the live resourceVersion."""

    entries: dict[ObjectKey, tuple[str, str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def matches(self, key: ObjectKey, desired_hash: str, live: Manifest | None) -> bool:
        if live is None:
            return False
        version = live.get("metadata", {}).get("resourceVersion", "")
        with self.lock:
            return self.entries.get(key) == (desired_hash, version)

    def record(self, key: ObjectKey, desired_hash: str, live: Manifest) -> None:
        with self.lock:
            self.entries[key] = (desired_hash, live.get("metadata", {}).get("resourceVersion", ""))

    def resource_version(self, key: ObjectKey) -> str | None:
        with self.lock:
            found = self.entries.get(key)
        return found[1] if found else None

    def forget(self, key: ObjectKey) -> None:
        with self.lock:
            self.entries.pop(key, None)


class Syncer:
    """Applies and prunes one app at a time, sharing the watch cache with the agent."""

    def __init__(self, kube: Kube, cache: LiveCache, inventories: InventoryStore, verified: Verified) -> None:
        self.kube = kube
        self.cache = cache
        self.inventories = inventories
        self.verified = verified
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="sync")
        self._namespaces: set[str] = set()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def watch_kinds(self, objects: Iterable[DesiredObject | Entry]) -> list[str]:
        """Make sure the cache follows every kind these objects have; unknown kinds are returned."""
        unknown = []
        seen: set[tuple[str, str]] = set()
        for obj in objects:
            api_version = obj.manifest["apiVersion"] if isinstance(obj, DesiredObject) else obj.api_version
            kind = obj.key.kind
            if (api_version, kind) in seen:
                continue
            seen.add((api_version, kind))
            resource = self.kube.resource_for(api_version, kind)
            if resource is None:
                unknown.append(f"{api_version} {kind}")
                continue
            if not self.cache.watching(resource):
                self.cache.watch(resource, APP_LABEL)
        return unknown

    def sync(
        self, rendered: Rendered, prune: bool = True, dry_run: bool = False, namespace: str = ""
    ) -> SyncOutcome:
        """Apply a rendered app; prune what the inventory and annotations both claim.

        The app's target namespace is created when Git does not declare it (as Argo CD's
        CreateNamespace option does), and is not tracked, so prune never deletes it.
        """
        app = rendered.app
        if not rendered.ok:
            problems = "; ".join(str(p) for p in rendered.problems)
            return SyncOutcome(
                app, rendered.revision, (), False, f"render failed, nothing applied or pruned: {problems}"
            )
        previous = self.inventories.load(app)
        self.watch_kinds(list(previous.entries if previous else ()))
        self.watch_kinds([o for o in rendered.objects if o.key.kind in FIRST_STAGE])
        unknown = self.watch_kinds([o for o in rendered.objects if o.key.kind not in FIRST_STAGE])
        crds = {
            (o.manifest.get("spec") or {}).get("names", {}).get("kind")
            for o in rendered.objects
            if o.key.kind == "CustomResourceDefinition"
        }
        unknown_not_from_crds = [u for u in unknown if u.split()[-1] not in crds]
        if unknown_not_from_crds:
            sources = {
                f"{o.manifest['apiVersion']} {o.key.kind}": f"{o.source} ({o.key})" for o in rendered.objects
            }
            detail = "; ".join(
                f"{sources.get(u, '')}: the cluster does not know {u}" for u in unknown_not_from_crds
            )
            return SyncOutcome(app, rendered.revision, (), False, f"{detail}; nothing applied or pruned")
        results: list[ObjectResult] = []
        applied: list[Entry] = []
        declared = {o.key.name for o in rendered.objects if o.key.kind == "Namespace"}
        if namespace and namespace not in declared and not dry_run:
            try:
                self._ensure_namespace(namespace)
            except KubeError as exc:
                return SyncOutcome(app, rendered.revision, (), False, f"namespace {namespace}: {exc.message}")
        first = [o for o in rendered.objects if o.key.kind in FIRST_STAGE]
        rest = [o for o in rendered.objects if o.key.kind not in FIRST_STAGE]
        first_results = self._apply_wave(app, first, dry_run)
        results += first_results
        if first and not dry_run:
            try:
                self._wait_established(first, first_results)
            except KubeError as exc:
                return SyncOutcome(
                    app, rendered.revision, tuple(results), False, f"{exc.message}; nothing pruned"
                )
            self.kube.resources(refresh=True)  # new CRDs bring new kinds
            unknown = self.watch_kinds(rest)
            if unknown:
                return SyncOutcome(
                    app, rendered.revision, tuple(results), False,
                    f"the cluster does not know {', '.join(unknown)}; nothing else applied or pruned",
                )  # fmt: skip
        for rank in sorted({kind_rank(o.key.kind) for o in rest}):
            wave = sorted((o for o in rest if kind_rank(o.key.kind) == rank), key=lambda o: o.key)
            results += self._apply_wave(app, wave, dry_run)
        by_key = {o.key: o for o in rendered.objects}
        for r in results:
            if r.action != "failed":
                applied.append(Entry(r.key, by_key[r.key].manifest["apiVersion"]))
        failed = [r for r in results if r.action == "failed"]
        leftover = [e for e in (previous.entries if previous else ()) if e.key not in by_key]
        if failed:
            # A failed apply never prunes: the last good revision's objects stay.
            kept = tuple(applied) + tuple(leftover) + tuple(
                Entry(r.key, by_key[r.key].manifest["apiVersion"]) for r in failed
                if previous and r.key in previous.keys()
            )  # fmt: skip
            if not dry_run:
                self.inventories.save(Inventory(app, previous.revision if previous else "", kept))
            message = f"{len(failed)} object(s) failed to apply; nothing pruned: " + "; ".join(
                f"{r.key} ({r.source}): {r.message}" for r in failed[:5]
            )
            return SyncOutcome(app, rendered.revision, tuple(results), False, message)
        pruned_results, still_owned = self._prune(app, leftover, prune, dry_run)
        results += pruned_results
        if not dry_run:
            self.inventories.save(Inventory(app, rendered.revision, tuple(applied) + tuple(still_owned)))
        outcome = SyncOutcome(app, rendered.revision, tuple(results), True, "")
        return SyncOutcome(app, rendered.revision, outcome.results, True, outcome.summary())

    def _ensure_namespace(self, name: str) -> None:
        if name in self._namespaces:
            return
        # its own field manager: the namespace is not one of the app's objects, never pruned
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        self.kube.apply(namespace, field_manager="gitops-sandbox-namespace")
        self._namespaces.add(name)

    def _apply_wave(self, app: str, wave: list[DesiredObject], dry_run: bool) -> list[ObjectResult]:
        if not wave:
            return []
        if len(wave) == 1:
            return [self.apply_one(app, wave[0], dry_run)]
        return list(self._pool.map(lambda o: self.apply_one(app, o, dry_run), wave))

    def apply_one(self, app: str, obj: DesiredObject, dry_run: bool = False) -> ObjectResult:
        """Apply one object if (and only if) it is missing or the dry-run predicts a change."""
        desired = mark(obj.manifest, app, obj.key)
        desired_hash = diff.content_hash(desired)
        live = self.cache.get(obj.key)
        try:
            if live is not None:
                if self.verified.matches(obj.key, desired_hash, live):
                    return ObjectResult(obj.key, "unchanged", source=obj.source)
                _created, predicted = self.kube.apply(desired, dry_run=True)
                if diff.same(predicted, live):
                    self.verified.record(obj.key, desired_hash, live)
                    return ObjectResult(obj.key, "unchanged", source=obj.source)
            if dry_run:
                return ObjectResult(obj.key, "created" if live is None else "configured", source=obj.source)
            created, result = self.kube.apply(desired)
            self.verified.record(obj.key, desired_hash, result)
            return ObjectResult(obj.key, "created" if created else "configured", source=obj.source)
        except KubeError as exc:
            return ObjectResult(obj.key, "failed", exc.message, source=obj.source)

    def _wait_established(self, objects: list[DesiredObject], results: list[ObjectResult]) -> None:
        """Namespaces Active and CRDs Established before anything that needs them is applied."""
        ok = {r.key for r in results if r.action != "failed"}
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

    def _prune(
        self, app: str, leftover: list[Entry], prune: bool, dry_run: bool
    ) -> tuple[list[ObjectResult], list[Entry]]:
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
                    entry.key, "kept",
                    "not deleted: it lacks this app's tracking annotation (created or taken over by hand?)",
                ))  # fmt: skip
                continue
            if not prune:
                results.append(ObjectResult(entry.key, "orphaned", "prune is off for this app"))
                still_owned.append(entry)
                continue
            if not dry_run:
                self._delete(entry.key, resource)
            results.append(ObjectResult(entry.key, "pruned"))
        return results, still_owned

    def _delete(self, key: ObjectKey, resource: Resource) -> None:
        self.kube.delete(key, resource)
        self.verified.forget(key)


def _established(live: Manifest | None) -> bool:
    if live is None:
        return False
    if live.get("kind") == "Namespace":
        return (live.get("status") or {}).get("phase") == "Active"
    conditions = (live.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)
