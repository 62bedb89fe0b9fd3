"""Diff: what a sync would change, normalised so a human sees only what matters.

The comparison is between the server-side dry-run of the desired object (what the object
would be after apply, with the server's defaults filled in) and the live object, so defaults
never show up as differences. Bookkeeping fields are hidden and Secret values masked.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
from typing import Any

from sandbox.manifest import kubeyaml
from sandbox.manifest.ignore import without
from sandbox.model import Manifest

HIDDEN_METADATA = (
    "managedFields", "resourceVersion", "uid", "generation", "creationTimestamp", "selfLink",
    "deletionTimestamp", "deletionGracePeriodSeconds",
)  # fmt: skip
HIDDEN_ANNOTATIONS = (
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
)
MASK = "++++++++"


def normalize(obj: Manifest | None, mask_secrets: bool = True) -> Manifest | None:
    """A copy without bookkeeping: no status, managedFields, resourceVersion, uid..."""
    if obj is None:
        return None
    out = copy.deepcopy(obj)
    out.pop("status", None)
    meta = out.get("metadata") or {}
    for field in HIDDEN_METADATA:
        meta.pop(field, None)
    annotations = meta.get("annotations") or {}
    for name in HIDDEN_ANNOTATIONS:
        annotations.pop(name, None)
    if "annotations" in meta and not annotations:
        meta.pop("annotations")
    if mask_secrets and out.get("kind") == "Secret" and out.get("apiVersion") == "v1":
        _mask_secret(out)
    return out


def _mask_secret(secret: Manifest) -> None:
    # Masked values still differ when the values differ: a short digest keeps that visible.
    for field in ("data", "stringData"):
        values = secret.get(field)
        if isinstance(values, dict):
            secret[field] = {k: f"{MASK} ({_digest(v)})" for k, v in values.items()}


def _digest(value: Any) -> str:
    return "sha256:" + hashlib.sha256(str(value).encode()).hexdigest()[:8]


def set_by(live: Manifest | None, desired: Manifest) -> Manifest | None:
    """``live`` with only the fields ``desired`` sets: what a server-side apply of ``desired``
    would change, when the API server cannot predict it (it refused the object). Fields the
    server fills (defaults, a Namespace's name label, finalizers) stay out of the comparison."""
    if live is None:
        return None
    projected = _within(live, desired)
    return projected if isinstance(projected, dict) else None


def _within(live: Any, desired: Any) -> Any:
    if isinstance(live, dict) and isinstance(desired, dict):
        return {k: _within(v, desired[k]) for k, v in live.items() if k in desired}
    if isinstance(live, list) and isinstance(desired, list) and len(live) == len(desired):
        return [_within(a, b) for a, b in zip(live, desired, strict=True)]
    return live


def same(predicted: Manifest | None, live: Manifest | None, ignored: tuple[str, ...] = ()) -> bool:
    """Whether applying would change nothing the user can see (``ignored``: JSON pointers of
    fields left out, Argo CD's ignoreDifferences)."""
    return without(normalize(predicted, mask_secrets=False), ignored) == without(
        normalize(live, mask_secrets=False), ignored
    )


def to_yaml(obj: Manifest | None) -> str:
    if obj is None:
        return ""
    return kubeyaml.dump(obj, sort_keys=True)


def unified(predicted: Manifest | None, live: Manifest | None, name: str, context: int = 3) -> str:
    """A unified diff from live to predicted (what applying would do), normalised and masked."""
    before = to_yaml(normalize(live)).splitlines(keepends=True)
    after = to_yaml(normalize(predicted)).splitlines(keepends=True)
    return "".join(difflib.unified_diff(before, after, f"live/{name}", f"desired/{name}", n=context))


def content_hash(manifest: Manifest) -> str:
    """A stable digest of a desired manifest, to know when Git changed an object."""
    return hashlib.sha256(json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[
        :16
    ]
