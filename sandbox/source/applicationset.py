"""Argo CD ``ApplicationSet``: its generators' parameters filled into its template, offline.

Supported generators: ``list``, ``git`` (directories and files, of this env repo), ``clusters``
(the sandbox's own cluster is the one cluster there is) and ``matrix`` of two of those. Go
templates render as Argo CD's (see gotemplate). Any other generator, or a template that does
not render, fails the ApplicationSet by name: an app set half-understood would deploy other
apps than its author meant.
"""

from __future__ import annotations

import copy
import json
import posixpath
import re
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import yaml

from sandbox.manifest import kubeyaml
from sandbox.manifest.shape import mapping
from sandbox.model import Problem
from sandbox.source import gotemplate
from sandbox.source.argocd import Defined, is_resources_finalizer
from sandbox.source.argoschema import type_problems
from sandbox.source.envrepo import EnvRepo, EnvRepoError
from sandbox.source.repomap import RepoMap

Params = dict[str, Any]
GoMode = tuple[str, ...] | None  # None: fasttemplate (Argo CD's default); else Go, with its options
IN_CLUSTER = {"name": "in-cluster", "nameNormalized": "in-cluster", "server": "https://kubernetes.default.svc",
              "metadata": {"labels": {}, "annotations": {}}}  # fmt: skip
_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_SIMPLE = re.compile(r"^\s*(\.?)([A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*|\[\d+\])*)\s*$")


class _Refused(ValueError):
    pass


class Expanded(NamedTuple):
    apps: list[Defined]  # the Applications it generates
    problems: list[Problem]  # why it generates none (it fails)
    notices: tuple[Problem, ...] = ()  # what is said without failing it


