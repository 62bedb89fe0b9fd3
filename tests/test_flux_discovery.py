"""Flux objects read as apps, against real git repositories and the real kustomize and helm:
what each field of a Kustomization or HelmRelease makes, and the one-line message for what
the sandbox does not do."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from clikit import REPOS
from gitkit import git

from sandbox.cli.demo import SAMPLES_DIR
from sandbox.source.appspec import AppSpec
from sandbox.source.discovery import Discovery, discover
from sandbox.source.envrepo import EnvRepo
from sandbox.source.render import render_app
from sandbox.tools import toolchain

FLUX = REPOS / "flux"


def _discover(tmp_path: Path, case: str, constraint: str = "") -> tuple[EnvRepo, Discovery]:
    """The fixture as it is (its ${...} are Flux's, not placeholders) in a repo on main; with
    ``constraint``, its HelmRelease asks for that chart version instead of 1.0.0."""
    path = tmp_path / case
    shutil.copytree(FLUX / case, path)
    if constraint:
        release = path / "clusters" / "one" / "release.yaml"
        release.write_text(release.read_text().replace("version: 1.0.0", f"version: {constraint!r}"))
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", case)
    repo = EnvRepo(path)
    return repo, discover(repo, "HEAD")


def _failed(found: Discovery) -> dict[str, str]:
    """``Kind name`` -> why, for each Flux object that shows as a failed app."""
    return {
        f"{a.kind} {a.names.short}": " ".join(p.message for p in a.invalid) for a in found.apps if a.invalid
    }


def _objects(repo: EnvRepo, app: AppSpec) -> dict[str, dict]:
    rendered = render_app(repo, app, "HEAD")
    assert rendered.ok, [str(p) for p in rendered.problems]
    return {f"{o.key.kind}/{o.key.name}": o.manifest for o in rendered.objects}


def test_a_flux_repo_with_several_cluster_entries_lists_them_and_asks(tmp_path: Path) -> None:
    _repo, found = _discover(tmp_path, "entries")

    assert found.apps == []
    [problem] = found.problems
    assert "clusters/a, clusters/b" in problem.message and "flux: {path: clusters/a}" in problem.message


def test_post_build_substitution_reads_variables_from_the_spec_and_a_secret_in_the_repo(
    tmp_path: Path,
) -> None:
    repo, found = _discover(tmp_path, "fields")
    apps = {a.names.short: a for a in found.apps}

    objects = _objects(repo, apps["subst"])
    assert set(objects) == {"Deployment/sized", "ConfigMap/untouched", "PersistentVolumeClaim/data-2"}, (
        "reconcile: disabled is left out; a default's own variable is substituted"
    )
    claim = objects["PersistentVolumeClaim/data-2"]["spec"]
    assert (claim["accessModes"], claim["resources"]["requests"]["storage"]) == (["ReadWriteOnce"], "1Gi")
    deployment = objects["Deployment/sized"]
    assert deployment["spec"]["replicas"] == 2, "the spec's value wins over the Secret's, and is a number"
    env = {e["name"]: e["value"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env == {"COLOUR": "blue", "MODE": "fallback", "LITERAL": "${kept}"}
    assert objects["ConfigMap/untouched"]["data"] == {"raw": "${size}"}
    assert deployment["metadata"]["namespace"] == "subst"


def test_kustomization_patches_images_and_components_apply_as_flux_applies_them(tmp_path: Path) -> None:
    repo, found = _discover(tmp_path, "fields")
    app = {a.names.short: a for a in found.apps}["patched"]

    objects = _objects(repo, app)
    assert set(objects) == {"Deployment/web", "ConfigMap/from-component"}
    web = objects["Deployment/web"]
    assert web["spec"]["replicas"] == 4
    assert web["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27-alpine"
    assert {o["metadata"]["namespace"] for o in objects.values()} == {"patched"}


def test_a_helm_release_undoes_drift_only_with_drift_detection_enabled(tmp_path: Path) -> None:
    """helm-controller leaves a change made in the cluster alone unless driftDetection.mode is
    enabled (warn, and the default, disabled, only see it); kustomize-controller undoes it."""
    repo, found = _discover(tmp_path, "fields")
    apps = {a.names.short: a for a in found.apps}
    assert (apps["rel"].self_heal, apps["subst"].self_heal) == (False, True)
    for mode, heals in (("warn", False), ("enabled", True)):
        text = (repo.path / "clusters" / "one" / "apps.yaml").read_text()
        (repo.path / "clusters" / "one" / "apps.yaml").write_text(
            re.sub(
                r"(  targetNamespace: relns\n)(  driftDetection: \{mode: \w+\}\n)?",
                rf"\1  driftDetection: {{mode: {mode}}}\n",
                text,
            )
        )
        git(repo.path, "commit", "-qam", f"drift detection {mode}")
        rel = {a.names.short: a for a in discover(EnvRepo(repo.path), "HEAD").apps}["rel"]
        assert rel.self_heal is heals, mode


def test_a_helm_release_layers_values_from_a_configmap_a_target_path_and_its_spec(tmp_path: Path) -> None:
    repo, found = _discover(tmp_path, "fields")
    app = {a.names.short: a for a in found.apps}["rel"]

    assert (app.namespace, app.release_name, app.path) == ("relns", "relns-rel", "chart")
    data = _objects(repo, app)["ConfigMap/relns-rel-values"]["data"]
    assert data == {"greeting": "from-configmap", "extra": "from-spec", "port": "8443"}


def test_sources_that_cannot_be_read_offline_fail_their_app_by_name(tmp_path: Path) -> None:
    _repo, found = _discover(tmp_path, "fields")
    said = _failed(found)

    assert set(said) == {"HelmRelease remote", "Kustomization from-oci"}
    assert "redis 19.0.1" in said["HelmRelease remote"] and "charts: FOLDER" in said["HelmRelease remote"]
    assert (
        "from OCIRepository manifests (oci://registry.example.com/manifests/web at 1.4.0)"
        in said["Kustomization from-oci"]
    ), said["Kustomization from-oci"]
    assert {a.names.short for a in found.apps if not a.invalid} == {"flux-system", "subst", "patched", "rel"}
    timeouts = {a.names.short: a.health_timeout for a in found.apps if not a.invalid}
    assert timeouts == {"flux-system": 0.0, "subst": 600.0, "patched": 90.0, "rel": 300.0}, (
        "spec.timeout, else a Kustomization's interval, else helm's five minutes"
    )
    retries = {a.names.short: a.retry_interval for a in found.apps if not a.invalid}
    assert retries == {"flux-system": 0.0, "subst": 0.0, "patched": 45.0, "rel": 0.0}, "spec.retryInterval"
    assert found.problems == [], "each problem belongs to the app it fails"
    remote = {a.names.short: a for a in found.apps}["remote"]
    assert remote.parent and remote.defined_in.endswith(".yaml"), "nested where Flux would show it"
    assert remote.source == "helm", "described as its HelmRelease describes it, though it cannot run"


def test_the_entry_named_at_the_command_line_picks_the_cluster_of_a_repo_with_several(tmp_path: Path) -> None:
    path = tmp_path / "flux"
    shutil.copytree(SAMPLES_DIR / "flux", path)
    config = path / "sandbox.yaml"
    config.write_text("\n".join(line for line in config.read_text().splitlines() if "flux:" not in line
                                and "clusters/staging" not in line) + "\n")  # fmt: skip
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "two clusters, none chosen")
    repo = EnvRepo(path)

    asked = discover(repo, "HEAD")
    assert asked.apps == [] and "clusters/production, clusters/staging" in asked.problems[0].message
    chosen = discover(repo, "HEAD", entry="clusters/production")
    assert chosen.problems == []
    hello = {a.names.short: a for a in chosen.apps}["hello"]
    assert "replicas: 3" in hello.options.helm_values and "hello.www.example.com" in hello.options.helm_values


def test_a_helm_repository_chart_comes_from_the_charts_folder_sandbox_yaml_names(tmp_path: Path) -> None:
    repo, found = _discover(tmp_path, "vendored")

    assert found.problems == []
    app = {a.names.short: a for a in found.apps}["greeter"]
    assert (app.path, app.namespace) == ("vendor/greeter", "greet")
    assert app.release_name == "greeter", "the HelmRelease's own name, never its HelmRepository's (charts)"
    assert _objects(repo, app)["ConfigMap/greeting"]["data"] == {"text": "vendored"}


def _helm_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *versions: str) -> Path:
    """A Helm cache holding the greeter chart packaged at ``versions`` (real `helm package`, named
    as `helm pull -d "$(helm env HELM_REPOSITORY_CACHE)"` leaves it)."""
    cache = tmp_path / "helm-cache" / "repository"
    cache.mkdir(parents=True)
    helm = toolchain.ensure("helm")
    for version in versions:
        subprocess.run([str(helm), "package", str(FLUX / "vendored" / "vendor" / "greeter"), "--version", version,
                        "-d", str(cache)], check=True, capture_output=True)  # fmt: skip
    monkeypatch.setenv("HELM_CACHE_HOME", str(cache.parent))
    return cache


@pytest.mark.parametrize(
    ("case", "packed", "chosen", "text", "pull"),
    [
        ("cached", ("1.0.0",), "1.0.0", "vendored", "helm pull greeter --repo https://charts.example.com --version '1.0.0' -d"),
        ("oci", ("1.1.0", "2.0.0"), "1.1.0", "from-oci", "helm pull oci://registry.example.com/charts/greeter --version '>= 1.0.0, < 2.0.0'"),
    ],
    ids=["helm-repository", "oci-repository-chart-ref"],
)  # fmt: skip
def test_a_chart_from_a_helm_or_oci_repository_comes_from_the_helm_cache_when_helm_pulled_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    packed: tuple[str, ...],
    chosen: str,
    text: str,
    pull: str,
) -> None:
    cache = _helm_cache(tmp_path, monkeypatch, *packed)
    repo, found = _discover(tmp_path, case)

    assert found.problems == []
    app = {a.names.short: a for a in found.apps}["greeter"]
    assert app.chart_archive == str(cache / f"greeter-{chosen}.tgz"), "the newest its version allows"
    assert _objects(repo, app)["ConfigMap/greeting"]["data"] == {"text": text}

    monkeypatch.setenv("HELM_CACHE_HOME", str(tmp_path / "empty"))
    _repo, missing = _discover(tmp_path / "again", case)
    [problem] = _failed(missing).values()
    assert pull in problem


@pytest.mark.parametrize("constraint", ["1.0.0", "1.x", ">=0.9.0, <2.0.0", "^1.0", "~1.0.0"])
def test_a_vendored_chart_that_meets_the_helmreleases_version_renders(
    tmp_path: Path, constraint: str
) -> None:
    repo, found = _discover(tmp_path, "vendored", constraint)

    app = {a.names.short: a for a in found.apps}["greeter"]
    assert _objects(repo, app)["ConfigMap/greeting"]["data"] == {"text": "vendored"}


def test_a_vendored_chart_of_another_version_than_the_helmrelease_asks_is_refused_naming_both(
    tmp_path: Path,
) -> None:
    repo, found = _discover(tmp_path, "vendored", ">=2.0.0")

    app = {a.names.short: a for a in found.apps}["greeter"]
    rendered = render_app(repo, app, "HEAD")
    assert not rendered.ok and rendered.objects == ()
    [problem] = rendered.problems
    assert problem.file == "vendor/greeter/Chart.yaml"
    assert (
        "greeter 1.0.0" in problem.message and ">=2.0.0" in problem.message and "helm pull" in problem.message
    )


def test_a_helmrelease_version_that_is_no_semver_constraint_is_named(tmp_path: Path) -> None:
    _repo, found = _discover(tmp_path, "cached", ">>1")

    assert "'>>1' is not a semver constraint" in _failed(found)["HelmRelease greeter"]


def test_the_helm_cache_gives_the_newest_chart_that_meets_the_helmreleases_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = _helm_cache(tmp_path, monkeypatch, "1.0.0", "1.2.0", "2.0.0")

    _repo, found = _discover(tmp_path, "cached", "^1.0")
    assert {a.names.short: a for a in found.apps}["greeter"].chart_archive == str(cache / "greeter-1.2.0.tgz")

    _repo, none = _discover(tmp_path / "again", "cached", ">=3")
    assert "helm pull" in _failed(none)["HelmRelease greeter"]


def test_an_external_artifact_that_splits_a_folder_off_the_bootstrapped_repo_renders_that_folder(
    tmp_path: Path,
) -> None:
    repo, found = _discover(tmp_path, "artifacts")
    apps = {a.names.short: a for a in found.apps}

    assert (apps["staged"].path, apps["produced"].path) == ("deploy/staging", "deploy/production")
    staged = _objects(repo, apps["staged"])
    assert staged["ConfigMap/staging-settings"]["metadata"]["namespace"] == "staging", "../base still meets"
    assert "ConfigMap/production-settings" in _objects(repo, apps["produced"])


def test_an_external_artifact_the_sandbox_cannot_read_as_a_folder_fails_its_app_saying_why(
    tmp_path: Path,
) -> None:
    _repo, found = _discover(tmp_path, "artifacts")
    said = _failed(found)

    assert set(said) == {"Kustomization picked", "Kustomization nowhere"}
    assert (
        "some-files" in said["Kustomization picked"]
        and "'@mono/deploy/base/*.yaml'" in said["Kustomization picked"]
    )
    assert "not-generated is made by no ArtifactGenerator" in said["Kustomization nowhere"]


def test_a_flux_repo_not_bootstrapped_yet_asks_which_cluster_entry_and_takes_the_one_named(
    tmp_path: Path,
) -> None:
    """gotk-sync.yaml is the placeholder a template leaves: the clusters/<name> folders holding
    Kustomizations are the entries, not a tenant's folder that a kustomization reaches."""
    repo, asked = _discover(tmp_path, "unbootstrapped")
    assert asked.apps == []
    message = asked.problems[0].message
    assert "2 cluster entries (clusters/production, clusters/staging)" in message, message
    assert "--entry clusters/production" in message and "sandbox.yaml" in message
    chosen = discover(repo, "HEAD", entry="clusters/staging")
    assert chosen.problems == []
    assert {a.name: a.parent for a in chosen.apps} == {
        "flux-system": "", "apps": "flux-system", "tenants": "flux-system", "team": "tenants",
    }, "the root is the flux-system Kustomization bootstrap would make"  # fmt: skip
    root = {a.name: a for a in chosen.apps}["flux-system"]
    assert not root.waits, "as `flux bootstrap` makes it: no spec.wait, so Ready once applied"


def test_a_flux_instance_names_the_cluster_entry_and_is_left_out_as_flux_itself(tmp_path: Path) -> None:
    repo, found = _discover(tmp_path, "operator")
    assert found.problems == [] and "clusters/lab/" in found.note
    assert {a.name for a in found.apps} == {"flux-system", "infra", "other"}
    assert [str(p) for a in found.apps for p in a.invalid] == [], (
        "the GitRepository its spec.sync makes is read"
    )
    root = render_app(repo, next(a for a in found.apps if a.name == "flux-system"), "HEAD")
    assert not [o for o in root.objects if o.key.kind == "FluxInstance"]
    assert any("FluxInstance" in n.message and "flux-instance.yaml" in n.file for n in root.notices), (
        root.notices
    )


def test_the_entrys_own_kustomization_reads_the_source_defined_beside_it(tmp_path: Path) -> None:
    _repo, found = _discover(tmp_path, "own-source")
    assert found.problems == []
    assert {a.name: a.parent for a in found.apps} == {"cluster": "", "flux": "cluster"}, (
        "the root is the entry's own Kustomization, and a Kustomization named like the entry folder is another app"
    )


def test_patches_that_match_nothing_are_skipped_with_a_notice_naming_where_they_are_written(
    tmp_path: Path,
) -> None:
    repo, found = _discover(tmp_path, "patch-nothing")
    assert found.problems == []
    config = render_app(repo, next(a for a in found.apps if a.name == "config"), "HEAD")
    assert config.ok, config.problems
    assert [o.key.name for o in config.objects] == ["settings"]
    said = {(n.file, n.message.split(" targets")[0]) for n in config.notices}
    assert said == {("clusters/main/ks.yaml", "spec.patches[0]"), ("config/kustomization.yaml", "patches[0]")}
    assert all("matches no object: it changes nothing" in n.message for n in config.notices)


def test_a_folder_without_a_kustomization_builds_as_flux_generates_it_from_the_whole_tree(
    tmp_path: Path,
) -> None:
    """Nested kustomization folders are listed once (the outermost), and a component two levels
    up from one of them is read, though the app's folder has no kustomization of its own."""
    repo, found = _discover(tmp_path, "patch-nothing")
    gen = render_app(repo, next(a for a in found.apps if a.name == "gen"), "HEAD")
    assert gen.ok, gen.problems
    assert {o.key.name: o.manifest["metadata"].get("labels") for o in gen.objects} == {
        "top": None, "from-sub": {"team": "platform"}, "deeper": {"team": "platform"},
    }  # fmt: skip


def test_a_yaml_file_that_is_no_object_fails_a_generated_kustomization_naming_it_as_flux_does(
    tmp_path: Path,
) -> None:
    repo, found = _discover(tmp_path, "not-objects")
    plain = render_app(repo, next(a for a in found.apps if a.name == "plain"), "HEAD")
    assert [p.file for p in plain.problems] == ["plain/sops.yaml"]
    assert (
        "not a Kubernetes object" in plain.problems[0].message
        and "Flux fails on this one" in plain.problems[0].message
    )


def test_a_branch_a_fresh_clone_has_only_as_a_remote_tracking_branch_is_read_from_the_remote(
    tmp_path: Path,
) -> None:
    upstream, _found = _discover(tmp_path, "tenant-branch")
    git(upstream.path, "checkout", "-q", "-b", "dev-team")
    (upstream.path / "tenant" / "cm.yaml").write_text((upstream.path / "tenant" / "cm.yaml").read_text().replace(
        "branch: main", "branch: dev-team"))  # fmt: skip
    git(upstream.path, "commit", "-q", "-am", "the tenant's own change")
    git(upstream.path, "checkout", "-q", "main")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(upstream.path), str(clone))
    git(clone, "remote", "set-url", "origin", "https://git.example.com/tests/tenant-branch.git")
    repo = EnvRepo(clone)
    found = discover(repo, "HEAD")
    assert found.problems == []
    tenant = render_app(repo, next(a for a in found.apps if a.name == "dev-team"), "HEAD")
    assert tenant.ok, tenant.problems
    assert tenant.objects[0].manifest["data"] == {"branch": "dev-team"}
    assert any(
        "read origin/dev-team" in n.message and "no local branch dev-team" in n.message
        for n in tenant.notices
    )


