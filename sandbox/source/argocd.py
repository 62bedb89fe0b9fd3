"""Argo CD ``Application`` objects read as app definitions: the sandbox is their controller.

Only what an Application says about where its objects come from and how to sync them is
read; the Application itself is never applied (no Argo CD runs to act on it). A field the
sandbox does not honour is named in the app's problems rather than silently ignored, so an
app never deploys other than its author meant.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sandbox.manifest import kubeyaml
from sandbox.manifest.appkinds import ARGO_APP_KINDS
from sandbox.manifest.ignore import IgnoreRule, jq_pointer
from sandbox.manifest.names import DNS1123_LABEL
from sandbox.manifest.shape import mapping
from sandbox.model import SYSTEM_NAMESPACE, Problem
from sandbox.source import chartversion
from sandbox.source.appid import app_id
from sandbox.source.appspec import AppSpec, RenderOptions, Source
from sandbox.source.argoschema import type_problems
from sandbox.source.argosourcefile import overridden
from sandbox.source.complaints import Complaints
from sandbox.source.helmcache import helm_cache_chart, pull_line, pull_reference
from sandbox.source.repomap import RepoMap

GROUP = "argoproj.io"
APP_KINDS = ARGO_APP_KINDS
IGNORED_KINDS = ("AppProject",)  # Argo CD's own configuration: nothing for the sandbox to do
DEFAULT_NAMESPACE = "default"

# An object name (DNS-1123 subdomain) short enough to be a label value: apps are labelled by name.
APP_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SPEC_KEYS = frozenset(
    {
        "source",
        "sources",
        "destination",
        "project",
        "syncPolicy",
        "ignoreDifferences",
        "info",
        "revisionHistoryLimit",
    }
)
_SOURCE_KEYS = frozenset(
    {"repoURL", "path", "targetRevision", "chart", "helm", "kustomize", "directory", "ref", "name"}
)
_HELM_KEYS = frozenset(
    {"valueFiles", "values", "valuesObject", "parameters", "releaseName", "skipCrds", "passCredentials",
     "ignoreMissingValueFiles", "fileParameters", "version", "namespace", "skipSchemaValidation", "skipTests"}
)  # fmt: skip
_KUSTOMIZE_KEYS = frozenset(
    {
        "namePrefix",
        "nameSuffix",
        "images",
        "commonLabels",
        "commonAnnotations",
        "namespace",
        "version",
        "patches",
        "components",
    }
)
_DIRECTORY_KEYS = frozenset({"recurse", "include", "exclude", "jsonnet"})
# Sync options the sandbox's way of syncing already gives (server-side apply, applying only
# what differs, pruning last), or that only tune Argo CD itself.
_SYNC_OPTIONS_GIVEN = frozenset(
    {"ServerSideApply", "ApplyOutOfSyncOnly", "PruneLast", "Validate", "ClientSideApplyMigration",
     "PrunePropagationPolicy", "FailOnSharedResource", "SkipDryRunOnMissingResource"}
)  # fmt: skip
# Argo CD's own sync options the sandbox does not do (Replace=true and RespectIgnoreDifferences
# with ignoreDifferences are said apart; Replace=false is the default, nothing to do).
_SYNC_OPTIONS_KNOWN_UNSUPPORTED = frozenset({"Force"})


def is_argo_object(manifest: Mapping[str, Any]) -> bool:
    """An Argo CD object the sandbox reads (or ignores) instead of applying."""
    api_version = str(manifest.get("apiVersion", ""))
    return api_version.split("/", 1)[0] == GROUP and manifest.get("kind") in (*APP_KINDS, *IGNORED_KINDS)


@dataclass(frozen=True)
class Defined:
    """An app definition found in the env repo: the object and the file it is in."""

    manifest: dict[str, Any]
    file: str


RESOURCES_FINALIZER = "resources-finalizer.argocd.argoproj.io"


def is_resources_finalizer(name: object) -> bool:
    """Whether a finalizer makes deleting the Application delete its resources (its
    ``/foreground`` and ``/background`` forms too); without one, Argo CD keeps them."""
    return isinstance(name, str) and (
        name == RESOURCES_FINALIZER or name.startswith(RESOURCES_FINALIZER + "/")
    )


class Folders(Protocol):
    """An Application's folders, in the repo and at the ref it reads them from."""

    def detect(self, path: str, other: str, revision: str) -> Source: ...

    def read(self, path: str, other: str, revision: str, name: str) -> bytes | None: ...


