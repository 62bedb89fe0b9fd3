"""Comparing a desired object with its live one, by server-side dry-run.

The comparison is what decides sync status and whether a sync applies an object at all.
When applying would change the object, the result keeps the predicted object, so a diff of
it needs no second dry-run (as gitops-engine's DiffResult does); one that would change
nothing keeps nothing. An object whose desired manifest and live
resourceVersion are what was compared last time costs no request: the watch would have
told of any change since.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from enum import StrEnum

from sandbox.apply import diff
from sandbox.apply.desired import DesiredSet
from sandbox.apply.inventory import Claim, conflict
from sandbox.apply.reader import ClusterReader
from sandbox.kube.client import KubeError
from sandbox.model import Manifest, ObjectKey

OwnerOf = Callable[[ObjectKey, Manifest | None], Claim | None]
LiveOf = Callable[[ObjectKey], Manifest | None]


class Verdict(StrEnum):
    """What the last comparison of a desired object with its live one found."""

    SAME = "same"  # applying would change nothing
    DIFFERS = "differs"  # applying would change (or create) the live object
    FAILED = "failed"  # the API server refused the object
    CONFLICT = "conflict"  # another app owns the live object: it is never applied from here


@dataclass(frozen=True)
class Comparison:
    verdict: Verdict
    message: str = ""
    predicted: Manifest | None = None  # the dry-run's result, when there was one
    validated: bool = True  # False: the API server could not judge it yet (no namespace yet)


@dataclass
class Verified:
    """Per object, the desired hash and live resourceVersion last found the same."""

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

    def clear(self) -> None:
        """Forget everything (another cluster: nothing verified holds there)."""
        with self.lock:
            self.entries.clear()


class DryRun:
    """Compares marked desired manifests with live objects; never changes the cluster."""

    def __init__(self, reader: ClusterReader, verified: Verified) -> None:
        self.reader = reader
        self.verified = verified

    def compare(
        self,
        key: ObjectKey,
        marked: Manifest,
        live: Manifest | None,
        ignored: tuple[str, ...] = (),
        brought: frozenset[str] = frozenset(),
    ) -> Comparison:
        """Whether applying ``marked`` would change ``live`` (None: it would be created), the
        fields at ``ignored`` left out; ``brought``: the namespaces the same sync creates."""
        desired_hash = diff.content_hash(marked)
        if self.verified.matches(key, desired_hash, live):
            return Comparison(Verdict.SAME)
        try:
            predicted = self.reader.dry_run(marked)
        except KubeError as exc:
            if live is None and _namespace_missing(exc):
                # Created along with its namespace: the server can judge it once that exists.
                return Comparison(
                    Verdict.DIFFERS, _before_namespace(key.namespace, brought, exc), validated=False
                )
            return Comparison(Verdict.FAILED, exc.message)
        if live is not None and diff.same(predicted, live, ignored):
            self.verified.record(key, desired_hash, live)
            return Comparison(Verdict.SAME)  # nothing to show: the prediction is not kept
        return Comparison(Verdict.DIFFERS, predicted=predicted)

    def compare_all(
        self,
        desired: DesiredSet,
        live_of: LiveOf,
        owner_of: OwnerOf,
        pool: Executor | None = None,
        namespace: str = "",
    ) -> dict[ObjectKey, Comparison]:
        """Every object of an app against the cluster, as a sync would judge it before applying:
        another app's object is a conflict, a kind the app's own CRDs bring cannot be judged yet.
        ``namespace``: the one the sync creates for the app (CreateNamespace), if any."""
        coming = desired.crd_kinds()
        brought = frozenset({*desired.namespaces(), *([namespace] if namespace else [])})

        def one(key: ObjectKey) -> tuple[ObjectKey, Comparison]:
            obj, live = desired.objects[key], live_of(key)
            claim = owner_of(key, live)
            if claim is not None and claim.app != desired.app:
                return key, Comparison(Verdict.CONFLICT, conflict(claim, desired.app, obj.source))
            api_version = obj.manifest["apiVersion"]
            if (key.group, key.kind) in coming and self.reader.resource_for(api_version, key.kind) is None:
                return key, Comparison(Verdict.DIFFERS, "its kind comes with this app's CRD", validated=False)
            return key, self.compare(key, desired.marked[key], live, desired.ignored.get(key, ()), brought)

        keys = list(desired.objects)
        return dict(pool.map(one, keys) if pool is not None and len(keys) > 1 else map(one, keys))


def _before_namespace(namespace: str, brought: frozenset[str], exc: KubeError) -> str:
    """Why an object to be created in a namespace that does not exist is not judged yet."""
    if namespace in brought:
        return f"to be created after its namespace {namespace}, which this sync creates first; judged then"
    # Whether some other app creates it is not this app's to know: say the condition, not a guess.
    return (f"its namespace {namespace} does not exist and this app does not create it: it is refused "
            f"({exc.message}) unless another app creates {namespace} first; if none does, add a "
            f"Namespace {namespace} to this app")  # fmt: skip


def _namespace_missing(exc: KubeError) -> bool:
    details = exc.body.get("details") or {}
    return exc.status == 404 and details.get("kind") == "namespaces"