def expand(found: Defined, repo: EnvRepo, sha: str, repos: RepoMap) -> Expanded:
    """The Applications an ApplicationSet generates (each defined in the ApplicationSet's file)."""
    name = (found.manifest.get("metadata") or {}).get("name", "")
    namespace = str((found.manifest.get("metadata") or {}).get("namespace") or "")
    spec = found.manifest.get("spec")
    label = f"ApplicationSet {name}"

    def refused(message: str) -> Expanded:
        return Expanded([], [Problem(message, file=found.file, object=label)])

    if not isinstance(spec, dict) or not isinstance(spec.get("template"), dict):
        return refused("ApplicationSet has no spec.template")
    if spec.get("templatePatch"):
        return refused("spec.templatePatch is not supported by the sandbox")
    template_spec = spec["template"].get("spec")
    if isinstance(template_spec, dict) and (mistyped := type_problems(template_spec, "spec.template.spec")):
        # Filled in only after the set is stored: a placeholder in a typed field fails first.
        return refused(f"{'; '.join(mistyped)}, so Argo CD makes none of its Applications (templatePatch "
                       "templates a field that is no string)")  # fmt: skip
    generators = spec.get("generators")
    if not isinstance(generators, list) or not generators:
        return refused("ApplicationSet has no spec.generators")
    # Go templates (goTemplate: true) render as Argo CD's: the options are goTemplateOptions.
    go: GoMode = (
        tuple(str(o) for o in spec.get("goTemplateOptions") or ()) if spec.get("goTemplate") else None
    )
    made: list[Defined] = []
    missing: list[str] = []  # placeholders no generator filled, left as written
    try:
        for generator in generators:
            for params in _generate(generator, repo, sha, repos, go):
                manifest = _fill(copy.deepcopy(spec["template"]), params, go, missing)
                # Argo CD makes them in the ApplicationSet's namespace unless the template says.
                meta = manifest.setdefault("metadata", {}) if isinstance(manifest, dict) else {}
                if isinstance(meta, dict) and not meta.get("namespace") and namespace:
                    meta["namespace"] = namespace
                if isinstance(meta, dict) and mapping(spec.get("syncPolicy")).get(
                    "preserveResourcesOnDeletion"
                ):
                    # The controller takes the resources finalizer off before deleting one of them.
                    meta["finalizers"] = [
                        f for f in meta.get("finalizers") or () if not is_resources_finalizer(f)
                    ]
                made.append(Defined({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", **manifest},
                                    found.file))  # fmt: skip
    except _Refused as err:
        return refused(str(err))
    if not made:  # as in Argo CD, no error: but never dropped in silence
        why = "; ".join(dict.fromkeys(_why_nothing(g) for g in generators))
        notice = f"generates no Application here ({why})"
        return Expanded([], [], (Problem(notice, file=found.file, object=label),))
    if missing:
        named = ", ".join(f"{{{{{key}}}}}" for key in dict.fromkeys(missing))
        return Expanded(made, [], (Problem(
            f"no generator makes {named} for some of its Applications: left as written there, as Argo CD "
            "leaves a parameter it does not have", file=found.file, object=label,
        ),))  # fmt: skip
    return Expanded(made, [])


def _why_nothing(generator: Any) -> str:
    """Why a generator that made nothing made nothing, by its kind."""
    kind, body = next(iter(mapping(generator).items()), ("", {}))
    if kind == "clusters":
        selector = mapping(mapping(body).get("selector"))
        asked = ", ".join(f"{k}={v}" for k, v in mapping(selector.get("matchLabels")).items()) or "labels"
        return (f"its clusters generator selects {asked}, and the sandbox's one cluster, in-cluster, has no labels: "
                "Argo CD labels it with a cluster Secret, which the sandbox does not read yet")  # fmt: skip
    if kind == "git":
        return "its git generator matches no folder or file of the repo at this revision"
    if kind == "list":
        return "its list generator has no elements"
    return f"its {kind} generator yields nothing"


def _generate(generator: Any, repo: EnvRepo, sha: str, repos: RepoMap, go: GoMode) -> Iterator[Params]:
    """A generator's parameter sets, each with the generator's ``values`` (templated with that
    set's parameters, as Argo CD does: ``values.KEY`` in a template)."""
    if not isinstance(generator, dict) or len(generator) != 1:
        raise _Refused("each generator must name exactly one kind (list, git, clusters, matrix)")
    kind, body = next(iter(generator.items()))
    body = mapping(body)
    values = mapping(body.get("values"))
    for params in _made_by(kind, body, repo, sha, repos, go):
        if not values:
            yield params
            continue
        filled = {
            str(k): str(v) for k, v in _fill({str(k): str(v) for k, v in values.items()}, params, go).items()
        }
        yield (
            {**params, "values": filled}
            if go is not None
            else {**params, **{f"values.{k}": v for k, v in filled.items()}}
        )


def _made_by(
    kind: str, body: dict[str, Any], repo: EnvRepo, sha: str, repos: RepoMap, go: GoMode
) -> Iterator[Params]:
    if kind == "list":
        for element in body.get("elements") or ():
            if isinstance(element, dict):
                yield element
    elif kind == "clusters":
        # The sandbox's one cluster is Argo CD's in-cluster, which no Secret describes: it has no
        # labels, so a selector that asks for one matches nothing (as in Argo CD).
        if _selects(mapping(body.get("selector")), IN_CLUSTER["metadata"]["labels"]):  # type: ignore[index]
            yield copy.deepcopy(IN_CLUSTER)
    elif kind == "git":
        yield from _git(body, repo, sha, repos)
    elif kind == "matrix":
        parts = body.get("generators") or []
        if len(parts) != 2:
            raise _Refused("a matrix generator needs exactly two generators")
        for first in _generate(parts[0], repo, sha, repos, go):
            # The second generator may use the first's parameters ({{path}} in a files pattern),
            # as Argo CD fills them in before it runs it.
            for second in _generate(_fill(copy.deepcopy(parts[1]), first, go), repo, sha, repos, go):
                yield _combined(first, second, go)
    else:
        raise _Refused(
            f"the {kind} generator is not supported by the sandbox (list, git, clusters and matrix are)"
        )


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a Kubernetes label selector (matchLabels, matchExpressions) matches the labels."""
    if any(labels.get(str(k)) != str(v) for k, v in mapping(selector.get("matchLabels")).items()):
        return False
    for expression in selector.get("matchExpressions") or ():
        rule = mapping(expression)
        key, operator = str(rule.get("key", "")), str(rule.get("operator", ""))
        values = {str(v) for v in rule.get("values") or ()}
        held = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }
        if not held.get(operator, False):
            return False
    return True


def _git(body: dict[str, Any], repo: EnvRepo, sha: str, repos: RepoMap) -> Iterator[Params]:
    url = str(body.get("repoURL") or "")
    if not repos.is_this_repo(url):
        raise _Refused(repos.unmapped(url, "generators git repoURL"))
    revision = str(body.get("revision", "") or "HEAD")
    if not repos.runs(revision):
        try:
            sha = repo.resolve(revision)
        except EnvRepoError as err:
            raise _Refused(f"generators git revision {revision!r}: {err}") from None
    if body.get("directories"):
        folders = sorted({posixpath.dirname(f) for f in repo.list_files(sha)} - {""})
        every = sorted({p for f in folders for p in _parents(f)})
        include = [d for d in body["directories"] if isinstance(d, dict) and not d.get("exclude")]
        exclude = [d for d in body["directories"] if isinstance(d, dict) and d.get("exclude")]
        for folder in every:
            if any(_glob(str(d.get("path", "")), folder) for d in include) and not any(
                _glob(str(d.get("path", "")), folder) for d in exclude
            ):
                yield {"path": _path_params(folder)}
    for entry in body.get("files") or ():
        pattern = str(entry.get("path", "")) if isinstance(entry, dict) else ""
        for file in repo.list_files(sha):
            if not _glob(pattern, file, double_star=True):
                continue
            raw = repo.read_file(sha, file) or b""
            try:
                data = json.loads(raw) if file.endswith(".json") else kubeyaml.load(raw)
            except (ValueError, yaml.YAMLError) as err:
                raise _Refused(f"generators git file {file} does not read: {err}") from None
            for item in data if isinstance(data, list) else [data]:
                if isinstance(item, dict):
                    yield {**item, "path": {**_path_params(posixpath.dirname(file) or "."),
                                            "filename": posixpath.basename(file),
                                            "filenameNormalized": _normalized(posixpath.basename(file))}}  # fmt: skip


def _parents(folder: str) -> Iterator[str]:
    parts = folder.split("/")
    for end in range(1, len(parts) + 1):
        yield "/".join(parts[:end])


def _path_params(folder: str) -> Params:
    base = posixpath.basename(folder)
    return {
        "path": folder,
        "basename": base,
        "basenameNormalized": _normalized(base),
        "segments": folder.split("/"),
    }


def _normalized(text: str) -> str:
    return re.sub(r"[^a-z0-9.-]+", "-", text.lower()).strip("-")


def _glob(pattern: str, path: str, double_star: bool = False) -> bool:
    """Go's path.Match (``*`` stays within a folder); ``**`` crosses folders in file patterns."""
    out, i = "", 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i) and double_star:
            out += ".*"
            i += 2
            continue
        out += {"*": "[^/]*", "?": "[^/]"}.get(char, re.escape(char))
        i += 1
    return re.fullmatch(out, path) is not None


