"""Flux objects read as app definitions: the sandbox is kustomize-controller and helm-controller.

A ``Kustomization`` is an app rendered by kustomize (a kustomization.yaml is made when its
folder has none, as Flux makes one); a ``HelmRelease`` is a Helm app. ``GitRepository`` and
``HelmRepository`` objects only say where sources are. No Flux object is applied (no Flux
controller runs), and Flux's own components (``app.kubernetes.io/part-of: flux``) are left
out. A field the sandbox does not honour fails that app by name.
"""

from __future__ import annotations

import base64
import json
import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sandbox.manifest import kubeyaml
from sandbox.manifest.names import DNS1123_LABEL
from sandbox.manifest.shape import mapping
from sandbox.model import SYSTEM_NAMESPACE, Problem
from sandbox.source import chartversion, fluxartifact, fluxhealth
from sandbox.source.appid import app_id
from sandbox.source.appspec import AppSpec, RenderOptions
from sandbox.source.argocd import APP_NAME, Defined
from sandbox.source.complaints import Complaints
from sandbox.source.fluxdescribed import Described, described_git, git_ref
from sandbox.source.helmcache import helm_cache_chart, pull_line, pull_reference
from sandbox.source.repomap import RepoMap

KUSTOMIZE_GROUP = "kustomize.toolkit.fluxcd.io"
HELM_GROUP = "helm.toolkit.fluxcd.io"
SOURCE_GROUP = "source.toolkit.fluxcd.io"
OPERATOR_GROUP = "fluxcd.controlplane.io"  # the Flux Operator: FluxInstance installs Flux
GROUPS = (
    KUSTOMIZE_GROUP,
    HELM_GROUP,
    SOURCE_GROUP,
    "notification.toolkit.fluxcd.io",
    "image.toolkit.fluxcd.io",
    fluxartifact.GROUP,
)
DEFAULT_NAMESPACE = "default"
# Why a ConfigMap or Secret a Kustomization or HelmRelease reads is not found, and what to do.
_NOT_MADE = (
    "is made by no app of this env repo that runs before this one (the sandbox reads it from Git, not from "
    "the cluster; one only this object's own build makes does not count, as Flux on a new cluster cannot "
    "read it either): mark it optional, or have a parent or a dependsOn make it"
)
# Kinds whose operator makes a Secret from a store outside Git: its name, unless the spec says.
_EXTERNAL_SECRETS = (
    "external-secrets.io/ExternalSecret", "external-secrets.io/ClusterExternalSecret", "bitnami.com/SealedSecret",
)  # fmt: skip
ANY_NAMESPACE = "*"


def _external_secret(kind: str, spec: Mapping[str, Any], namespace: str, name: str) -> tuple[str, str]:
    """(namespace, name) of the Secret an operator makes of it (a ClusterExternalSecret's: in
    the namespaces it selects, taken as any)."""
    if kind.endswith("/ClusterExternalSecret"):
        inner = mapping(spec.get("externalSecretSpec"))
        made = mapping(inner.get("target")).get("name") or spec.get("externalSecretName") or name
        return ANY_NAMESPACE, str(made)
    if kind.endswith("/ExternalSecret"):
        return namespace, str(mapping(spec.get("target")).get("name") or name)
    return namespace, name


BOOTSTRAP_SOURCE = "flux-system"  # the GitRepository `flux bootstrap` makes for the repo itself

_KUSTOMIZATION_KEYS = frozenset(
    {"path", "sourceRef", "targetNamespace", "prune", "dependsOn", "postBuild", "patches", "images", "components",
     "wait", "healthChecks", "suspend", "interval", "retryInterval", "timeout", "force", "namePrefix", "nameSuffix",
     "serviceAccountName", "decryption", "kubeConfig", "commonMetadata", "deletionPolicy", "healthCheckExprs",
     # v1beta2's: validation is deprecated and unused by Flux itself; the two patch lists are patches
     "validation", "patchesStrategicMerge", "patchesJson6902", "ignoreMissingComponents"}
)  # fmt: skip
_HELMRELEASE_KEYS = frozenset(
    {"chart", "chartRef", "values", "valuesFrom", "targetNamespace", "releaseName", "install", "upgrade", "dependsOn",
     "suspend", "interval", "timeout", "storageNamespace", "driftDetection", "test", "rollback", "uninstall",
     "maxHistory", "serviceAccountName", "persistentClient", "kubeConfig", "postRenderers", "commonMetadata"}
)  # fmt: skip
_IGNORED = frozenset(
    {"interval", "timeout", "force", "serviceAccountName", "kubeConfig", "upgrade", "test",
     "rollback", "uninstall", "maxHistory", "persistentClient", "storageNamespace", "driftDetection",
     "deletionPolicy", "wait", "healthChecks", "healthCheckExprs", "install", "validation"}
)  # fmt: skip