def test_a_kustomization_of_another_source_without_a_path_does_not_hide_the_cluster_entries(
    tmp_path: Path,
) -> None:
    """An OCI Kustomization with no path (the artifact's root) reaches nothing of this repo."""
    path = tmp_path / "unbootstrapped"
    shutil.copytree(FLUX / "unbootstrapped", path)
    (path / "apps" / "staging" / "controller.yaml").write_text(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: controller\n"
        "  namespace: flux-system\nspec:\n  prune: true\n  sourceRef:\n    kind: OCIRepository\n    name: ctrl\n"
    )
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "an OCI Kustomization")
    found = discover(EnvRepo(path), "HEAD")
    assert "2 cluster entries (clusters/production, clusters/staging)" in found.problems[0].message, (
        found.problems
    )


def test_the_entrys_own_kustomization_that_the_sandbox_cannot_run_fails_the_root_and_shows_its_tree(
    tmp_path: Path,
) -> None:
    path = tmp_path / "own-source"
    shutil.copytree(FLUX / "own-source", path)
    cluster = path / "kube" / "main" / "flux" / "config" / "cluster.yaml"
    cluster.write_text(cluster.read_text().replace(
        "  path: ./kube/main/flux\n", "  path: ./kube/main/flux\n  kubeConfig:\n    secretRef: {name: remote}\n"))  # fmt: skip
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "the root decrypts")
    repo = EnvRepo(path)
    found = discover(repo, "HEAD")
    apps = {a.name: a for a in found.apps}
    assert set(apps) == {"cluster", "flux"} and found.problems == []
    assert "spec.kubeConfig is not supported" in str(apps["cluster"].invalid[0])
    assert apps["flux"].parent == "cluster" and apps["flux"].after_parent, "its apps wait on it"
    assert not render_app(repo, apps["cluster"], "HEAD").ok


