"""The apps of an env repo at a revision: sandbox.yaml, Argo CD Applications, or folders.

Bad configuration never raises: it comes back as Problems naming the file and the app (in
``Problem.object``). An app with any problem is left out of the list, so a caller must read a
Problem naming an app as "this app is broken", never as "this app was deleted" — pruning on
it would delete a running app over a typo. A Problem with an empty ``object`` means no app
list can be trusted (a sandbox.yaml that does not read, an app-of-apps that does not render).

With no sandbox.yaml, Argo CD ``Application``/``ApplicationSet`` objects anywhere in the repo
define the apps; without those, one app per top-level folder. An app whose objects include
Applications is an app-of-apps: those become its children, found by rendering it, so a Helm
chart or Kustomization of Applications works as it does under Argo CD.
"""

from __future__ import annotations

import dataclasses
import posixpath
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import yaml

from sandbox.manifest import kubeyaml, rawyaml
from sandbox.manifest.shape import mapping
from sandbox.model import Problem, Rendered
from sandbox.source import applicationset, argocd, flux
from sandbox.source.appconfig import (
    CHART_FILE,
    DNS1123_LABEL,
    KUSTOMIZATION_FILES,
    MANIFEST_SUFFIXES,
    Config,
    detect_source,
    dns1123_name,
    folder_apps,
    read_config,
)
from sandbox.source.appid import app_id
from sandbox.source.appspec import CONFIG_FILE, AppSpec, RenderOptions, Source
from sandbox.source.argocd import Defined
from sandbox.source.envrepo import EnvRepo, EnvRepoError
from sandbox.source.render import other_repo, render_app
from sandbox.source.repomap import RepoMap

MAX_DEPTH = 8  # app-of-apps nesting; deeper is almost surely an app that renders itself
_RENDERS = 64


@dataclass(frozen=True)
class Discovery:
    apps: list[AppSpec]
    problems: list[Problem]
    note: str = ""  # one line saying where the apps came from, when not the obvious place
    configured: bool = False  # the app list is authoritative: an app gone from it was removed
    # Apps that do not render at this revision (their own failure says why): what they define
    # is unknown, so no app below them counts as removed.
    unrendered: frozenset[str] = frozenset()


def load_apps(repo: EnvRepo, revision: str) -> tuple[list[AppSpec], list[Problem]]:
    """The apps at ``revision`` and the problems found; an unknown revision raises EnvRepoError."""
    found = discover(repo, revision)
    return found.apps, found.problems


def discover(repo: EnvRepo, revision: str, entry: str | None = None) -> Discovery:
    """``entry``: where discovery starts, named by the user (``--entry``), over sandbox.yaml's.
    Input nothing foresaw fails the whole list (every app kept as it is), never the agent."""
    sha = repo.resolve(revision)
    try:
        found = _discover(repo, sha, entry)
        # A definition reached twice (as a root, and as the child of an app-of-apps) is one problem.
        return dataclasses.replace(found, problems=list(dict.fromkeys(found.problems)))
    except EnvRepoError:
        raise
    except Exception as exc:  # noqa: BLE001
        return Discovery([], [Problem(
            f"the sandbox could not read the apps at {sha[:7]} ({type(exc).__name__}: {exc}); nothing applied or "
            "pruned. This is a bug in the sandbox: please report it with the repo's layout",
        )], configured=True)  # fmt: skip