def is_flux_object(manifest: Mapping[str, Any]) -> bool:
    """An object of a Flux API (read, never applied)."""
    return str(manifest.get("apiVersion", "")).split("/", 1)[0] in GROUPS


def kind_of(manifest: Mapping[str, Any]) -> str:
    group = str(manifest.get("apiVersion", "")).split("/", 1)[0]
    return f"{group}/{manifest.get('kind', '')}"


@dataclass
class Sources:
    """What the walk has seen so far: source objects by name, and ConfigMaps/Secrets by
    (kind, namespace, name) for ``substituteFrom`` and ``valuesFrom``."""

    repos: RepoMap
    git: dict[str, str] = field(default_factory=dict)  # GitRepository name -> its URL
    git_refs: dict[str, dict[str, Any]] = field(default_factory=dict)
    helm: dict[str, str] = field(default_factory=dict)  # HelmRepository name -> its URL
    oci: dict[str, tuple[str, str]] = field(
        default_factory=dict
    )  # OCIRepository name -> (URL, tag or semver)
    data: dict[tuple[str, str, str], dict[str, str]] = field(default_factory=dict)
    charts: str = ""  # a folder of unpacked charts (sandbox.yaml `charts:`)
    # Secrets an operator makes from a store outside Git (ExternalSecret, SealedSecret), by
    # (namespace, name): the object that makes each.
    external: dict[tuple[str, str], str] = field(default_factory=dict)
    artifacts: dict[str, fluxartifact.ArtifactView | str] = field(default_factory=dict)  # ExternalArtifacts
    # The env repo's files that hold every one of some strings (where an unknown source is named).
    mentions: Callable[[tuple[str, ...]], list[str]] = lambda _texts: []
    read: Callable[[str], bytes | None] = lambda _file: None  # an env repo file, at the revision walked
    described: dict[str, str] = field(default_factory=dict)  # GitRepository read from a description -> said

    def size(self) -> tuple[int, ...]:
        """How much has been learnt: a walk that learnt more may define more apps when run again."""
        return len(self.git), len(self.helm), len(self.oci), len(self.data), len(self.artifacts)

    def learn(self, manifest: Mapping[str, Any], default_namespace: str) -> None:
        meta = mapping(manifest.get("metadata"))
        name, namespace = str(meta.get("name", "")), str(meta.get("namespace") or default_namespace)
        kind = kind_of(manifest)
        spec = mapping(manifest.get("spec"))
        if kind == f"{SOURCE_GROUP}/GitRepository":
            self.git[name] = str(spec.get("url") or "")
            self.git_refs[name] = mapping(spec.get("ref"))
        elif kind == f"{SOURCE_GROUP}/HelmRepository":
            self.helm[name] = str(spec.get("url") or "")
        elif kind == f"{SOURCE_GROUP}/OCIRepository":
            ref = mapping(spec.get("ref"))
            self.oci[name] = (str(spec.get("url") or ""), str(ref.get("tag") or ref.get("semver") or ""))
        elif kind == f"{OPERATOR_GROUP}/FluxInstance":
            self._learn_instance(mapping(spec.get("sync")), namespace)
        elif kind == f"{fluxartifact.GROUP}/ArtifactGenerator":
            self.artifacts.update(fluxartifact.artifact_views(manifest))
        elif kind in _EXTERNAL_SECRETS:
            made = _external_secret(kind, spec, namespace, name)
            scoped = made[0] != ANY_NAMESPACE  # a ClusterExternalSecret is of no namespace
            self.external[made] = f"{manifest.get('kind')} {namespace + '/' if scoped else ''}{name}"
        elif manifest.get("kind") == "ConfigMap" and str(manifest.get("apiVersion")) == "v1":
            self.data[("ConfigMap", namespace, name)] = {
                str(k): str(v) for k, v in mapping(manifest.get("data")).items()
            }
        elif manifest.get("kind") == "Secret" and str(manifest.get("apiVersion")) == "v1":
            values = {}
            for key, value in mapping(manifest.get("data")).items():
                try:
                    values[str(key)] = base64.b64decode(str(value)).decode()
                except (ValueError, UnicodeDecodeError):
                    continue
            values.update({str(k): str(v) for k, v in mapping(manifest.get("stringData")).items()})
            self.data[("Secret", namespace, name)] = values

    def _learn_instance(self, sync: Mapping[str, Any], namespace: str) -> None:
        """The GitRepository a FluxInstance's spec.sync makes: named spec.sync.name, else as its
        namespace (as flux bootstrap names it), at the ref it gives (refs/heads/…, refs/tags/…)."""
        if str(sync.get("kind") or "GitRepository") != "GitRepository" or not sync.get("url"):
            return
        name = str(sync.get("name") or namespace)
        self.git[name] = str(sync["url"])
        self.git_refs[name] = git_ref(str(sync.get("ref") or ""))


