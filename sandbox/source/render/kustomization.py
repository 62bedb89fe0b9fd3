"""The kustomization file: the names it goes by, which folders hold one, and what a controller
writes into it (in the scratch copy) before it builds: the overrides an Argo CD
``source.kustomize`` or a Flux Kustomization sets, as ``kustomize edit set ...`` would write
them, and the kustomization.yaml Flux generates for a folder with none."""

from __future__ import annotations

import json
import posixpath
import re
from pathlib import Path
from typing import Any

import yaml

from sandbox.manifest import kubeyaml, rawyaml
from sandbox.manifest.shape import mapping
from sandbox.manifest.yamlerror import yaml_error
from sandbox.model import Problem
from sandbox.source.appspec import RenderOptions
from sandbox.source.envrepo import EnvRepo
from sandbox.source.render.parse import join, outermost

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def has_kustomization(repo: EnvRepo, revision: str, path: str) -> bool:
    """A folder with a kustomization file is built with kustomize."""
    return any(repo.read_file(revision, join(path, k)) is not None for k in KUSTOMIZATION_FILES)


def subkustomizations(repo: EnvRepo, sha: str, app_path: str) -> list[str]:
    """The outermost folders below ``app_path`` with a kustomization file of their own."""
    base = "" if app_path == "." else app_path + "/"
    folders = sorted({posixpath.dirname(f) for f in repo.list_files(sha, base.rstrip("/"))
                      if posixpath.basename(f) in KUSTOMIZATION_FILES and posixpath.dirname(f) != app_path})  # fmt: skip
    return outermost([f for f in folders if f.startswith(base)])


def override(kustomization: Path, options: RenderOptions) -> None:
    """What an Argo CD ``source.kustomize`` sets, written into the scratch copy as
    ``kustomize edit set ...`` would write it."""
    wanted = (options.name_prefix, options.name_suffix, options.images, options.common_labels,
              options.common_annotations, options.kustomize_namespace, options.added_patches,
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
    if options.added_patches:
        data["patches"] = [*(data.get("patches") or []), *(json.loads(p) for p in options.added_patches)]
    wanted_components = [c for c in options.components
                         if not options.ignore_missing_components or (kustomization.parent / c).is_dir()]  # fmt: skip
    if wanted_components:
        data["components"] = [*(data.get("components") or []), *wanted_components]
    kustomization.write_text(rawyaml.dump(data))


def generate_kustomization(folder: Path, repo: EnvRepo, sha: str, app_path: str) -> list[Problem]:
    """What kustomize-controller makes for a folder without a kustomization.yaml (fluxcd/pkg's
    generator): each folder below with a kustomization of its own, taken whole and not entered,
    and every other ``.yaml``/``.yml`` file. A file that is no Kubernetes object fails the build,
    as in Flux (``failed to decode Kubernetes YAML``): its problems are returned. Dotted files and
    folders (.github/) are left, as source-controller's default ignore leaves them."""
    base = "" if app_path == "." else app_path + "/"
    whole = subkustomizations(repo, sha, app_path)
    resources: list[str] = [w[len(base) :] for w in whole]
    problems = []
    for file in repo.list_files(sha, base.rstrip("/")):
        rel = file[len(base) :]
        if any(part.startswith(".") for part in rel.split("/")) or not rel.endswith((".yaml", ".yml")):
            continue
        if any(file.startswith(w + "/") for w in whole) or posixpath.basename(rel) in KUSTOMIZATION_FILES:
            continue
        resources.append(rel)
        raw = repo.read_file(sha, file) or b""
        try:
            list(kubeyaml.load_all(raw))
        except yaml.YAMLError as err:  # broken, not misplaced: say where and what, as for any file
            message, line = yaml_error(err, raw.decode("utf-8", "replace"))
            problems.append(Problem(message, file=file, line=line))
            continue
        except ValueError as err:
            problems.append(Problem(f"invalid YAML: {err}", file=file))
            continue
        why = _not_an_object(raw)
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