def application(
    found: Defined, repos: RepoMap, parent: str, folders: Folders
) -> tuple[AppSpec | None, list[Problem]]:
    """The app an ``Application`` defines, or the problems that stop it (naming file and app)."""
    manifest, file = found.manifest, found.file
    meta = mapping(manifest.get("metadata"))
    name = meta.get("name")
    home = str(meta.get("namespace") or "")
    app = app_id("Application", home, name) if isinstance(name, str) else "Application"
    problems: list[Problem] = []
    bad = Complaints(file, app, problems)
    if not isinstance(name, str) or not APP_NAME.match(name) or len(name) > 63:
        bad(
            f"Application name {name!r} must be a DNS-1123 name (a-z, 0-9, '-' and '.', at most 63) to be an app here"
        )
        return None, problems
    spec = manifest.get("spec")
    if not isinstance(spec, dict):
        bad("Application has no spec")
        return None, problems
    for key in spec:
        if key not in _SPEC_KEYS:
            bad(f"spec.{key} is not supported by the sandbox")
    for mistyped in type_problems(spec):
        bad(mistyped)
    ignore, unhonoured = _ignore_rules(spec.get("ignoreDifferences"), bad)
    making = _making_sources(spec, bad)
    namespace = _destination_namespace(spec, bad)
    if not making or problems:
        return None, problems
    source = making[0]
    read, files = _read_source(source, spec, name, repos, folders, bad)
    path, source_type, revision, other = read.path, read.source_type, read.revision, read.other
    if source_type == "plain" and not problems:
        source_type = folders.detect(
            path, other, revision
        )  # as Argo CD: a Chart.yaml or kustomization.yaml says which
    policy = mapping(spec.get("syncPolicy"))
    automated = policy.get("automated")
    create_namespace, ignored = _sync_options(policy, spec, bad)
    if problems:
        return None, problems
    auto = isinstance(automated, dict) and automated.get("enabled", True) is not False
    return AppSpec(
        name=app, home=home, object_name=name, path=path, namespace=str(namespace), source=source_type,
        values=read.values, release_name=read.release, auto_sync=auto, chart_archive=read.chart_archive,
        reads_no_folder="chart" in source,
        prune=bool(auto and isinstance(automated, dict) and automated.get("prune")),
        cascade=any(is_resources_finalizer(f) for f in mapping(found.manifest.get("metadata")).get("finalizers") or ()),
        self_heal=bool(auto and isinstance(automated, dict) and automated.get("selfHeal")),
        options=read.options, create_namespace=create_namespace, parent=parent, defined_in=file, kind="Application",
        revision=revision,
        ignore_differences=ignore, repo=other,
        after_parent=bool(parent),  # an Application of an app-of-apps exists once its parent synced it
        also=tuple(_other_source(s, spec, app, name, str(namespace), file, repos, folders, bad) for s in making[1:]),
        notices=(*unhonoured, *ignored, *((bad.notice(read.notice),) if read.notice else ()),
                 *((bad.notice(_merged_note(path, files)),) if files else ())),
    ), []  # fmt: skip


def _destination_namespace(spec: dict[str, Any], bad: Complaints) -> str:
    destination = mapping(spec.get("destination"))
    namespace = destination.get("namespace") or DEFAULT_NAMESPACE
    if not isinstance(namespace, str) or not DNS1123_LABEL.match(namespace):
        bad(f"spec.destination.namespace {namespace!r} is not a DNS-1123 label")
    elif namespace == SYSTEM_NAMESPACE:
        bad(f"spec.destination.namespace {SYSTEM_NAMESPACE} is the sandbox's own namespace; choose another")
    return str(namespace)


