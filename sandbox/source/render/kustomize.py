"""Kustomize apps (and Flux Kustomizations): the build on an exported tree, as the kustomize CLI and kustomize-controller run it."""

from __future__ import annotations

import dataclasses
import os
import posixpath
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from sandbox.manifest import kubeyaml, rawyaml
from sandbox.manifest.annotations import FLUX_SUBSTITUTE
from sandbox.manifest.shape import annotations_of, mapping
from sandbox.model import Manifest, Problem
from sandbox.source import envsubst, kpatch
from sandbox.source.appspec import AppSpec
from sandbox.source.envrepo import EnvRepo
from sandbox.source.render.kustomization import (
    KUSTOMIZATION_FILES,
    generate_kustomization,
    has_kustomization,
    override,
    subkustomizations,
)
from sandbox.source.render.parse import Doc, always_at, inside, join, outermost, parse_yaml, submodules_apart
from sandbox.source.render.run import run_tool
from sandbox.tools import toolchain


def kustomize_docs(
    repo: EnvRepo, app: AppSpec, sha: str, progress: toolchain.Progress
) -> tuple[list[Doc], list[Problem]]:
    kustomization = next(
        (
            join(app.path, k)
            for k in KUSTOMIZATION_FILES
            if repo.read_file(sha, join(app.path, k)) is not None
        ),
        join(app.path, KUSTOMIZATION_FILES[0]),
    )
    if (charts := _helm_charts(repo.read_file(sha, kustomization), kustomization, app)) is not None:
        return [], [charts]
    try:
        cmd_head = _kustomize_command(app, progress)
    except toolchain.ToolchainError as err:
        return [], [Problem(f"cannot run kustomize: {err}", file=app.path)]
    with tempfile.TemporaryDirectory(prefix="gitops-sandbox-render-") as tmp:
        root = Path(tmp).resolve() / "repo"
        exported = _export_inputs(repo, sha, app, root)
        if isinstance(exported, list):
            return [], exported
        exported_own, elsewhere = exported
        own, submodules = submodules_apart(exported_own, app.options.flux)
        generated = app.options.flux and not has_kustomization(repo, sha, app.path)
        if generated and (not_objects := generate_kustomization(root / app.path, repo, sha, app.path)):
            return [], not_objects
        override(root / kustomization, app.options)
        added_origins = _ask_for_origins(root / kustomization)
        ok, out, error = run_tool([*cmd_head, str(root / app.path)], root.parent, {str(root) + os.sep: ""})
        if not ok:
            # A file skipped outside the app (say a base's oversized manifest) explains a failure.
            hints = [p for p in elsewhere if p.file and p.file in error]
            if (charts := _nested_helm_charts(error, root, app)) is not None:
                return [], list(dict.fromkeys([*own, *hints, charts]))  # kustomize's words add only noise
            said = " ".join(error.split())  # one line: a problem is a line of a table and of the watch
            failed = (
                Problem(f"kustomize build of the kustomization.yaml Flux generates for this folder (it has none) "
                        f"failed: {said}", file=app.path)
                if generated else Problem(f"kustomize build failed: {said}", file=kustomization)
            )  # fmt: skip
            culprit = _malformed_yaml(error, root)
            return [], list(dict.fromkeys([*own, *hints, *([culprit] if culprit else []), failed]))
        written = repo.read_file(sha, app.defined_in) if app.defined_in else None
        refused, patch_notices = _patch_findings(
            root / kustomization, [*cmd_head, str(root / app.path)], root, app, kustomization,
            patches_written=written is None or b"patches" in written,
        )  # fmt: skip
        if refused:
            return [], refused
    docs, problem = parse_yaml(out, always_at(kustomization), keep_lines=False)
    docs += submodules
    if docs and patch_notices:
        docs[0].notices += tuple(patch_notices)
    for doc in docs:
        doc.file = _origin(doc, app.path, drop=added_origins) or doc.file
    if app.options.substitute_set:
        docs = [_substituted(doc, dict(app.options.substitute)) for doc in docs]
    return docs, list(dict.fromkeys([*own, *([problem] if problem else [])]))


def _kustomize_command(app: AppSpec, progress: toolchain.Progress) -> list[str]:
    """The build command, before its folder; raises ToolchainError when there is none."""
    found = toolchain.find("kustomize")
    # The standalone kustomize is pinned and newer; kubectl's built-in one is the fallback.
    head = [str(found.path), "build"] if found else [str(toolchain.ensure("kubectl", progress)), "kustomize"]
    if app.options.flux or app.options.load_restrictor_none:
        # kustomize-controller builds with LoadRestrictionsNone (and Argo CD where its argocd-cm
        # says so): a kustomization may list a file outside its own folder (resources:
        # [../../apps/web/ks.yaml]). The repo stays the limit: nothing outside it is exported to
        # the build (see _kustomize_escapes).
        head = [*head, "--load-restrictor", "LoadRestrictionsNone"]
    return head


