"""The apps of an env repo at a revision: from ``sandbox.yaml``, or one per top-level folder.

Bad configuration never raises: it comes back as Problems naming ``sandbox.yaml`` (with the
line) and the app (in ``Problem.object``). An app with any problem is left out of the list,
so a caller must read a Problem naming an app as "this app is broken", never as "this app
was deleted" — pruning on it would delete a running app over a typo. A Problem with an empty
``object`` concerns the whole file: then no app list can be trusted.
"""

from __future__ import annotations

import difflib
import posixpath
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import yaml

from sandbox.manifest import kubeyaml
from sandbox.manifest.names import DNS1123_LABEL, dns1123_name
from sandbox.manifest.suffixes import MANIFEST_SUFFIXES
from sandbox.manifest.yamlerror import yaml_error
from sandbox.manifest.yamlguard import alias_problem, duplicate_keys
from sandbox.model import SYSTEM_NAMESPACE, Problem
from sandbox.source.appspec import CONFIG_FILE, AppSpec, Source
from sandbox.source.envrepo import EnvRepo
from sandbox.source.render import SOURCE_TYPES, detect_source
from sandbox.source.render.helm import CHART_FILE
from sandbox.source.render.kustomization import has_kustomization

SOURCES: tuple[str, ...] = ("auto", *SOURCE_TYPES)

_APP_KEYS = ("name", "path", "namespace", "source", "values", "releaseName", "autoSync", "prune", "selfHeal")
_TOP_KEYS = ("apps", "argocd", "flux", "repos", "charts")
_ENTRY_KEYS = ("path",)
_HELM_RELEASE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_HELM_RELEASE_MAX = 53  # helm's own limit: release names end up inside object names


@dataclass(frozen=True)
class Config:
    """What sandbox.yaml says: its apps, and where Argo CD or Flux app discovery starts."""

    apps: tuple[AppSpec, ...] = ()
    argocd: str | None = None  # the entry folder of Argo CD Applications
    flux: str | None = None  # the Flux cluster entry (clusters/<name>)
    repos: tuple[tuple[str, str], ...] = ()  # (URL, local path): "." is this env repo
    scan: bool = False  # no apps and no entry: the apps come from Argo CD objects in the repo
    charts: str = ""  # a folder of unpacked Helm charts that Flux HelmRepository sources name


def read_config(repo: EnvRepo, sha: str) -> tuple[Config | None, list[Problem]]:
    """sandbox.yaml at ``sha`` (None when there is none) and the problems found in it."""
    raw = repo.read_file(sha, CONFIG_FILE)
    if raw is None and repo.exists(sha, CONFIG_FILE):
        # A symlink out of the repo (or to nothing): falling back to one app per folder would
        # re-own every object under new app names. Refuse, keeping the apps as they are.
        what = "a symlink that leaves the repository or points at nothing"
        why = what if repo.is_symlink(sha, CONFIG_FILE) else "not a file"
        return Config(), [Problem(f"{CONFIG_FILE} is {why}: it must be a file of the repo", file=CONFIG_FILE)]
    if raw is None:
        return None, []
    return _from_config(repo, sha, raw)


def uncommitted_config(repo_path: Path, repo: EnvRepo, head: str) -> str | None:
    """One line when the working tree's sandbox.yaml is not the one committed at ``head``: the
    agent reads committed files only, and an edit that seems ignored must say why."""
    if not repo.follows_worktree():
        return None  # another branch is followed: its sandbox.yaml is not the working tree's
    path = Path(repo_path) / CONFIG_FILE
    try:
        working = path.read_bytes() if path.is_file() else None
    except OSError:
        return None
    committed = repo.read_file(head, CONFIG_FILE)
    if working == committed:
        return None
    if committed is None:
        return f"{CONFIG_FILE} is not committed: apps come from folders until it is (git add {CONFIG_FILE}, then commit)"
    if working is None:
        return f"{CONFIG_FILE} is deleted in the working tree; the one committed at {head[:7]} is used"
    return f"{CONFIG_FILE} has uncommitted changes; the one committed at {head[:7]} is used (commit to apply them)"


# -- discovery without sandbox.yaml ------------------------------------------------------------