def _discover(repo: EnvRepo, sha: str, entry: str | None) -> Discovery:
    config, problems = read_config(repo, sha)
    if entry is not None:
        path = posixpath.normpath(entry.strip().strip("/") or ".")
        if path == ".." or path.startswith("../") or not repo.is_dir(sha, path):
            return Discovery(
                [], [Problem(f"--entry {entry}: not a folder of the env repo at {sha[:7]}")], configured=True
            )
        flux_entry = _holds_flux(repo, sha, path) and not repo.files_containing(
            sha, "argoproj.io", "" if path == "." else path
        )
        config = dataclasses.replace(
            config or Config(),
            argocd=None if flux_entry else path,
            flux=path if flux_entry else None,
            scan=False,
        )
    if config is not None and problems and not config.apps and config.argocd is None:
        return Discovery([], problems, configured=True)
    repos = RepoMap.of(repo.remote_urls(), dict(config.repos) if config else {}, repo.branch, str(repo.path))
    if config is None or config.scan:
        defined = _argo_definitions(repo, sha, "")
        entries = _flux_entries(repo, sha) if not defined else []
        if len(entries) > 1:
            listed = ", ".join(entries)
            return Discovery([], [Problem(
                f"this Flux repo has {len(entries)} cluster entries ({listed}): choose one with --entry "
                f"{entries[0]}, or for good in {CONFIG_FILE} (`flux: {{path: {entries[0]}}}`)",
            )], configured=True)  # fmt: skip
        if entries:
            return _flux(repo, sha, repos, entries[0], config.charts if config else "", [])
        if not defined and config is None:
            apps, folder_problems = folder_apps(repo, sha)
            if not apps and not folder_problems:
                folder_problems = [_nothing_found(repo, sha)]
            return Discovery(apps, folder_problems)
        if not defined:
            return Discovery([], [Problem(f"{CONFIG_FILE} lists no apps and the repo has no Argo CD Application: "
                                          "list apps under `apps:`", file=CONFIG_FILE)], configured=True)  # fmt: skip
        walk = _Walk(repo, sha, repos)
        walk.roots(defined)
        apps = walk.apps()
        files = sorted({a.defined_in for a in apps if not a.parent})
        shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
        note = f"{_apps_count(apps)} from the Argo CD Applications in {shown}" if apps else ""
        return Discovery(apps, walk.problems, note, configured=True, unrendered=frozenset(walk.unrendered))
    apps = list(config.apps)
    note = ""
    unrendered: set[str] = set()
    if config.argocd is not None:
        walk = _Walk(repo, sha, repos, taken={a.name: CONFIG_FILE for a in apps})
        walk.entry(config.argocd)
        apps += walk.apps()
        problems += walk.problems
        unrendered |= walk.unrendered
        note = f"apps from the Argo CD entry {config.argocd}/ ({'--entry' if entry is not None else CONFIG_FILE})"
    if config.flux is not None:
        found = _flux(repo, sha, repos, config.flux, config.charts, apps)
        apps += found.apps
        problems += found.problems
        unrendered |= found.unrendered
        note = found.note
    return Discovery(apps, problems, note, configured=True, unrendered=frozenset(unrendered))


_TEMPLATES = (".j2", ".jinja", ".jinja2", ".tpl", ".tmpl", ".gotmpl", ".cue", ".libsonnet")


def _nothing_found(repo: EnvRepo, sha: str) -> Problem:
    """Why no app was found: what was looked for, what the repo holds instead, and what to do."""
    files = [f for f in repo.list_files(sha, "") if not any(p.startswith(".") for p in f.split("/"))]
    looked = (f"no app found at {sha[:7]}: looked for a {CONFIG_FILE}, Argo CD Applications, Flux "
              "Kustomizations, and top-level folders of manifests (.yaml, .yml, .json, kustomization.yaml, "
              "Chart.yaml)")  # fmt: skip
    at_root = [f for f in files if "/" not in f and f.lower().endswith(MANIFEST_SUFFIXES)]
    templates = [f for f in files if f.lower().endswith(_TEMPLATES)]
    flux_objects = repo.files_containing(sha, "toolkit.fluxcd.io")
    if flux_objects:
        found = (f"Flux objects ({', '.join(flux_objects[:3])}) but no cluster entry: name the folder Flux "
                 "starts from with --entry, or in sandbox.yaml (`flux: {path: FOLDER}`)")  # fmt: skip
    elif at_root:
        found = (
            f"manifests at the top of the repo ({', '.join(at_root[:3])}), where no app is looked for: "
            f"move them into a folder (one app per folder), or list the app in {CONFIG_FILE} with `path: .`"
        )
    elif templates:
        found = (
            f"only templates ({', '.join(templates[:3])}{' …' if len(templates) > 3 else ''}), which the "
            "sandbox does not render: commit the rendered manifests in a folder"
        )
    elif files:
        found = f"no manifest among its {len(files)} files ({', '.join(files[:3])}{' …' if len(files) > 3 else ''})"
    else:
        found = "an empty tree"
    return Problem(f"{looked}; found {found}")


def _once(key: tuple[object, ...], make: Callable[[], _T]) -> _T:
    """A scan or render of the repo at a commit, made once per commit: discovery runs on every
    commit and every status, and reading every manifest each time would grow with the repo."""
    with _once_lock:
        if key in _made:
            _made.move_to_end(key)
            return cast(_T, _made[key])
    found = make()
    with _once_lock:
        _made[key] = found
        while len(_made) > _RENDERS:
            _made.popitem(last=False)
    return found


