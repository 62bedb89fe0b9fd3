"""Rendering: one app at one revision into desired objects, or into Problems that say why not.

Plain folders are parsed in memory straight from git objects. Kustomize and Helm need files
on disk, so the app (and, for kustomize, the folders its kustomizations point at) is exported
into a scratch folder first; the user's working tree is never read or written.

A render with any Problem is not ``ok``: the agent must neither apply nor prune from it,
since a half-rendered app would look like deleted objects.
"""

from __future__ import annotations

import bisect
import dataclasses
import fnmatch
import json
import os
import posixpath
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sandbox.manifest import kubeyaml, rawyaml, waves
from sandbox.manifest.annotations import FLUX_SUBSTITUTE
from sandbox.manifest.shape import annotations_of, mapping
from sandbox.manifest.yamlerror import yaml_error
from sandbox.manifest.yamlguard import alias_problem, duplicate_keys
from sandbox.model import SYSTEM_NAMESPACE, DesiredObject, Manifest, ObjectKey, Problem, Rendered
from sandbox.source import argocd, chartversion, flux, kpatch, leftout
from sandbox.source.appconfig import CHART_FILE, CONFIG_FILE, KUSTOMIZATION_FILES, has_kustomization
from sandbox.source.appspec import AppSpec, RenderOptions
from sandbox.source.envrepo import EnvRepo, EnvRepoError
from sandbox.tools import toolchain

IsNamespaced = Callable[[str, str], bool | None]

TOOL_TIMEOUT_S = 120
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
# Helm's own inputs sitting in a folder rendered as plain: configuration, never objects.
NOT_MANIFESTS = frozenset({*KUSTOMIZATION_FILES, CHART_FILE, "Chart.lock", "values.yaml", "values.yml"})
_ERROR_LINES = 12
_ERROR_LINE_CHARS = 400