def _combined(first: Params, second: Params, go: GoMode) -> Params:
    """A matrix's two parameter sets as one; with Argo CD's default templates a key both make
    must have one value (its utils.CombineStringMaps refuses two)."""
    if go is None:
        one, two = _flat(first), _flat(second)
        for key in one.keys() & two.keys():
            if one[key] != two[key]:
                raise _Refused(f"matrix generator: found duplicate key {key} with different value, a: {one[key]} ,b: "
                               f"{two[key]} (as Argo CD refuses it)")  # fmt: skip
    return {**first, **second}


def _flat(params: Params, prefix: str = "") -> dict[str, str]:
    """Parameters as Argo CD's default templates see them: one level, keys joined with dots
    (``annotations.argocd.argoproj.io/sync-wave`` is one key), a git generator's path as
    ``path``, ``path.basename``… and ``path[N]``, values printed as Go prints them."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if not prefix and key == "path" and isinstance(value, dict) and "path" in value:
            flat["path"] = str(value["path"])
            flat |= {f"path.{k}": str(v) for k, v in value.items() if k not in ("path", "segments")}
            flat |= {f"path[{i}]": str(v) for i, v in enumerate(value.get("segments") or ())}
        elif isinstance(value, dict):
            flat |= _flat(value, name + ".")
        elif isinstance(value, list):
            flat |= _flat({str(i): v for i, v in enumerate(value)}, name + ".")
        else:
            flat[name] = _go_printed(value)
    return flat


def _go_printed(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "<nil>" if value is None else str(value)


def _lookup(flat: dict[str, str], tag: str, missing: list[str]) -> str:
    """A fasttemplate placeholder's value, as Argo CD's Render.Replace takes it: the whole tag,
    trimmed, is one key; one no generator makes stays as written (and is said)."""
    key = tag.strip()
    if key in flat:
        return flat[key]
    if key.startswith(".") or any(c in key for c in " |()$"):
        raise _Refused(f"template expression {{{{{key}}}}} is a Go template: set goTemplate: true on the "
                       "ApplicationSet, as Argo CD needs it too (its default templates hold parameters only)")  # fmt: skip
    missing.append(key)
    return f"{{{{{tag}}}}}"


def _fill(node: Any, params: Params, go: GoMode, missing_out: list[str] | None = None) -> Any:
    """The template with the parameters filled in: every string that holds ``{{`` (keys too)."""
    if go is None:
        flat, missing = _flat(params), missing_out if missing_out is not None else []
        return _replace(
            node, lambda text: _PLACEHOLDER.sub(lambda m: _lookup(flat, m.group(1), missing), text)
        )
    texts = list(dict.fromkeys(_templated(node)))
    rendered = {text: plain for text in texts if (plain := _plain_go(params, text)) is not None}
    rest = [text for text in texts if text not in rendered]
    try:  # only what holds more than parameters needs Go (and so a Go toolchain, the first time)
        rendered |= dict(zip(rest, gotemplate.render(params, rest, go), strict=True))
    except gotemplate.TemplateError as err:
        raise _Refused(f"template {err}") from None
    return _replace(node, rendered.__getitem__)


def _plain_go(params: Params, text: str) -> str | None:
    """A Go template made of parameter references alone (``{{.path.basename}}``), filled as Go
    fills it; None when it holds more, or a value Go would print its own way (a map, a list, a
    number, a missing key): those go to Go."""
    out, at = [], 0
    for found in _PLACEHOLDER.finditer(text):
        match = _SIMPLE.match(found.group(1))
        if match is None or not match.group(1) or "[" in match.group(2):
            return None
        value: Any = params
        for part in match.group(2).split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, bool):
            value = "true" if value else "false"
        if not isinstance(value, str):
            return None
        out += [text[at : found.start()], value]
        at = found.end()
    return "".join(out) + text[at:]


def _templated(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _templated(key)
            yield from _templated(value)
    elif isinstance(node, list):
        for value in node:
            yield from _templated(value)
    elif isinstance(node, str) and "{{" in node:
        yield node


def _replace(node: Any, fill: Callable[[str], str]) -> Any:
    if isinstance(node, dict):
        return {_replace(k, fill): _replace(v, fill) for k, v in node.items()}
    if isinstance(node, list):
        return [_replace(v, fill) for v in node]
    if isinstance(node, str) and "{{" in node:
        return fill(node)
    return node