def test_a_v1beta2_kustomization_reads_as_flux_reads_it(tmp_path: Path) -> None:
    """validation (unused by Flux) is accepted, patchesStrategicMerge and patchesJson6902 are
    patches, and ignoreMissingComponents skips a component folder that is not there."""
    repo, found = _discover(tmp_path, "v1beta2")
    assert found.problems == [] and not [a for a in found.apps if a.invalid], [str(p) for p in found.problems]
    assert _objects(repo, next(a for a in found.apps if a.name == "app"))["ConfigMap/settings"]["data"] == {
        "level": "debug", "added": "by-json6902",
    }  # fmt: skip


def test_a_kustomization_may_list_a_file_outside_its_folder_as_kustomize_controller_builds_it(
    tmp_path: Path,
) -> None:
    # clusters/dev lists ../../apps/web/ks.yaml: kustomize's default load restrictor refuses it,
    # kustomize-controller (LoadRestrictionsNone) does not; the folder that lists it is the entry.
    repo, found = _discover(tmp_path, "file_outside")

    assert found.problems == [], [str(p) for p in found.problems]
    assert "Flux cluster entry clusters/dev/" in found.note
    apps = {a.names.short: a for a in found.apps}
    assert set(apps) == {"flux-system", "web"}
    root = render_app(repo, apps["flux-system"], "HEAD")
    assert root.ok and [c.key.name for c in root.children] == ["web"], [str(p) for p in root.problems]
    assert set(_objects(repo, apps["web"])) == {"ConfigMap/web-settings"}


