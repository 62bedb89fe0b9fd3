"""Helm apps (and Flux HelmReleases): `helm template` of a chart from the repo or the Helm cache."""

from __future__ import annotations

import bisect
import os
import posixpath
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml

from sandbox.manifest import kubeyaml
from sandbox.manifest.shape import mapping
from sandbox.model import Problem
from sandbox.source import chartversion
from sandbox.source.appspec import AppSpec
from sandbox.source.envrepo import EnvRepo
from sandbox.source.render.parse import Doc, join, parse_yaml
from sandbox.source.render.run import run_tool
from sandbox.tools import toolchain

CHART_FILE = "Chart.yaml"


def detect(repo: EnvRepo, revision: str, path: str) -> bool:
    """A folder with a Chart.yaml is a Helm chart."""
    return repo.read_file(revision, join(path, CHART_FILE)) is not None


def helm_docs(
    repo: EnvRepo, app: AppSpec, sha: str, progress: toolchain.Progress
) -> tuple[list[Doc], list[Problem]]:
    try:
        helm = toolchain.ensure("helm", progress)
    except toolchain.ToolchainError as err:
        return [], [Problem(f"cannot run helm: {err}", file=app.path)]
    with tempfile.TemporaryDirectory(prefix="gitops-sandbox-render-") as tmp_name:
        tmp = Path(tmp_name).resolve()
        # At its repo path, so a ``file://../lib`` dependency finds its folder beside it.
        chart = tmp / "repo" / app.path if app.path != "." else tmp / "repo"
        # Chart.yaml, read once (a packaged chart from the Helm cache is used as it is).
        meta = {} if app.chart_archive else _chart_meta(repo, sha, app.path)
        problems = [] if app.chart_archive else _chart_version_problems(meta, app)
        problems = problems or (repo.export_tree(sha, app.path, chart) if not app.chart_archive else [])
        # Scratch paths in helm's errors are shown as the repo paths they came from.
        rewrite = {str(chart) + os.sep: join(app.path, "")}
        if app.chart_archive:  # a packaged chart from the Helm cache, used as it is
            chart, rewrite = Path(app.chart_archive), {}
        # Private helm homes: the user's repositories, plugins and cache play no part.
        env = dict(os.environ)
        for home in ("CACHE", "CONFIG", "DATA"):
            env[f"HELM_{home}_HOME"] = str(tmp / "helm" / home.lower())
        if not problems and not app.chart_archive:
            problems = _build_dependencies(repo, sha, app.path, meta, tmp / "repo", [str(helm), "dependency",
                                           "build", str(chart), "--skip-refresh"], env)  # fmt: skip
        cmd = [
            str(helm), "template", app.release_name, str(chart), "--namespace", app.namespace,
            "--include-crds", "--skip-tests",  # test hooks are for `helm test`, never desired state
        ]  # fmt: skip
        skipped: list[Doc] = []  # values files missing and ignoreMissingValueFiles: said, not failed
        cmd += _values_args(repo, sha, app, tmp / "values", rewrite, problems, skipped)
        for name, value, as_string in app.options.helm_parameters:
            cmd += ["--set-string" if as_string else "--set", f"{name}={value}"]
        if app.options.skip_crds:
            cmd[cmd.index("--include-crds")] = "--skip-crds"
        if problems:
            return [], problems
        ok, out, error = run_tool(cmd, tmp, rewrite, env)
    chart_name = str(meta.get("name", ""))
    if not ok:
        file, line = _helm_error_location(error, app.path, chart_name)
        # A values file that does not parse is named by its repo path (rewritten above).
        file = next((path for path in list(rewrite.values())[1:] if path in error), file)
        if "cannot load values.yaml" in error and (broken := _values_problem(repo, sha, app)) is not None:
            return [], [broken]  # the chart's own values.yaml, read again to say where
        return [], [Problem(f"helm template failed: {error}", file=file, line=line)]
    sources = _helm_sources(out, app.path)
    starts = [start for start, _src in sources]

    def source_at(line: int) -> str:
        index = bisect.bisect_right(starts, line) - 1
        return sources[index][1] if index >= 0 else join(app.path, CHART_FILE)

    docs, problem = parse_yaml(out, source_at, keep_lines=False)
    return [*skipped, *docs], [problem] if problem else []


def _values_args(
    repo: EnvRepo, sha: str, app: AppSpec, folder: Path, rewrite: dict[str, str], problems: list[Problem],
    skipped: list[Doc],
) -> list[str]:  # fmt: skip
    """``--values`` for each values file the app names (copied into ``folder``, shown in errors
    by its repo path) and for its inline values, in that order, as Argo CD passes them; a
    missing file is a problem, or with ``ignoreMissingValueFiles`` skipped (and said so)."""
    args: list[str] = []
    folder.mkdir(exist_ok=True)
    for index, value in enumerate(app.values):
        path = posixpath.normpath(join(app.path, value))
        data = repo.read_file(sha, path)
        if data is None and app.options.ignore_missing_values:
            skipped.append(Doc.skipped(path, f"values file {value} does not exist at this revision; skipped "
                                             "(helm.ignoreMissingValueFiles)"))  # fmt: skip
            continue
        if data is None:
            problems.append(Problem(f"values file {value} does not exist at this revision", file=path))
            continue
        local = folder / f"{index}-{posixpath.basename(path)}"
        local.write_bytes(data)
        args += ["--values", str(local)]
        rewrite[str(local)] = path
    if app.options.helm_values:
        inline = folder / "application-values.yaml"
        inline.write_text(app.options.helm_values)
        args += ["--values", str(inline)]
        rewrite[str(inline)] = f"{app.defined_in or app.path} (helm values)"
    return args


