"""Argo CD's sync order: phases (PreSync, Sync, PostSync, SyncFail), waves, and hooks.

A hook is an object that runs at a phase of a sync instead of being kept in step with Git:
it is created when the phase comes, waited for (a Job to complete, a Pod to succeed, anything
else to be healthy) and deleted by its policy. Helm's hook annotations map onto Argo CD's as
Argo CD maps them. Pure: parsing annotations only.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sandbox.manifest.shape import annotations_of
from sandbox.model import Manifest

WAVE = "argocd.argoproj.io/sync-wave"
HOOK = "argocd.argoproj.io/hook"
HOOK_DELETE = "argocd.argoproj.io/hook-delete-policy"
SYNC_OPTIONS = "argocd.argoproj.io/sync-options"
COMPARE_OPTIONS = "argocd.argoproj.io/compare-options"
HELM_HOOK = "helm.sh/hook"
HELM_WEIGHT = "helm.sh/hook-weight"
HELM_DELETE = "helm.sh/hook-delete-policy"


class Phase(StrEnum):
    PRE_SYNC = "PreSync"
    SYNC = "Sync"
    POST_SYNC = "PostSync"
    SYNC_FAIL = "SyncFail"
    SKIP = "Skip"


class DeletePolicy(StrEnum):
    BEFORE_HOOK_CREATION = "BeforeHookCreation"
    HOOK_SUCCEEDED = "HookSucceeded"
    HOOK_FAILED = "HookFailed"


_HELM_PHASES = {
    "pre-install": Phase.PRE_SYNC, "pre-upgrade": Phase.PRE_SYNC,
    "post-install": Phase.POST_SYNC, "post-upgrade": Phase.POST_SYNC,
}  # fmt: skip
_HELM_POLICIES = {
    "before-hook-creation": DeletePolicy.BEFORE_HOOK_CREATION,
    "hook-succeeded": DeletePolicy.HOOK_SUCCEEDED,
    "hook-failed": DeletePolicy.HOOK_FAILED,
}


@dataclass(frozen=True)
class Hook:
    phases: tuple[Phase, ...]
    policies: tuple[DeletePolicy, ...]


class OrderError(ValueError):
    """An annotation that does not read (a wave that is not a number, an unknown hook)."""


def wave_of(manifest: Manifest) -> int:
    """The object's sync wave (Argo CD's annotation; a Helm hook's weight); 0 by default."""
    annotations = annotations_of(manifest)
    raw = annotations.get(WAVE)
    if raw is None and HOOK not in annotations and HELM_HOOK in annotations:
        raw = annotations.get(HELM_WEIGHT)
    if raw is None:
        return 0
    try:
        return int(str(raw).strip())
    except ValueError:
        raise OrderError(f"annotation {WAVE}: {raw!r} is not a whole number") from None


def hook_of(manifest: Manifest) -> Hook | None:
    """The hook an object is, or None for an ordinary object of the app."""
    annotations = annotations_of(manifest)
    if HOOK in annotations:
        phases = []
        for part in str(annotations[HOOK]).split(","):
            try:
                phases.append(Phase(part.strip()))
            except ValueError:
                known = ", ".join(p.value for p in Phase)
                raise OrderError(f"annotation {HOOK}: {part.strip()!r} is not a hook ({known})") from None
        policies = _policies(annotations.get(HOOK_DELETE), {p.value: p for p in DeletePolicy}, HOOK_DELETE)
        return Hook(tuple(phases), policies or (DeletePolicy.BEFORE_HOOK_CREATION,))
    if HELM_HOOK in annotations:
        names = [p.strip() for p in str(annotations[HELM_HOOK]).split(",") if p.strip()]
        mapped = tuple(dict.fromkeys(_HELM_PHASES[n] for n in names if n in _HELM_PHASES))
        policies = _policies(annotations.get(HELM_DELETE), _HELM_POLICIES, HELM_DELETE)
        # Helm hooks Argo CD has no phase for (delete, rollback, test) never run in a sync.
        return Hook(mapped or (Phase.SKIP,), policies or (DeletePolicy.BEFORE_HOOK_CREATION,))
    return None


def _policies(raw: Any, known: dict[str, DeletePolicy], annotation: str) -> tuple[DeletePolicy, ...]:
    if raw is None:
        return ()
    found = []
    for part in str(raw).split(","):
        name = part.strip()
        if name not in known:
            raise OrderError(f"annotation {annotation}: {name!r} is not one of {', '.join(known)}")
        found.append(known[name])
    return tuple(dict.fromkeys(found))


def options_of(manifest: Manifest, annotation: str = SYNC_OPTIONS) -> frozenset[str]:
    """An object's own sync (or compare) options, such as ``Prune=false``."""
    raw = annotations_of(manifest).get(annotation)
    return frozenset(p.strip() for p in str(raw).split(",") if p.strip()) if raw else frozenset()
