"""An Argo CD or Flux object the sandbox cannot turn into an app still shows as one, failed, described as the object describes its app."""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from typing import Any

from sandbox.manifest.appkinds import FLUX_APP_KINDS
from sandbox.manifest.names import DNS1123_LABEL
from sandbox.manifest.shape import mapping
from sandbox.model import Problem
from sandbox.source import argocd, flux
from sandbox.source.appid import app_id
from sandbox.source.appspec import AppSpec, Source
from sandbox.source.argocd import Defined


def failed_app(
    found: Defined, problems: list[Problem], parent: str, is_here: Callable[[str], bool] = lambda _url: True
) -> AppSpec | None:
    """An Argo CD or Flux object the sandbox cannot turn into an app still shows as one, failed
    with its problems (as the controller would show its error), so its parent's health says so
    too. None when it has no usable name: then only the problems show."""
    meta = mapping(found.manifest.get("metadata"))
    name, namespace = meta.get("name"), str(meta.get("namespace") or "")
    if not problems or not isinstance(name, str) or not argocd.APP_NAME.match(name) or len(name) > 63:
        return None
    kind = str(found.manifest.get("kind", ""))
    home = namespace or ("flux-system" if kind in FLUX_APP_KINDS else "")
    spec = mapping(found.manifest.get("spec"))
    path, target, source = _described(kind, spec, namespace)
    auto, heal = _automation(kind, spec)
    return AppSpec(
        app_id(kind, home, name), path or posixpath.dirname(found.file) or ".",
        target if DNS1123_LABEL.match(target) else "default",
        source, parent=parent, defined_in=found.file, kind=kind, home=home, object_name=name,
        after_parent=bool(parent), invalid=tuple(problems), auto_sync=auto, self_heal=heal,
        also_reads=_other_sources(kind, spec, is_here), reads_no_folder=_reads_no_folder(kind, spec, is_here),
    )  # fmt: skip


def _other_sources(kind: str, spec: dict[str, Any], is_here: Callable[[str], bool]) -> tuple[str, ...]:
    """The folders of this repo a multi-source Application's sources read (what it would define
    there is its own, though the sandbox cannot render it)."""
    if kind != "Application" or spec.get("source"):
        return ()
    sources = [mapping(s) for s in spec.get("sources") or ()]
    return tuple(posixpath.normpath(str(s["path"]).strip("/") or ".") for s in sources
                 if s.get("path") and is_here(str(s.get("repoURL") or "")))  # fmt: skip


def _reads_no_folder(kind: str, spec: dict[str, Any], is_here: Callable[[str], bool]) -> bool:
    """An Application of charts from a Helm repository, or of another repository's folders:
    the folder its file sits in, or any folder of this repo, is none of its reading."""
    if kind != "Application":
        return False
    sources = (
        [mapping(spec["source"])] if spec.get("source") else [mapping(s) for s in spec.get("sources") or ()]
    )
    return bool(sources) and all(s.get("chart") or not is_here(str(s.get("repoURL") or "")) for s in sources)


def _automation(kind: str, spec: dict[str, Any]) -> tuple[bool, bool]:
    """(auto-sync, self-heal) as the object writes them, for an app shown failed: an Application's
    syncPolicy.automated (selfHeal off unless said), a Flux object's suspend."""
    if kind == "Application":
        automated = mapping(spec.get("syncPolicy")).get("automated")
        auto = isinstance(automated, dict) and automated.get("enabled", True) is not False
        return auto, auto and bool(mapping(automated).get("selfHeal"))
    if kind in FLUX_APP_KINDS:
        return not spec.get("suspend"), not spec.get("suspend")
    return True, True


def _described(kind: str, spec: dict[str, Any], namespace: str) -> tuple[str, str, Source]:
    """(path, namespace, source type) an Argo CD or Flux object says of its app, as written:
    shown for an app the sandbox cannot run, so it is described as the object describes it."""
    if kind == "Application":
        source = mapping(spec.get("source") or (spec.get("sources") or [{}])[0])
        destination = str(mapping(spec.get("destination")).get("namespace") or argocd.DEFAULT_NAMESPACE)
        return str(source.get("path") or ""), destination, "helm" if source.get("chart") else "plain"
    if kind == "Kustomization":
        return (
            flux.clean_path(str(spec.get("path") or ".")),
            str(spec.get("targetNamespace") or "default"),
            "kustomize",
        )
    if kind == "HelmRelease":
        return "", str(spec.get("targetNamespace") or namespace or "default"), "helm"
    return "", namespace or "default", "plain"
