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
from collections.abc import Mapping
from dataclasses import dataclass, field

from sandbox.manifest.shape import mapping
from sandbox.model import Problem
from sandbox.source import argocd, flux
from sandbox.source.appconfig import (
    MANIFEST_SUFFIXES,
    Config,
    folder_apps,
    read_config,
)
from sandbox.source.appspec import CONFIG_FILE, AppSpec
from sandbox.source.argocd import Defined
from sandbox.source.argowalk import (
    WHICH_CLUSTER,
    ArgoWalk,
    argo_definitions,
    argo_scan,
    as_last_applied,
    cluster_question,
)
from sandbox.source.envrepo import EnvRepo, EnvRepoError
from sandbox.source.fluxentry import FluxEntries, flux_entries, holds_flux
from sandbox.source.fluxwalk import FluxWalk
from sandbox.source.percommit import NO_CLUSTER, ClusterFacts
from sandbox.source.render.parse import join
from sandbox.source.render.plain import declares_argo_apps
from sandbox.source.repomap import RepoMap


@dataclass(frozen=True)
class Discovery:
    apps: list[AppSpec]
    problems: list[Problem]
    note: str = ""  # one line saying where the apps came from, when not the obvious place
    configured: bool = False  # the app list is authoritative: an app gone from it was removed
    # Apps that do not render at this revision (their own failure says why): what they define
    # is unknown, so no app below them counts as removed.
    unrendered: frozenset[str] = frozenset()
    # Apps whose apps come from the earlier revision the cluster runs of them, not from this one
    # (suspended, or not rendering here): app -> that revision.
    read_at: Mapping[str, str] = field(default_factory=dict)
    notices: tuple[str, ...] = ()  # what else is said of how the repo reads, failing nothing
    # The files whose app definitions were read (Argo CD's): one that no longer makes an app
    # that ran removed it, as the ApplicationSet controller deletes what it stops generating.
    read_files: frozenset[str] = frozenset()


def load_apps(repo: EnvRepo, revision: str) -> tuple[list[AppSpec], list[Problem]]:
    """The apps at ``revision`` and the problems found; an unknown revision raises EnvRepoError."""
    found = discover(repo, revision)
    return found.apps, found.problems


def discover(
    repo: EnvRepo, revision: str, entry: str | None = None, cluster: ClusterFacts = NO_CLUSTER
) -> Discovery:
    """``entry``: where discovery starts, named by the user (``--entry``), over sandbox.yaml's.
    ``cluster``: the revision the cluster runs of each app, where the apps a suspended app or
    one that does not render here defines are read (as its controller left them), and its
    scopes, for the renders discovery makes.
    Input nothing foresaw fails the whole list (every app kept as it is), never the agent."""
    sha = repo.resolve(revision)
    try:
        found = _discover(repo, sha, entry, cluster)
        # A definition reached twice (as a root, and as the child of an app-of-apps) is one problem, one notice.
        return dataclasses.replace(
            found, problems=list(dict.fromkeys(found.problems)), notices=tuple(dict.fromkeys(found.notices))
        )
    except EnvRepoError:
        raise
    except Exception as exc:  # noqa: BLE001
        return Discovery([], [Problem(
            f"the sandbox could not read the apps at {sha[:7]} ({type(exc).__name__}: {exc}); nothing applied or "
            "pruned. This is a bug in the sandbox: please report it with the repo's layout",
        )], configured=True)  # fmt: skip