def test_entry_naming_a_folder_of_helm_releases_reads_it_as_flux_not_argo_cd(tmp_path: Path) -> None:
    repo, _found = _discover(tmp_path, "release_entry")

    found = discover(repo, "HEAD", entry="apps")

    assert "Flux cluster entry apps/" in found.note, found.note
    apps = {a.names.short: a for a in found.apps}
    assert apps["demo"].kind == "HelmRelease" and not apps["demo"].invalid, [
        str(p) for p in apps["demo"].invalid
    ]
    assert set(_objects(repo, apps["demo"])) == {"ConfigMap/demo-demo-settings"}, "<targetNamespace>-<name>"


def test_decryption_with_nothing_encrypted_is_no_op_and_common_metadata_labels_every_object(
    tmp_path: Path,
) -> None:
    repo, found = _discover(tmp_path, "decrypt")
    apps = {a.names.short: a for a in found.apps}
    assert not apps["clear"].invalid and not apps["sealed"].invalid, _failed(found)

    settings = _objects(repo, apps["clear"])["ConfigMap/settings"]["metadata"]
    assert settings["labels"] == {"team": "blue", "app.kubernetes.io/managed-by": "flux"}, "Flux's win"
    assert settings["annotations"]["owner"] == "ops@example.com"
    released = _objects(repo, apps["labelled"])["ConfigMap/clear-labelled-cm"]["metadata"]
    assert released["labels"]["team"] == "green", "a HelmRelease's commonMetadata too"