_T = TypeVar("_T")
_made: OrderedDict[tuple[object, ...], object] = OrderedDict()
_once_lock = threading.Lock()


def _flux_entries(repo: EnvRepo, sha: str) -> list[str]:
    return _once(("flux", str(repo.path), sha), lambda: _scan_flux_entries(repo, sha))


def _scan_flux_entries(repo: EnvRepo, sha: str) -> list[str]:
    """The cluster entries of a Flux repo, where ``flux bootstrap`` (or the Flux Operator) would
    point Flux: a folder a Kustomization inside it syncs (``clusters/<name>/flux-system/gotk-sync.yaml``),
    a ``FluxInstance``'s ``spec.sync.path``; failing both (a repo not bootstrapped yet, whose
    gotk-sync.yaml is a placeholder), each outermost folder holding Flux Kustomizations or
    HelmReleases that no Kustomization's path (nor a kustomization's reference) reaches."""
    synced, instances, holders, paths = set(), set(), set(), set()
    for file in _flux_files(repo, sha):
        if not file.lower().endswith(MANIFEST_SUFFIXES):
            continue
        try:
            docs = list(kubeyaml.load_all(repo.read_file(sha, file) or b""))
        except (yaml.YAMLError, RecursionError, ValueError):
            continue
        for doc in docs:
            if not isinstance(doc, dict):
                continue
            kind = flux.kind_of(doc)
            spec = mapping(doc.get("spec"))
            if kind == f"{flux.OPERATOR_GROUP}/FluxInstance":
                path = flux.clean_path(str(mapping(spec.get("sync")).get("path") or "."))
                if path != "." and repo.is_dir(sha, path):
                    instances.add(path)
            elif kind == f"{flux.KUSTOMIZE_GROUP}/Kustomization":
                path = flux.clean_path(str(spec.get("path", ".")))
                source = mapping(spec.get("sourceRef"))
                # Only a path into this repo reaches its folders: another source's (an OCI
                # artifact, a tenant's repo) says nothing about them, least of all its root.
                if source.get("kind", "GitRepository") == "GitRepository" and (
                    "path" in spec or source.get("name") == flux.BOOTSTRAP_SOURCE
                ):
                    paths.add(path)
                holders.add(posixpath.dirname(file) or ".")
                if path != "." and file.startswith(path + "/"):
                    synced.add(path)
            elif kind == f"{flux.HELM_GROUP}/HelmRelease":
                holders.add(posixpath.dirname(file) or ".")
    found = synced | instances
    if not found:
        # A kustomization that lists a file of Flux objects (resources: [../../apps/web/ks.yaml])
        # holds them, as Flux builds it; the file's own folder is then reached from there.
        references = _kustomize_references(repo, sha)
        flux_files = set(_flux_files(repo, sha))
        holders |= {folder for folder, named in references.items() if named & flux_files}
        elsewhere = {  # the folder of a Flux file another folder's kustomization lists
            posixpath.dirname(n) or "." for folder, named in references.items() for n in named & flux_files
            if (posixpath.dirname(n) or ".") != folder
        }  # fmt: skip
        reached = paths | {n for named in references.values() for n in named} | elsewhere
        found = {h for h in holders if not any(p == "." or h == p or h.startswith(p + "/") for p in reached)}
        # Of those, the ones laid out for `flux bootstrap` (a flux-system folder beside), if any.
        found = {h for h in found if repo.is_dir(sha, _join(h, "flux-system"))} or found
    return sorted(f for f in found if not any(o != f and (o == "." or f.startswith(o + "/")) for o in found))


def _flux_files(repo: EnvRepo, sha: str, under: str = "") -> list[str]:
    """The manifest files that may hold Flux Kustomizations, HelmReleases or a FluxInstance."""
    groups = (flux.KUSTOMIZE_GROUP, flux.HELM_GROUP, flux.OPERATOR_GROUP)
    found = {f for group in groups for f in repo.files_containing(sha, group, under)}
    return sorted(f for f in found if f.lower().endswith(MANIFEST_SUFFIXES))


def _holds_flux(repo: EnvRepo, sha: str, folder: str) -> bool:
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


def _apps_count(apps: list[AppSpec]) -> str:
    return "1 app" if len(apps) == 1 else f"{len(apps)} apps"