def _discover(repo: EnvRepo, sha: str, entry: str | None, cluster: ClusterFacts) -> Discovery:
    config, problems = read_config(repo, sha)
    if entry is not None:
        config, refused = _entry_config(repo, sha, entry, config)
        if refused is not None:
            return refused
    if config is not None and problems and not config.apps and config.argocd is None:
        return Discovery([], problems, configured=True)
    repos = RepoMap.of(
        repo.remote_urls(),
        dict(config.repos) if config else {},
        repo.branch,
        str(repo.path),
        repo.default_branch(),
    )
    if config is None or config.scan:
        return _scanned(repo, sha, repos, config, cluster)
    apps = list(config.apps)
    note = ""
    unrendered: set[str] = set()
    read_at: dict[str, str] = {}
    notices: list[str] = []
    read_files: set[str] = set()
    if config.argocd is not None:
        walk = ArgoWalk(repo, sha, repos, taken={a.name: CONFIG_FILE for a in apps}, cluster=cluster)
        walk.entry(config.argocd)
        apps += walk.apps()
        problems += walk.problems
        unrendered |= walk.unrendered
        read_at |= walk.read_at
        notices += [str(n) for n in walk.notices]
        read_files |= walk.read_files
        note = f"apps from the Argo CD entry {config.argocd}/ ({'--entry' if entry is not None else CONFIG_FILE})"
    if config.flux is not None:
        found = _flux(repo, sha, repos, config.flux, config.charts, apps, cluster)
        apps += found.apps
        problems += found.problems
        unrendered |= found.unrendered
        read_at |= found.read_at
        notices += found.notices
        note = found.note
    return Discovery(apps, problems, note, configured=True, unrendered=frozenset(unrendered), read_at=read_at,
                     notices=tuple(notices), read_files=frozenset(read_files))  # fmt: skip


def _entry_config(
    repo: EnvRepo, sha: str, entry: str, config: Config | None
) -> tuple[Config, Discovery | None]:
    """sandbox.yaml's config with the user's ``--entry`` as where discovery starts (a Flux
    entry when the folder holds Flux objects and no Argo CD ones), or the refusal of an entry
    that is no folder of the repo."""
    path = _entry_path(entry)
    refused = entry_refusal(repo, sha, entry)
    if refused is not None:
        return config or Config(), Discovery([], [refused], configured=True)
    flux_entry = _flux_entry(repo, sha, path)
    config = dataclasses.replace(
        config or Config(), argocd=None if flux_entry else path, flux=path if flux_entry else None, scan=False
    )
    return config, None


def _entry_path(entry: str) -> str:
    return posixpath.normpath(entry.strip().strip("/") or ".")


def _flux_entry(repo: EnvRepo, sha: str, path: str) -> bool:
    """An entry folder holding Flux objects and no Argo CD ones starts Flux's walk."""
    return holds_flux(repo, sha, path) and not repo.files_containing(
        sha, "argoproj.io", "" if path == "." else path
    )


def entry_refusal(repo: EnvRepo, sha: str, entry: str) -> Problem | None:
    """Why ``--entry`` cannot start discovery, saying what to name instead: no folder of the
    repo (a file: the folder it is in), or an Argo CD entry with nothing at its top level, which
    `argocd app create --path` would deploy as nothing (the folders below that hold the
    Applications)."""
    path = _entry_path(entry)
    if path == ".." or path.startswith("../") or not repo.is_dir(sha, path):
        folder = posixpath.dirname(path) or "."
        hint = (f": it is a file; an entry is the folder the root app syncs (--entry {folder}), or, with no "
                "--entry, every Argo CD Application in the repo is read" if repo.exists(sha, path) else "")  # fmt: skip
        return Problem(f"--entry {entry}: not a folder of the env repo at {sha[:7]}{hint}")
    if _flux_entry(repo, sha, path):
        return None
    folder = "" if path == "." else path
    top = [f for f in repo.list_files(sha, folder) if posixpath.dirname(f) == folder]
    if any(f.lower().endswith((*MANIFEST_SUFFIXES, ".jsonnet")) for f in top):
        return None  # a .jsonnet file is evaluated as a directory source's (it may need extVars)
    below = sorted({posixpath.dirname(f) for f in repo.files_containing(sha, "argoproj.io", folder)
                    if f.lower().endswith(MANIFEST_SUFFIXES)})  # fmt: skip
    hint = (
        f": the Argo CD definitions below it are in {', '.join(below[:3])} (--entry {below[0]})"
        if below
        else ""
    )
    return Problem(
        f"--entry {entry}: no manifests at the top of that folder, so its root app would deploy nothing (an entry "
        f"is read as `argocd app create --path` reads it, without its subfolders){hint}"
    )