def test_a_sops_encrypted_object_fails_its_app_by_name_and_file(tmp_path: Path) -> None:
    repo, found = _discover(tmp_path, "decrypt")
    sealed = {a.names.short: a for a in found.apps}["sealed"]

    rendered = render_app(repo, sealed, "HEAD")

    assert not rendered.ok
    [problem] = rendered.problems
    assert problem.file == "sealed/secret.yaml" and problem.object == "Secret sealed/token", str(problem)
    assert "SOPS-encrypted" in problem.message and "spec.decryption" in problem.message


def test_a_patch_a_parent_injects_that_matches_nothing_is_said_to_come_from_the_parent(
    tmp_path: Path,
) -> None:
    repo, found = _discover(tmp_path, "injected-patches")
    assert "Flux cluster entry clusters/main/" in found.note, "a kustomization listing its own folder's files"
    web = {a.names.short: a for a in found.apps}["web"]

    rendered = render_app(repo, web, "HEAD")

    assert rendered.ok, [str(p) for p in rendered.problems]
    [notice] = [n for n in rendered.notices if "spec.patches[0]" in n.message]
    assert notice.file == "clusters/main/web.yaml"
    assert "(not in its file: the patches of app flux-system add it)" in notice.message, notice.message
    assert "matches no object" in notice.message


def test_a_kustomization_that_builds_to_nothing_renders_as_flux_has_it_ready(tmp_path: Path) -> None:
    repo, found = _discover(tmp_path, "empty-build")
    later = {a.names.short: a for a in found.apps}["later"]

    rendered = render_app(repo, later, "HEAD")

    assert rendered.ok and rendered.objects == (), [str(p) for p in rendered.problems]


