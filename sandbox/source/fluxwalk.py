"""Flux apps from a cluster entry, breadth-first, as kustomize-controller and helm-controller reconcile them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from sandbox.manifest.shape import mapping
from sandbox.model import DesiredObject, ObjectKey, Problem, Rendered
from sandbox.source import flux
from sandbox.source.appid import app_id
from sandbox.source.appspec import AppSpec, RenderOptions
from sandbox.source.argocd import Defined
from sandbox.source.envrepo import EnvRepo
from sandbox.source.failedapp import failed_app
from sandbox.source.percommit import MAX_DEPTH, NO_CLUSTER, ClusterFacts, defining_renders, render_once


@dataclass
class FluxWalk:
    repo: EnvRepo
    sha: str
    sources: flux.Sources
    taken: set[str]
    problems: list[Problem] = field(default_factory=list)
    apps: dict[str, AppSpec] = field(default_factory=dict)
    unrendered: set[str] = field(default_factory=set)
    cluster: ClusterFacts = NO_CLUSTER
    read_at: dict[str, str] = field(default_factory=dict)  # app -> the earlier revision its apps come from
    notices: list[Problem] = field(default_factory=list)  # said of the repo, failing nothing
    plays: set[str] = field(default_factory=set)  # app ids left out as Flux's own install: always Ready
    root_object: ObjectKey | None = None  # the Kustomization that syncs the entry, if the entry holds it

    def run(self, entry: str) -> None:
        root, rendered = self._root(entry)
        level = [(root, rendered)]
        self.apps[root.name] = root
        depth = 0
        while level and depth < MAX_DEPTH:
            depth += 1
            # A render that failed yet built (an object it refuses, such as a SOPS-encrypted
            # one) still says what the app would apply: its sources, and the apps it defines,
            # which wait on it ("its parent did not apply it"), as a Flux parent's children
            # wait for it to apply them. One that did not build defines apps nobody knows.
            for spec, made in level:
                if not made.ok and not (made.objects or made.children):
                    self.unrendered.add(spec.name)
                    continue
                for obj in (*made.objects, *made.children):
                    self.sources.learn(obj.manifest, spec.namespace)
            children = [app for spec, made in level if made.ok or made.children
                        for app in self._children(spec, made)]  # fmt: skip
            # A Kustomization that cannot run (a substituteFrom nothing makes, a source not read)
            # is not built: what it defines is unknown, as for one whose build fails.
            self.unrendered |= {a.name for a in children if a.kind == "Kustomization" and a.invalid}
            found = [app for app in children if app.source == "kustomize" and not app.invalid]
            level = list(zip(found, self._defining_all(found), strict=True))

    def _root(self, entry: str) -> tuple[AppSpec, Rendered]:
        """The app that syncs the entry, and what it renders. The entry is what `flux bootstrap`
        points its flux-system Kustomization at: until the entry's own Kustomization says
        otherwise, the root app is that one."""
        root = AppSpec(flux.BOOTSTRAP_SOURCE, entry, flux.BOOTSTRAP_SOURCE, "kustomize",
                       options=RenderOptions(flux=True), defined_in=entry, kind="Kustomization",
                       home=flux.BOOTSTRAP_SOURCE, create_namespace=True, waits=False)  # fmt: skip
        rendered = render_once(self.repo, root, self.sha, self.cluster)
        # Of the Kustomizations that sync the entry's folder, the one from the bootstrap source
        # (another source's path names a folder of another repo: an app of its own).
        itself = sorted((c for c in rendered.children if _flux_path(c.manifest) == entry
                         and flux.kind_of(c.manifest) == f"{flux.KUSTOMIZE_GROUP}/Kustomization"),
                        key=_root_preference)  # fmt: skip
        self.root_object = itself[0].key if itself else None
        for obj in (*rendered.objects, *rendered.children):  # its sources, defined beside it
            self.sources.learn(obj.manifest, root.namespace)
        if itself:  # the Kustomization that syncs the entry (flux-system) names the root
            found = Defined(dict(itself[0].manifest), itself[0].source)
            spec, problems = flux.app_of(found, self.sources, "")
            # Flux lives in that namespace, so its objects there (cluster settings) have one.
            home = str((itself[0].manifest.get("metadata") or {}).get("namespace") or "flux-system")
            if spec is not None:
                root = dataclasses.replace(spec, path=entry, namespace=home, create_namespace=True)
            elif (failed := failed_app(found, problems, "")) is not None:
                # The root fails as that Kustomization would (its apps wait on it, never applied),
                # while the tree under it is still shown.
                root = dataclasses.replace(failed, path=entry, namespace=home, create_namespace=True,
                                           source="kustomize", options=root.options, after_parent=False)  # fmt: skip
            else:
                self.problems += problems
        if root.suspended or not rendered.ok:
            rendered = self._defining(root)
        return root, rendered

    def _children(self, spec: AppSpec, made: Rendered) -> list[AppSpec]:
        """The apps ``spec``'s render defines, each added (a second definition of one is a problem)."""
        added = []
        for child in made.children:
            if flux.kind_of(child.manifest) not in (f"{flux.KUSTOMIZE_GROUP}/Kustomization",
                                                    f"{flux.HELM_GROUP}/HelmRelease"):  # fmt: skip
                continue
            if child.key == self.root_object or (self.root_object is None and self._syncs_entry(child)):
                # The root itself: the entry's own Kustomization, applied from a folder below the
                # entry's build (a Kustomization that applies clusters/<name>/flux-system).
                continue
            if url := flux.installs_flux(child.manifest, self.sources):
                self.notices.append(Problem(
                    f"left out {child.key.kind} {child.key.namespace}/{child.key.name}: it installs Flux itself (from "
                    f"{url}), whose controllers the sandbox plays", file=child.source, object=child.key.name,
                ))  # fmt: skip
                self.plays.add(app_id(child.key.kind, child.key.namespace, child.key.name))
                continue
            found = Defined(dict(child.manifest), child.source)
            app, problems = flux.app_of(found, self.sources, spec.name)
            app = app or failed_app(found, problems, spec.name)
            if app is None or not app.invalid:
                self.problems += problems
            if app is None:
                continue
            if app.name in self.taken:  # a namesake of a sandbox.yaml app: another app
                app = dataclasses.replace(app, name=app.names.qualified)
            if app.name in self.apps and self.apps[app.name].defined_in == child.source:
                # The same definition, from the same file, in a second app's build: a folder that
                # holds its own Kustomization (Flux's build of a folder takes every file below it).
                # Flux applies it from both; it is one app, shown under its first parent.
                what = "its own definition" if app.name == spec.name else f"the definition of {app.name}"
                self.notices.append(Problem(
                    f"{spec.name} applies {what} again (its folder holds that file): "
                    f"Flux applies it from both, as one app, shown under {self.apps[app.name].parent or 'the entry'}",
                    file=child.source, object=app.name,
                ))  # fmt: skip
                continue
            if app.name in self.apps:
                first = self.apps[app.name]
                self.problems.append(Problem(
                    f"app {app.name} is defined twice: by {first.parent or 'the entry'} ({first.defined_in}) and "
                    f"by {spec.name} ({child.source}); the second is left out: render it from one app only",
                    file=child.source, object=app.name,
                ))  # fmt: skip
                continue
            self.apps[app.name] = app
            added.append(app)
        return added

    def _syncs_entry(self, child: DesiredObject) -> bool:
        root = self.apps.get(flux.BOOTSTRAP_SOURCE)
        return (
            root is not None and not root.parent and flux.kind_of(child.manifest) == f"{flux.KUSTOMIZE_GROUP}/Kustomization"
            and child.key.name == root.name and _flux_path(child.manifest) == root.path
        )  # fmt: skip

    def _defining(self, spec: AppSpec) -> Rendered:
        return self._defining_all([spec])[0]

    def _defining_all(self, specs: list[AppSpec]) -> list[Rendered]:
        made = []
        for spec, (rendered, revision) in zip(specs, defining_renders(self.repo, specs, self.sha, self.cluster),
                                              strict=True):  # fmt: skip
            if revision != self.sha and (rendered.children or not rendered.ok):  # what it defines there
                self.read_at[spec.name] = revision
            made.append(rendered)
        return made

    def _drop_dependencies_on_flux(self) -> None:
        """A dependsOn on the Kustomization that installs Flux is met: the sandbox plays Flux."""
        for name, spec in self.apps.items():
            if self.plays & set(spec.depends_on):
                kept = tuple(d for d in spec.depends_on if d not in self.plays)
                self.apps[name] = dataclasses.replace(spec, depends_on=kept)

    def ordered(self) -> list[AppSpec]:
        """Tree order, and each app after the apps it depends on and, for a dependency that waits,
        the apps it defines (it is Ready once they all are; one without spec.wait is Ready once
        applied), as Flux applies them."""
        self._drop_dependencies_on_flux()
        placed: list[AppSpec] = []
        below: dict[str, list[AppSpec]] = {}
        for spec in self.apps.values():
            below.setdefault(spec.parent, []).append(spec)

        def subtree(name: str, seen: frozenset[str]) -> list[AppSpec]:
            return [s for c in below.get(name, ()) if c.name not in seen
                    for s in (c, *subtree(c.name, seen | {c.name}))]  # fmt: skip

        def place(spec: AppSpec, seen: frozenset[str]) -> None:
            if spec in placed:
                return
            for dependency in spec.depends_on:
                if dependency in self.apps and dependency not in seen:
                    place(self.apps[dependency], seen | {spec.name})
                    if self.apps[dependency].ready_once_applied:
                        continue  # Ready once applied: what it defines need not come first
                    for member in subtree(dependency, seen | {spec.name, dependency}):
                        if member.name not in seen and member is not spec:
                            place(member, seen | {spec.name})
            if spec.parent in self.apps and spec.parent not in seen:
                place(self.apps[spec.parent], seen | {spec.name})
            if spec not in placed:
                placed.append(spec)

        for spec in self.apps.values():
            place(spec, frozenset())
        return placed


def _root_preference(child: DesiredObject) -> tuple[bool, bool]:
    """Bootstrap's own first: the flux-system source, then the flux-system name."""
    manifest = child.manifest
    source = mapping(mapping(manifest.get("spec")).get("sourceRef")).get("name")
    return source != flux.BOOTSTRAP_SOURCE, mapping(manifest.get("metadata")).get(
        "name"
    ) != flux.BOOTSTRAP_SOURCE


def _flux_path(manifest: dict[str, Any]) -> str:
    raw = str((manifest.get("spec") or {}).get("path", "") or ".")
    return flux.clean_path(raw)