def folder_apps(repo: EnvRepo, sha: str) -> tuple[list[AppSpec], list[Problem]]:
    """One app per top-level folder that holds manifests (no sandbox.yaml, no Argo/Flux)."""
    candidates: list[tuple[str, str]] = []
    problems: list[Problem] = []
    for folder in repo.list_dirs(sha):
        if folder.startswith("."):
            continue
        if not any(_is_manifest_file(f) for f in repo.list_files(sha, folder)):
            continue
        name = dns1123_name(folder)
        if name == SYSTEM_NAMESPACE:
            problems.append(
                Problem(
                    f"folder {folder!r} would deploy into {SYSTEM_NAMESPACE}, the sandbox's own namespace: "
                    f"rename it or list it in {CONFIG_FILE} with another namespace",
                    file=folder,
                )  # fmt: skip
            )
            continue
        if not name:
            problems.append(
                Problem(
                    f"cannot make an app name from folder {folder!r}: rename it or list it in {CONFIG_FILE}",
                    file=folder,
                )
            )
            continue
        candidates.append((name, folder))
    counts = Counter(name for name, _ in candidates)
    apps = []
    for name, folder in candidates:
        if counts[name] > 1:
            others = ", ".join(f for n, f in candidates if n == name)
            problems.append(
                Problem(
                    f"folders {others} all make the app name {name!r}: rename one or list them in "
                    f"{CONFIG_FILE}",
                    file=folder,
                    object=name,
                )
            )
            continue
        apps.append(AppSpec(name, folder, name, detect_source(repo, sha, folder)))
    return apps, problems


def _is_manifest_file(path: str) -> bool:
    base = path.rsplit("/", 1)[-1]
    return base.lower().endswith((*MANIFEST_SUFFIXES, ".jsonnet")) or base == "Kustomization"


# -- sandbox.yaml ------------------------------------------------------------------------------


def _parse_config(raw: bytes) -> tuple[Any, yaml.Node | None, Problem | None]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return None, None, Problem(f"not UTF-8 text ({err.reason} at byte {err.start})", file=CONFIG_FILE)
    # Read as the manifests are; a key given twice is refused here, where it can only be a typo.
    loader = kubeyaml.loader(text)
    try:
        node = loader.get_single_node()
        if node is not None and (refused := alias_problem(node)) is not None:
            return None, None, Problem(refused, file=CONFIG_FILE, line=node.start_mark.line + 1)
        if node is not None and (twice := duplicate_keys(node)):
            first = twice[0]
            message = f"key {first.key!r} appears twice in one mapping (first at line {first.first})"
            return None, None, Problem(message, file=CONFIG_FILE, line=first.line)
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as err:
        message, line = yaml_error(err, text)
        return None, None, Problem(message, file=CONFIG_FILE, line=line)
    finally:
        loader.dispose()
    return data, node, None


def _from_config(repo: EnvRepo, sha: str, raw: bytes) -> tuple[Config, list[Problem]]:
    data, root, problem = _parse_config(raw)
    if problem is not None:
        return Config(), [problem]
    if data is None:
        msg = f"{CONFIG_FILE} is empty: list your apps under `apps:`, or delete it to use one app per folder"
        return Config(), [Problem(msg, file=CONFIG_FILE)]
    if not isinstance(data, dict):
        return Config(), [_problem("must be a mapping with an `apps:` list", root)]
    problems = [
        _problem(f"unknown key {key!r}{_did_you_mean(key, _TOP_KEYS)}", _key_node(root, key))
        for key in data
        if key not in _TOP_KEYS
    ]
    argocd = _entry(repo, sha, data, root, "argocd", problems)
    flux = _entry(repo, sha, data, root, "flux", problems)
    repos = _repos(data, root, problems)
    entries = data.get("apps")
    apps_node = _value_node(root, "apps")
    if entries is None and argocd is None and flux is None and "repos" not in data and "charts" not in data:
        return Config(), [
            *problems,
            _problem("has no `apps:` list (nor an `argocd:` or `flux:` entry)", root),
        ]
    if entries is not None and not isinstance(entries, list):
        return Config(), [*problems, _problem("`apps:` must be a list of apps", apps_node)]
    item_nodes = apps_node.value if isinstance(apps_node, yaml.SequenceNode) else []
    parsed: list[tuple[AppSpec | None, str, yaml.Node | None]] = []
    for index, entry in enumerate(entries or ()):
        node = item_nodes[index] if index < len(item_nodes) else None
        app, label, app_problems = _parse_app(repo, sha, entry, index, node)
        problems += app_problems
        parsed.append((app, label, node))
    counts = Counter(label for _app, label, _node in parsed)
    apps = []
    for app, label, node in parsed:
        if counts[label] > 1:
            problems.append(_problem(f"app name {label!r} is used {counts[label]} times", node, label))
        elif app is not None:
            apps.append(app)
    scan = entries is None and argocd is None and flux is None  # only `repos:`: find the Argo CD objects
    charts = data.get("charts", "")
    if not isinstance(charts, str) or (charts and not repo.is_dir(sha, charts.strip("/"))):
        problems.append(
            _problem(f"`charts:` {charts!r} must be a folder of the repo", _value_node(root, "charts"))
        )
        charts = ""
    return Config(tuple(apps), argocd, flux, repos, scan, charts.strip("/")), problems