def _join(folder: str, name: str) -> str:
    return name if folder == "." else f"{folder}/{name}"


def _flux(
    repo: EnvRepo, sha: str, repos: RepoMap, entry: str, charts: str, taken: list[AppSpec]
) -> Discovery:
    """Apps from a Flux cluster entry, breadth-first; walked again while a later app's objects
    answer an earlier one's substituteFrom or valuesFrom (at most three times)."""
    sources = flux.Sources(repos, charts=charts)

    def walked() -> _FluxWalk:
        walk = _FluxWalk(repo, sha, sources, {a.name for a in taken})
        walk.run(entry)
        return walk

    known = len(sources.data)
    walk = walked()
    for _ in range(2):
        if len(sources.data) == known:
            break
        known = len(sources.data)
        walk = walked()
    apps = walk.ordered()
    note = f"{_apps_count(apps)} from the Flux cluster entry {entry}/" if apps else ""
    return Discovery(apps, walk.problems, note, configured=True, unrendered=frozenset(walk.unrendered))


@dataclass
class _FluxWalk:
    repo: EnvRepo
    sha: str
    sources: flux.Sources
    taken: set[str]
    problems: list[Problem] = field(default_factory=list)
    apps: dict[str, AppSpec] = field(default_factory=dict)
    unrendered: set[str] = field(default_factory=set)

    def run(self, entry: str) -> None:
        # The entry is what `flux bootstrap` points its flux-system Kustomization at: until the
        # entry's own Kustomization says otherwise, the root app is that one.
        root = AppSpec(flux.BOOTSTRAP_SOURCE, entry, flux.BOOTSTRAP_SOURCE, "kustomize",
                       options=RenderOptions(flux=True), defined_in=entry, kind="Kustomization",
                       home=flux.BOOTSTRAP_SOURCE, create_namespace=True)  # fmt: skip
        rendered = _render(self.repo, root, self.sha)
        itself = [c for c in rendered.children if flux.kind_of(c.manifest) == f"{flux.KUSTOMIZE_GROUP}/Kustomization"
                  and _flux_path(c.manifest) == entry]  # fmt: skip
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
        level = [(root, rendered)]
        self.apps[root.name] = root
        depth = 0
        while level and depth < MAX_DEPTH:
            depth += 1
            for spec, made in level:
                if not made.ok:
                    self.unrendered.add(spec.name)
                    continue
                for obj in (*made.objects, *made.children):
                    self.sources.learn(obj.manifest, spec.namespace)
            next_level = []
            for spec, made in level:
                for child in made.children if made.ok else ():
                    if flux.kind_of(child.manifest) not in (f"{flux.KUSTOMIZE_GROUP}/Kustomization",
                                                            f"{flux.HELM_GROUP}/HelmRelease"):  # fmt: skip
                        continue
                    if _flux_path(child.manifest) == entry and child.key.kind == "Kustomization":
                        continue  # the root itself
                    app, problems = flux.app_of(
                        Defined(dict(child.manifest), child.source), self.sources, spec.name
                    )
                    app = app or failed_app(Defined(dict(child.manifest), child.source), problems, spec.name)
                    if app is None or not app.invalid:
                        self.problems += problems
                    if app is None:
                        continue
                    if app.name in self.taken:  # a namesake of a sandbox.yaml app: another app
                        app = dataclasses.replace(app, name=app.names.qualified)
                    if app.name in self.apps:
                        first = self.apps[app.name]
                        self.problems.append(Problem(
                            f"app {app.name} is defined twice: by {first.parent or 'the entry'} ({first.defined_in}) and "
                            f"by {spec.name} ({child.source}); the second is left out: render it from one app only",
                            file=child.source, object=app.name,
                        ))  # fmt: skip
                        continue
                    self.apps[app.name] = app
                    if app.source == "kustomize" and not app.invalid:
                        next_level.append((app, _render(self.repo, app, self.sha)))
            level = next_level

    def ordered(self) -> list[AppSpec]:
        """Tree order, and each app after the apps it depends on and the apps those define (a
        dependency is Ready once they all are), as Flux applies them."""
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


