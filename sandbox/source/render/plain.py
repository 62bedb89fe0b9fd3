"""Plain folders (Argo CD's directory source): manifests read from git objects, and Jsonnet programs."""

from __future__ import annotations

import fnmatch
import os
import posixpath
import re
import tempfile
from pathlib import Path

from sandbox.manifest.appkinds import ARGO_APP_KINDS
from sandbox.manifest.suffixes import MANIFEST_SUFFIXES
from sandbox.model import Problem
from sandbox.source.appspec import CONFIG_FILE, AppSpec, RenderOptions
from sandbox.source.envrepo import EnvRepo
from sandbox.source.render.helm import CHART_FILE
from sandbox.source.render.kustomization import KUSTOMIZATION_FILES
from sandbox.source.render.parse import (
    Doc,
    always_at,
    join,
    outermost,
    parse_json,
    parse_yaml,
    submodules_apart,
)
from sandbox.source.render.run import run_tool
from sandbox.tools import toolchain

# Helm's own inputs sitting in a folder rendered as plain: configuration, never objects.
NOT_MANIFESTS = frozenset({*KUSTOMIZATION_FILES, CHART_FILE, "Chart.lock", "values.yaml", "values.yml"})


# A template's own (top-level) object declaring an Argo CD app kind: a Rollout's
# `scaleTargetRef` or any other mention of argoproj.io is no Application.
_ARGO_APP_KIND = re.compile(
    rb"^kind:[ \t]*[\"']?(%s)[\"']?[ \t]*(#.*)?$" % "|".join(ARGO_APP_KINDS).encode(), re.MULTILINE
)


def declares_argo_apps(template: bytes) -> bool:
    return b"argoproj.io" in template and _ARGO_APP_KIND.search(template) is not None


# -- sources ------------------------------------------------------------------------------------


def plain_docs(
    repo: EnvRepo, app: AppSpec, sha: str, _progress: toolchain.Progress = lambda _msg: None
) -> tuple[list[Doc], list[Problem]]:
    """A folder's manifests (Jsonnet programs evaluated), read from git objects: no tool to fetch."""
    files, read_problems = repo.read_tree(sha, app.path)
    problems, docs = submodules_apart(read_problems, app.options.flux)
    charts = _charts_inside(app, files, problems)
    for rel, data in files.items():
        parts = rel.split("/")
        name = parts[-1]
        if any(rel.startswith(chart + "/") for chart in charts):
            continue
        if not name.lower().endswith(MANIFEST_SUFFIXES) or name in NOT_MANIFESTS:
            continue
        # Dotted files and folders (.github/, .pre-commit-config.yaml) configure tools.
        if any(part.startswith(".") for part in parts):
            continue
        if app.path == "." and rel == CONFIG_FILE:
            continue
        if not _selected(rel, app.options):
            continue
        source = join(app.path, rel)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            problems.append(Problem(f"not UTF-8 text ({err.reason} at byte {err.start})", file=source))
            continue
        if name.lower().endswith(".json"):
            parsed, problem = parse_json(text, source)
        else:
            parsed, problem = parse_yaml(text, always_at(source), keep_lines=True)
            if app.kind == "Application" and _unrelated_yaml(text, parsed, problem):
                docs.append(Doc.skipped(source, "skipped: not a Kubernetes manifest (no apiVersion, kind and "
                                                "metadata), as Argo CD skips an unrelated YAML file"))  # fmt: skip
                continue
        docs += parsed
        if problem is not None:
            problems.append(problem)
    programs = [rel for rel in files if rel.endswith(".jsonnet") and _selected(rel, app.options)
                and not any(part.startswith(".") for part in rel.split("/"))]  # fmt: skip
    if programs:
        jsonnet_docs, jsonnet_problems = _jsonnet_docs(repo, app, sha, programs)
        docs += jsonnet_docs
        problems += jsonnet_problems
    return docs, problems