def _sync_options(
    policy: Mapping[str, Any], spec: dict[str, Any], bad: Complaints
) -> tuple[bool, list[Problem]]:
    """(CreateNamespace, notices of options ignored as Argo CD ignores them); an option the
    sandbox cannot honour is a problem."""
    create_namespace = False
    ignored: list[Problem] = []
    for option in (str(o) for o in policy.get("syncOptions") or () if isinstance(o, str)):
        key, _, value = option.partition("=")
        on = value.strip().lower() == "true"
        if key == "CreateNamespace":
            create_namespace = on
        elif key == "Replace" and on:
            bad("syncOptions Replace=true is not supported by the sandbox (it applies server-side)")
        elif key == "RespectIgnoreDifferences" and on and spec.get("ignoreDifferences"):
            bad(
                f"syncOptions {option} is not supported by the sandbox (a sync applies the ignored fields too)"
            )
        elif key in _SYNC_OPTIONS_KNOWN_UNSUPPORTED:
            bad(f"syncOptions {option} is not supported by the sandbox")
        elif key not in (*_SYNC_OPTIONS_GIVEN, "Replace", "RespectIgnoreDifferences"):
            ignored.append(bad.notice(f"syncOptions {option} is not an option Argo CD knows: ignored, as Argo CD "
                                      "ignores it"))  # fmt: skip
    return create_namespace, ignored


_NOT_HONOURED = ("not honoured: the differences there show, and self-heal undoes them (ignoreDifferences "
                 "only changes comparisons, so the app runs as written)")  # fmt: skip


def _ignore_rules(raw: Any, bad: Complaints) -> tuple[tuple[IgnoreRule, ...], list[Problem]]:
    """ignoreDifferences as rules, and notices of what the sandbox cannot honour: named, never
    dropped, and never a reason not to run the app (Argo CD syncs the ignored fields too)."""
    rules, notices = [], []
    for index, entry in enumerate(raw or ()):
        item = mapping(entry)
        pointers = [str(p) for p in item.get("jsonPointers") or ()]
        for expression in item.get("jqPathExpressions") or ():
            pointer = jq_pointer(str(expression))
            if pointer is None:
                notices.append(bad.notice(f"ignoreDifferences[{index}] jqPathExpressions {expression!r}: only plain "
                                          f"paths such as .spec.replicas are understood; {_NOT_HONOURED}"))  # fmt: skip
            else:
                pointers.append(pointer)
        if item.get("managedFieldsManagers"):
            notices.append(bad.notice(f"ignoreDifferences[{index}] managedFieldsManagers (name the fields with "
                                      f"jsonPointers instead): {_NOT_HONOURED}"))  # fmt: skip
        rules.append(IgnoreRule(str(item.get("group", "")), str(item.get("kind", "")), str(item.get("name", "")),
                                str(item.get("namespace", "")), tuple(pointers)))  # fmt: skip
    return tuple(rules), notices


def _making_sources(spec: dict[str, Any], bad: Any) -> list[dict[str, Any]]:
    """The sources that make objects, in order (a multi-source app's others only lend files by
    ``ref``): Argo CD renders each and applies them all as one app."""
    if isinstance(spec.get("source"), dict):
        return [dict(spec["source"])]
    sources = spec.get("sources")
    if not isinstance(sources, list) or not sources:
        bad("Application has neither spec.source nor spec.sources")
        return []
    making = [s for s in sources if isinstance(s, dict) and ("path" in s or "chart" in s)]
    if not making:
        bad("spec.sources has no source with a path or chart: nothing makes objects")
    refs = {s["ref"]: s for s in sources if isinstance(s, dict) and isinstance(s.get("ref"), str)}
    return [{**s, "_refs": refs} for s in making]


def _other_source(
    source: dict[str, Any], spec: dict[str, Any], app: str, name: str, namespace: str, file: str,
    repos: RepoMap, folders: Folders, bad: Complaints,
) -> AppSpec:  # fmt: skip
    """One more source of a multi-source Application, as an app of the same name to render with it."""
    read, _files = _read_source(source, spec, name, repos, folders, bad)
    source_type = read.source_type
    if source_type == "plain" and not bad.problems:
        source_type = folders.detect(read.path, read.other, read.revision)
    return AppSpec(
        name=app, path=read.path, namespace=namespace, source=source_type, values=read.values,
        release_name=read.release, options=read.options, revision=read.revision, repo=read.other,
        chart_archive=read.chart_archive, reads_no_folder="chart" in source, defined_in=file, kind="Application",
    )  # fmt: skip


