"""Nothing dropped in silence: what the sandbox reads instead of applying, or leaves out, is
listed with the reason in `status -v` and `--json`; an app with nothing of its own to apply
is not Synced before it synced."""

from __future__ import annotations

import json
from pathlib import Path

from clikit import REPOS, cluster_case, live, output, shown

from sandbox.cluster.local import LocalRuntime


def test_flux_components_are_left_out_by_name_and_a_repos_own_part_of_flux_objects_are_applied(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    with cluster_case(tmp_path, local_runtime, REPOS / "flux" / "leftout", "flux's own and ours") as case:
        u, cli, kube = case.uid, case.cli, case.kube
        synced = cli("sync")
        assert synced.returncode == 1, shown(synced)  # broken fails, and defs waits on it
        dashboards = live(kube, f"/api/v1/namespaces/flux-system/configmaps/flux-dashboards-{u}")
        assert dashboards is not None, "a part-of: flux object of the repo's own is applied"
        assert live(kube, "/apis/apps/v1/namespaces/flux-system/deployments/source-controller") is None

        verbose = output(cli("status", "-v"))
        assert (
            "clusters/main/flux-system/gotk-components.yaml: left out 2 objects (Namespace ×1, Deployment ×1): "
            "Flux's own components as `flux install` writes them" in verbose
        ), verbose
        assert (
            "left out Alert.notification.toolkit.fluxcd.io flux-system/on-call: notification-controller's Alert"
            in verbose
        )

        apps = {a["name"]: a for a in json.loads(cli("status", "--json").stdout)["apps"]}
        assert any("gotk-components.yaml" in n for n in apps[f"root{u}"]["notices"])
        assert apps[f"root{u}"]["ready"]["status"] in ("True", "False", "Unknown"), (
            "the root Flux app has a Ready"
        )
        defs = apps[f"defs{u}"]
        assert defs["objects"] == [] and defs["lastResult"] == "Failed"
        assert defs["sync"] != "Synced", "an app that never synced is not Synced, objects or none"
        assert defs["ready"]["reason"] == "DependencyNotReady"


def test_an_app_with_only_flux_sources_reads_synced_and_healthy_once_synced_and_lists_what_it_read(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    with cluster_case(tmp_path, local_runtime, REPOS / "flux" / "only-sources", "only sources") as case:
        u, cli = case.uid, case.cli
        synced = cli("sync")
        assert synced.returncode == 0, shown(synced)
        status = cli("status", "--json")
        assert status.returncode == 0, "a fully deployed repo reads all Synced and Healthy"
        apps = {a["name"]: a for a in json.loads(status.stdout)["apps"]}
        assert (apps[f"sources{u}"]["sync"], apps[f"sources{u}"]["health"]) == ("Synced", "Healthy")
        assert any("read, not applied: HelmRepository.source.toolkit.fluxcd.io flux-system/charts" in n
                   for n in apps[f"sources{u}"]["notices"]), apps[f"sources{u}"]["notices"]  # fmt: skip


def test_an_application_in_the_folder_of_a_sandbox_yaml_app_is_said_to_run_nothing(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    with cluster_case(tmp_path, local_runtime, REPOS / "unclaimed", "an Application in a plain app") as case:
        u, cli = case.uid, case.cli
        cli("sync")
        status = cli("status", "--json")
        app = {a["name"]: a for a in json.loads(status.stdout)["apps"]}[f"defs{u}"]
        said = [n for n in app["notices"] if "read, not applied" in n]
        assert said and f"Application.argoproj.io argocd/guest{u}" in said[0], app["notices"]
        assert "defs/app.yaml" in said[0] and "nothing they define runs" in said[0]
        assert f"read, not applied: Application.argoproj.io argocd/guest{u}" in output(cli("status", "-v"))


def test_flux_objects_an_argo_cd_app_renders_are_no_applications_and_are_said_to_run_nothing(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    with cluster_case(
        tmp_path, local_runtime, REPOS / "argo_renders_flux", "a HelmRelease under Argo"
    ) as case:
        u, cli = case.uid, case.cli
        synced = cli("sync")
        assert "spec.chart is not supported" not in output(synced), shown(synced)
        app = {a["name"]: a for a in json.loads(cli("status", "--json").stdout)["apps"]}[f"fluxapps{u}"]
        said = [n for n in app["notices"] if "read, not applied" in n]
        assert said and f"HelmRelease.helm.toolkit.fluxcd.io flux-system/podinfo{u}" in said[0], app
        assert "become apps only where discovery starts from them" in said[0], said


def test_status_before_a_first_sync_says_an_object_waits_for_the_namespace_the_sync_creates(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    """The API server cannot judge an object whose namespace does not exist yet: status says
    whether the sync creates that namespace first, instead of the bare 'namespaces not found'."""
    with cluster_case(tmp_path, local_runtime, REPOS / "before_namespace", "namespaces to come") as case:
        u, cli = case.uid, case.cli
        status = cli("status", "--json")
        apps = {a["name"]: a for a in json.loads(status.stdout)["apps"]}
        (brings,) = apps[f"brings{u}"]["objects"]
        assert brings["syncMessage"] == (
            f"to be created after its namespace made{u}, which this sync creates first; judged then"
        ), brings
        (stray,) = apps[f"stray{u}"]["objects"]
        assert stray["syncMessage"].startswith(
            f"its namespace nowhere{u} does not exist and this app does not create it: it is refused ("
        ), stray
        assert f'namespaces "nowhere{u}" not found' in stray["syncMessage"]
        assert stray["syncMessage"].endswith(
            f"unless another app creates nowhere{u} first; if none does, add a Namespace nowhere{u} to this app"
        ), stray
        assert live(case.kube, f"/api/v1/namespaces/made{u}") is None, "status only looks"
