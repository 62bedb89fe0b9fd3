"""Kustomize patches that do something else than they say, or nothing, are said.

kustomize is lenient: a JSON6902 ``replace`` (or ``remove``) of a path the object lacks quietly
becomes an ``add`` (or nothing), where RFC 6902 and ``kubectl patch`` refuse it. Flux and Argo CD
build with kustomize, so their apps run with it: the sandbox builds the same, and says so. A
patch whose ``target`` matches no object is a no-op in kustomize and in Flux (a Flux
Kustomization's "defaults for every HelmRelease" patch over a folder with none is the common
case): skipped there and here, and said. This module checks the patches of an app's
kustomization against the objects as they are before those patches, with the strict
``jsonpatch`` library.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonpatch
import jsonpointer
import yaml

from sandbox.manifest import kubeyaml
from sandbox.model import Manifest, ObjectKey

Build = Callable[[dict[str, Any]], list[Manifest] | None]  # a kustomization -> its objects (None: failed)


@dataclass(frozen=True)
class Patch:
    index: int  # 1-based, in the kustomization's own order
    field: str  # patches | patchesJson6902
    target: dict[str, Any]
    ops: list[dict[str, Any]] | None  # a JSON6902 patch; None for a strategic merge patch

    @property
    def label(self) -> str:
        return f"{self.field}[{self.index - 1}]"


def targeted_patches(data: dict[str, Any], root: Path) -> list[Patch]:
    """The patches of a kustomization that name a target, with their JSON6902 ops if any."""
    found = []
    for field in ("patches", "patchesJson6902"):
        for index, item in enumerate(data.get(field) or (), start=1):
            if not isinstance(item, dict) or not isinstance(item.get("target"), dict):
                continue
            text = item.get("patch")
            if text is None and isinstance(item.get("path"), str):
                try:
                    text = (root / item["path"]).read_text()
                except (OSError, UnicodeDecodeError):
                    continue  # kustomize says so
            try:
                body = kubeyaml.load(text) if isinstance(text, str) else None
            except yaml.YAMLError:
                continue
            ops = body if isinstance(body, list) and all(isinstance(op, dict) for op in body) else None
            found.append(Patch(index, field, item["target"], ops))
    return found


@dataclass(frozen=True)
class Finding:
    patch: Patch
    message: str
    refused: bool  # True: the patch would do other than written; False: it does nothing


def findings(data: dict[str, Any], root: Path, build: Build) -> list[Finding]:
    """What the kustomization's targeted patches would do other than written ([] when nothing)."""
    patches = targeted_patches(data, root)
    if not patches:
        return []
    without = dict(data)
    for field in ("patches", "patchesJson6902"):
        kept = [
            p
            for p in data.get(field) or ()
            if not (isinstance(p, dict) and isinstance(p.get("target"), dict))
        ]
        if kept:
            without[field] = kept
        else:
            without.pop(field, None)
    objects = build(without)
    if objects is None:
        return []  # the build itself fails: kustomize's own message says why
    strip = _name_strippers(data)
    said = []
    for patch in patches:
        matched = [i for i, obj in enumerate(objects) if _matches(patch.target, obj, strip)]
        if not matched:
            said.append(Finding(patch, f"targets {_describe(patch.target)}, which matches no object: it changes "
                                       "nothing (skipped, as kustomize and Flux skip it)", refused=False))  # fmt: skip
            continue
        for i in matched:
            if patch.ops is None:
                continue  # a strategic merge patch: its target matching is all there is to check
            try:
                objects[i] = jsonpatch.apply_patch(objects[i], patch.ops, in_place=False)
            except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
                said.append(Finding(patch, f"is not what it does to {ObjectKey.of(objects[i])} ({exc}): kustomize "
                                           "applies it anyway (a replace of a missing path adds it, a remove of one "
                                           "does nothing), as Flux and Argo CD do", refused=False))  # fmt: skip
    return said


def _name_strippers(data: dict[str, Any]) -> list[Callable[[str], str]]:
    """Names as targets see them: before this kustomization's namePrefix and nameSuffix."""
    prefix, suffix = str(data.get("namePrefix") or ""), str(data.get("nameSuffix") or "")

    def bare(name: str) -> str:
        if prefix and name.startswith(prefix):
            name = name[len(prefix) :]
        if suffix and name.endswith(suffix):
            name = name[: -len(suffix)]
        return name

    return [lambda name: name, bare]


def _matches(target: dict[str, Any], obj: Manifest, strip: list[Callable[[str], str]]) -> bool:
    api_version = str(obj.get("apiVersion", ""))
    group, _, version = api_version.rpartition("/")
    meta = obj.get("metadata") or {}
    checks = [
        ("kind", str(obj.get("kind", ""))),
        ("group", group),
        ("version", version),
    ]
    for field, value in checks:
        wanted = target.get(field)
        if wanted not in (None, "") and not _regex_match(str(wanted), value):
            return False
    name = str(meta.get("name", ""))
    wanted_name = target.get("name")
    if wanted_name and not any(_regex_match(str(wanted_name), s(name)) for s in strip):
        return False
    # Namespaces and label or annotation selectors may be rewritten by this kustomization or
    # use set syntax: when one is there, give the patch the benefit of the doubt on it.
    for field, values in (
        ("labelSelector", meta.get("labels")),
        ("annotationSelector", meta.get("annotations")),
    ):
        selector = target.get(field)
        if isinstance(selector, str) and not _selects(selector, values or {}):
            return False
    return True


def _selects(selector: str, values: dict[str, str]) -> bool:
    for part in selector.split(","):
        key, sep, value = part.partition("=")
        if not sep or key.endswith("!") or any(c in part for c in "()"):
            return True  # set-based syntax: not judged here
        if values.get(key.strip()) != value.strip().lstrip("="):
            return False
    return True


def _regex_match(pattern: str, value: str) -> bool:
    try:
        return re.fullmatch(pattern, value) is not None
    except re.error:
        return pattern == value


def _describe(target: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in target.items()) or "anything"