def _charts_inside(app: AppSpec, files: dict[str, bytes], problems: list[Problem]) -> list[str]:
    """The charts below a plain folder, each said once into ``problems``: a chart is no set of
    manifests (its templates are not YAML until helm renders them). Only one whose files the
    folder reads: Argo CD's directory source reads the top level alone unless `recurse`, so a
    chart in a subfolder is none of its business."""
    charts = sorted({posixpath.dirname(r) for r in files if posixpath.basename(r) == CHART_FILE and "/" in r})
    charts = [c for c in charts if any(r.startswith(c + "/") and _selected(r, app.options) for r in files)]
    for chart in outermost(charts):
        where = join(app.path, chart)
        own = (f"its own Application (`source.path: {where}`)" if app.kind == "Application"
               else f"an app of its own with `source: helm` (`path: {where}` in sandbox.yaml)")  # fmt: skip
        if any(r.startswith(chart + "/templates/") and declares_argo_apps(data) for r, data in files.items()):
            # A chart of Applications (app-of-apps as a chart): apps come from it only as an entry.
            own = (f"the Argo CD entry, as it renders Applications (`argocd: {{path: {where}}}` in sandbox.yaml, "
                   f"or --entry {where})")  # fmt: skip
        problems.append(Problem(
            f"{where} is a Helm chart (it holds a Chart.yaml) inside the plain folder {app.path}, whose files are "
            f"read as manifests: make it {own}, or move it out of this folder", file=join(where, CHART_FILE),
        ))  # fmt: skip
    return charts


def _unrelated_yaml(text: str, parsed: list[Doc], problem: Problem | None) -> bool:
    """A YAML file of a directory app that Argo CD's repo server skips: it does not read as
    Kubernetes objects, and its text lacks one of ``apiVersion:``, ``kind:`` and ``metadata:``
    (a docker-compose.yaml, a tool's config); one that has all three is a broken manifest."""
    objects = problem is None and all(isinstance(d.data, dict) and d.data.get("kind") for d in parsed)
    return not objects and not all(key in text for key in ("apiVersion:", "kind:", "metadata:"))


def _jsonnet_docs(
    repo: EnvRepo, app: AppSpec, sha: str, programs: list[str]
) -> tuple[list[Doc], list[Problem]]:
    """Each ``.jsonnet`` file evaluated as Argo CD does (go-jsonnet, with the app's ext vars,
    top-level arguments and library folders); its JSON is one object or a list of them."""
    try:
        jsonnet = toolchain.ensure("jsonnet")
    except toolchain.ToolchainError as err:
        return [], [Problem(f"cannot run jsonnet: {err}", file=app.path)]
    docs: list[Doc] = []
    problems: list[Problem] = []
    with tempfile.TemporaryDirectory(prefix="gitops-sandbox-render-") as tmp:
        root = Path(tmp).resolve() / "repo"
        for folder in outermost([app.path, *app.options.jsonnet_libs]):
            if folder == ".." or folder.startswith("../"):
                return [], [
                    Problem(f"jsonnet library {folder} leaves the env repo; refused", file=app.defined_in)
                ]
            problems += repo.export_tree(sha, folder, root / folder if folder != "." else root)
        args = [str(jsonnet)]
        for lib in app.options.jsonnet_libs:
            args += ["-J", str(root / lib)]
        for flag, variables in (("ext", app.options.jsonnet_ext_vars), ("tla", app.options.jsonnet_tlas)):
            for name, value, code in variables:
                args += [f"--{flag}-{'code' if code else 'str'}", f"{name}={value}"]
        for rel in programs:
            source = join(app.path, rel)
            ok, out, error = run_tool([*args, str(root / source)], root, {str(root) + os.sep: ""})
            if not ok:
                problems.append(Problem(f"jsonnet failed: {error}", file=source))
                continue
            parsed, problem = parse_json(out, source)
            docs += parsed
            problems += [problem] if problem else []
    return docs, problems


# -- paths ----------------------------------------------------------------------------------------


def _selected(rel: str, options: RenderOptions) -> bool:
    """Whether a plain folder's file is read: Argo CD's ``directory`` recurse, include, exclude."""
    if not options.recurse and "/" in rel:
        return False
    if options.include and not _glob_any(options.include, rel):
        return False
    return not (options.exclude and _glob_any(options.exclude, rel))


def _glob_any(pattern: str, rel: str) -> bool:
    """A glob with ``{a,b}`` alternatives anywhere in it (``{argocd,registry}/**``), matched
    against the path or its file name."""
    name = rel.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(rel, alt) or fnmatch.fnmatchcase(name, alt)
               for alt in _braces(pattern.strip()) if alt)  # fmt: skip


_BRACES = re.compile(r"\{([^{}]*)\}")


def _braces(pattern: str) -> list[str]:
    """Every pattern its ``{a,b}`` groups stand for, as a glob with braces expands them."""
    found = _BRACES.search(pattern)
    if found is None:
        return [pattern]
    head, tail = pattern[: found.start()], pattern[found.end() :]
    return [
        expanded for part in found.group(1).split(",") for expanded in _braces(head + part.strip() + tail)
    ]
