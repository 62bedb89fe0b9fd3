"""What a render reads instead of applying, and what it leaves out, each with why.

Argo CD and Flux objects define apps and sources (read, never applied: the sandbox is their
controller). Some objects are left out altogether: Flux's own components as ``flux install``
writes them, the Flux Operator's ``FluxInstance``, Argo CD's ``AppProject``, objects Flux is
told not to reconcile, objects of Flux controllers the sandbox does not play. Nothing goes in
silence: each left-out object is named in a notice of its app, grouped per file and reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sandbox.manifest.annotations import FLUX_RECONCILE, PART_OF
from sandbox.manifest.appkinds import APP_KINDS
from sandbox.manifest.shape import annotations_of, mapping
from sandbox.model import DesiredObject, Problem
from sandbox.source import argocd, flux

# The labels `flux install` (and so `flux bootstrap`) puts on every object of gotk-components.yaml.
INSTANCE, VERSION = "app.kubernetes.io/instance", "app.kubernetes.io/version"
# Flux objects read as definitions: apps and where their files come from.
_DEFINITIONS = (flux.KUSTOMIZE_GROUP, flux.HELM_GROUP, flux.SOURCE_GROUP, flux.fluxartifact.GROUP)


@dataclass
class Sorted:
    kept: list[DesiredObject] = field(default_factory=list)  # applied and kept in step with Git
    children: list[DesiredObject] = field(default_factory=list)  # Argo CD / Flux definitions, read
    left_out: list[tuple[DesiredObject, str]] = field(default_factory=list)  # with the reason
    plays: list[DesiredObject] = field(default_factory=list)  # left out: the sandbox plays them

    def read_notices(self) -> tuple[Problem, ...]:
        """Flux sources, ApplicationSets and other definitions that are read, never applied, per
        file: said so they are not taken for objects the sandbox forgot (Applications,
        Kustomizations and HelmReleases show as apps of their own)."""
        said = {id(o) for o, _why in self.left_out}
        read = [o for o in self.children if o.key.kind not in APP_KINDS and id(o) not in said]
        sets = [o for o in self.children if o.key.kind == "ApplicationSet"]
        return (
            *_per_file(read, "(the sandbox is Flux's source-controller: it reads sources from Git and the Helm cache)"),
            *_per_file(sets, "(the sandbox is Argo CD's ApplicationSet controller: the Applications it generates "
                             "show as apps of their own)"),
        )  # fmt: skip

    def notices(self) -> tuple[Problem, ...]:
        """One notice per file and reason: "left out 12 objects (CustomResourceDefinition ×10, ...)"."""
        groups: dict[tuple[str, str], list[DesiredObject]] = {}
        for obj, why in self.left_out:
            groups.setdefault((obj.source, why), []).append(obj)
        out = []
        for (file, why), objects in groups.items():
            if len(objects) == 1:
                what = str(objects[0].key)
            else:
                kinds = Counter(o.key.kind for o in objects)
                what = (
                    f"{len(objects)} objects (" + ", ".join(f"{k} ×{n}" for k, n in kinds.most_common()) + ")"
                )
            out.append(Problem(f"left out {what}: {why}", file=file))
        return tuple(out)


def _per_file(objects: list[DesiredObject], why: str) -> tuple[Problem, ...]:
    groups: dict[str, list[DesiredObject]] = {}
    for obj in objects:
        groups.setdefault(obj.source, []).append(obj)
    return tuple(
        Problem(f"read, not applied: {', '.join(str(o.key) for o in found)} {why}", file=file)
        for file, found in groups.items()
    )


def sort_out(objects: Iterable[DesiredObject]) -> Sorted:
    found = Sorted()
    for obj in objects:
        manifest = obj.manifest
        if argocd.is_argo_object(manifest):
            if manifest.get("kind") in argocd.APP_KINDS:
                found.children.append(obj)
            else:
                found.left_out.append(
                    (obj, f"Argo CD's own {manifest.get('kind')}: the sandbox runs every app itself")
                )
        elif (why := left_out_because(manifest)) is not None:
            found.left_out.append((obj, why))
            if is_flux_component(manifest):
                found.plays.append(obj)
            if manifest.get("kind") == "FluxInstance":
                found.children.append(obj)  # read all the same: its spec.sync makes a source apps name
        elif flux.is_flux_object(manifest):
            found.children.append(obj)
        else:
            found.kept.append(obj)
    return found


def left_out_because(manifest: Mapping[str, Any]) -> str | None:
    """Why an object is not applied, or None when it is."""
    group = flux.kind_of(manifest).split("/", 1)[0]
    kind = str(manifest.get("kind", ""))
    if is_flux_component(manifest):
        return (
            "Flux's own components as `flux install` writes them; the sandbox plays Flux's controllers itself"
        )
    if group == flux.OPERATOR_GROUP and kind in ("FluxInstance", "FluxReport"):
        return f"the Flux Operator's {kind}, which installs Flux; the sandbox plays Flux's controllers itself"
    if flux.is_flux_object(manifest) and group not in _DEFINITIONS:
        return f"{group.split('.', 1)[0]}-controller's {kind}, a controller the sandbox does not run"
    if annotations_of(manifest).get(FLUX_RECONCILE) == "disabled":
        return f"{FLUX_RECONCILE}: disabled (Flux leaves it alone; so does the sandbox)"
    return None


def is_flux_component(manifest: Mapping[str, Any]) -> bool:
    """An object of Flux's own install: all three labels `flux install` gives them. A user's
    object that merely says it is part of Flux (a PodMonitor, a dashboard) is applied."""
    labels = mapping(mapping(manifest.get("metadata")).get("labels"))
    return labels.get(PART_OF) == "flux" and INSTANCE in labels and VERSION in labels