def _build_dependencies(
    repo: EnvRepo,
    sha: str,
    app_path: str,
    meta: dict[str, Any],
    root: Path,
    cmd: list[str],
    env: dict[str, str],
) -> list[Problem]:
    """``helm dependency build``, offline, when Chart.yaml lists dependencies charts/ lacks:
    ``file://`` ones come from the repo; any other must be vendored in ``charts/`` (packaged or not)."""
    file = join(app_path, CHART_FILE)
    dependencies = meta.get("dependencies")
    if not isinstance(dependencies, list) or not dependencies:
        return []
    in_charts = repo.list_files(sha, join(app_path, "charts"))
    unpacked = {
        posixpath.basename(posixpath.dirname(f)) for f in in_charts if posixpath.basename(f) == CHART_FILE
    }
    packed = {posixpath.basename(f) for f in in_charts if f.endswith(".tgz")}
    missing, problems, remote = [], [], []
    for dep in dependencies:
        if not isinstance(dep, dict) or not isinstance(dep.get("name"), str):
            continue
        name, version, url = dep["name"], str(dep.get("version", "")), str(dep.get("repository", ""))
        if name in unpacked or any(p.startswith(f"{name}-") for p in packed):
            continue  # vendored: unpacked, or packaged as `helm dependency update` leaves it
        if url.startswith("file://"):
            local = posixpath.normpath(posixpath.join(app_path, url[len("file://") :]))
            if local == ".." or local.startswith("../") or not repo.is_dir(sha, local):
                problems.append(
                    Problem(f"dependency {name}: {url} is not a folder of the env repo", file=file)
                )
                continue
            problems += repo.export_tree(sha, local, root / local)
            missing.append(name)
        else:
            remote.append((name, version, url))
    if remote:  # one problem, one command, however many dependencies it fetches
        which = ", ".join(f"{name} {version} from {url or 'no repository'}" for name, version, url in remote)
        packed_names = ", ".join(
            f"{join(app_path, 'charts')}/{name}-{version}.tgz" for name, version, _ in remote
        )
        problems.append(Problem(
            f"{'dependency' if len(remote) == 1 else 'dependencies'} {which}: not vendored, and nothing is fetched "
            f"from the network: run `helm dependency update {app_path}` where the internet is, and commit "
            f"{packed_names}", file=file,
        ))  # fmt: skip
    if problems or not missing:
        return problems
    ok, _out, error = run_tool(cmd, root.parent, {str(root) + os.sep: ""}, env)
    return [] if ok else [Problem(f"helm dependency build failed: {error}", file=file)]


def _chart_meta(repo: EnvRepo, sha: str, app_path: str) -> dict[str, Any]:
    """The chart's Chart.yaml, empty when it does not read (helm template says why)."""
    try:
        return mapping(kubeyaml.load(repo.read_file(sha, join(app_path, CHART_FILE)) or b""))
    except yaml.YAMLError:
        return {}


def _chart_version_problems(meta: dict[str, Any], app: AppSpec) -> list[Problem]:
    """A vendored chart whose version is not the one a HelmRelease asks for (Flux would pull
    another, so rendering this one would show the wrong thing)."""
    wanted = app.options.chart_version
    found = str(meta.get("version", ""))
    try:
        if not wanted or not meta or chartversion.satisfies(found, wanted):
            return []
    except chartversion.ConstraintError as err:
        return [Problem(str(err), file=app.defined_in or app.path)]
    name = str(meta.get("name", "")) or posixpath.basename(app.path)
    return [Problem(
        f"{app.path} holds chart {name} {found or '(no version)'}, but {app.defined_in or 'the HelmRelease'} asks "
        f"for version {wanted}: `helm pull {name} --untar --version VERSION` a version that matches into "
        f"{posixpath.dirname(app.path) or '.'}",
        file=join(app.path, CHART_FILE),
    )]  # fmt: skip


def _helm_sources(out: str, app_path: str) -> list[tuple[int, str]]:
    """(line, repo path) of each ``# Source: chart/templates/x.yaml`` comment in helm's output."""
    sources = []
    for number, line in enumerate(out.splitlines(), start=1):
        if line.startswith("# Source: "):
            # The first component is the chart's name; the rest is relative to the chart folder,
            # subcharts included (chart/charts/sub/templates/y.yaml).
            rel = line[len("# Source: ") :].strip().split("/", 1)[-1]
            sources.append((number, join(app_path, rel)))
    return sources


def _values_problem(repo: EnvRepo, sha: str, app: AppSpec) -> Problem | None:
    """Where the chart's own values.yaml does not parse, by its repo path and line (helm says
    only "cannot load values.yaml" and a line of its own counting)."""
    path = join(app.path, "values.yaml")
    raw = repo.read_file(sha, path)
    if raw is None:
        return None
    _docs, problem = parse_yaml(raw.decode("utf-8", "replace"), lambda _line: path, keep_lines=True)
    return problem


def _helm_error_location(error: str, app_path: str, chart_name: str) -> tuple[str, int | None]:
    match = re.search(
        r"([\w.-]+)/((?:charts/[\w.-]+/)*(?:templates|crds)/[^\s:]+?)(?::(\d+))?(?::\d+)?(?:[\s:]|$)", error
    )
    if match and (not chart_name or match.group(1) == chart_name or "/charts/" in match.group(0)):
        return join(app_path, match.group(2)), int(match.group(3)) if match.group(3) else None
    return app_path, None