def entry_question(repo: EnvRepo, revision: str, entry: str | None = None) -> Problem | None:
    """The question discovery would ask before finding any app (which of several Flux cluster
    entries?), or why the ``entry`` named cannot start it: read from Git alone and cheaply, so a
    command asks it before a cluster starts."""
    if entry is not None:
        return entry_refusal(repo, repo.resolve(revision), entry)
    sha = repo.resolve(revision)
    config, _problems = read_config(repo, sha)
    if config is not None and not config.scan:
        return None
    if defined := argo_definitions(repo, sha, ""):
        return cluster_question(_apart_examples(defined)[0])
    entries = flux_entries(repo, sha).found
    return _which_entry(entries) if len(entries) > 1 else None


def _which_entry(entries: list[str]) -> Problem:
    return Problem(
        f"this Flux repo has {len(entries)} cluster entries ({', '.join(entries)}): choose one with --entry "
        f"{entries[0]}, or for good in {CONFIG_FILE} (`flux: {{path: {entries[0]}}}`)"
    )


def _scanned(
    repo: EnvRepo, sha: str, repos: RepoMap, config: Config | None, cluster: ClusterFacts
) -> Discovery:
    """The apps of a repo whose sandbox.yaml names none (or that has none): its Argo CD
    Applications, else its one Flux cluster entry, else one app per top-level folder."""
    scan = argo_scan(repo, sha, "")
    kept, kept_notices = as_last_applied(repo, sha, scan.unreadable)
    defined = [*scan.defined, *kept]
    scanned = flux_entries(repo, sha) if not defined else FluxEntries([], [])
    entries = scanned.found
    if len(entries) > 1:
        return Discovery([], [_which_entry(entries)], configured=True)
    if entries:
        found = _flux(repo, sha, repos, entries[0], config.charts if config else "", [], cluster)
        if scanned.others and found.note:
            others = ", ".join(scanned.others)
            found = dataclasses.replace(found, note=f"{found.note}; other cluster folders, not bootstrapped: "
                                                    f"{others} (--entry {scanned.others[0]} runs it)")  # fmt: skip
        return found
    if not defined and scan.unreadable:  # its only Argo CD files do not read: not a repo of folders
        return Discovery([], [dataclasses.replace(p, message=f"{p.message}; the Argo CD objects in it are not read")
                              for p in scan.unreadable], configured=True)  # fmt: skip
    if not defined and config is None:
        apps, folder_problems = folder_apps(repo, sha)
        if not apps and not folder_problems:
            folder_problems = [_nothing_found(repo, sha)]
        return Discovery(apps, folder_problems, notices=_charts_of_applications(repo, sha, apps))
    if not defined:
        return Discovery([], [Problem(f"{CONFIG_FILE} lists no apps and the repo has no Argo CD Application: "
                                      "list apps under `apps:`", file=CONFIG_FILE)], configured=True)  # fmt: skip
    defined, examples = _apart_examples(defined)
    walk = ArgoWalk(repo, sha, repos, cluster=cluster)
    walk.roots(defined)
    walk.unread(scan.unreadable, frozenset(d.file for d in kept))
    walk.notices += [Problem(n) for n in kept_notices]
    if examples:
        files = sorted({d.file for d in examples})
        walk.notices.append(Problem(
            f"not taken as apps: {len(examples)} Argo CD definition{'s' if len(examples) > 1 else ''} in "
            f"documentation, example or template folders ({', '.join(files[:3])}{' …' if len(files) > 3 else ''}); "
            f"--entry {posixpath.dirname(files[0]) or '.'} runs one",
        ))  # fmt: skip
    if asked := [p for p in walk.problems if p.reason == WHICH_CLUSTER]:
        return Discovery([], asked, configured=True)  # no Argo CD runs two clusters' folders: none runs
    apps = walk.apps()
    files = sorted({a.defined_in for a in apps if not a.parent and a.defined_in})
    shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "") or "the repo"
    kinds = " and ".join(k for k in ("Applications", "ApplicationSets")
                         if any(d.manifest.get("kind") == k[:-1] for d in defined))  # fmt: skip
    note = f"{_apps_count(apps)} from the Argo CD {kinds} in {shown}" if apps else ""
    return Discovery(apps, walk.problems, note, configured=True, unrendered=frozenset(walk.unrendered),
                     read_at=walk.read_at, notices=tuple(str(n) for n in walk.notices),
                     read_files=frozenset(walk.read_files))  # fmt: skip


