"""Where Flux starts in a repo: its cluster entries, found as `flux bootstrap` and the Flux Operator point Flux at a folder."""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from sandbox.manifest import kubeyaml, rawyaml
from sandbox.manifest.shape import mapping
from sandbox.manifest.suffixes import MANIFEST_SUFFIXES
from sandbox.source import flux
from sandbox.source.envrepo import EnvRepo
from sandbox.source.render.kustomization import KUSTOMIZATION_FILES


@dataclass(frozen=True)
class FluxEntries:
    """Where Flux may start: the folders it is pointed at, and beside them the other
    clusters/<name> folders, not bootstrapped yet, that a user may name with --entry."""

    found: list[str]
    others: list[str]


def flux_entries(repo: EnvRepo, sha: str) -> FluxEntries:
    return repo.memo.once(("flux", sha), lambda: _scan_flux_entries(repo, sha))


@dataclass
class _Scan:
    """What the Flux objects of a repo say of where Flux starts, file by file."""

    synced: set[str] = field(default_factory=set)  # folders a Kustomization inside them syncs
    bootstrapped: set[str] = field(default_factory=set)  # ... from the bootstrap source
    named: set[str] = field(default_factory=set)  # ... by the flux-system Kustomization itself
    instances: set[str] = field(default_factory=set)  # a FluxInstance's sync path
    holders: set[str] = field(default_factory=set)  # folders of files defining Kustomizations/HelmReleases
    paths: set[str] = field(default_factory=set)  # the paths Kustomizations sync in this repo
    defining: set[str] = field(default_factory=set)  # the files that define Kustomizations or HelmReleases
    syncs: set[tuple[str, str]] = field(
        default_factory=set
    )  # (path, file) of each Kustomization syncing this repo

    def read(self, doc: dict[str, Any], file: str, is_dir: Callable[[str], bool]) -> None:
        kind = flux.kind_of(doc)
        spec = mapping(doc.get("spec"))
        if (path := _instance_path(kind, spec)) is not None:
            if path != "." and is_dir(path):
                self.instances.add(path)
        elif kind == f"{flux.KUSTOMIZE_GROUP}/Kustomization":
            self._kustomization(doc, spec, file)
        if kind == f"{flux.HELM_GROUP}/HelmRelease":
            self.holders.add(posixpath.dirname(file) or ".")
            self.defining.add(file)

    def _kustomization(self, doc: dict[str, Any], spec: Mapping[str, Any], file: str) -> None:
        path = flux.clean_path(str(spec.get("path", ".")))
        source = mapping(spec.get("sourceRef"))
        # Only a path into this repo reaches its folders: another source's (an OCI artifact, a
        # tenant's repo) says nothing about them, least of all its root.
        if source.get("kind", "GitRepository") == "GitRepository" and (
            "path" in spec or source.get("name") == flux.BOOTSTRAP_SOURCE
        ):
            self.paths.add(path)
            self.syncs.add((path, file))
        self.holders.add(posixpath.dirname(file) or ".")
        self.defining.add(file)
        if path != "." and file.startswith(path + "/"):
            self.synced.add(path)
            if source.get("name") == flux.BOOTSTRAP_SOURCE:
                self.bootstrapped.add(path)
                if mapping(doc.get("metadata")).get("name") == flux.BOOTSTRAP_SOURCE:
                    self.named.add(path)  # what `flux bootstrap` writes: flux-system syncs it


def _scan_flux_entries(repo: EnvRepo, sha: str) -> FluxEntries:
    """The cluster entries of a Flux repo, where ``flux bootstrap`` (or the Flux Operator) would
    point Flux: a folder a Kustomization inside it syncs (``clusters/<name>/flux-system/gotk-sync.yaml``),
    a ``FluxInstance``'s ``spec.sync.path``; failing both (a repo not bootstrapped yet, whose
    gotk-sync.yaml is a placeholder), each outermost folder holding Flux Kustomizations or
    HelmReleases that no Kustomization's path (nor a kustomization's reference) reaches."""
    scan = _Scan()
    for file in _flux_files(repo, sha):
        if not file.lower().endswith(MANIFEST_SUFFIXES):
            continue
        try:
            docs = list(kubeyaml.load_all(repo.read_file(sha, file) or b""))
        except (yaml.YAMLError, RecursionError, ValueError):
            continue
        for doc in docs:
            if isinstance(doc, dict):
                scan.read(doc, file, lambda path: repo.is_dir(sha, path))
    synced, bootstrapped, named, instances = scan.synced, scan.bootstrapped, scan.named, scan.instances
    holders, paths, defining, syncs = scan.holders, scan.paths, scan.defining, scan.syncs
    # What the bootstrap source syncs is where Flux starts; another Kustomization that syncs a
    # folder holding it (one of the apps applied from there) is reached from that start.
    # A folder that syncs itself (an app's ks.yaml whose path is its own folder) is no entry
    # when a Kustomization outside it reaches it: it is one of the apps applied from there.
    self_synced = {c for c in (bootstrapped or synced) if not _reached_from_outside(c, syncs)}
    found = (named or self_synced) | instances
    unreached = _unreached_holders(repo, sha, holders, defining, paths)
    if not found:
        # The ones laid out for `flux bootstrap` (a flux-system folder beside), if any.
        found = {h for h in unreached if repo.is_dir(sha, _join(h, "flux-system"))} or unreached
    # Beside a bootstrapped cluster, another clusters/<name> folder not bootstrapped yet: said,
    # for the user may mean that cluster; elsewhere, a folder nothing reaches is no entry.
    taken = {home for f in found if (home := _cluster_home(f))}
    others = {
        h
        for h in unreached - found
        if _cluster_home(h) not in taken | {""} and _clusters_of(_cluster_home(h)) in map(_clusters_of, taken)
    }
    return FluxEntries(_outermost(found), _outermost(others))  # fmt: skip


