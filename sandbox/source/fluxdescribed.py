"""A GitRepository that no object in the repo defines, but that a file describes.

The Flux Operator's cluster templates install Flux with the ``flux-instance`` chart, from a
registry, with its values in the repo: ``instance.sync`` names the GitRepository the
FluxInstance makes (``name``, ``url``, ``ref``, ``path``), and every Kustomization of the repo
reads that source. The chart cannot be rendered here, so the object is never seen; its
description is, in plain YAML. Read as that GitRepository when its URL is this repo (or one
mapped in sandbox.yaml), and said — a guess that a repo's own words support, never a silent one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from sandbox.manifest import kubeyaml
from sandbox.manifest.suffixes import MANIFEST_SUFFIXES

_COMMIT = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class Described:
    url: str
    ref: dict[str, str]  # as a GitRepository's spec.ref
    file: str


def git_ref(ref: object) -> dict[str, str]:
    """A GitRepository ref from a FluxInstance's ``sync.ref`` (refs/heads/…, refs/tags/…, a
    commit) or a spec.ref mapping as written."""
    if isinstance(ref, Mapping):
        return {str(k): str(v) for k, v in ref.items() if isinstance(v, str | int)}
    text = str(ref or "")
    if text.startswith("refs/heads/"):
        return {"branch": text.removeprefix("refs/heads/")}
    if text.startswith("refs/tags/"):
        return {"tag": text.removeprefix("refs/tags/")}
    if _COMMIT.fullmatch(text):
        return {"commit": text}
    return {"name": text} if text else {}


def described_git(name: str, files: list[str], read: Callable[[str], bytes | None]) -> Described | None:
    """The first description of GitRepository ``name`` in ``files``: a mapping that names it,
    with a ``url`` (a FluxInstance's sync, in chart values or elsewhere)."""
    for file in files:
        if not file.lower().endswith(MANIFEST_SUFFIXES):
            continue
        try:
            docs = list(kubeyaml.load_all(read(file) or b""))
        except (yaml.YAMLError, RecursionError, ValueError):
            continue  # a template, not YAML until rendered
        for found in _mappings(docs):
            if found.get("name") == name and isinstance(found.get("url"), str) and found["url"] \
                    and str(found.get("kind") or "GitRepository") == "GitRepository":  # fmt: skip
                return Described(str(found["url"]), git_ref(found.get("ref")), file)
    return None


def _mappings(value: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(value, Mapping):
        yield value
        for item in value.values():
            yield from _mappings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _mappings(item)