FLUX_MANIFESTS = "/fluxcd/flux-manifests"  # the OCI artifact of Flux's own install manifests


def installs_flux(manifest: Mapping[str, Any], sources: Sources) -> str:
    """The artifact's URL when a Kustomization applies Flux's own install manifests (an
    OCIRepository of fluxcd/flux-manifests, as Flux Operator-less templates upgrade Flux), else ""."""
    ref = mapping(mapping(manifest.get("spec")).get("sourceRef"))
    if kind_of(manifest) != f"{KUSTOMIZE_GROUP}/Kustomization" or ref.get("kind") != "OCIRepository":
        return ""
    url = sources.oci.get(str(ref.get("name", "")), ("", ""))[0]
    return url if url.rstrip("/").endswith(FLUX_MANIFESTS) else ""


def app_of(found: Defined, sources: Sources, parent: str) -> tuple[AppSpec | None, list[Problem]]:
    """The app a Kustomization or HelmRelease defines, or the problems that stop it."""
    kind = str(found.manifest.get("kind", ""))
    meta = mapping(found.manifest.get("metadata"))
    name = meta.get("name")
    namespace = str(meta.get("namespace") or "flux-system")
    app = app_id(kind, namespace, name) if isinstance(name, str) else f"{kind} {name}"
    problems: list[Problem] = []
    bad = Complaints(found.file, app, problems)

    if not isinstance(name, str) or not APP_NAME.match(name) or len(name) > 63:
        bad(
            f"{kind} name {name!r} must be a DNS-1123 name (a-z, 0-9, '-' and '.', at most 63) to be an app here"
        )
        return None, problems
    spec = mapping(found.manifest.get("spec"))
    keys = _KUSTOMIZATION_KEYS if kind == "Kustomization" else _HELMRELEASE_KEYS
    for key in spec:
        if key not in keys:
            bad(f"spec.{key} is not a field the sandbox knows")
        elif key in ("postRenderers", "kubeConfig"):
            bad(f"spec.{key} is not supported by the sandbox")
    target = str(spec.get("targetNamespace") or "")
    app_namespace = target or (namespace if kind == "HelmRelease" else DEFAULT_NAMESPACE)
    if not DNS1123_LABEL.match(app_namespace) or app_namespace == SYSTEM_NAMESPACE:
        bad(f"namespace {app_namespace!r} cannot be used (a DNS-1123 label other than {SYSTEM_NAMESPACE})")
    # A dependency is an object of the same kind, in this one's namespace unless it names another.
    depends = tuple(
        app_id(kind, str(mapping(d).get("namespace") or namespace), str(mapping(d)["name"]))
        for d in spec.get("dependsOn") or () if mapping(d).get("name")
    )  # fmt: skip
    suspended = bool(spec.get("suspend"))
    if kind == "Kustomization":
        made = _kustomization(spec, namespace, target, sources, bad)
    else:
        made = _helm_release(spec, name, namespace, target, sources, bad)
    if made is None or problems:
        return None, problems
    place, source, options, values, release, prune = made
    return AppSpec(
        name=app, home=namespace, object_name=name, path=place.path, repo=place.repo, revision=place.revision, chart_archive=place.archive,
        namespace=app_namespace, source=source, values=values, release_name=release,
        auto_sync=not suspended, prune=prune, self_heal=not suspended and _corrects_drift(kind, spec), options=options,
        create_namespace=kind == "HelmRelease" and bool(mapping(spec.get("install")).get("createNamespace")),
        parent=parent, defined_in=found.file, kind=kind, depends_on=depends, after_parent=bool(parent),
        waits=fluxhealth.waits(kind, spec), health_checks=fluxhealth.health_checks(spec, namespace),
        health_timeout=fluxhealth.timeout(kind, spec), retry_interval=fluxhealth.retry_interval(kind, spec),
        notices=(bad.notice(place.notice),) if place.notice else (),
    ), []  # fmt: skip