def _entry(
    repo: EnvRepo, sha: str, data: dict[str, Any], root: yaml.Node | None, key: str, problems: list[Problem]
) -> str | None:
    """The folder an ``argocd:`` or ``flux:`` entry names (``{path: FOLDER}``), checked."""
    if key not in data:
        return None
    value, node = data[key], _value_node(root, key)
    if not isinstance(value, dict) or not isinstance(value.get("path"), str) or not value["path"].strip():
        problems.append(_problem(f"`{key}:` must be a mapping with a `path:` folder", node))
        return None
    for unknown in value:
        if unknown not in _ENTRY_KEYS:
            problems.append(_problem(f"unknown key {unknown!r} in `{key}:`{_did_you_mean(unknown, _ENTRY_KEYS)}",
                                     _key_node(node, unknown)))  # fmt: skip
    path = posixpath.normpath(value["path"].strip().strip("/") or ".")
    if path == ".." or path.startswith("../"):
        problems.append(_problem(f"`{key}: path` {value['path']!r} is outside the repo", node))
        return None
    if not repo.is_dir(sha, path):
        problems.append(_problem(f"`{key}: path` {path!r} does not exist at revision {sha[:12]}", node))
        return None
    return path


def _repos(
    data: dict[str, Any], root: yaml.Node | None, problems: list[Problem]
) -> tuple[tuple[str, str], ...]:
    value = data.get("repos")
    if value is None:
        return ()
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        problems.append(_problem("`repos:` must map repository URLs to local folders (`.` is this repo)",
                                 _value_node(root, "repos")))  # fmt: skip
        return ()
    return tuple(value.items())


Bad = Callable[..., None]  # (message, key of the entry it is about, if any): one problem said


def _parse_app(
    repo: EnvRepo, sha: str, entry: Any, index: int, node: yaml.Node | None
) -> tuple[AppSpec | None, str, list[Problem]]:
    """One `apps:` entry as an app, or every problem it has, each at its key's line."""
    label = f"apps[{index}]"
    if not isinstance(entry, dict):
        return None, label, [_problem("each app must be a mapping with at least name and path", node, label)]
    name = entry.get("name")
    if isinstance(name, str) and name:
        label = name
    problems: list[Problem] = []

    def bad(message: str, key: str | None = None) -> None:
        problems.append(_problem(message, _key_node(node, key) if key else node, label))

    for key in entry:
        if key not in _APP_KEYS:
            bad(f"unknown key {key!r}{_did_you_mean(key, _APP_KEYS)}", key)
    _check_name(name, bad)
    clean_path = _checked_path(repo, sha, entry.get("path"), bad)
    namespace = entry.get("namespace", name)
    _check_namespace(entry, namespace, bad)
    final = _checked_source(repo, sha, entry, clean_path, bad, bool(problems))
    values = _checked_values(entry, clean_path, final, bad, bool(problems))
    release = entry.get("releaseName")
    _check_release(release, final, bad, bool(problems))
    flags = _flags(entry, bad)
    if problems:
        return None, label, problems
    app = AppSpec(
        name=str(name), path=clean_path, namespace=str(namespace), source=final, values=tuple(values),
        release_name=str(release or ""), auto_sync=flags["autoSync"], prune=flags["prune"],
        self_heal=flags["selfHeal"],
    )  # fmt: skip
    return app, label, []