# Folders whose Applications illustrate rather than deploy: nobody applies docs/examples/app.yaml.
_EXAMPLE_FOLDERS = frozenset({"doc", "docs", "example", "examples", "sample", "samples", "test", "tests",
                              "testdata", "hack", "skeleton", "skeletons"})  # fmt: skip
# A scaffolding template's placeholders (Backstage's ${{ values.name }}, cookiecutter's {{ cookiecutter.x }}):
# the file is filled in to make a repo's file, and is none itself.
_TEMPLATE_MARKS = ("${{", "{{ cookiecutter", "{{cookiecutter")


def _apart_examples(defined: list[Defined]) -> tuple[list[Defined], list[Defined]]:
    """The definitions taken as roots, and those in documentation, example or scaffolding
    folders (or files of scaffolding templates), left aside unless the repo has no other (then
    they are all it has)."""
    examples = [d for d in defined if _EXAMPLE_FOLDERS & {p.lower() for p in d.file.split("/")[:-1]}
                or any(m in d.file for m in _TEMPLATE_MARKS)
                or any(m in str(mapping(d.manifest.get("metadata")).get("name", "")) for m in _TEMPLATE_MARKS)]  # fmt: skip
    if len(examples) == len(defined):
        return defined, []
    return [d for d in defined if d not in examples], examples


def _charts_of_applications(repo: EnvRepo, sha: str, apps: list[AppSpec]) -> tuple[str, ...]:
    """Folder apps that are Helm charts of Argo CD Applications (an app-of-apps as a chart, whose
    root Application lives outside Git): as folder apps they apply nothing of what they define."""
    said = []
    for app in apps:
        if app.source != "helm":
            continue
        templates = repo.files_containing(sha, argocd.GROUP, join(app.path, "templates"))
        if any(declares_argo_apps(repo.read_file(sha, t) or b"") for t in templates):
            said.append(
                f"{app.path} is a Helm chart of Argo CD Applications: as a folder app its Applications are read, "
                f"not run; --entry {app.path} runs it as the Argo CD entry, its Applications as apps"
            )
    return tuple(said)


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


def _apps_count(apps: list[AppSpec]) -> str:
    return "1 app" if len(apps) == 1 else f"{len(apps)} apps"


def _flux(
    repo: EnvRepo, sha: str, repos: RepoMap, entry: str, charts: str, taken: list[AppSpec],
    cluster: ClusterFacts,
) -> Discovery:  # fmt: skip
    """Apps from a Flux cluster entry, breadth-first; walked again while a later app's objects
    answer an earlier one's sources, substituteFrom or valuesFrom (a GitRepository a sibling
    applies, say; at most three times)."""

    def mentions(texts: tuple[str, ...]) -> list[str]:
        found = [set(repo.files_containing(sha, text)) for text in texts]
        return sorted(set.intersection(*found)) if found else []

    sources = flux.Sources(
        repos, charts=charts, mentions=mentions, read=lambda file: repo.read_file(sha, file)
    )

    def walked() -> FluxWalk:
        walk = FluxWalk(repo, sha, sources, {a.name for a in taken}, cluster=cluster)
        walk.run(entry)
        return walk

    known = sources.size()
    walk = walked()
    for _ in range(2):
        if sources.size() == known:
            break
        known = sources.size()
        walk = walked()
    apps = walk.ordered()
    note = f"{_apps_count(apps)} from the Flux cluster entry {entry}/" if apps else ""
    return Discovery(apps, walk.problems, note, configured=True, unrendered=frozenset(walk.unrendered),
                     read_at=walk.read_at, notices=tuple(str(n) for n in walk.notices))  # fmt: skip


__all__ = ["Config", "Discovery", "discover", "entry_question", "load_apps"]
