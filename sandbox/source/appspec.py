"""An app of the env repo: where its objects come from and how they are made.

From ``sandbox.yaml``, from a folder, or from an Argo CD ``Application``; the options a
``sandbox.yaml`` app cannot set keep their defaults, which are today's behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sandbox.manifest.appkinds import FLUX_APP_KINDS
from sandbox.manifest.ignore import IgnoreRule
from sandbox.model import Problem
from sandbox.source.appid import AppName

CONFIG_FILE = "sandbox.yaml"
Source = Literal["plain", "kustomize", "helm"]


@dataclass(frozen=True)
class RenderOptions:
    """What an Argo CD ``Application`` source adds to rendering its folder (all hashable)."""

    recurse: bool = True  # plain folders: subfolders too (Argo CD: ``directory.recurse``, off)
    include: str = ""  # plain folders: a glob (or ``{a,b}``) of files to read
    exclude: str = ""
    helm_values: str = ""  # inline values, YAML text, after the values files
    helm_parameters: tuple[tuple[str, str, bool], ...] = ()  # (name, value, force string)
    ignore_missing_values: bool = False  # Argo CD's helm.ignoreMissingValueFiles
    skip_crds: bool = False
    chart_version: str = ""  # a HelmRelease's chart.spec.version: a vendored chart must meet it
    name_prefix: str = ""
    name_suffix: str = ""
    images: tuple[str, ...] = ()  # kustomize ``edit set image`` forms: name=new:tag, name:tag
    common_labels: tuple[tuple[str, str], ...] = ()
    common_annotations: tuple[tuple[str, str], ...] = ()
    kustomize_namespace: str = ""
    # `kustomize build --load-restrictor LoadRestrictionsNone`: Flux's always; Argo CD's where the
    # repo's argocd-cm says so (kustomize.buildOptions).
    load_restrictor_none: bool = False
    # Argo CD's directory.jsonnet: (name, value, is code) variables, and library folders
    jsonnet_ext_vars: tuple[tuple[str, str, bool], ...] = ()
    jsonnet_tlas: tuple[tuple[str, str, bool], ...] = ()
    jsonnet_libs: tuple[str, ...] = ()  # repo-relative
    # Flux's Kustomization: a kustomization.yaml made when the folder has none, patches and
    # images (JSON of each entry), components, and post-build variables. Patches and components
    # are Argo CD's source.kustomize ones too.
    flux: bool = False
    added_patches: tuple[str, ...] = ()
    flux_images: tuple[str, ...] = ()
    components: tuple[str, ...] = ()
    ignore_missing_components: bool = False  # Flux's spec.ignoreMissingComponents
    substitute: tuple[tuple[str, str], ...] = ()
    substitute_set: bool = False  # spec.postBuild given: substitution runs (even with no variables)
    common_metadata: tuple[tuple[str, str, str], ...] = ()  # Flux's spec.commonMetadata: (field, key, value)
    decryption: bool = False  # Flux's spec.decryption: SOPS-encrypted objects would be decrypted


@dataclass(frozen=True)
class AppSpec:
    """One deployable unit of the env repo. ``release_name`` defaults to ``name``."""

    name: str  # the app's id (see appid): the plain name, or Kind/namespace/name
    path: str  # repo-relative folder, "." for the repository root
    namespace: str
    source: Source
    values: tuple[str, ...] = ()  # helm values files, relative to ``path``
    release_name: str = ""
    auto_sync: bool = True
    prune: bool = True
    self_heal: bool = True
    options: RenderOptions = field(default_factory=RenderOptions)
    create_namespace: bool = True  # Argo CD: only with ``CreateNamespace=true``
    # Removing the app deletes its objects (with prune on): Argo CD only with its resources
    # finalizer; Flux's garbage collection, and the sandbox's own apps, always.
    cascade: bool = True
    parent: str = ""  # the app whose objects define this one (app-of-apps)
    defined_in: str = ""  # the file that defines the app ("" for folders and sandbox.yaml)
    kind: str = ""  # the object defining it there: Application, Kustomization or HelmRelease
    home: str = ""  # that object's namespace
    object_name: str = ""  # that object's name ("" when it is the id)
    revision: str = ""  # a ref the app is pinned to ("" follows the watched branch)
    repo: str = ""  # another local repo the app's files come from (absolute; "" is the env repo)
    chart_archive: str = ""  # a packaged chart from the Helm cache (absolute), for a Flux HelmRepository
    # No folder of the env repo is read: a chart of a Helm repository or registry (Argo CD's
    # source.chart), or another repository's files, whether or not they can be had.
    reads_no_folder: bool = False
    depends_on: tuple[str, ...] = ()  # apps that must be Ready first (Flux's dependsOn)
    ignore_differences: tuple[IgnoreRule, ...] = ()  # Argo CD's: fields left out of comparisons
    after_parent: bool = False  # Flux: the app exists once its parent applied it, so it syncs after
    # Flux: when the app counts as Ready for the apps that depend on it. A Kustomization without
    # spec.wait or spec.healthChecks is Ready once applied (``waits`` False); with wait, once
    # its objects are healthy and the apps it applied Ready; with healthChecks, once those
    # objects ("Kind/namespace/name") are. A HelmRelease waits, as helm install does.
    waits: bool = True
    health_checks: tuple[str, ...] = ()
    health_timeout: float = 0.0  # seconds a Flux health check waits (spec.timeout); 0: no limit
    generated: bool = False  # an Application an ApplicationSet makes: its controller deletes it when it stops
    retry_interval: float = (
        0.0  # seconds between retries of a failed sync (Flux's spec.retryInterval); 0: backoff
    )
    # The other sources of an Argo CD multi-source Application, rendered with it as one app.
    also: tuple[AppSpec, ...] = ()
    # Why the Argo CD / Flux object defines no app it could render: the app shows, and fails, with these.
    invalid: tuple[Problem, ...] = ()
    also_reads: tuple[str, ...] = ()  # a failed multi-source Application: the folders its sources read
    notices: tuple[
        Problem, ...
    ] = ()  # what its definition asks that is ignored, as its controller ignores it

    def __post_init__(self) -> None:
        if not self.release_name:
            object.__setattr__(self, "release_name", self.object_name or self.name)

    @property
    def names(self) -> AppName:
        return AppName(self.name, self.kind, self.home, self.object_name or self.name)

    @property
    def created_namespace(self) -> str:
        """The namespace a sync creates for the app before its objects ("" when none): asked for
        (CreateNamespace=true, install.createNamespace), or its controller's own (an Application
        deploying into argocd, a Flux object into flux-system): that one exists wherever the
        controller runs."""
        own = bool(self.kind) and self.namespace == self.home
        return self.namespace if self.create_namespace or own else ""

    @property
    def ready_once_applied(self) -> bool:
        """Ready for the apps that depend on it as soon as it applied (a Kustomization without
        spec.wait or healthChecks, a HelmRelease with install.disableWait): nothing it applied
        is waited on."""
        return not self.waits and not self.health_checks

    @property
    def suspended(self) -> bool:
        """A Flux Kustomization or HelmRelease with spec.suspend: true in Git (its controller
        then leaves it, and what it applied, alone)."""
        return self.kind in FLUX_APP_KINDS and not self.auto_sync