def _corrects_drift(kind: str, spec: dict[str, Any]) -> bool:
    """Whether its controller undoes a change made in the cluster: kustomize-controller does at
    each reconcile; helm-controller only with spec.driftDetection.mode: enabled ("warn" and the
    default, disabled, leave the change, and the sandbox shows it as drift)."""
    if kind != "HelmRelease":
        return True
    return mapping(spec.get("driftDetection")).get("mode") == "enabled"


def _unreadable_source(kind: str, name: str, sources: Sources, what: str) -> str:
    """Why a source that is no local git repo gives nothing to read, naming it and its URL."""
    if kind == "OCIRepository" and name in sources.oci:
        url, ref = sources.oci[name]
        at = f" at {ref}" if ref else ""
        return (f"{what} from OCIRepository {name} ({url}{at}): its artifact comes from a registry and nothing is "
                "fetched from the network, so nothing of this app is applied; to run it here, put the manifests "
                "the artifact holds in a local git repo and point a GitRepository at it (sandbox.yaml `repos:`)")  # fmt: skip
    if kind == "OCIRepository":
        return f"{what}: {_undefined('OCIRepository', name, sources, '')}"
    article = "an" if kind[:1] in "AEIOU" else "a"
    return (f"{what} from {article} {kind or 'source without a kind'} {name}: only GitRepository sources of local "
            "repos are read (a Bucket's contents come from the network, which the sandbox does not reach)")  # fmt: skip


@dataclass(frozen=True)
class Place:
    """Where an app's files are: a folder, in the env repo or another local one, at a ref."""

    path: str
    repo: str = ""  # another local repo's folder ("" is the env repo)
    revision: str = ""  # a ref ("" follows the watched branch)
    archive: str = ""  # a packaged chart in the Helm cache
    notice: str = ""  # how it is read, when not as written


