"""Argo CD's parameter override files: ``.argocd-source.yaml`` and ``.argocd-source-<app>.yaml``
in an Application's folder, which its repo server merges into the source before it renders
(argocd-image-updater writes its image pins there). Each is a JSON merge patch (RFC 7386) of
the source, applied in that order; only what configures the tool is taken, never the repo,
path, chart or revision (reposerver's mergeSourceParameters)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from sandbox.manifest import kubeyaml

KEPT = ("repoURL", "path", "chart", "targetRevision")


@dataclass(frozen=True)
class Overridden:
    source: dict[str, Any]  # the source with the files merged in
    files: tuple[str, ...]  # the files that were there, in the order merged
    problem: str = ""  # a file that does not read: the app fails, as Argo CD's comparison does


def overridden(source: dict[str, Any], app: str, read: Callable[[str], bytes | None]) -> Overridden:
    """``source`` with the override files ``read`` finds in its folder merged in."""
    merged: Any = dict(source)
    found: list[str] = []
    for name in (".argocd-source.yaml", f".argocd-source-{app}.yaml"):
        raw = read(name)
        if raw is None:
            continue
        try:
            patch = kubeyaml.load(raw)
        except (yaml.YAMLError, ValueError) as err:
            return Overridden(
                source, (*found, name), f"{name} does not read as YAML: {str(err).splitlines()[0]}"
            )
        found.append(name)
        merged = merge_patch(merged, patch)
    if not isinstance(merged, dict):
        return Overridden(source, tuple(found), f"{found[-1]} is not a mapping of source fields")
    merged = {**merged, **{k: source[k] for k in KEPT if k in source}}
    merged = {k: v for k, v in merged.items() if k not in KEPT or k in source}
    return Overridden(merged, tuple(found))


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: a mapping merges key by key, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out