def failed_app(found: Defined, problems: list[Problem], parent: str) -> AppSpec | None:
    """An Argo CD or Flux object the sandbox cannot turn into an app still shows as one, failed
    with its problems (as the controller would show its error), so its parent's health says so
    too. None when it has no usable name: then only the problems show."""
    meta = mapping(found.manifest.get("metadata"))
    name, namespace = meta.get("name"), str(meta.get("namespace") or "")
    if not problems or not isinstance(name, str) or not argocd.APP_NAME.match(name) or len(name) > 63:
        return None
    kind = str(found.manifest.get("kind", ""))
    home = namespace or ("flux-system" if kind in ("Kustomization", "HelmRelease") else "")
    spec = mapping(found.manifest.get("spec"))
    path, target, source = _described(kind, spec, namespace)
    auto, heal = _automation(kind, spec)
    return AppSpec(
        app_id(kind, home, name), path or posixpath.dirname(found.file) or ".",
        target if DNS1123_LABEL.match(target) else "default",
        source, parent=parent, defined_in=found.file, kind=kind, home=home, object_name=name,
        after_parent=bool(parent), invalid=tuple(problems), auto_sync=auto, self_heal=heal,
    )  # fmt: skip


def _automation(kind: str, spec: dict[str, Any]) -> tuple[bool, bool]:
    """(auto-sync, self-heal) as the object writes them, for an app shown failed: an Application's
    syncPolicy.automated (selfHeal off unless said), a Flux object's suspend."""
    if kind == "Application":
        automated = mapping(spec.get("syncPolicy")).get("automated")
        auto = isinstance(automated, dict) and automated.get("enabled", True) is not False
        return auto, auto and bool(mapping(automated).get("selfHeal"))
    if kind in ("Kustomization", "HelmRelease"):
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


def _flux_path(manifest: dict[str, Any]) -> str:
    raw = str((manifest.get("spec") or {}).get("path", "") or ".")
    return flux.clean_path(raw)


def _argo_definitions(repo: EnvRepo, sha: str, folder: str) -> list[Defined]:
    return _once(("argo", str(repo.path), sha, folder), lambda: _scan_argo_definitions(repo, sha, folder))


def _scan_argo_definitions(repo: EnvRepo, sha: str, folder: str) -> list[Defined]:
    """Application and ApplicationSet objects in the files under ``folder``, as written (Helm
    templates are skipped: they are not YAML until rendered)."""
    files = repo.list_files(sha, folder)
    charts = {posixpath.dirname(f) for f in files if posixpath.basename(f) == CHART_FILE}
    found = []
    for file in repo.files_containing(sha, argocd.GROUP, folder):
        if not file.lower().endswith(MANIFEST_SUFFIXES) or any(p.startswith(".") for p in file.split("/")):
            continue
        if any(file.startswith(c + "/") if c else True for c in charts):
            continue
        raw = repo.read_file(sha, file)
        if raw is None or argocd.GROUP.encode() not in raw:
            continue
        try:
            docs = list(kubeyaml.load_all(raw))
        except (yaml.YAMLError, RecursionError, ValueError):
            continue  # the app that renders this file says what is wrong with it
        for doc in docs:
            if isinstance(doc, dict) and argocd.is_argo_object(doc) and doc.get("kind") in argocd.APP_KINDS:
                found.append(Defined(doc, file))
    return found