def _git_path(
    ref: Mapping[str, Any], path: str, sources: Sources, bad: Complaints, what: str
) -> Place | None:
    """The folder a GitRepository source names: in this env repo, or in a local repo
    ``sandbox.yaml`` maps its URL to, at the ref it follows."""
    kind, source = str(ref.get("kind", "")), str(ref.get("name", ""))
    if kind == "ExternalArtifact":
        return _artifact_path(source, path, sources, bad, what)
    if kind != "GitRepository":
        bad.artifact(_unreadable_source(kind, source, sources, what))
        return None
    clean = clean_path(path)
    if clean == ".." or clean.startswith("../"):
        bad(f"{what} path {path!r} is outside the repo")
        return None
    if source == BOOTSTRAP_SOURCE and source not in sources.git:
        return Place(
            clean
        )  # `flux bootstrap` defines it in the cluster, for the repo it bootstraps: this one
    if source not in sources.git and (described := _described(source, sources, bad.file)):
        sources.git[source], sources.git_refs[source] = described.url, described.ref
        sources.described[source] = (
            f"GitRepository {source} is made by no object the sandbox reads (a chart from a registry makes it?); "
            f"{described.file} describes it, url {described.url}, and it is read as that"
        )  # fmt: skip
    learned = sources.described.get(source, "")
    if source not in sources.git:
        bad.artifact(f"{what}: {_undefined('GitRepository', source, sources, bad.file)}")
        return None
    url = sources.git[source]
    other = sources.repos.local_repo(url)
    if not sources.repos.is_this_repo(url) and other is None:
        bad.artifact(sources.repos.unmapped(url, f"GitRepository {source} url"))
        return None
    git_ref = mapping(sources.git_refs.get(source))
    if "semver" in git_ref:
        bad(f"GitRepository {source} follows a semver range ({git_ref['semver']}): not supported by the sandbox; "
            "name a tag, branch or commit")  # fmt: skip
        return None
    revision = str(
        git_ref.get("commit") or git_ref.get("tag") or git_ref.get("name") or git_ref.get("branch") or ""
    )
    if other is None and sources.repos.runs(revision):  # the revision the sandbox runs
        redirected = sources.repos.redirected(revision, f"GitRepository {source}")
        return Place(clean, notice="; ".join(n for n in (learned, redirected) if n))
    return Place(clean, sources.repos.path_of(other) if other else "", revision, notice=learned)


def _described(name: str, sources: Sources, referring: str) -> Described | None:
    """A description of GitRepository ``name`` in the repo's files, of this repo or a mapped one."""
    files = [f for f in sources.mentions((name, "url")) if f != referring]
    found = described_git(name, files, sources.read)
    if found is None or not (sources.repos.is_this_repo(found.url) or sources.repos.local_repo(found.url)):
        return None
    return found


def _undefined(kind: str, name: str, sources: Sources, referring: str) -> str:
    """Why a source an app names is unknown: where it was looked for, and where the repo names it
    all the same (inside a Helm values file, a template: objects no app renders as written)."""
    looked = (f"{kind} {name} is not among the objects of the apps read (the apps that render, from the "
              "entry down; one that does not render may define it)")  # fmt: skip
    named = [f for f in sources.mentions((kind, name)) if f != referring]
    if not named:
        return f"{looked}; no file of the env repo names it"
    listed = ", ".join(named[:3]) + (f" and {len(named) - 3} more" if len(named) > 3 else "")
    return f"{looked}; files that name it: {listed} (an object a chart or template would make is not read)"


def _artifact_path(name: str, path: str, sources: Sources, bad: Complaints, what: str) -> Place | None:
    """The folder an ExternalArtifact's path names, through the ArtifactGenerator that makes it."""
    view = sources.artifacts.get(name)
    if view is None:
        bad.artifact(f"{what}: ExternalArtifact {name} is made by no ArtifactGenerator in the env repo")
        return None
    if isinstance(view, str):
        bad.artifact(f"{what}: ExternalArtifact {name} (from its ArtifactGenerator) {view}")
        return None
    inside = clean_path(path)
    if inside == ".." or inside.startswith("../"):
        bad(f"{what} path {path!r} is outside ExternalArtifact {name}")
        return None
    ref = {"kind": "GitRepository", "name": view.source}
    return _git_path(ref, posixpath.join(view.root, inside), sources, bad, what)


def clean_path(path: str) -> str:
    """A Flux ``path`` (``./apps/staging``, ``apps``, ``""``) as a repo-relative folder; ``..``
    stays visible so a path leaving the repo is refused."""
    return posixpath.normpath(path.strip().strip("/") or ".")