def _outermost(folders: set[str]) -> list[str]:
    return sorted(
        f for f in folders if not any(o != f and (o == "." or f.startswith(o + "/")) for o in folders)
    )


def _cluster_home(folder: str) -> str:
    """The clusters/<name> folder a path lies in, as Flux lays out a repo per cluster ("" when none)."""
    parts = folder.split("/")
    at = next((i for i, part in enumerate(parts[:-1]) if part == "clusters"), None)
    return "/".join(parts[: at + 2]) if at is not None else ""


def _clusters_of(home: str) -> str:
    return posixpath.dirname(home)


def _reached_from_outside(folder: str, syncs: set[tuple[str, str]]) -> bool:
    """Whether a Kustomization defined outside ``folder`` syncs it or a folder above it."""

    def inside(path: str, top: str) -> bool:
        return top == "." or path == top or path.startswith(top + "/")

    return any(inside(folder, path) and not inside(file, folder) for path, file in syncs)


def _unreached_holders(
    repo: EnvRepo, sha: str, holders: set[str], defining: set[str], paths: set[str]
) -> set[str]:
    """For a repo not bootstrapped yet: each folder holding Flux Kustomizations or HelmReleases
    that no Kustomization's path (nor a kustomization's reference) reaches."""
    # A kustomization that lists a file of Flux objects (resources: [../../apps/web/ks.yaml])
    # holds them, as Flux builds it; the file's own folder is then reached from there.
    references = _kustomize_references(repo, sha)
    holders = holders | {folder for folder, named in references.items() if named & defining}
    elsewhere = {  # the folder of a Flux file another folder's kustomization lists
        posixpath.dirname(n) or "." for folder, named in references.items() for n in named & defining
        if (posixpath.dirname(n) or ".") != folder
    }  # fmt: skip
    reached = paths | {n for named in references.values() for n in named} | elsewhere
    found = {h for h in holders if not any(p == "." or h == p or h.startswith(p + "/") for p in reached)}
    # A kustomize Component is mixed into a Kustomization (spec.components), never built alone;
    # a folder inside a kustomize tree (a parent folder has a kustomization that lists others)
    # is built from that tree, or left out of it on purpose (a line commented out): no entry.
    found = {h for h in found if not _is_component(repo, sha, h)
             and not any(h.startswith(k + "/") for k in references if k != ".")}  # fmt: skip
    return found


def _instance_path(kind: str, spec: dict[str, object]) -> str | None:
    """The folder a Flux Operator instance syncs: a FluxInstance's spec.sync.path, or the same
    given as the values of a HelmRelease of the operator's flux-instance chart."""
    if kind == f"{flux.OPERATOR_GROUP}/FluxInstance":
        return flux.clean_path(str(mapping(spec.get("sync")).get("path") or "."))
    if kind != f"{flux.HELM_GROUP}/HelmRelease":
        return None
    chart = str(mapping(mapping(spec.get("chart")).get("spec")).get("chart", ""))
    chart_ref = str(mapping(spec.get("chartRef")).get("name", ""))
    if "flux-instance" not in (posixpath.basename(chart), chart_ref):
        return None
    sync = mapping(mapping(mapping(spec.get("values")).get("instance")).get("sync"))
    return flux.clean_path(str(sync.get("path") or ".")) if sync.get("path") else None


def _is_component(repo: EnvRepo, sha: str, folder: str) -> bool:
    for name in KUSTOMIZATION_FILES:
        raw = repo.read_file(sha, _join(folder, name))
        if raw is not None:
            try:
                return mapping(rawyaml.load(raw)).get("kind") == "Component"
            except (yaml.YAMLError, RecursionError, ValueError):
                return False
    return False


def _flux_files(repo: EnvRepo, sha: str, under: str = "") -> list[str]:
    """The manifest files that may hold Flux Kustomizations, HelmReleases or a FluxInstance."""
    groups = (flux.KUSTOMIZE_GROUP, flux.HELM_GROUP, flux.OPERATOR_GROUP)
    found = {f for group in groups for f in repo.files_containing(sha, group, under)}
    return sorted(f for f in found if f.lower().endswith(MANIFEST_SUFFIXES))


def holds_flux(repo: EnvRepo, sha: str, folder: str) -> bool:
    """Whether a folder holds Flux objects, or its kustomization lists a file that does."""
    if _flux_files(repo, sha, "" if folder == "." else folder):
        return True
    named = _kustomize_references(repo, sha).get(folder, set())
    return bool(named & set(_flux_files(repo, sha)))


def _kustomize_references(repo: EnvRepo, sha: str) -> dict[str, set[str]]:
    """Per folder with a kustomization.yaml, what it names (a base, a component, a file): each
    reached from wherever that kustomization is built, so no cluster entry."""
    found: dict[str, set[str]] = {}
    for file in repo.list_files(sha, ""):
        if posixpath.basename(file) not in KUSTOMIZATION_FILES:
            continue
        try:
            data = rawyaml.load(repo.read_file(sha, file) or b"")
        except (yaml.YAMLError, RecursionError, ValueError):
            continue
        folder = posixpath.dirname(file) or "."
        for key in ("resources", "bases", "components"):
            for item in mapping(data).get(key) or ():
                if isinstance(item, str) and "://" not in item:
                    found.setdefault(folder, set()).add(posixpath.normpath(posixpath.join(folder, item)))
    return found


def _join(folder: str, name: str) -> str:
    return name if folder == "." else f"{folder}/{name}"