@dataclass
class _Walk:
    """Apps found breadth-first from the roots, children by rendering their parents."""

    repo: EnvRepo
    sha: str
    repos: RepoMap
    taken: dict[str, str] = field(default_factory=dict)  # app name -> where it was defined
    problems: list[Problem] = field(default_factory=list)
    unrendered: set[str] = field(default_factory=set)
    _apps: dict[str, AppSpec] = field(default_factory=dict)

    def apps(self) -> list[AppSpec]:
        """Parents before their children (tree order), each level in the order found."""
        ordered: list[AppSpec] = []

        def visit(parent: str) -> None:
            for spec in self._apps.values():
                if spec.parent == parent and spec not in ordered:
                    ordered.append(spec)
                    visit(spec.name)

        visit("")
        return ordered + [s for s in self._apps.values() if s not in ordered]

    def entry(self, path: str) -> None:
        """The entry folder is itself the root app (as ``argocd app create --path`` makes it)."""
        name = dns1123_name(posixpath.basename(path) or "root") or "root"
        source = detect_source(self.repo, self.sha, path)
        # The folder is the root Application (as `argocd app create --path` makes it), defined by it.
        root = AppSpec(name, path, argocd.DEFAULT_NAMESPACE, source, options=RenderOptions(recurse=False),
                       defined_in=path, kind="Application", home="argocd", object_name=name)  # fmt: skip
        self._walk([root])

    def roots(self, defined: list[Defined]) -> None:
        self._walk(self._specs(defined, parent=""))

    def _walk(self, level: list[AppSpec]) -> None:
        depth = 0
        while level and depth < MAX_DEPTH:
            depth += 1
            next_level: list[AppSpec] = []
            for found in level:
                spec = self._add(found)
                if spec is None:
                    continue
                if not self._may_define_apps(spec):
                    continue
                rendered = _render(self.repo, spec, self.sha)
                if not rendered.ok:
                    self.unrendered.add(spec.name)  # its own failure says why; its children are unknown
                    continue
                # Flux objects an Argo CD app renders are no Applications (see appview.finished)
                children = [Defined(dict(c.manifest), c.source) for c in rendered.children
                            if argocd.is_argo_object(c.manifest)]  # fmt: skip
                next_level += self._specs(children, parent=spec.name)
            level = next_level

    def _add(self, spec: AppSpec) -> AppSpec | None:
        """``spec`` as added (under its qualified name when a sandbox.yaml app has its name), or
        None when it was found before."""
        if spec.name in self.taken and spec.kind:  # a namesake of a sandbox.yaml app: another app
            spec = dataclasses.replace(spec, name=spec.names.qualified)
        seen = self._apps.get(spec.name)
        if seen is not None:
            if seen.parent == "" and spec.parent and seen.defined_in == spec.defined_in:
                self._apps[spec.name] = spec  # found as a root first, it is this parent's child
                return None
            if seen != spec and spec.name not in self._ancestors(spec):
                self.problems.append(Problem(f"app {spec.name} is defined twice: in {seen.defined_in} and in "
                                             f"{spec.defined_in}", file=spec.defined_in, object=spec.name))  # fmt: skip
            return None
        self._apps[spec.name] = spec
        return spec

    def _ancestors(self, spec: AppSpec) -> set[str]:
        names, parent = set(), spec.parent
        while parent and parent not in names:
            names.add(parent)
            parent = self._apps[parent].parent if parent in self._apps else ""
        return names

    def _specs(self, defined: list[Defined], parent: str) -> list[AppSpec]:
        specs = []
        for found in defined:
            if found.manifest.get("kind") == "ApplicationSet":
                generated, problems = applicationset.expand(found, self.repo, self.sha, self.repos)
                if not generated and problems and (failed := failed_app(found, problems, parent)):
                    specs.append(failed)  # shows, failed, where its apps would be (as Argo CD shows it)
                    continue
            else:
                generated, problems = [found], []
            self.problems += problems
            for one in generated:
                spec, app_problems = argocd.application(one, self.repos, parent, self._detect)
                spec = spec or failed_app(one, app_problems, parent)
                if spec is None or not spec.invalid:
                    self.problems += app_problems
                if spec is not None:
                    specs.append(spec)
        return specs

    def _detect(self, path: str, other: str, revision: str) -> Source:
        """The source type of a folder, in the repo and at the ref the app reads it from."""
        try:
            repo = other_repo(other) if other else self.repo
            sha = repo.resolve_pinned(revision or "HEAD")[0] if revision or other else self.sha
        except EnvRepoError:
            return "plain"  # rendering says why it cannot read it
        return detect_source(repo, sha, path) if repo.is_dir(sha, path) else "plain"

    def _may_define_apps(self, spec: AppSpec) -> bool:
        """Whether rendering ``spec`` could yield Applications: some file it reads names Argo CD."""
        if spec.revision or spec.repo or spec.invalid:
            return False  # Applications only from the env repo's own revision, of an app that reads
        folder = "" if spec.path == "." else spec.path
        if spec.source == "kustomize":  # bases outside the folder may hold them
            return any(
                posixpath.basename(f) in KUSTOMIZATION_FILES for f in self.repo.list_files(self.sha, folder)
            )
        files = self.repo.files_containing(self.sha, argocd.GROUP, folder)
        if spec.source == "plain" and not spec.options.recurse:
            files = [f for f in files if posixpath.dirname(f) == folder]
        return bool(files)


def _render(repo: EnvRepo, spec: AppSpec, sha: str) -> Rendered:
    """Render an app-of-apps once per revision (discovery runs on every commit and status)."""
    return _once(("render", str(repo.path), sha, spec), lambda: render_app(repo, spec, sha))


__all__ = ["Config", "Discovery", "discover", "load_apps"]