def test_a_variables_configmap_only_the_kustomization_itself_makes_is_said_so_with_the_way_out(
    tmp_path: Path,
) -> None:
    _repo, found = _discover(tmp_path, "subst-own")

    said = _failed(found)["Kustomization settings"]
    assert (
        "ConfigMap flux-system/cluster-vars is made by no app of this env repo that runs before this one"
        in said
    )
    assert "mark it optional, or have a parent or a dependsOn make it" in said


def test_a_broken_yaml_file_in_a_generated_kustomization_is_said_with_its_line_not_to_be_moved(
    tmp_path: Path,
) -> None:
    repo, found = _discover(tmp_path, "not-objects")
    (repo.path / "plain" / "sops.yaml").unlink()
    (repo.path / "plain" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata: [x\n"
    )
    git(repo.path, "commit", "-q", "-am", "broken")

    plain = render_app(repo, next(a for a in found.apps if a.name == "plain"), "HEAD")

    [problem] = plain.problems
    assert (problem.file, problem.line) == ("plain/cm.yaml", 5), str(problem)  # the line it has, not one past
    assert "did not find expected ',' or ']'" in problem.message, str(problem)
    assert problem.message.startswith("invalid YAML") and "Move the file out" not in problem.message


def test_a_source_no_app_defines_says_where_it_was_looked_for_and_which_files_name_it(tmp_path: Path) -> None:
    _repo, found = _discover(tmp_path, "source-in-values")

    why = _failed(found)["Kustomization apps"]

    assert "GitRepository platform is not among the objects of the apps read" in why, why
    assert (
        "files that name it: bootstrap/operator-values.yaml (an object a chart or template would make" in why
    )
    assert "clusters/one/apps.yaml" not in why, "the file that refers to it is not where it is named"
    [apps] = [a for a in found.apps if a.names.short == "apps"]
    assert [p.reason for p in apps.invalid] == ["ArtifactFailed"], (
        "Ready says it as kustomize-controller does"
    )


def test_a_source_a_chart_would_make_is_read_as_the_repo_its_values_describe_when_that_is_this_repo(
    tmp_path: Path,
) -> None:
    """The Flux Operator's templates install the flux-instance chart from a registry; its
    values describe the GitRepository every Kustomization reads. The chart is not rendered
    here, so the object is never seen: its description is read instead, when its URL is this
    repo, and said."""
    repo, _found = _discover(tmp_path, "source-in-values")
    git(repo.path, "remote", "add", "origin", "https://git.example.com/tests/source-in-values.git")
    git(repo.path, "remote", "add", "mirror", "https://git.example.com/tests/platform.git")

    found = discover(EnvRepo(repo.path), "HEAD")

    assert _failed(found) == {}, _failed(found)
    [apps] = [a for a in found.apps if a.names.short == "apps"]
    assert apps.path == "apps" and not apps.revision, (apps.path, apps.revision)
    said = [n.message for n in apps.notices]
    assert any(
        n.startswith("GitRepository platform is made by no object the sandbox reads (a chart from a registry")
        and "bootstrap/operator-values.yaml describes it, url https://git.example.com/tests/platform.git" in n
        for n in said
    ), said


def test_the_entry_is_the_folder_the_bootstrap_source_syncs_not_one_an_app_applied_from_there_syncs(
    tmp_path: Path,
) -> None:
    """gotk-sync.yaml syncs flux/stack/00-bootstrap, which applies a second source and a
    Kustomization of flux/stack (a folder that holds the bootstrap folder, and lists only 10-apps): Flux starts at the
    first, and the second is one of its apps. flux/other/cert's Kustomization syncs its own
    folder from the bootstrap source too, but only a Kustomization named flux-system is what
    bootstrap writes."""
    repo, _found = _discover(tmp_path, "nested-start")
    git(repo.path, "remote", "add", "origin", "https://git.example.com/tests/nested-start.git")

    found = discover(repo, "HEAD")

    assert "from the Flux cluster entry flux/stack/00-bootstrap/" in found.note, found.note
    assert {a.name: a.parent for a in found.apps} == {
        "flux-system": "",
        "stack": "flux-system",
        "web": "stack",
    }
    assert not found.problems, [str(p) for p in found.problems]


def test_a_flux_instance_given_as_helm_values_names_the_cluster_entries_not_switched_off_app_folders(
    tmp_path: Path,
) -> None:
    _repo, found = _discover(tmp_path, "instance-values")

    [asked] = found.problems
    assert "2 cluster entries (kubernetes/clusters/lab, kubernetes/clusters/main)" in asked.message, (
        asked.message
    )
    assert "quiet" not in asked.message


def test_an_app_folder_that_syncs_itself_is_one_of_the_apps_the_entry_reaches_not_an_entry(
    tmp_path: Path,
) -> None:
    """web's ks.yaml syncs its own folder from the bootstrap source, as every app of a repo
    laid out per app does; cluster-apps, which the operator's instance starts from, reaches it
    through kubernetes/apps. Flux starts at the instance's folder alone."""
    _repo, found = _discover(tmp_path, "self-synced")
    assert not found.problems, [str(p) for p in found.problems]
    assert "from the Flux cluster entry kubernetes/flux/cluster/" in found.note, found.note
    assert sorted((a.kind, a.names.short, a.parent) for a in found.apps) == [
        ("HelmRelease", "flux-instance", "flux-instance"),
        ("Kustomization", "cluster-apps", "flux-system"),
        ("Kustomization", "flux-instance", "cluster-apps"),
        ("Kustomization", "flux-system", ""),
        ("Kustomization", "web", "cluster-apps"),
    ]


def test_a_cluster_folder_not_bootstrapped_beside_a_bootstrapped_one_is_said_and_runs_when_named(
    tmp_path: Path,
) -> None:
    repo, found = _discover(tmp_path, "beside")
    assert not found.problems, [str(p) for p in found.problems]
    assert found.note.startswith("2 apps from the Flux cluster entry clusters/prod/"), found.note
    assert found.note.endswith(
        "other cluster folders, not bootstrapped: clusters/dev (--entry clusters/dev runs it)"
    ), found.note
    dev = discover(repo, "HEAD", entry="clusters/dev")
    assert not dev.problems and {a.path for a in dev.apps} == {"clusters/dev", "apps/dev"}, dev


def test_a_kustomization_of_another_source_at_the_entrys_path_is_an_app_and_one_that_defines_itself_is_one_app(
    tmp_path: Path,
) -> None:
    """private syncs ./clusters/lab of another repo: an app of its own (it fails: that repo is not
    here), never taken for the root. secrets' folder holds secrets' own definition, so its build
    defines it again: Flux applies it from both, one app, said in a notice, not 'defined twice'."""
    repo, _found = _discover(tmp_path, "self-defining")
    git(repo.path, "remote", "add", "origin", "https://git.example.com/tests/self-defining.git")
    found = discover(repo, "HEAD")
    assert not found.problems, [str(p) for p in found.problems]
    apps = {a.names.short: a for a in found.apps}
    assert {name: a.parent for name, a in apps.items()} == {
        "flux-system": "", "secrets": "flux-system", "private": "flux-system",
    }  # fmt: skip
    assert "private-secrets.git is not this env repo" in apps["private"].invalid[0].message
    assert sorted(found.notices) == sorted(
        (
            "clusters/lab/secrets/ks.yaml secrets: secrets applies its own definition again (its folder holds that "
            "file): Flux applies it from both, as one app, shown under flux-system",
            "clusters/lab/secrets/private.yaml private: secrets applies the definition of private again (its folder "
            "holds that file): Flux applies it from both, as one app, shown under flux-system",
        )
    ), found.notices


def test_a_secret_an_external_secrets_operator_makes_is_said_to_come_from_outside_git(tmp_path: Path) -> None:
    repo, _found = _discover(tmp_path, "external-secret")
    git(repo.path, "remote", "add", "origin", "https://git.example.com/tests/external-secret.git")
    found = discover(repo, "HEAD")
    web = {a.names.short: a for a in found.apps}["web"]
    said = [p.message for p in web.invalid]
    outside = ("from a store outside Git, which the sandbox does not reach (no operator of it runs here): mark the "
               "reference `optional: true` for the sandbox, or have an app of the env repo make a stand-in Secret "
               "of that name")  # fmt: skip
    assert said == [
        f"postBuild.substituteFrom Secret flux-system/cluster-secrets is made by ClusterExternalSecret shared {outside}",
        f"postBuild.substituteFrom Secret flux-system/web-values is made by ExternalSecret flux-system/web {outside}",
    ], said


def test_the_kustomization_that_installs_flux_itself_is_left_out_and_said_and_what_depends_on_it_runs(
    tmp_path: Path,
) -> None:
    repo, _found = _discover(tmp_path, "installs-flux")
    git(repo.path, "remote", "add", "origin", "https://git.example.com/tests/installs-flux.git")
    found = discover(repo, "HEAD")
    assert not found.problems and not _failed(found), [str(p) for p in found.problems] or _failed(found)
    apps = {a.names.short: a for a in found.apps}
    assert set(apps) == {"flux-system", "web"}
    assert apps["web"].depends_on == (), "Flux, which the sandbox plays, is Ready"
    assert found.notices == (
        "clusters/lab/flux/flux.yaml flux: left out Kustomization flux-system/flux: it installs Flux itself (from "
        "oci://ghcr.io/fluxcd/flux-manifests), whose controllers the sandbox plays",
    ), found.notices


def test_apps_are_ordered_parent_first_and_after_their_dependencies_across_parents(tmp_path: Path) -> None:
    """certs (defined by core) depends on operator (defined by platform, which depends on core).
    core is Ready once applied, so platform comes after core alone, not after all core defines:
    platform, then operator, then certs — never a child before its parent (a one-shot sync
    waited 300 s on an app queued behind it)."""
    repo, _found = _discover(tmp_path, "cross-deps")
    git(repo.path, "remote", "add", "origin", "https://git.example.com/tests/cross-deps.git")
    found = discover(repo, "HEAD")
    assert not found.problems and not _failed(found), [str(p) for p in found.problems] or _failed(found)
    order = [a.names.short for a in found.apps]
    assert order.index("core") < order.index("platform") < order.index("operator") < order.index("certs"), (
        order
    )
    placed = set()
    for app in found.apps:
        assert not app.parent or app.parent in placed, f"{app.name} before its parent {app.parent}: {order}"
        placed.add(app.name)


def test_a_source_a_sibling_app_applies_is_known_to_the_app_that_reads_from_it(tmp_path: Path) -> None:
    repo, _found = _discover(tmp_path, "sibling-source")
    git(repo.path, "remote", "add", "origin", "https://git.example.com/tests/sibling-source.git")

    found = discover(repo, "HEAD")

    assert not found.problems and not _failed(found), [str(p) for p in found.problems] or _failed(found)
    app = {a.names.short: a for a in found.apps}["app"]
    assert (app.path, app.depends_on) == ("app", ("repos",))


def test_a_render_that_built_but_failed_still_defines_its_apps_and_sources(tmp_path: Path) -> None:
    """config refuses a SOPS-encrypted Secret: it fails, yet its build says what it would apply.
    The Kustomization it defines shows under it (waiting for it, as a Flux child waits for its
    parent), and app's substituteFrom finds the ConfigMap it makes (app then waits on config
    through dependsOn, as Flux has it, instead of failing for a ConfigMap "made by no app")."""
    repo, _found = _discover(tmp_path, "failed-builds")
    git(repo.path, "remote", "add", "origin", "https://git.example.com/tests/failed-builds.git")
    found = discover(repo, "HEAD")
    apps = {a.names.short: a for a in found.apps}

    assert apps["child"].parent == "config" and apps["child"].after_parent
    assert not apps["app"].invalid, [str(p) for p in apps["app"].invalid]
    assert "config" not in found.unrendered


def test_the_entrys_own_kustomization_applied_from_a_folder_below_it_is_the_root_not_a_second_definition(
    tmp_path: Path,
) -> None:
    """clusters/main's build leaves flux-system/ out; infra-flux applies it, gotk-sync.yaml
    with it: the flux-system Kustomization there is the root itself, as Flux has it."""
    _repo, found = _discover(tmp_path, "root-applied-below")

    assert found.problems == [], [str(p) for p in found.problems]
    assert {a.name: a.parent for a in found.apps} == {
        "flux-system": "", "infra-flux": "flux-system", "apps": "flux-system",
    }  # fmt: skip


def test_a_chart_ref_to_an_oci_repository_that_an_app_which_does_not_render_defines_says_where_it_is(
    tmp_path: Path,
) -> None:
    _repo, found = _discover(tmp_path, "chartref-unread")

    said = _failed(found)["HelmRelease web"]
    assert said.startswith(
        "spec.chartRef: OCIRepository app-template is not among the objects of the apps read"
    ), said
    assert (
        "one that does not render may define it" in said and "files that name it: repos/oci.yaml" in said
    ), said


def test_the_apps_a_kustomization_that_cannot_run_defines_are_kept_not_taken_for_another_entrys(
    tmp_path: Path,
) -> None:
    """apps reads variables nothing makes: it is not built, so web, which it defined when it
    last ran, is kept as it is under it, not said to belong to another --entry."""
    from sandbox.agent import appchanges

    _repo, found = _discover(tmp_path, "subst-missing")
    assert "apps" in found.unrendered
    web = AppSpec("web", "web", "flux-system", "kustomize", defined_in="apps/web.yaml", parent="apps",
                  kind="Kustomization")  # fmt: skip
    plan = appchanges.changes(found.apps, found.problems, True, {"web": web}, "c2c2c2c",
                              still_defined=lambda _spec: True, unrendered=found.unrendered)  # fmt: skip
    assert list(plan.broken) == ["web"] and not plan.vanished, plan
    assert (
        "apps does not render at c2c2c2c, so app web, which it defines, is kept as it is"
        in plan.broken["web"][0].message
    )


def test_an_app_that_follows_the_base_branch_reads_the_branch_the_sandbox_runs_and_says_so(
    tmp_path: Path,
) -> None:
    from clikit import repo_from_fixture

    path, _sha = repo_from_fixture(tmp_path / "repo", FLUX / "base-branch", {"uid": "x"}, "bootstrap on main")
    git(path, "checkout", "-q", "-b", "feature")
    cm = path / "apps" / "cm.yaml"
    cm.write_text(cm.read_text().replace('v: "1"', 'v: "2"'))
    git(path, "commit", "-q", "-am", "v2 on feature")

    for branch, value, said in (("main", "1", False), ("feature", "2", True)):
        on = EnvRepo(path, branch)
        found = discover(on, branch)
        apps = next(a for a in found.apps if a.name == "appsx")
        rendered = render_app(on, apps, branch)
        assert rendered.ok, rendered.problems
        assert [o.manifest["data"] for o in rendered.objects if o.key.kind == "ConfigMap"] == [{"v": value}]
        notices = [n.message for n in rendered.notices if "follows main" in n.message]
        assert bool(notices) == said, (branch, notices)