_IN_FILE = re.compile(r"in File: (\S+)")
# A patch file that reads as neither a strategic merge nor a JSON patch (its YAML is broken).
_PATCH_FILE = re.compile(r'unable to parse SM or JSON patch from \[path: "?([^"\]\s]+)')


def _malformed_yaml(error: str, root: Path) -> Problem | None:
    """The file (by its repo path), line and reason of a YAML error kustomize names only by a
    bare file name and a line of its own counting: read again as the API server would."""
    if "yaml:" not in error and "MalformedYAML" not in error and _PATCH_FILE.search(error) is None:
        return None
    named = {m.group(1).rsplit("/", 1)[-1] for m in (*_IN_FILE.finditer(error), *_PATCH_FILE.finditer(error))}
    for path in sorted(root.rglob("*")):
        if (
            path.suffix.lower() not in (".yaml", ".yml")
            or (named and path.name not in named)
            or not path.is_file()
        ):
            continue
        rel = path.relative_to(root).as_posix()
        try:
            _docs, problem = parse_yaml(path.read_text(encoding="utf-8"), always_at(rel), keep_lines=True)
        except (OSError, UnicodeDecodeError):
            continue
        if problem is not None:
            return dataclasses.replace(problem, message=f"{problem.message} (kustomize build failed on it)")
    return None


def _export_inputs(
    repo: EnvRepo, sha: str, app: AppSpec, root: Path
) -> tuple[list[Problem], list[Problem]] | list[Problem]:
    """Export every file the build reads (the app's kustomization, its bases and components)
    under ``root``: (files skipped in the app, files skipped elsewhere), or the problems that
    refuse the build (a component or base that leaves the env repo)."""
    own: list[Problem] = []
    elsewhere: list[Problem] = []
    components = [posixpath.normpath(join(app.path, c)) for c in app.options.components]
    if app.options.ignore_missing_components:  # as Flux's ignoreMissingComponents
        components = [c for c in components if repo.is_dir(sha, c)]
    outside = [c for c in components if c == ".." or c.startswith("../") or c.startswith("/")]
    if outside:
        return [Problem(f"component {c} leaves the env repo; refused", file=app.defined_in or app.path)
                for c in outside]  # fmt: skip
    starts = [*_kustomize_roots(repo, sha, app.path, app.options.flux), *components]
    escapes = [p for start in starts for p in _kustomize_escapes(repo, sha, start)]
    if escapes:
        return escapes
    inputs = [p for start in starts for p in _kustomize_inputs(repo, sha, start)]
    for path in outermost(inputs):
        for skipped in repo.export_tree(sha, path, root / path if path != "." else root):
            (own if inside(skipped.file, app.path) else elsewhere).append(skipped)
    return own, elsewhere


def _substituted(doc: Doc, variables: dict[str, str]) -> Doc:
    """Flux's post-build substitution of one object, on its YAML text (so ``replicas: ${n}``
    becomes a number), unless the object opts out."""
    data = doc.data
    if not isinstance(data, dict) or annotations_of(data).get(FLUX_SUBSTITUTE) == "disabled":
        return doc
    text = envsubst.substitute(kubeyaml.dump(data), variables)
    try:
        return Doc(kubeyaml.load(text), doc.file, doc.line)
    except yaml.YAMLError:
        return doc  # left as it was; the API server's dry-run names what is wrong