# Built-in kinds without a namespace, by (API group, kind): what a render assumes when no
# cluster is there to ask. Anything else is taken as namespaced.
CLUSTER_SCOPED: frozenset[tuple[str, str]] = frozenset(
    {
        ("", "Namespace"),
        ("", "Node"),
        ("", "PersistentVolume"),
        ("", "ComponentStatus"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("apiregistration.k8s.io", "APIService"),
        ("storage.k8s.io", "StorageClass"),
        ("storage.k8s.io", "CSIDriver"),
        ("storage.k8s.io", "CSINode"),
        ("storage.k8s.io", "VolumeAttachment"),
        ("scheduling.k8s.io", "PriorityClass"),
        ("networking.k8s.io", "IngressClass"),
        ("node.k8s.io", "RuntimeClass"),
        ("certificates.k8s.io", "CertificateSigningRequest"),
        ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
        ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding"),
    }
)


@dataclass
class _Doc:
    """One parsed document before validation, with where it came from."""

    data: Any
    file: str
    line: int | None
    notices: tuple[Problem, ...] = ()  # read, but not as written: a key given twice


def render_app(
    repo: EnvRepo,
    app: AppSpec,
    revision: str,
    *,
    is_namespaced: IsNamespaced | None = None,
    progress: toolchain.Progress = lambda _msg: None,
) -> Rendered:
    """Render ``app`` for the env repo's ``revision``. Never raises for bad input: see
    ``Rendered.problems``. The files come from where the spec says: the env repo at
    ``revision``, or another local repo (at its HEAD), or a pinned ref; the result carries the
    env repo's revision either way, since that commit is what defines the app.

    ``is_namespaced(group, kind)`` answers from the cluster's discovery when there is one;
    None (or no function) falls back to CRDs in the app itself, then to ``CLUSTER_SCOPED``.
    """
    try:
        return _render_app(repo, app, revision, is_namespaced, progress)
    except Exception as exc:  # noqa: BLE001 - input nothing foresaw fails its app, never the agent
        problem = Problem(
            f"the sandbox could not render this app ({type(exc).__name__}: {exc}); nothing applied or pruned. "
            "This is a bug in the sandbox: please report it with the file",
            file=app.defined_in or app.path, object=app.name,
        )  # fmt: skip
        return Rendered(app.name, revision, problems=(problem,))


def _render_app(
    repo: EnvRepo,
    app: AppSpec,
    revision: str,
    is_namespaced: IsNamespaced | None,
    progress: toolchain.Progress,
) -> Rendered:
    if app.invalid:  # its Application / Kustomization / HelmRelease says what it cannot do
        return Rendered(app.name, revision, problems=app.invalid)
    if not app.repo and not app.revision:
        return _render(repo, app, revision, is_namespaced, progress)
    try:
        env_sha = repo.resolve(revision)
        source = other_repo(app.repo) if app.repo else repo
        sha, read = source.resolve_pinned(app.revision or "HEAD")
    except EnvRepoError as err:
        where = f"{app.repo or repo.path} at {app.revision or 'HEAD'}"
        problem = Problem(f"cannot read {where}: {err}", file=app.defined_in, object=app.name)
        return Rendered(app.name, revision, problems=(problem,))
    made = dataclasses.replace(_render(source, app, sha, is_namespaced, progress), revision=env_sha)
    if read != (app.revision or "HEAD"):
        said = Problem(f"read {read} at {sha[:7]}: there is no local branch {app.revision} (a fresh clone has only "
                       "the remote-tracking one)", file=app.defined_in, object=app.name)  # fmt: skip
        made = dataclasses.replace(made, notices=(said, *made.notices))
    return made


def _render(
    repo: EnvRepo,
    app: AppSpec,
    revision: str,
    is_namespaced: IsNamespaced | None,
    progress: toolchain.Progress,
) -> Rendered:
    try:
        sha = repo.resolve(revision)
    except EnvRepoError as err:
        return Rendered(app.name, revision, problems=(Problem(str(err), file=app.path, object=app.name),))
    if app.source == "helm":
        docs, problems = _helm_docs(repo, app, sha, progress)
    elif app.source == "kustomize":
        docs, problems = _kustomize_docs(repo, app, sha, progress)
    else:
        docs, problems = _plain_docs(repo, app, sha)
    objects = _desired_objects(docs, app, is_namespaced, problems)
    _set_common_metadata(objects, app.options.common_metadata)
    problems += _encrypted(objects, app)
    found = leftout.sort_out(objects)
    kept, children = found.kept, found.children
    for obj in [o for o in kept if o.key.group == flux.OPERATOR_GROUP]:
        problems.append(Problem(
            f"the Flux Operator's {obj.key.kind} is not supported by the sandbox yet (it would make objects "
            "from its inputs, as the operator does); nothing of this app is applied", file=obj.source,
            object=str(obj.key),
        ))  # fmt: skip
        kept.remove(obj)
    hooks = []
    for obj in kept:
        try:
            hook = waves.hook_of(obj.manifest)
            waves.wave_of(obj.manifest)
        except waves.OrderError as err:
            problems.append(Problem(str(err), file=obj.source, object=str(obj.key)))
            continue
        if hook is not None:
            hooks.append(obj)
    kept = [o for o in kept if o not in hooks]
    skipped = [
        h for h in hooks if waves.Phase.SKIP in (waves.hook_of(h.manifest) or waves.Hook((), ())).phases
    ]
    found.left_out += [(h, "a hook marked Skip, which Argo CD never applies") for h in skipped]
    hooks = [h for h in hooks if h not in skipped]
    unnamed = [o for o in kept if not o.manifest["metadata"].get("name")]
    for obj in unnamed:
        problems.append(Problem("metadata.generateName is only for hooks (an object kept in step with Git needs "
                                "a metadata.name)", file=obj.source, object=str(obj.key)))  # fmt: skip
    if not objects and not problems:
        problems.append(Problem(f"app {app.name} has no manifests at path {app.path}", file=app.path))
    notices = tuple(dict.fromkeys((*app.notices, *(n for doc in docs for n in doc.notices), *found.notices(),
                                   *found.read_notices())))  # fmt: skip
    return Rendered(app.name, sha, tuple(kept), tuple(problems), tuple(hooks), tuple(children), notices)


def _set_common_metadata(objects: list[DesiredObject], common: tuple[tuple[str, str, str], ...]) -> None:
    """Flux's commonMetadata: its labels and annotations on every object, over the object's own
    (kustomize-controller and helm-controller set them after the build, selectors untouched)."""
    for obj in objects if common else ():
        meta = obj.manifest.setdefault("metadata", {})
        for field_name, key, value in common:
            if not isinstance(meta.get(field_name), dict):
                meta[field_name] = {}
            meta[field_name][key] = value


def _encrypted(objects: list[DesiredObject], app: AppSpec) -> list[Problem]:
    """SOPS-encrypted objects (a `sops` stanza), which this app cannot apply: with
    spec.decryption Flux would decrypt them, which the sandbox does not do yet; without it Flux
    would send them as they are and the API server refuse them. An app with decryption and
    nothing encrypted is as Flux has it: there is nothing to decrypt."""
    return [
        Problem(
            "is SOPS-encrypted: "
            + ("decrypting it (spec.decryption) is not supported by the sandbox yet; nothing of this app is applied"
               if app.options.decryption else "Flux applies it only with spec.decryption, which this app lacks"),
            file=o.source, object=str(o.key),
        )
        for o in objects
        if app.kind == "Kustomization" and isinstance(o.manifest.get("sops"), dict)
    ]  # fmt: skip


_OTHER_REPOS: dict[str, EnvRepo] = {}


def other_repo(path: str) -> EnvRepo:
    """Another local repo, opened once (EnvRepo is safe to share between threads)."""
    if path not in _OTHER_REPOS:
        _OTHER_REPOS[path] = EnvRepo(path)
    return _OTHER_REPOS[path]


# -- sources ------------------------------------------------------------------------------------


def _plain_docs(repo: EnvRepo, app: AppSpec, sha: str) -> tuple[list[_Doc], list[Problem]]:
    files, problems = repo.read_tree(sha, app.path)
    docs: list[_Doc] = []
    # A chart below a plain folder is no set of manifests (its templates are not YAML until
    # helm renders them): said once, instead of an error per template.
    # Only a chart whose files the folder reads: Argo CD's directory source reads the top level
    # alone unless `recurse`, so a chart in a subfolder is none of its business.
    charts = sorted({posixpath.dirname(r) for r in files if posixpath.basename(r) == CHART_FILE and "/" in r})
    charts = [c for c in charts if any(r.startswith(c + "/") and _selected(r, app.options) for r in files)]
    for chart in _outermost(charts):
        where = _join(app.path, chart)
        own = (f"its own Application (`source.path: {where}`)" if app.kind == "Application"
               else f"an app of its own with `source: helm` (`path: {where}` in sandbox.yaml)")  # fmt: skip
        problems.append(Problem(
            f"{where} is a Helm chart (it holds a Chart.yaml) inside the plain folder {app.path}, whose files are "
            f"read as manifests: make it {own}, or move it out of this folder", file=_join(where, CHART_FILE),
        ))  # fmt: skip
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
        source = _join(app.path, rel)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            problems.append(Problem(f"not UTF-8 text ({err.reason} at byte {err.start})", file=source))
            continue
        if name.lower().endswith(".json"):
            parsed, problem = _parse_json(text, source)
        else:
            parsed, problem = _parse_yaml(text, _always(source), keep_lines=True)
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


def _jsonnet_docs(
    repo: EnvRepo, app: AppSpec, sha: str, programs: list[str]
) -> tuple[list[_Doc], list[Problem]]:
    """Each ``.jsonnet`` file evaluated as Argo CD does (go-jsonnet, with the app's ext vars,
    top-level arguments and library folders); its JSON is one object or a list of them."""
    try:
        jsonnet = toolchain.ensure("jsonnet")
    except toolchain.ToolchainError as err:
        return [], [Problem(f"cannot run jsonnet: {err}", file=app.path)]
    docs: list[_Doc] = []
    problems: list[Problem] = []
    with tempfile.TemporaryDirectory(prefix="gitops-sandbox-render-") as tmp:
        root = Path(tmp).resolve() / "repo"
        for folder in _outermost([app.path, *app.options.jsonnet_libs]):
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
            source = _join(app.path, rel)
            ok, out, error = _run([*args, str(root / source)], root, {str(root) + os.sep: ""})
            if not ok:
                problems.append(Problem(f"jsonnet failed: {error}", file=source))
                continue
            parsed, problem = _parse_json(out, source)
            docs += parsed
            problems += [problem] if problem else []
    return docs, problems


def _kustomize_docs(
    repo: EnvRepo, app: AppSpec, sha: str, progress: toolchain.Progress
) -> tuple[list[_Doc], list[Problem]]:
    kustomization = next(
        (
            _join(app.path, k)
            for k in KUSTOMIZATION_FILES
            if repo.read_file(sha, _join(app.path, k)) is not None
        ),
        _join(app.path, KUSTOMIZATION_FILES[0]),
    )
    if (charts := _helm_charts(repo, sha, kustomization)) is not None:
        return [], [charts]
    try:
        found = toolchain.find("kustomize")
        # The standalone kustomize is pinned and newer; kubectl's built-in one is the fallback.
        cmd_head = (
            [str(found.path), "build"] if found else [str(toolchain.ensure("kubectl", progress)), "kustomize"]
        )
    except toolchain.ToolchainError as err:
        return [], [Problem(f"cannot run kustomize: {err}", file=app.path)]
    if app.options.flux:
        # kustomize-controller builds with LoadRestrictionsNone: a kustomization may list a file
        # outside its own folder (resources: [../../apps/web/ks.yaml]). The repo stays the
        # limit: nothing outside it is exported to the build (see _kustomize_escapes).
        cmd_head = [*cmd_head, "--load-restrictor", "LoadRestrictionsNone"]
    with tempfile.TemporaryDirectory(prefix="gitops-sandbox-render-") as tmp:
        root = Path(tmp).resolve() / "repo"
        own: list[Problem] = []
        elsewhere: list[Problem] = []
        components = [posixpath.normpath(_join(app.path, c)) for c in app.options.components]
        if app.options.ignore_missing_components:  # as Flux's ignoreMissingComponents
            components = [c for c in components if repo.is_dir(sha, c)]
        outside = [c for c in components if c == ".." or c.startswith("../") or c.startswith("/")]
        if outside:
            return [], [Problem(f"component {c} leaves the env repo; refused", file=app.defined_in or app.path)
                        for c in outside]  # fmt: skip
        starts = [*_kustomize_roots(repo, sha, app.path, app.options.flux), *components]
        escapes = [p for start in starts for p in _kustomize_escapes(repo, sha, start)]
        if escapes:
            return [], escapes
        inputs = [p for start in starts for p in _kustomize_inputs(repo, sha, start)]
        for path in _outermost(inputs):
            for skipped in repo.export_tree(sha, path, root / path if path != "." else root):
                (own if _inside(skipped.file, app.path) else elsewhere).append(skipped)
        generated = app.options.flux and not has_kustomization(repo, sha, app.path)
        if generated and (not_objects := _generate_kustomization(root / app.path, repo, sha, app.path)):
            return [], not_objects
        _override(root / kustomization, app.options)
        added_origins = _ask_for_origins(root / kustomization)
        ok, out, error = _run([*cmd_head, str(root / app.path)], root.parent, {str(root) + os.sep: ""})
        if not ok:
            # A file skipped outside the app (say a base's oversized manifest) explains a failure.
            hints = [p for p in elsewhere if p.file and p.file in error]
            failed = (
                Problem(f"kustomize build of the kustomization.yaml Flux generates for this folder (it has none) "
                        f"failed: {error}", file=app.path)
                if generated else Problem(f"kustomize build failed: {error}", file=kustomization)
            )  # fmt: skip
            return [], list(dict.fromkeys([*own, *hints, failed]))
        refused, patch_notices = _patch_findings(
            root / kustomization, [*cmd_head, str(root / app.path)], root, app, kustomization
        )
        if refused:
            return [], refused
    docs, problem = _parse_yaml(out, _always(kustomization), keep_lines=False)
    if docs and patch_notices:
        docs[0].notices += tuple(patch_notices)
    for doc in docs:
        doc.file = _origin(doc, app.path, drop=added_origins) or doc.file
    if app.options.substitute_set:
        docs = [_substituted(doc, dict(app.options.substitute)) for doc in docs]
    return docs, list(dict.fromkeys([*own, *([problem] if problem else [])]))


def _substituted(doc: _Doc, variables: dict[str, str]) -> _Doc:
    """Flux's post-build substitution of one object, on its YAML text (so ``replicas: ${n}``
    becomes a number), unless the object opts out."""
    data = doc.data
    if not isinstance(data, dict) or annotations_of(data).get(FLUX_SUBSTITUTE) == "disabled":
        return doc
    text = flux.substitute(kubeyaml.dump(data), variables)
    try:
        return _Doc(kubeyaml.load(text), doc.file, doc.line)
    except yaml.YAMLError:
        return doc  # left as it was; the API server's dry-run names what is wrong


def _patch_findings(
    kustomization: Path, cmd: list[str], root: Path, app: AppSpec, file: str
) -> tuple[list[Problem], list[Problem]]:
    """(refused, notices): targeted patches that would do other than written, and those that do
    nothing (see kpatch), each named where it is written: the kustomization ``file``, or the
    Flux Kustomization's ``spec.patches`` (appended after the file's own). Each check builds the
    app once more, without those patches."""
    try:
        data = rawyaml.load(kustomization.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return [], []
    if not isinstance(data, dict):
        return [], []
    original = kustomization.read_text()
    own = len(data.get("patches") or ()) - len(app.options.flux_patches)

    def build(variant: dict[str, Any]) -> list[Manifest] | None:
        kustomization.write_text(rawyaml.dump(variant))
        try:
            ok, out, _error = _run(cmd, root.parent, {})
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
            said = Problem(
                f"spec.patches[{patch.index - own - 1}] {found.message}", file=app.defined_in, object=app.name
            )
        else:
            said = Problem(f"{patch.label} {found.message}", file=file)
        (refused if found.refused else notices).append(said)
    return refused, notices


ORIGIN_ANNOTATION = "config.kubernetes.io/origin"


def _override(kustomization: Path, options: RenderOptions) -> None:
    """What an Argo CD ``source.kustomize`` sets, written into the scratch copy as
    ``kustomize edit set ...`` would write it."""
    wanted = (options.name_prefix, options.name_suffix, options.images, options.common_labels,
              options.common_annotations, options.kustomize_namespace, options.flux_patches,
              options.flux_images, options.components)  # fmt: skip
    if not any(wanted):
        return
    try:
        data = rawyaml.load(kustomization.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return  # kustomize reports it
    if not isinstance(data, dict):
        return
    if options.name_prefix:
        data["namePrefix"] = options.name_prefix
    if options.name_suffix:
        data["nameSuffix"] = options.name_suffix
    if options.kustomize_namespace:
        data["namespace"] = options.kustomize_namespace
    for key, pairs in (
        ("commonLabels", options.common_labels),
        ("commonAnnotations", options.common_annotations),
    ):
        if pairs:
            data[key] = {**(data.get(key) or {}), **dict(pairs)}
    images = [i for i in data.get("images") or [] if isinstance(i, dict)]
    for spec in options.images:
        image = _image(spec)
        images = [i for i in images if i.get("name") != image["name"]] + [image]
    for raw in options.flux_images:
        entry = json.loads(raw)
        images = [i for i in images if i.get("name") != entry.get("name")] + [entry]
    if images:
        data["images"] = images
    if options.flux_patches:
        data["patches"] = [*(data.get("patches") or []), *(json.loads(p) for p in options.flux_patches)]
    wanted_components = [c for c in options.components
                         if not options.ignore_missing_components or (kustomization.parent / c).is_dir()]  # fmt: skip
    if wanted_components:
        data["components"] = [*(data.get("components") or []), *wanted_components]
    kustomization.write_text(rawyaml.dump(data))


def _generate_kustomization(folder: Path, repo: EnvRepo, sha: str, app_path: str) -> list[Problem]:
    """What kustomize-controller makes for a folder without a kustomization.yaml (fluxcd/pkg's
    generator): each folder below with a kustomization of its own, taken whole and not entered,
    and every other ``.yaml``/``.yml`` file. A file that is no Kubernetes object fails the build,
    as in Flux (``failed to decode Kubernetes YAML``): its problems are returned. Dotted files and
    folders (.github/) are left, as source-controller's default ignore leaves them."""
    base = "" if app_path == "." else app_path + "/"
    whole = _subkustomizations(repo, sha, app_path)
    resources: list[str] = [w[len(base) :] for w in whole]
    problems = []
    for file in repo.list_files(sha, base.rstrip("/")):
        rel = file[len(base) :]
        if any(part.startswith(".") for part in rel.split("/")) or not rel.endswith((".yaml", ".yml")):
            continue
        if any(file.startswith(w + "/") for w in whole) or posixpath.basename(rel) in KUSTOMIZATION_FILES:
            continue
        resources.append(rel)
        why = _not_an_object(repo.read_file(sha, file) or b"")
        if why:
            problems.append(Problem(
                f"{why}: the kustomization.yaml Flux generates for {app_path} (it has none) lists every YAML file "
                "in it, and Flux fails on this one (failed to decode Kubernetes YAML). Move the file out, or add "
                "a kustomization.yaml listing the manifests", file=file,
            ))  # fmt: skip
    data: dict[str, Any] = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}
    if resources:
        data["resources"] = resources
    else:
        data["namespace"] = "_placeholder"  # as Flux writes it: an empty kustomization builds nothing
    folder.mkdir(parents=True, exist_ok=True)
    (folder / KUSTOMIZATION_FILES[0]).write_text(kubeyaml.dump(data))
    return problems


def _not_an_object(raw: bytes) -> str:
    """Why a YAML file is no list of Kubernetes objects, as kustomize judges (empty and
    comment-only documents pass); "" when it is one."""
    try:
        docs = list(kubeyaml.load_all(raw))
    except (yaml.YAMLError, ValueError) as err:
        return f"not YAML kustomize can read ({str(err).splitlines()[0]})"
    for doc in docs:
        if doc is None:
            continue
        if not isinstance(doc, dict) or not doc.get("kind"):
            return "not a Kubernetes object (it has no kind)"
        if not str(doc["kind"]).endswith("List") and not mapping(doc.get("metadata")).get("name"):
            return f"a {doc['kind']} without metadata.name"
    return ""


def _outermost(paths: list[str]) -> list[str]:
    """Folders without those inside another of them (each exported once)."""
    unique = list(dict.fromkeys(paths))
    return [w for w in unique if not any(o != w and (o == "." or w.startswith(o + "/")) for o in unique)]


def _image(spec: str) -> dict[str, str]:
    """``name=new:tag``, ``name:tag`` or ``name@digest`` as a kustomize images entry."""
    name, _, new = spec.partition("=")
    target = new or name
    image: dict[str, str] = {"name": name if new else re.split(r"@|:(?=[^/]*$)", name, maxsplit=1)[0]}
    base, _, digest = target.partition("@")
    ref, tag = (base.rsplit(":", 1) + [""])[:2] if ":" in base.rsplit("/", 1)[-1] else (base, "")
    if new:
        image["newName"] = ref
    if tag:
        image["newTag"] = tag
    if digest:
        image["digest"] = digest
    return image


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


def _origin(doc: _Doc, app_path: str, drop: bool) -> str | None:
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
    found = posixpath.normpath(_join(app_path, path))
    return None if found.startswith("../") or found == ".." else found


def _helm_charts(repo: EnvRepo, sha: str, kustomization: str) -> Problem | None:
    """Why a kustomization's ``helmCharts`` cannot be built here (``kustomize build
    --enable-helm`` pulls each chart from its repository), or None when it has none."""
    raw = repo.read_file(sha, kustomization)
    if raw is None or b"helmCharts" not in raw:
        return None
    try:
        charts = mapping(rawyaml.load(raw)).get("helmCharts")
    except (yaml.YAMLError, ValueError):
        return None
    if not charts:
        return None
    names = ", ".join(str(mapping(c).get("name", "?")) for c in charts if isinstance(c, dict))
    return Problem(
        f"helmCharts ({names}): Kustomize inflates them with `kustomize build --enable-helm`, pulling each chart "
        "from its repository, which the sandbox does not do yet; make the chart an app of its own (source: helm, "
        "with the chart in the repo), or commit the rendered manifests",
        file=kustomization,
    )


def _kustomize_roots(repo: EnvRepo, sha: str, app_path: str, generated: bool) -> list[str]:
    """Where the app's kustomize build starts: its folder, and, when Flux generates the folder's
    kustomization.yaml, each outermost folder below that has one of its own (the generated file
    lists those, so their bases and components are read too)."""
    if not generated or has_kustomization(repo, sha, app_path):
        return [app_path]
    return [app_path, *_subkustomizations(repo, sha, app_path)]


def _subkustomizations(repo: EnvRepo, sha: str, app_path: str) -> list[str]:
    """The outermost folders below ``app_path`` with a kustomization file of their own."""
    base = "" if app_path == "." else app_path + "/"
    folders = sorted({posixpath.dirname(f) for f in repo.list_files(sha, base.rstrip("/"))
                      if posixpath.basename(f) in KUSTOMIZATION_FILES and posixpath.dirname(f) != app_path})  # fmt: skip
    return _outermost([f for f in folders if f.startswith(base)])


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
            raw = repo.read_file(sha, _join(folder, name))
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
            file = _join(folder, name)
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


def _helm_docs(
    repo: EnvRepo, app: AppSpec, sha: str, progress: toolchain.Progress
) -> tuple[list[_Doc], list[Problem]]:
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
        rewrite = {str(chart) + os.sep: _join(app.path, "")}
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
        for index, value in enumerate(app.values):
            path = posixpath.normpath(_join(app.path, value))
            data = repo.read_file(sha, path)
            if data is None:
                problems.append(Problem(f"values file {value} does not exist at this revision", file=path))
                continue
            local = tmp / "values" / f"{index}-{posixpath.basename(path)}"
            local.parent.mkdir(exist_ok=True)
            local.write_bytes(data)
            cmd += ["--values", str(local)]
            rewrite[str(local)] = path
        if app.options.helm_values:
            inline = tmp / "values" / "application-values.yaml"
            inline.parent.mkdir(exist_ok=True)
            inline.write_text(app.options.helm_values)
            cmd += ["--values", str(inline)]
            rewrite[str(inline)] = f"{app.defined_in or app.path} (helm values)"
        for name, value, as_string in app.options.helm_parameters:
            cmd += ["--set-string" if as_string else "--set", f"{name}={value}"]
        if app.options.skip_crds:
            cmd[cmd.index("--include-crds")] = "--skip-crds"
        if problems:
            return [], problems
        ok, out, error = _run(cmd, tmp, rewrite, env)
    chart_name = str(meta.get("name", ""))
    if not ok:
        file, line = _helm_error_location(error, app.path, chart_name)
        # A values file that does not parse is named by its repo path (rewritten above).
        file = next((path for path in list(rewrite.values())[1:] if path in error), file)
        return [], [Problem(f"helm template failed: {error}", file=file, line=line)]
    sources = _helm_sources(out, app.path)
    starts = [start for start, _src in sources]

    def source_at(line: int) -> str:
        index = bisect.bisect_right(starts, line) - 1
        return sources[index][1] if index >= 0 else _join(app.path, CHART_FILE)

    docs, problem = _parse_yaml(out, source_at, keep_lines=False)
    return docs, [problem] if problem else []


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
    file = _join(app_path, CHART_FILE)
    dependencies = meta.get("dependencies")
    if not isinstance(dependencies, list) or not dependencies:
        return []
    in_charts = repo.list_files(sha, _join(app_path, "charts"))
    unpacked = {
        posixpath.basename(posixpath.dirname(f)) for f in in_charts if posixpath.basename(f) == CHART_FILE
    }
    packed = {posixpath.basename(f) for f in in_charts if f.endswith(".tgz")}
    missing, problems = [], []
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
            how = (
                f"it is not vendored and nothing is fetched from the network: run `helm dependency update "
                f"{app_path}` where the internet is, and commit {_join(app_path, 'charts')}/{name}-{version}.tgz"
            )
            problems.append(Problem(f"dependency {name} {version} from {url or 'no repository'}: {how}",
                                    file=file))  # fmt: skip
    if problems or not missing:
        return problems
    ok, _out, error = _run(cmd, root.parent, {str(root) + os.sep: ""}, env)
    return [] if ok else [Problem(f"helm dependency build failed: {error}", file=file)]


def _chart_meta(repo: EnvRepo, sha: str, app_path: str) -> dict[str, Any]:
    """The chart's Chart.yaml, empty when it does not read (helm template says why)."""
    try:
        return mapping(kubeyaml.load(repo.read_file(sha, _join(app_path, CHART_FILE)) or b""))
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
        file=_join(app.path, CHART_FILE),
    )]  # fmt: skip


def _helm_sources(out: str, app_path: str) -> list[tuple[int, str]]:
    """(line, repo path) of each ``# Source: chart/templates/x.yaml`` comment in helm's output."""
    sources = []
    for number, line in enumerate(out.splitlines(), start=1):
        if line.startswith("# Source: "):
            # The first component is the chart's name; the rest is relative to the chart folder,
            # subcharts included (chart/charts/sub/templates/y.yaml).
            rel = line[len("# Source: ") :].strip().split("/", 1)[-1]
            sources.append((number, _join(app_path, rel)))
    return sources


def _helm_error_location(error: str, app_path: str, chart_name: str) -> tuple[str, int | None]:
    match = re.search(
        r"([\w.-]+)/((?:charts/[\w.-]+/)*(?:templates|crds)/[^\s:]+?)(?::(\d+))?(?::\d+)?(?:[\s:]|$)", error
    )
    if match and (not chart_name or match.group(1) == chart_name or "/charts/" in match.group(0)):
        return _join(app_path, match.group(2)), int(match.group(3)) if match.group(3) else None
    return app_path, None


# -- running tools --------------------------------------------------------------------------------


def _run(
    cmd: list[str], cwd: Path, rewrite: dict[str, str], env: dict[str, str] | None = None
) -> tuple[bool, str, str]:
    """(ok, stdout, trimmed error) of a render tool, scratch paths rewritten repo-relative."""
    try:
        proc = subprocess.run(
            cmd, cwd=cwd, env=env, capture_output=True, text=True, errors="replace", timeout=TOOL_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        return False, "", f"{Path(cmd[0]).name} did not finish within {TOOL_TIMEOUT_S}s"
    except OSError as err:
        return False, "", f"cannot run {cmd[0]}: {err}"
    if proc.returncode == 0:
        return True, proc.stdout, ""
    text = proc.stderr or proc.stdout
    for scratch, repl in rewrite.items():
        text = text.replace(scratch, repl).replace(scratch.rstrip(os.sep), repl.rstrip("/") or ".")
    return False, "", _trim_error(text) or f"{Path(cmd[0]).name} exited {proc.returncode}"


def _trim_error(text: str) -> str:
    """The lines that explain a failure: no blank lines, no advice about --debug, long lines cut
    from the front (kustomize nests causes left to right, the real one is last)."""
    lines = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line.strip() or "--debug" in line or line.startswith(("WARNING", "walk.go")):
            continue
        if line.startswith("Error: "):
            line = line[len("Error: ") :]
        if len(line) > _ERROR_LINE_CHARS:
            line = "…" + line[-_ERROR_LINE_CHARS:]
        lines.append(line)
    if len(lines) > _ERROR_LINES:
        lines = lines[:_ERROR_LINES] + [f"… ({len(lines) - _ERROR_LINES} more lines)"]
    return "\n".join(lines)


# -- parsing --------------------------------------------------------------------------------------


def _parse_yaml(
    text: str, source_at: Callable[[int], str], *, keep_lines: bool
) -> tuple[list[_Doc], Problem | None]:
    """Every document of a YAML stream; on a syntax error, those before it and a Problem."""
    docs: list[_Doc] = []
    loader = kubeyaml.loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            line = node.start_mark.line + 1
            refused = alias_problem(node)
            if refused is not None:
                return docs, Problem(refused, file=source_at(line), line=line if keep_lines else None)
            data = loader.construct_document(node)
            if data is None:
                continue
            made = _expand(data, node, source_at(line), line if keep_lines else None)
            if made:
                made[0].notices = tuple(
                    Problem(
                        twice.notice(), file=source_at(twice.line), line=twice.line if keep_lines else None
                    )
                    for twice in duplicate_keys(node)
                )
            docs += made
    except yaml.YAMLError as err:
        message, line = yaml_error(err, text)
        return docs, Problem(message, file=source_at(line or 1), line=line if keep_lines else None)
    finally:
        loader.dispose()
    return docs, None


class _JsonRefused(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _JsonRefused(f"{name} is not a number JSON can carry")


def _parse_json(text: str, file: str) -> tuple[list[_Doc], Problem | None]:
    """As kubectl reads a JSON file: no NaN or Infinity; a key given twice keeps the last value
    (said in a notice); a number as the API server holds it (see kubeyaml.number)."""
    twice: list[str] = []

    def last_wins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for key, value in pairs:
            if key in found:
                twice.append(key)
            found[key] = value
        return found

    try:
        data = json.loads(
            text, parse_constant=_no_constant, object_pairs_hook=last_wins,
            parse_int=lambda t: kubeyaml.number(int(t)), parse_float=lambda t: kubeyaml.number(float(t)),
        )  # fmt: skip
    except json.JSONDecodeError as err:
        return [], Problem(f"invalid JSON: {err.msg} (column {err.colno})", file=file, line=err.lineno)
    except _JsonRefused as err:
        return [], Problem(f"invalid JSON: {err}", file=file)
    items = data if isinstance(data, list) else [data]
    docs = [doc for item in items for doc in _expand(item, None, file, 1)]
    if docs and twice:
        docs[0].notices = tuple(
            Problem(
                f"key {key!r} appears twice in one object: the last one is used, as kubectl does", file=file
            )
            for key in dict.fromkeys(twice)
        )
    return docs, None


def _expand(data: Any, node: yaml.Node | None, file: str, line: int | None) -> list[_Doc]:
    """A document, or the items of a ``kind: List`` (any ``*List`` kind with ``items``)."""
    if not (
        isinstance(data, dict)
        and str(data.get("kind", "")).endswith("List")
        and isinstance(data.get("items"), list)
    ):
        return [_Doc(data, file, line)]
    item_nodes: list[yaml.Node] = []
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if key_node.value == "items" and isinstance(value_node, yaml.SequenceNode):
                item_nodes = value_node.value
    docs = []
    for index, item in enumerate(data["items"]):
        item_node = item_nodes[index] if index < len(item_nodes) else None
        item_line = item_node.start_mark.line + 1 if item_node is not None and line is not None else line
        docs += _expand(item, item_node, file, item_line)
    return docs


# -- validation -----------------------------------------------------------------------------------


def _desired_objects(
    docs: list[_Doc], app: AppSpec, is_namespaced: IsNamespaced | None, problems: list[Problem]
) -> list[DesiredObject]:
    crd_scopes = _crd_scopes(docs)
    objects: list[DesiredObject] = []
    first_seen: dict[ObjectKey, _Doc] = {}
    for doc in docs:
        manifest = _checked(doc, problems)
        if manifest is None:
            continue
        api_version = manifest["apiVersion"]
        group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
        meta = manifest["metadata"]
        if argocd.is_argo_object(manifest):
            pass  # an app definition, never applied: its namespace is as written (its identity)
        elif _namespaced(group, manifest["kind"], is_namespaced, crd_scopes):
            if not meta.get("namespace"):
                meta["namespace"] = app.namespace
        elif "namespace" in meta:
            # The API server ignores it; keeping it would make the key differ from the live object.
            del meta["namespace"]
        key = ObjectKey.of(manifest)
        if meta.get("namespace") == SYSTEM_NAMESPACE or (key.group, key.kind, key.name) == (
            "",
            "Namespace",
            SYSTEM_NAMESPACE,
        ):
            problems.append(
                Problem(
                    f"{SYSTEM_NAMESPACE} is the sandbox's own namespace (it keeps every app's inventory): "
                    "no app may ship objects into it; refused",
                    file=doc.file,
                    line=doc.line,
                    object=str(key),
                )  # fmt: skip
            )
            continue
        if key in first_seen:
            first = first_seen[key]
            problems.append(
                Problem(
                    f"defined twice in app {app.name}: in {_where(first)} and in {_where(doc)}",
                    file=doc.file,
                    line=doc.line,
                    object=str(key),
                )
            )
            continue
        first_seen[key] = doc
        objects.append(DesiredObject(key, manifest, doc.file, app.name))
    return objects


def _checked(doc: _Doc, problems: list[Problem]) -> Manifest | None:
    """The document as a manifest safe to modify, or None with a Problem saying what is missing."""
    data = doc.data
    if not isinstance(data, dict):
        what = {str: "string", int: "number", float: "number", bool: "boolean"}.get(type(data), "list")
        problems.append(
            Problem(f"document is a {what}, not a Kubernetes object", file=doc.file, line=doc.line)
        )
        return None
    missing = [
        field for field in ("apiVersion", "kind") if not isinstance(data.get(field), str) or not data[field]
    ]
    meta = data.get("metadata")
    if not isinstance(meta, dict):
        missing.append("metadata" if meta is None else "metadata (as a mapping)")
    elif (not isinstance(meta.get("name"), str) or not meta["name"]) and not (
        isinstance(meta.get("generateName"), str) and meta["generateName"] and "name" not in meta
    ):
        missing.append("metadata.name")
    elif meta.get("namespace") is not None and not isinstance(meta["namespace"], str):
        missing.append("metadata.namespace (as a string)")
    if missing or not isinstance(meta, dict):
        name = meta.get("name") if isinstance(meta, dict) else None
        label = " ".join(str(p) for p in (data.get("kind"), name) if p)
        problems.append(Problem(f"missing {', '.join(missing)}", file=doc.file, line=doc.line, object=label))
        return None
    # Copies: YAML aliases may share one mapping between documents, and we set namespaces.
    return {**data, "metadata": dict(meta)}


def _crd_scopes(docs: list[_Doc]) -> dict[tuple[str, str], bool]:
    """(group, kind) -> namespaced, for the CustomResourceDefinitions the app itself ships."""
    scopes = {}
    for doc in docs:
        data = doc.data
        if not isinstance(data, dict) or data.get("kind") != "CustomResourceDefinition":
            continue
        spec = data.get("spec")
        if isinstance(spec, dict) and isinstance(spec.get("names"), dict):
            scopes[(str(spec.get("group", "")), str(spec["names"].get("kind", "")))] = (
                spec.get("scope") != "Cluster"
            )
    return scopes


def _namespaced(
    group: str, kind: str, is_namespaced: IsNamespaced | None, crd_scopes: dict[tuple[str, str], bool]
) -> bool:
    answer = is_namespaced(group, kind) if is_namespaced is not None else None
    if answer is not None:
        return answer
    if (group, kind) in crd_scopes:
        return crd_scopes[(group, kind)]
    if (group, kind) in CLUSTER_SCOPED:
        return False
    # A kind nobody here knows (its CRD comes from a chart not installed yet): by the convention
    # every ecosystem keeps (ClusterIssuer, ClusterPolicy, ClusterSecretStore), Cluster* is
    # cluster-scoped, so it is not shown in a namespace it will never have.
    return not (kind.startswith("Cluster") and kind[7:8].isupper())


# -- paths ----------------------------------------------------------------------------------------


def _selected(rel: str, options: RenderOptions) -> bool:
    """Whether a plain folder's file is read: Argo CD's ``directory`` recurse, include, exclude."""
    if not options.recurse and "/" in rel:
        return False
    if options.include and not _glob_any(options.include, rel):
        return False
    return not (options.exclude and _glob_any(options.exclude, rel))


def _glob_any(pattern: str, rel: str) -> bool:
    """A glob, or ``{a,b}`` alternatives, matched against the path or its file name."""
    inner = pattern.strip()
    alternatives = inner[1:-1].split(",") if inner.startswith("{") and inner.endswith("}") else [inner]
    name = rel.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(rel, alt.strip()) or fnmatch.fnmatchcase(name, alt.strip())
               for alt in alternatives if alt.strip())  # fmt: skip


def _always(source: str) -> Callable[[int], str]:
    """A source_at for text that came from one file, whatever the line."""
    return lambda _line: source


def _join(app_path: str, rel: str) -> str:
    return rel if app_path in ("", ".") else f"{app_path}/{rel}"


def _inside(file: str, folder: str) -> bool:
    return folder in ("", ".") or file == folder or file.startswith(folder.rstrip("/") + "/")


def _where(doc: _Doc) -> str:
    return f"{doc.file}:{doc.line}" if doc.line else doc.file