@dataclass(frozen=True)
class _SourceRead:
    """What an Application's source says to render, and from where."""

    path: str
    source_type: Source
    options: RenderOptions
    values: tuple[str, ...]
    release: str
    revision: str  # "" follows the watched branch (or the other repo's HEAD)
    other: str  # another local repo ("" is the env repo)
    chart_archive: str = ""  # a chart of a Helm repository, packaged in the Helm cache
    notice: str = ""  # how its revision is read, when not as written


def _from_source(source: dict[str, Any], spec: dict[str, Any], repos: RepoMap, bad: Any) -> _SourceRead:
    for key in source:
        if key not in _SOURCE_KEYS and key != "_refs":
            bad(f"source.{key} is not supported by the sandbox" +
                (" (config management plugins do not run here)" if key == "plugin" else ""))  # fmt: skip
    url = str(source.get("repoURL") or "")
    archive = ""
    if "chart" in source:
        archive = _cached_chart(str(source["chart"]), str(source.get("targetRevision", "") or ""), url, bad)
    elif not repos.is_this_repo(url) and repos.local_repo(url) is None:
        bad(repos.unmapped(url, "source.repoURL"))
    raw_path = str(source.get("path", "") or ".")
    path = posixpath.normpath(raw_path.strip("/") or ".")
    if path == ".." or path.startswith("../"):
        bad(f"source.path {raw_path!r} is outside the repo")
    other = repos.local_repo(url)
    revision = str(source.get("targetRevision", "") or "")
    notice = (
        repos.redirected(revision, "source.targetRevision") if other is None and "chart" not in source else ""
    )
    if _SCP_WITHOUT_COLON.match(url) and repos.is_this_repo(url):
        notice = "; ".join(
            n
            for n in (
                notice,
                (
                    f"source.repoURL {url} is no URL git reads (the scp-like form needs a colon: "
                    f"{url.replace('/', ':', 1)}); Argo CD fails to fetch it, the sandbox reads it as this repo"
                ),
            )
            if n
        )
    if revision in ("", "HEAD") or (other is None and repos.runs(revision)) or "chart" in source:
        revision = ""  # HEAD (of the other repo), or the revision the sandbox runs; a chart's is its version
    helm = mapping(source.get("helm"))
    kustomize = mapping(source.get("kustomize"))
    directory = mapping(source.get("directory"))
    for section, keys, fields in (("helm", _HELM_KEYS, helm), ("kustomize", _KUSTOMIZE_KEYS, kustomize),
                                  ("directory", _DIRECTORY_KEYS, directory)):  # fmt: skip
        for key in fields:
            if key not in keys or key == "fileParameters":
                bad(f"source.{section}.{key} is not supported by the sandbox")
    source_type: Source = "helm" if helm else "kustomize" if kustomize else "plain"
    values = tuple(_value_file(str(v), path, source.get("_refs") or {}, repos, bad)
                   for v in helm.get("valueFiles") or ())  # fmt: skip
    release = str(helm.get("releaseName", "") or "")
    options = _render_options(helm, kustomize, directory)
    if archive:
        path, source_type = ".", "helm"
    other_path = repos.path_of(other) if other else ""
    return _SourceRead(path, source_type, options, values, release, revision, other_path, archive, notice)


_SCP_WITHOUT_COLON = re.compile(r"^[\w.-]+@[\w.-]+/")  # git@host/org/repo: git takes it for a local path


def _cached_chart(chart: str, version: str, url: str, bad: Any) -> str:
    """A chart of a Helm (or OCI) repository, from Helm's cache; else why it cannot be had."""
    try:
        cached = helm_cache_chart(chart, version)
    except chartversion.ConstraintError as err:
        bad(f"source.chart {chart!r} from {url}: {err}")
        return ""
    if cached is not None:
        return str(cached)
    bad(f"source.chart {chart!r}{' ' + version if version else ''} comes from the Helm repository {url} and "
        f"nothing is fetched from the network: where the internet is, put it in the Helm cache with "
        f"`{pull_line(pull_reference(chart, url), version)}` (it reads {chart}-VERSION.tgz there), or vendor it "
        "into the env repo and point source.path at it")  # fmt: skip
    return ""