def _patch_findings(
    kustomization: Path, cmd: list[str], root: Path, app: AppSpec, file: str, patches_written: bool = True
) -> tuple[list[Problem], list[Problem]]:
    """(refused, notices): targeted patches that would do other than written, and those that do
    nothing (see kpatch), each named where it is written: the kustomization ``file``, or the
    Flux Kustomization's ``spec.patches`` (appended after the file's own) — and when its file
    has none (``patches_written`` False), the parent whose own patches put them there. Each
    check builds the app once more, without those patches."""
    try:
        data = rawyaml.load(kustomization.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return [], []
    if not isinstance(data, dict):
        return [], []
    original = kustomization.read_text()
    own = len(data.get("patches") or ()) - len(app.options.added_patches)

    def build(variant: dict[str, Any]) -> list[Manifest] | None:
        kustomization.write_text(rawyaml.dump(variant))
        try:
            ok, out, _error = run_tool(cmd, root.parent, {})
        finally:
            kustomization.write_text(original)
        if not ok:
            return None
        return [d for d in kubeyaml.load_all(out) if isinstance(d, dict)]

    refused: list[Problem] = []
    notices: list[Problem] = []
    for found in kpatch.findings(data, kustomization.parent, build):
        patch = found.patch
        if patch.field == "patches" and patch.index > own:  # one of the Flux Kustomization's own
            where = "" if patches_written else f" (not in its file: the patches of app {app.parent} add it)"
            said = Problem(
                f"spec.patches[{patch.index - own - 1}]{where} {found.message}", file=app.defined_in,
                object=app.name,
            )  # fmt: skip
        else:
            said = Problem(f"{patch.label} {found.message}", file=file)
        (refused if found.refused else notices).append(said)
    return refused, notices


ORIGIN_ANNOTATION = "config.kubernetes.io/origin"


def _ask_for_origins(kustomization: Path) -> bool:
    """Have kustomize say which file each object came from (``buildMetadata: [originAnnotations]``
    in the scratch copy), so messages name the base file, not the overlay. True when added here,
    so the annotation is taken off again; False when the user asked for it (it is theirs) or the
    file cannot be read (kustomize reports that, better than we could)."""
    try:
        data = rawyaml.load(kustomization.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    if not isinstance(data, dict):
        return False
    wanted = data.get("buildMetadata") or []
    if not isinstance(wanted, list) or "originAnnotations" in wanted:
        return False
    data["buildMetadata"] = [*wanted, "originAnnotations"]
    kustomization.write_text(rawyaml.dump(data))
    return True


def _origin(doc: Doc, app_path: str, drop: bool) -> str | None:
    """The repo path of the file kustomize built ``doc`` from, per its origin annotation."""
    if not isinstance(doc.data, dict) or not isinstance(doc.data.get("metadata"), dict):
        return None
    meta = doc.data["metadata"]
    annotations = meta.get("annotations")
    if not isinstance(annotations, dict) or ORIGIN_ANNOTATION not in annotations:
        return None
    raw = annotations[ORIGIN_ANNOTATION]
    if drop:
        annotations = {k: v for k, v in annotations.items() if k != ORIGIN_ANNOTATION}
        doc.data = {**doc.data, "metadata": {**meta, "annotations": annotations}}
        if not annotations:
            del doc.data["metadata"]["annotations"]
    try:
        origin = kubeyaml.load(raw) if isinstance(raw, str) else None
    except yaml.YAMLError:
        return None
    if not isinstance(origin, dict):
        return None
    path = origin.get("path") or origin.get("configuredIn")
    if not isinstance(path, str) or "://" in path or origin.get("repo"):
        return None
    found = posixpath.normpath(join(app_path, path))
    return None if found.startswith("../") or found == ".." else found


def _helm_charts(raw: bytes | None, kustomization: str, app: AppSpec) -> Problem | None:
    """Why a kustomization's ``helmCharts`` cannot be built here (``kustomize build
    --enable-helm`` pulls each chart from its repository), or None when it has none."""
    if raw is None or b"helmCharts" not in raw:
        return None
    try:
        charts = [
            mapping(c) for c in mapping(rawyaml.load(raw)).get("helmCharts") or () if isinstance(c, dict)
        ]
    except (yaml.YAMLError, ValueError):
        return None
    if not charts:
        return None
    named = ", ".join(
        f"{c.get('name', '?')}{' ' + str(c['version']) if c.get('version') else ''}"
        f"{' from ' + str(c['repo']) if c.get('repo') else ''}" for c in charts
    )  # fmt: skip
    own = ("an Application of its own (source.chart and repoURL)" if app.kind == "Application"
           else "a HelmRelease" if app.kind == "Kustomization" else "an app of its own (source: helm)")  # fmt: skip
    return Problem(
        f"helmCharts ({named}): Kustomize inflates them with `kustomize build --enable-helm`, pulling each chart "
        f"from its repository, which the sandbox does not do yet; make the chart {own}, or commit the rendered "
        "manifests", file=kustomization,
    )  # fmt: skip


def _nested_helm_charts(error: str, root: Path, app: AppSpec) -> Problem | None:
    """The helmCharts of a base or component that made the build fail, named by its repo path."""
    if "--enable-helm" not in error:
        return None
    for path in sorted(root.rglob("*")):
        if path.name in KUSTOMIZATION_FILES and path.is_file():
            found = _helm_charts(path.read_bytes(), path.relative_to(root).as_posix(), app)
            if found is not None:
                return found
    return None


def _kustomize_roots(repo: EnvRepo, sha: str, app_path: str, generated: bool) -> list[str]:
    """Where the app's kustomize build starts: its folder, and, when Flux generates the folder's
    kustomization.yaml, each outermost folder below that has one of its own (the generated file
    lists those, so their bases and components are read too)."""
    if not generated or has_kustomization(repo, sha, app_path):
        return [app_path]
    return [app_path, *subkustomizations(repo, sha, app_path)]


def _kustomize_inputs(repo: EnvRepo, sha: str, app_path: str) -> list[str]:
    """The app folder plus every repo folder its kustomizations reach (bases, components, ...).

    Exporting the whole repo would work too, but costs a file write per file of every app.
    Any string in a kustomization that names an existing path counts: over-including a file
    is harmless, missing one breaks the build.
    """
    wanted: list[str] = [app_path]

    def covered(path: str) -> bool:
        return any(w == "." or path == w or path.startswith(w + "/") for w in wanted)

    queue, seen = [app_path], {app_path}
    while queue:
        folder = queue.pop()
        for name in KUSTOMIZATION_FILES:
            raw = repo.read_file(sha, join(folder, name))
            if raw is None:
                continue
            try:
                data = rawyaml.load(raw)
            except (yaml.YAMLError, RecursionError, ValueError):
                continue  # kustomize reports it, with a better message than ours
            for text in _strings(data):
                if "://" in text or text.startswith(("/", "github.com/")) or len(text) > 400:
                    continue
                target = posixpath.normpath(posixpath.join(folder, text.split("?", 1)[0]))
                if target in seen or target == ".." or target.startswith("../"):
                    continue
                seen.add(target)
                if repo.is_dir(sha, target):
                    queue.append(target)  # inside the export or not, its own references count
                elif repo.read_file(sha, target) is not None:
                    target = posixpath.dirname(target) or "."
                else:
                    continue
                if not covered(target):
                    wanted.append(target)
    # A folder listed before its parent would be exported twice, its problems reported twice.
    return [w for w in wanted if not any(o != w and (o == "." or w.startswith(o + "/")) for o in wanted)]


# Where a kustomization names files or folders (kustomize's own fields).
_PATH_LISTS = ("resources", "bases", "components", "crds", "configurations", "generators", "transformers",
               "validators", "patchesStrategicMerge")  # fmt: skip
_PATH_ITEMS = {
    "patches": "path",
    "patchesJson6902": "path",
    "replacements": "path",
    "helmCharts": "valuesFile",
}
_GENERATORS = ("configMapGenerator", "secretGenerator")


def _file_references(data: Any) -> Iterator[str]:
    """Every file or folder a kustomization names, as written."""
    if not isinstance(data, dict):
        return
    for key in _PATH_LISTS:
        for item in data.get(key) or ():
            if isinstance(item, str) and "\n" not in item:  # patchesStrategicMerge may inline a patch
                yield item
    for key, field in _PATH_ITEMS.items():
        for item in data.get(key) or ():
            if isinstance(item, dict) and isinstance(item.get(field), str):
                yield item[field]
    for key in _GENERATORS:
        for item in data.get(key) or ():
            if not isinstance(item, dict):
                continue
            for name in ("files", "envs"):
                for entry in item.get(name) or ():
                    if isinstance(entry, str):
                        yield entry.split("=", 1)[-1]
            if isinstance(item.get("env"), str):
                yield item["env"]
    for key, field in (("openapi", "path"), ("helmGlobals", "chartHome")):
        found = data.get(key)
        if isinstance(found, dict) and isinstance(found.get(field), str):
            yield found[field]


def _kustomize_escapes(repo: EnvRepo, sha: str, app_path: str) -> list[Problem]:
    """Paths in the app's kustomizations (bases' too) that leave the env repo: an absolute path,
    ``../`` past the repo's top, or a remote base. kustomize would read them from this machine
    (or the network): ``check --ref`` on someone's branch must never read outside the repo."""
    problems, queue, seen = [], [app_path], {app_path}
    while queue:
        folder = queue.pop()
        for name in KUSTOMIZATION_FILES:
            file = join(folder, name)
            raw = repo.read_file(sha, file)
            if raw is None:
                continue
            try:
                data = rawyaml.load(raw)
            except (yaml.YAMLError, RecursionError, ValueError):
                continue  # kustomize reports it
            for text in _file_references(data):
                target = posixpath.normpath(posixpath.join(folder, text.split("?", 1)[0]))
                if "://" in text or text.startswith(("github.com/", "git@", "git::")):
                    problems.append(Problem(f"remote base {text!r}: nothing is fetched from the network; "
                                            "vendor it into the env repo", file=file))  # fmt: skip
                elif text.startswith("/") or target == ".." or target.startswith("../"):
                    problems.append(Problem(f"path {text!r} leaves the env repo; refused", file=file))
                elif target not in seen and repo.is_dir(sha, target):
                    seen.add(target)
                    queue.append(target)
    return problems


def _strings(data: Any) -> Iterator[str]:
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for value in data.values():
            yield from _strings(value)
    elif isinstance(data, list):
        for item in data:
            yield from _strings(item)