def _kustomization(
    spec: dict[str, Any], namespace: str, target: str, sources: Sources, bad: Complaints
) -> tuple[Place, Any, RenderOptions, tuple[str, ...], str, bool] | None:
    place = _git_path(
        mapping(spec.get("sourceRef")), str(spec.get("path", "") or "."), sources, bad, "spec.sourceRef"
    )
    if place is None:
        return None
    post = mapping(spec.get("postBuild"))
    variables: dict[str, str] = {}
    for item in post.get("substituteFrom") or ():
        ref = mapping(item)
        found = sources.data.get((str(ref.get("kind", "")), namespace, str(ref.get("name", ""))))
        if found is None:
            if not ref.get("optional"):
                what = f"{ref.get('kind')} {namespace}/{ref.get('name')}"
                bad(f"postBuild.substituteFrom {what} {_not_made(sources, ref, namespace)}")
            continue
        variables.update(found)
    variables.update({str(k): str(v) for k, v in mapping(post.get("substitute")).items()})  # these win
    # v1beta2's patchesStrategicMerge and patchesJson6902 are what Flux appends as patches too.
    legacy: list[dict[str, Any]] = [
        {"patch": json.dumps(p)} for p in spec.get("patchesStrategicMerge") or () if isinstance(p, dict)
    ]
    legacy += [{"target": mapping(p.get("target")), "patch": json.dumps(p.get("patch") or [])}
               for p in spec.get("patchesJson6902") or () if isinstance(p, dict)]  # fmt: skip
    patches = tuple(
        json.dumps(mapping(p), sort_keys=True)
        for p in [*(spec.get("patches") or ()), *legacy] if mapping(p).get("patch")
    )  # fmt: skip
    images = tuple(json.dumps(mapping(i), sort_keys=True) for i in spec.get("images") or ())
    options = RenderOptions(
        flux=True, kustomize_namespace=target, name_prefix=str(spec.get("namePrefix", "") or ""),
        name_suffix=str(spec.get("nameSuffix", "") or ""), added_patches=patches, flux_images=images,
        components=tuple(str(c) for c in spec.get("components") or ()),
        ignore_missing_components=bool(spec.get("ignoreMissingComponents")),
        substitute=tuple(sorted(variables.items())), substitute_set="postBuild" in spec,
        common_metadata=_common_metadata(spec), decryption="decryption" in spec,
    )  # fmt: skip
    return place, "kustomize", options, (), "", bool(spec.get("prune", False))


def _common_metadata(spec: Mapping[str, Any]) -> tuple[tuple[str, str, str], ...]:
    """spec.commonMetadata as (labels|annotations, key, value): set on every object made."""
    common = mapping(spec.get("commonMetadata"))
    return tuple(
        (field, str(k), str(v))
        for field in ("labels", "annotations")
        for k, v in mapping(common.get(field)).items()
    )


def _helm_release(
    spec: dict[str, Any], name: str, namespace: str, target: str, sources: Sources, bad: Complaints
) -> tuple[Place, Any, RenderOptions, tuple[str, ...], str, bool] | None:
    chart = mapping(mapping(spec.get("chart")).get("spec"))
    chart_ref = mapping(spec.get("chartRef"))
    ref = mapping(chart.get("sourceRef"))
    chart_name, version = str(chart.get("chart", "")), str(chart.get("version", ""))
    if not chart and chart_ref.get("kind") == "OCIRepository" and str(chart_ref.get("name")) in sources.oci:
        url, version = sources.oci[str(chart_ref.get("name"))]
        ref, chart_name = {"kind": "OCIRepository", "name": chart_ref.get("name")}, posixpath.basename(url)
        place = _vendored_chart(
            chart_name, version, f"OCIRepository {ref['name']} ({url})", url, sources, bad
        )
    elif not chart and chart_ref.get("kind") == "OCIRepository":
        undefined = _undefined("OCIRepository", str(chart_ref.get("name", "")), sources, bad.file)
        bad.artifact(f"spec.chartRef: {undefined}")
        return None
    elif not chart:
        bad.artifact(f"spec.chartRef to {chart_ref.get('kind') or 'nothing'} {chart_ref.get('name', '')}: the sandbox reads "
            "spec.chart.spec, or spec.chartRef to an OCIRepository defined in the env repo")  # fmt: skip
        return None
    elif ref.get("kind") == "HelmRepository":
        repository = str(ref.get("name", ""))  # not `name`: that is the release's own, its default name
        url = sources.helm.get(repository, "")
        origin = f"HelmRepository {repository} ({url or 'not defined in the env repo'})"
        pull = pull_reference(chart_name, url)
        place = _vendored_chart(chart_name, version, origin, pull, sources, bad)
    else:
        place = _git_path(ref, chart_name, sources, bad, "spec.chart.spec.sourceRef")
    if place is None:
        return None
    path = place.path
    values = _merge(_values_from(spec, namespace, sources, bad), mapping(spec.get("values")))
    files = tuple(posixpath.relpath(clean_path(f), path) for f in chart.get("valuesFiles") or ())
    release = str(spec.get("releaseName") or (f"{target}-{name}" if target else name))
    crds = str(mapping(spec.get("install")).get("crds", "Create"))
    options = RenderOptions(
        helm_values=kubeyaml.dump(values) if values else "",
        skip_crds=crds == "Skip",
        # Flux reads the version only from a HelmRepository (a Git chart is what the folder holds).
        chart_version=str(chart.get("version", ""))
        if ref.get("kind") == "HelmRepository" and not place.archive
        else "",
        common_metadata=_common_metadata(spec),
    )
    return place, "helm", options, files, release, True


