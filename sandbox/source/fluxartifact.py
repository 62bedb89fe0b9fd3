"""Flux ``ExternalArtifact`` sources made by an ``ArtifactGenerator`` (source-watcher), read as
views of one folder of a GitRepository.

The common use splits a monorepo: ``@repo/apps/base/**`` to ``@artifact/base/`` and
``@repo/apps/staging/**`` to ``@artifact/staging/``. Every copy then keeps the tree's shape
under one folder (``apps``), so a Kustomization's ``path: ./staging`` in the artifact is
``apps/staging`` in the repo, and relative references between the copied folders still meet.
Copies that reshape the tree (a file renamed, globs of some files, two sources, merges) would
need the artifact built file by file; the sandbox refuses those by name instead.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.manifest.shape import mapping

GROUP = "source.extensions.fluxcd.io"
_GLOB = re.compile(r"[*?\[{]")


@dataclass(frozen=True)
class ArtifactView:
    """An artifact that is the folder ``root`` of the GitRepository ``source``."""

    source: str  # the GitRepository's name
    root: str  # repo-relative folder; the artifact's paths are relative to it


def artifact_views(manifest: Mapping[str, Any]) -> dict[str, ArtifactView | str]:
    """Each artifact an ArtifactGenerator makes, by name: its view, or why it has none."""
    spec = mapping(manifest.get("spec"))
    aliases: dict[str, tuple[str, str]] = {}
    for source in spec.get("sources") or ():
        source = mapping(source)
        aliases[str(source.get("alias", ""))] = (str(source.get("kind", "")), str(source.get("name", "")))
    views: dict[str, ArtifactView | str] = {}
    for artifact in spec.get("artifacts") or ():
        artifact = mapping(artifact)
        name = str(artifact.get("name", ""))
        if spec.get("pathPattern"):
            views[name] = "spec.pathPattern is not supported by the sandbox"
            continue
        views[name] = _view(artifact, aliases)
    return views


def _view(artifact: Mapping[str, Any], aliases: Mapping[str, tuple[str, str]]) -> ArtifactView | str:
    roots: set[tuple[str, str]] = set()
    for number, copy in enumerate(artifact.get("copy") or ()):
        copy = mapping(copy)
        where = f"copy[{number}]"
        source, root, why = _root(str(copy.get("from", "")), str(copy.get("to", "")))
        if why:
            return f"{where}: {why}"
        if copy.get("exclude") or copy.get("strategy", "Overwrite") != "Overwrite":
            return f"{where}: exclude and the Merge/Extract strategies are not supported by the sandbox"
        kind, name = aliases.get(source, ("", ""))
        if kind != "GitRepository":
            return f"{where}: @{source} is {'a ' + kind if kind else 'not among spec.sources'}; only GitRepository sources are read"
        roots.add((name, root))
    if len(roots) != 1:
        return "its copies come from several folders or sources; the sandbox reads an artifact that is one folder's view"
    name, root = roots.pop()
    return ArtifactView(name, root)


def _root(origin: str, to: str) -> tuple[str, str, str]:
    """(alias, the repo folder the artifact's root stands for, why not)."""
    found = re.fullmatch(r"@([\w-]+)/?(.*)", origin)
    dest = re.fullmatch(r"@artifact/?(.*)", to)
    if not found or not dest:
        return "", "", f"from {origin!r} to {to!r} is not @alias/path to @artifact/path"
    alias, path = found.groups()
    target = dest.group(1)
    if target and not target.endswith("/"):
        return alias, "", f"to {to!r} names a file; the sandbox reads copies into folders (ending in /)"
    if path in ("**", ""):
        folder = "."
    elif path.endswith("/**") and not _GLOB.search(path[: -len("/**")]):
        folder = path[: -len("/**")]  # its contents into target
    elif path.endswith("/") and not _GLOB.search(path):
        folder = path.rstrip("/")
        target = posixpath.join(target, posixpath.basename(folder))  # the folder itself into target
    else:
        return (
            alias,
            "",
            f"from {origin!r} copies single files or a glob; the sandbox reads whole folders (dir/** or dir/)",
        )
    target = posixpath.normpath(target or ".")
    folder = posixpath.normpath(folder)
    if target == ".":
        return alias, folder, ""
    if folder == target:
        return alias, ".", ""
    if not folder.endswith("/" + target):
        return (
            alias,
            "",
            f"from {origin!r} to {to!r} moves the folder; the sandbox reads copies that keep the tree's shape",
        )
    return alias, folder[: -len(target) - 1], ""