def _render_options(
    helm: dict[str, Any], kustomize: dict[str, Any], directory: dict[str, Any]
) -> RenderOptions:
    """How to render the source, from its helm, kustomize and directory sections."""
    inline = helm.get("valuesObject") if helm.get("valuesObject") is not None else helm.get("values")
    if isinstance(inline, dict):
        inline = kubeyaml.dump(inline)
    parameters = tuple(
        (str(p.get("name")), str(p.get("value", "")), bool(p.get("forceString")))
        for p in helm.get("parameters") or () if isinstance(p, dict) and p.get("name")
    )  # fmt: skip
    return RenderOptions(
        recurse=bool(directory.get("recurse", False)),
        include=str(directory.get("include", "") or ""),
        exclude=str(directory.get("exclude", "") or ""),
        helm_values=str(inline or ""),
        helm_parameters=parameters,
        ignore_missing_values=helm.get("ignoreMissingValueFiles") is True,
        skip_crds=bool(helm.get("skipCrds")),
        name_prefix=str(kustomize.get("namePrefix", "") or ""),
        name_suffix=str(kustomize.get("nameSuffix", "") or ""),
        images=tuple(str(i) for i in kustomize.get("images") or ()),
        common_labels=tuple((str(k), str(v)) for k, v in (kustomize.get("commonLabels") or {}).items()),
        common_annotations=tuple(
            (str(k), str(v)) for k, v in (kustomize.get("commonAnnotations") or {}).items()
        ),
        kustomize_namespace=str(kustomize.get("namespace", "") or ""),
        # Added to the kustomization as Argo CD adds them (kustomize's own patch and component entries).
        added_patches=tuple(json.dumps(p) for p in kustomize.get("patches") or () if isinstance(p, dict)),
        components=tuple(str(c) for c in kustomize.get("components") or ()),
        jsonnet_ext_vars=_jsonnet_vars(mapping(directory.get("jsonnet")).get("extVars")),
        jsonnet_tlas=_jsonnet_vars(mapping(directory.get("jsonnet")).get("tlas")),
        jsonnet_libs=tuple(
            posixpath.normpath(str(lib)) for lib in mapping(directory.get("jsonnet")).get("libs") or ()
        ),
    )


def _jsonnet_vars(raw: Any) -> tuple[tuple[str, str, bool], ...]:
    return tuple((str(v.get("name")), str(v.get("value", "")), bool(v.get("code")))
                 for v in raw or () if isinstance(v, dict) and v.get("name"))  # fmt: skip


def _value_file(value: str, path: str, refs: dict[str, Any], repos: RepoMap, bad: Any) -> str:
    """A values file relative to the app path; ``$ref/file`` names a file of a ``ref`` source."""
    if not value.startswith("$"):
        return value
    ref, _, rest = value[1:].partition("/")
    lender = refs.get(ref)
    if lender is None:
        bad(f"values file {value!r} names ref {ref!r}, which no source of spec.sources has")
        return value
    if not repos.is_this_repo(str(lender.get("repoURL") or "")):
        bad(repos.unmapped(str(lender.get("repoURL") or ""), f"the source with ref {ref}"))
        return value
    return posixpath.relpath(posixpath.normpath(rest or "."), path)


def _read_source(
    source: dict[str, Any], spec: dict[str, Any], name: str, repos: RepoMap, folders: Folders, bad: Complaints
) -> tuple[_SourceRead, tuple[str, ...]]:
    """What the source says to render, with the override files of its folder merged in (and
    which there were)."""
    read = _from_source(source, spec, repos, bad)
    if "chart" in source or bad.problems:
        return read, ()
    found = overridden(source, name, lambda file: folders.read(read.path, read.other, read.revision, file))
    if found.problem:
        bad(f"{posixpath.join(read.path, found.files[-1])}: {found.problem}")
        return read, ()
    return (_from_source(found.source, spec, repos, bad), found.files) if found.files else (read, ())


def _merged_note(path: str, files: tuple[str, ...]) -> str:
    named = " and ".join(posixpath.join(path, f) for f in files)
    return f"source parameters from {named} merged in, as Argo CD's repo server merges them"