def _values_from(spec: dict[str, Any], namespace: str, sources: Sources, bad: Complaints) -> dict[str, Any]:
    """spec.valuesFrom merged in order, as helm-controller merges them (before spec.values); a
    source no app makes is a problem unless it is optional."""
    values: dict[str, Any] = {}
    for item in spec.get("valuesFrom") or ():
        source = mapping(item)
        found = sources.data.get((str(source.get("kind", "")), namespace, str(source.get("name", ""))))
        key = str(source.get("valuesKey") or "values.yaml")
        if found is None or key not in found:
            if not source.get("optional"):
                what = f"{source.get('kind')} {namespace}/{source.get('name')} (key {key})"
                bad(f"valuesFrom {what} {_not_made(sources, source, namespace)}")
            continue
        if source.get("targetPath"):
            _set_path(values, str(source["targetPath"]), found[key])
        else:
            loaded = kubeyaml.load(found[key]) or {}
            values = _merge(values, loaded if isinstance(loaded, dict) else {})
    return values


def _not_made(sources: Sources, ref: Mapping[str, Any], namespace: str) -> str:
    """Why a ConfigMap or Secret a Kustomization or HelmRelease reads is not there."""
    name = str(ref.get("name", ""))
    makers = sources.external if ref.get("kind") == "Secret" else {}
    maker = makers.get((namespace, name)) or makers.get((ANY_NAMESPACE, name))
    if maker is None:
        return _NOT_MADE
    return (f"is made by {maker} from a store outside Git, which the sandbox does not reach (no operator of it "
            "runs here): mark the reference `optional: true` for the sandbox, or have an app of the env repo make "
            "a stand-in Secret of that name")  # fmt: skip


def _vendored_chart(
    chart: str, version: str, origin: str, pull: str, sources: Sources, bad: Complaints
) -> Place | None:
    """A HelmRepository or OCIRepository chart available offline: unpacked in the ``charts:``
    folder, or packaged in the Helm cache at a version that meets ``version``."""
    if sources.charts:
        return Place(posixpath.join(sources.charts, chart))
    try:
        cached = helm_cache_chart(chart, version)
    except chartversion.ConstraintError as err:
        bad.artifact(f"chart {chart} from {origin}: {err}")
        return None
    if cached is not None:
        return Place(".", archive=str(cached))
    bad.artifact(f"chart {chart}{' ' + version if version else ''} comes from {origin} and nothing is fetched from the network: where the "
        f"internet is, put it in the Helm cache with `{pull_line(pull, version)}` "
        f"(it reads {chart}-VERSION.tgz there), or `--untar` it into a folder of the env repo and name that "
        f"folder in sandbox.yaml (`charts: FOLDER`; the chart goes in FOLDER/{chart})")  # fmt: skip
    return None


def _set_path(values: dict[str, Any], path: str, value: str) -> None:
    node = values
    parts = path.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {}) if isinstance(node.get(part, {}), dict) else node
    node[parts[-1]] = value


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = (
            _merge(out[key], value) if isinstance(out.get(key), dict) and isinstance(value, dict) else value
        )
    return out