def _check_name(name: Any, bad: Bad) -> None:
    if name is None:
        bad("app has no `name`")
    elif not isinstance(name, str) or not DNS1123_LABEL.match(name) or len(name) > 63:
        bad(f"name {name!r} is not a DNS-1123 label (a-z, 0-9 and '-', at most 63 characters)", "name")


def _checked_path(repo: EnvRepo, sha: str, path: Any, bad: Bad) -> str:
    """The app's folder, normalised ("" when it is not one of the repo)."""
    if path is None:
        bad("app has no `path`")
        return ""
    if not isinstance(path, str) or not path.strip():
        bad("`path` must be a folder of the repo", "path")
        return ""
    clean_path = posixpath.normpath(path.strip())
    if posixpath.isabs(clean_path) or clean_path == ".." or clean_path.startswith("../"):
        bad(f"path {path!r} is outside the repo", "path")
    elif not repo.is_dir(sha, clean_path):
        bad(f"path {clean_path!r} does not exist at revision {sha[:12]} (or is not a folder)", "path")
    return clean_path


def _check_namespace(entry: dict[str, Any], namespace: Any, bad: Bad) -> None:
    if "namespace" in entry and (
        not isinstance(namespace, str) or not DNS1123_LABEL.match(namespace) or len(namespace) > 63
    ):
        bad(f"namespace {namespace!r} is not a DNS-1123 label", "namespace")
    elif namespace == SYSTEM_NAMESPACE:
        bad(
            f"namespace {SYSTEM_NAMESPACE} is the sandbox's own (it keeps the inventories); choose another",
            "namespace",
        )


def _checked_source(
    repo: EnvRepo, sha: str, entry: dict[str, Any], clean_path: str, bad: Bad, failed: bool
) -> Source:
    """The source type asked for (``auto``: detected), checked against the folder."""
    source = entry.get("source", "auto")
    if source not in SOURCES:
        bad(f"source {source!r} is not one of {', '.join(SOURCES)}", "source")
        source = "auto"
    detected: Source = "plain"
    if not failed:
        detected = detect_source(repo, sha, clean_path)
    if source == "helm" and not failed and detected != "helm":
        bad(f"source helm needs a {CHART_FILE} in {clean_path}", "source")
    if source == "kustomize" and not failed and not has_kustomization(repo, sha, clean_path):
        bad(f"source kustomize needs a kustomization.yaml in {clean_path}", "source")
    return detected if source == "auto" else cast(Source, source)


def _checked_values(
    entry: dict[str, Any], clean_path: str, final: Source, bad: Bad, failed: bool
) -> list[str]:
    values = entry.get("values", [])
    if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
        bad("`values` must be a list of file names relative to the app path", "values")
        return []
    if values and final != "helm" and not failed:
        bad(f"`values` only apply to helm apps; this one is {final}", "values")
    for value in values:
        inside = posixpath.normpath(posixpath.join(clean_path or ".", value))
        if posixpath.isabs(value) or inside == ".." or inside.startswith("../"):
            bad(f"values file {value!r} is outside the repo", "values")
    return values


def _check_release(release: Any, final: Source, bad: Bad, failed: bool) -> None:
    if release is None:
        return
    if not isinstance(release, str) or not _HELM_RELEASE.match(release) or len(release) > _HELM_RELEASE_MAX:
        bad(f"releaseName {release!r} is not a valid helm release name", "releaseName")
    elif final != "helm" and not failed:
        bad(f"`releaseName` only applies to helm apps; this one is {final}", "releaseName")


def _flags(entry: dict[str, Any], bad: Bad) -> dict[str, bool]:
    flags: dict[str, bool] = {}
    for key in ("autoSync", "prune", "selfHeal"):
        value = entry.get(key, True)
        if not isinstance(value, bool):
            bad(f"`{key}` must be true or false, not {value!r}", key)
        flags[key] = bool(value)
    return flags


def _problem(message: str, node: yaml.Node | None, app: str = "") -> Problem:
    line = node.start_mark.line + 1 if node is not None else None
    return Problem(message, file=CONFIG_FILE, line=line, object=app)


def _key_node(mapping: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(mapping, yaml.MappingNode):
        for key_node, _value in mapping.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                return key_node
    return mapping


def _value_node(mapping: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(mapping, yaml.MappingNode):
        for key_node, value in mapping.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                return value
    return mapping


def _did_you_mean(key: object, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(str(key), known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else f" (known keys: {', '.join(known)})"
