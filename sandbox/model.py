"""The vocabulary as types: object keys, desired objects, sync status and health.

Everything here is immutable so snapshots can be handed to any subscriber (TUI thread,
CLI, benchmark) without copying or locking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

Manifest = dict[str, Any]

# The sandbox's own namespace: every app's inventory lives there, so no app may put objects in it.
SYSTEM_NAMESPACE = "gitops-sandbox-system"


class SyncStatus(StrEnum):
    SYNCED = "Synced"
    OUT_OF_SYNC = "OutOfSync"
    MISSING = "Missing"  # in Git, not in the cluster
    ORPHANED = "Orphaned"  # claimed by the app, gone from Git
    UNKNOWN = "Unknown"


class Health(StrEnum):
    HEALTHY = "Healthy"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"
    SUSPENDED = "Suspended"
    MISSING = "Missing"
    UNKNOWN = "Unknown"


@dataclass(frozen=True)
class HealthResult:
    status: Health
    message: str = ""  # short human reason, e.g. "Waiting for rollout: 1 of 3 updated replicas are available"


# Worst first: app health is the worst of its objects (as Argo CD orders them).
HEALTH_ORDER = (
    Health.DEGRADED,
    Health.MISSING,
    Health.PROGRESSING,
    Health.UNKNOWN,
    Health.SUSPENDED,
    Health.HEALTHY,
)


def worst_health(values: list[Health] | tuple[Health, ...]) -> Health:
    """The worst of several health values; an app with no objects is Healthy."""
    if not values:
        return Health.HEALTHY
    return min(values, key=HEALTH_ORDER.index)


@dataclass(frozen=True, order=True)
class ObjectKey:
    """Identifies one object: API group, kind, namespace ("" when cluster-scoped), name."""

    group: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, manifest: Manifest) -> ObjectKey:
        api_version = str(manifest.get("apiVersion", ""))
        group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
        meta = manifest.get("metadata") or {}
        return cls(
            group, str(manifest.get("kind", "")), str(meta.get("namespace") or ""),
            str(meta.get("name") or meta.get("generateName") or ""),  # a hook's generateName stands in
        )  # fmt: skip

    def __str__(self) -> str:
        kind = f"{self.kind}.{self.group}" if self.group else self.kind
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{kind} {where}{self.name}"


@dataclass(frozen=True)
class DesiredObject:
    """A manifest rendered from the env repo at a revision, with where it came from."""

    key: ObjectKey
    manifest: Manifest
    source: str  # repo-relative file (or chart/kustomization path) that produced it
    app: str


@dataclass(frozen=True)
class Problem:
    """A clear message about bad input: which file and which object, and what is wrong."""

    message: str
    file: str = ""
    line: int | None = None
    object: str = ""
    # The reason its controller gives, where it names one of its own: ArtifactFailed for a
    # source Flux cannot get (the object's Ready condition says it, as `flux get` shows it).
    reason: str = ""

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        parts = [p for p in (where, self.object) if p]
        return f"{' '.join(parts)}: {self.message}" if parts else self.message


@dataclass(frozen=True)
class Rendered:
    """What rendering one app at one revision produced: objects, or problems, never both lost."""

    app: str
    revision: str
    objects: tuple[DesiredObject, ...] = ()
    problems: tuple[Problem, ...] = field(default_factory=tuple)
    hooks: tuple[DesiredObject, ...] = ()  # run at a phase of a sync, never kept in step
    children: tuple[DesiredObject, ...] = ()  # Argo CD Applications: apps of their own, not applied
    # What the render did other than written, each with why: objects left out, patches that
    # matched nothing, a key given twice. Not failures; shown with the app, never dropped.
    notices: tuple[Problem, ...] = ()
    # Objects left out because the sandbox plays them (Flux's own controllers): a health check
    # naming one is met.
    plays: tuple[ObjectKey, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems
