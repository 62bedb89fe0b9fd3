"""Argo CD apps from Applications and ApplicationSets, breadth-first, children by rendering their parents."""

from __future__ import annotations

import dataclasses
import posixpath
from dataclasses import dataclass, field

import yaml

from sandbox.manifest import kubeyaml
from sandbox.manifest.names import dns1123_name
from sandbox.manifest.shape import mapping
from sandbox.manifest.suffixes import MANIFEST_SUFFIXES
from sandbox.manifest.yamlerror import yaml_error
from sandbox.model import Problem
from sandbox.source import applicationset, argocd
from sandbox.source.appspec import CONFIG_FILE, AppSpec, RenderOptions, Source
from sandbox.source.argocd import Defined
from sandbox.source.argocdcm import BuildOptions, build_options
from sandbox.source.envrepo import EnvRepo, EnvRepoError
from sandbox.source.failedapp import failed_app
from sandbox.source.percommit import MAX_DEPTH, NO_CLUSTER, ClusterFacts, defining_renders
from sandbox.source.render import detect_source
from sandbox.source.render.helm import CHART_FILE
from sandbox.source.render.kustomization import KUSTOMIZATION_FILES
from sandbox.source.render.parse import inside
from sandbox.source.render.plain import declares_argo_apps
from sandbox.source.repomap import RepoMap

WHICH_CLUSTER = "WhichCluster"  # a problem that asks which cluster's folder to run (--entry)


@dataclass(frozen=True)
class ArgoScan:
    defined: list[Defined]
    # Files that hold Argo CD objects by their text but do not read as YAML: no app may render
    # them, so they are said here (an app whose folder holds one says it itself).
    unreadable: list[Problem]


def argo_definitions(repo: EnvRepo, sha: str, folder: str) -> list[Defined]:
    return argo_scan(repo, sha, folder).defined


def argo_scan(repo: EnvRepo, sha: str, folder: str) -> ArgoScan:
    return repo.memo.once(("argo", sha, folder), lambda: _scan_argo_definitions(repo, sha, folder))


def _scan_argo_definitions(repo: EnvRepo, sha: str, folder: str) -> ArgoScan:
    """Application and ApplicationSet objects in the files under ``folder``, as written (Helm
    templates are skipped: they are not YAML until rendered)."""
    files = repo.list_files(sha, folder)
    charts = {posixpath.dirname(f) for f in files if posixpath.basename(f) == CHART_FILE}
    found, unreadable = [], []
    for file in repo.files_containing(sha, argocd.GROUP, folder):
        if not file.lower().endswith(MANIFEST_SUFFIXES) or any(p.startswith(".") for p in file.split("/")):
            continue
        if any(file.startswith(c + "/") if c else True for c in charts):
            continue
        raw = repo.read_file(sha, file)
        if raw is None or argocd.GROUP.encode() not in raw:
            continue
        read = definitions_in(raw, file)
        if isinstance(read, Problem):
            unreadable.append(read)
        else:
            found += read
    return ArgoScan(found, unreadable)


def definitions_in(raw: bytes, file: str) -> list[Defined] | Problem:
    """The Applications and ApplicationSets a file holds, or why it does not read."""
    try:
        docs = list(kubeyaml.load_all(raw))
    except yaml.YAMLError as err:
        message, line = yaml_error(err, raw.decode("utf-8", "replace"))
        return Problem(message, file=file, line=line)
    except (RecursionError, ValueError) as err:
        return Problem(f"does not read as YAML: {err}", file=file)
    return [Defined(doc, file) for doc in docs
            if isinstance(doc, dict) and argocd.is_argo_object(doc) and doc.get("kind") in argocd.APP_KINDS]  # fmt: skip


def as_last_applied(repo: EnvRepo, sha: str, unreadable: list[Problem]) -> tuple[list[Defined], list[str]]:
    """What a file that does not read at ``sha`` defined at the last commit where it read: the
    live Applications and ApplicationSets stay as they were last applied, and go on (a set
    generating from the new commit), whatever the file now says. With a notice for each."""
    if not unreadable:
        return [], []
    try:
        earlier = [c.sha for c in repo.commits(sha, limit=LOOK_BACK) if c.sha != sha]
    except EnvRepoError:
        return [], []
    found: list[Defined] = []
    notices: list[str] = []
    for problem in unreadable:
        for revision in earlier:
            read = definitions_in(repo.read_file(revision, problem.file) or b"", problem.file)
            if isinstance(read, list) and read:
                found += read
                notices.append(f"{problem.file}: it does not read at {sha[:7]}, so its Argo CD objects are read as at "
                               f"{revision[:7]}, the last commit where it reads: Argo CD keeps them as last applied")  # fmt: skip
                break
    return found, notices


LOOK_BACK = 50  # commits searched for where a file last read


@dataclass
class ArgoWalk:
    """Apps found breadth-first from the roots, children by rendering their parents."""

    repo: EnvRepo
    sha: str
    repos: RepoMap
    taken: dict[str, str] = field(default_factory=dict)  # app name -> where it was defined
    problems: list[Problem] = field(default_factory=list)
    unrendered: set[str] = field(default_factory=set)
    notices: list[Problem] = field(default_factory=list)  # said of the repo, failing nothing
    cluster: ClusterFacts = NO_CLUSTER
    read_at: dict[str, str] = field(default_factory=dict)  # app -> the earlier revision its apps come from
    # The files whose Applications and ApplicationSets were read: an app one of them no longer
    # makes is gone, not left to another --entry.
    read_files: set[str] = field(default_factory=set)
    _asked_files: dict[str, list[str]] = field(
        default_factory=dict
    )  # app -> the files of its cluster question
    _build: BuildOptions | None = None  # the repo's argocd-cm kustomize.buildOptions, once read
    _apps: dict[str, AppSpec] = field(default_factory=dict)
    _generated: set[str] = field(default_factory=set)  # apps an ApplicationSet makes

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

    def _as_built(self, spec: AppSpec) -> AppSpec:
        """An Application as the repo's Argo CD builds it (its argocd-cm's build options)."""
        if self._build is None:
            self._build = build_options(self.repo, self.sha)
            self.notices += self._build.notices
        if spec.kind != "Application" or not self._build.load_restrictor_none:
            return spec
        return dataclasses.replace(spec, options=dataclasses.replace(spec.options, load_restrictor_none=True))

    def entry(self, path: str) -> None:
        """The entry folder is itself the root app (as ``argocd app create --path`` makes it)."""
        name = dns1123_name(posixpath.basename(path) or "root") or "root"
        source = detect_source(self.repo, self.sha, path)
        # The folder is the root Application (as `argocd app create --path` makes it), defined by it.
        root = AppSpec(name, path, argocd.DEFAULT_NAMESPACE, source, options=RenderOptions(recurse=False),
                       defined_in=path, kind="Application", home="argocd", object_name=name)  # fmt: skip
        self._walk([self._as_built(root)])

    def unread(self, unreadable: list[Problem], kept: frozenset[str] = frozenset()) -> None:
        """Files of Argo CD objects that do not read, and that no app's folder holds (such an
        app fails to render and says why): said as problems, or nothing would say them. The
        apps they defined are kept as they are (see appchanges)."""
        folders = [
            p
            for s in self._apps.values()
            if not s.repo and not s.reads_no_folder
            for p in (s.path, *s.also_reads)
        ]
        for problem in unreadable:
            if not any(self._reads(folder, problem.file) for folder in folders):
                what = ("its Argo CD objects are read as the cluster last applied them" if problem.file in kept
                        else "the Argo CD objects in it are not read")  # fmt: skip
                self.problems.append(dataclasses.replace(problem, message=f"{problem.message}; {what}"))

    def roots(self, defined: list[Defined]) -> None:
        self._walk(self._specs(defined, parent=""))
        self._adopt_below_failed()

    def _adopt_below_failed(self) -> None:
        """An Application found as a root whose file lies in the folder of an app that cannot
        render (or cannot run): under Argo CD that app would have made it, and nothing makes it
        while that app fails. It waits under that app instead of running on its own."""
        # Only an Application syncs a folder: a failed ApplicationSet's "folder" is just where its
        # file is, and the Applications beside it are none of its making.
        # A chart from a Helm repository reads no folder here, whatever its path says.
        failed = [s for s in self._apps.values() if s.kind == "Application" and not s.reads_no_folder
                  and (s.name in self.unrendered or s.invalid) and not s.repo and not s.revision]  # fmt: skip
        for name, spec in list(self._apps.items()):
            # An ApplicationSet's Applications are the ApplicationSet controller's to make, from
            # the set as it stands: they wait on no app whose folder holds the set's file.
            if spec.parent or not spec.defined_in or name in self._generated:
                continue
            holder = next((f for f in failed if f.name != name
                           and any(self._reads(p, spec.defined_in) for p in (f.path, *f.also_reads))
                           and not inside(f.defined_in, spec.path)), None)  # fmt: skip
            if holder is not None:
                self._apps[name] = dataclasses.replace(spec, parent=holder.name, after_parent=True)

    def _walk(self, level: list[AppSpec]) -> None:
        depth = 0
        while level and depth < MAX_DEPTH:
            depth += 1
            next_level: list[AppSpec] = []
            added = [spec for spec in map(self._add, level) if spec is not None]
            defining = [spec for spec in added if self._may_define_apps(spec)]
            renders = defining_renders(self.repo, defining, self.sha, self.cluster)
            for spec, (rendered, revision) in zip(defining, renders, strict=True):
                if revision != self.sha and (rendered.children or not rendered.ok):  # what it defines there
                    self.read_at[spec.name] = revision
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
            if (
                seen.parent == ""
                and spec.parent
                and seen.defined_in == spec.defined_in
                and spec.parent != spec.name
            ):
                self._apps[spec.name] = spec  # found as a root first, it is this parent's child
                return None
            if seen != spec and spec.name not in self._ancestors(spec):
                hint = (
                    _entry_hint(seen.defined_in, spec.defined_in)
                    if seen.defined_in != spec.defined_in
                    else ""
                )
                where = (f"by two apps, {seen.parent or 'as a root'} and {spec.parent}, from {spec.defined_in}"
                         if seen.defined_in == spec.defined_in
                         else f"twice: in {seen.defined_in} and in {spec.defined_in}{hint}")  # fmt: skip
                if hint:  # one folder per cluster: which to run is the user's question
                    self._ask_cluster(spec.name, [seen.defined_in, spec.defined_in])
                else:  # Argo CD warns (SharedResourceWarning) and runs one: so does the sandbox
                    self.notices.append(Problem(
                        f"app {spec.name} is defined {where}: the first ({seen.defined_in}) runs, the second is left "
                        "out (Argo CD would keep whichever was applied last)", file=spec.defined_in, object=spec.name,
                    ))  # fmt: skip
            return None
        self._apps[spec.name] = spec
        return spec

    def _ask_cluster(self, name: str, files: list[str]) -> None:
        """One question per app, naming every folder that defines it (a third cluster's too)."""
        where = self._asked_files.setdefault(name, [])
        where += [f for f in files if f not in where]
        question = _which_cluster(name, where)
        asked = next(
            (i for i, p in enumerate(self.problems) if p.reason == WHICH_CLUSTER and p.object == name), None
        )
        if asked is None:
            self.problems.append(question)
        else:
            self.problems[asked] = question

    def _ancestors(self, spec: AppSpec) -> set[str]:
        names, parent = set(), spec.parent
        while parent and parent not in names:
            names.add(parent)
            parent = self._apps[parent].parent if parent in self._apps else ""
        return names

    def _specs(self, defined: list[Defined], parent: str) -> list[AppSpec]:
        specs = []
        for found in defined:
            self.read_files.add(found.file)
            if found.manifest.get("kind") == "ApplicationSet":
                generated, problems, notices = applicationset.expand(found, self.repo, self.sha, self.repos)
                self.notices += notices
                if (
                    not generated
                    and problems
                    and (failed := failed_app(found, problems, parent, self.repos.is_this_repo))
                ):
                    specs.append(failed)  # shows, failed, where its apps would be (as Argo CD shows it)
                    continue
            else:
                generated, problems = [found], []
            self.problems += problems
            for one in generated:
                spec, app_problems = argocd.application(one, self.repos, parent, self)
                spec = spec or failed_app(one, app_problems, parent, self.repos.is_this_repo)
                if spec is None or not spec.invalid:
                    self.problems += app_problems
                if spec is not None:
                    if one is not found:
                        self._generated.add(spec.name)
                        spec = dataclasses.replace(spec, generated=True)
                    specs.append(self._as_built(spec))
        return specs

    def detect(self, path: str, other: str, revision: str) -> Source:
        """The source type of a folder, in the repo and at the ref the app reads it from."""
        at = self._at(other, revision)
        if at is None:
            return "plain"  # rendering says why it cannot read it
        repo, sha = at
        return detect_source(repo, sha, path) if repo.is_dir(sha, path) else "plain"

    def read(self, path: str, other: str, revision: str, name: str) -> bytes | None:
        """A file of a folder, in the repo and at the ref the app reads it from."""
        at = self._at(other, revision)
        return at[0].read_file(at[1], posixpath.join(path, name)) if at is not None else None

    def _at(self, other: str, revision: str) -> tuple[EnvRepo, str] | None:
        try:
            repo = self.repo.other(other) if other else self.repo
            return repo, (repo.resolve_pinned(revision or "HEAD")[0] if revision or other else self.sha)
        except EnvRepoError:
            return None

    def _may_define_apps(self, spec: AppSpec) -> bool:
        """Whether rendering ``spec`` could yield Applications: some file it reads names Argo CD
        (any source's, for a multi-source Application)."""
        if spec.also and not spec.invalid:
            return any(self._may_define_apps(one) for one in (dataclasses.replace(spec, also=()), *spec.also))
        if spec.revision or spec.repo or spec.invalid:
            return False  # Applications only from the env repo's own revision, of an app that reads
        folder = "" if spec.path == "." else spec.path
        files = self.repo.files_containing(self.sha, argocd.GROUP, folder)
        if spec.source == "kustomize" and self._reaches_outside(folder):
            return True  # bases outside the folder may hold them
        if spec.source == "plain" and not spec.options.recurse:
            files = [f for f in files if posixpath.dirname(f) == folder]
        # Naming Argo CD is not defining apps: a sync-wave annotation names it too.
        return any(declares_argo_apps(self.repo.read_file(self.sha, f) or b"") for f in files)

    def _reads(self, folder: str, file: str, depth: int = 0) -> bool:
        """Whether an app of ``folder`` would read ``file``: any file below a plain folder; where
        a kustomization is, only what its resources name (a folder's files, and below)."""
        if not inside(file, folder):
            return False
        base = "" if folder == "." else folder
        found = next(
            (k for k in KUSTOMIZATION_FILES if self.repo.read_file(self.sha, posixpath.join(base, k))), None
        )
        if found is None or depth > MAX_DEPTH:
            return True
        try:
            data = kubeyaml.load(self.repo.read_file(self.sha, posixpath.join(base, found)) or b"")
        except (yaml.YAMLError, RecursionError, ValueError):
            return True  # it does not build: what it would read cannot be told
        listed = mapping(data).get("resources") or []
        for entry in (str(e) for e in listed if isinstance(e, str) and "://" not in str(e)):
            target = posixpath.normpath(posixpath.join(base, entry)) or "."
            if target == file or (
                self.repo.is_dir(self.sha, target) and self._reads(target, file, depth + 1)
            ):
                return True
        return False

    def _reaches_outside(self, folder: str) -> bool:
        """Whether a kustomization in ``folder`` names something above it (a base elsewhere)."""
        for file in self.repo.list_files(self.sha, folder):
            if posixpath.basename(file) in KUSTOMIZATION_FILES:
                text = self.repo.read_file(self.sha, file) or b""
                if b"../" in text or b"https://" in text or b"github.com/" in text:
                    return True
        return False


def cluster_question(defined: list[Defined]) -> Problem | None:
    """Which cluster's folder to run, where two folders define the same Application (one folder
    per cluster, as a fleet repo has them): no Argo CD runs both, so the sandbox
    asks rather than run a mix. Read from the files alone, before any app renders."""
    files: dict[tuple[str, str], list[str]] = {}
    for found in defined:
        if found.manifest.get("kind") != "Application":
            continue
        meta = mapping(found.manifest.get("metadata"))
        key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        if found.file not in (seen := files.setdefault(key, [])):
            seen.append(found.file)
    for (_namespace, name), where in files.items():
        if len(where) > 1 and _entry_hint(where[0], where[1]):
            return _which_cluster(name, where)
    return None


def _which_cluster(name: str, files: list[str]) -> Problem:
    folders = list(dict.fromkeys(posixpath.dirname(f) for f in files))
    entries = " or ".join(f"--entry {f}" for f in folders)
    count = "twice" if len(files) == 2 else f"{len(files)} times"
    return Problem(
        f"app {name} is defined {count}: in {' and in '.join(files)} (a folder for each cluster? choose one with "
        f"{entries}, or in {CONFIG_FILE}: `argocd: {{path: {folders[0]}}}`)",
        file=files[-1], object=name, reason=WHICH_CLUSTER,
    )  # fmt: skip


def _entry_hint(first: str, second: str) -> str:
    """Where two folders of the repo define the same app (one folder per cluster, as a fleet
    repo has them), which --entry names the first of them."""
    a, b = first.split("/"), second.split("/")
    common = 0
    while common < min(len(a), len(b)) - 1 and a[common] == b[common]:
        common += 1
    if common >= len(a) - 1 or common >= len(b) - 1:
        return ""  # the same folder, or one file beside the other's folder
    # The folder of the file itself: an entry is read without its subfolders, as `argocd app
    # create --path` reads it, so a cluster's folder above it would deploy nothing.
    folder = posixpath.dirname(first)
    return f" (a folder for each cluster? choose one with --entry {folder}, or in {CONFIG_FILE}: `argocd: {{path: {folder}}}`)"
