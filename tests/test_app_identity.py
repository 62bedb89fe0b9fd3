"""An app is its defining object's kind, namespace and name: namesakes are different apps.

A Flux Kustomization and HelmRelease of one name, two Kustomizations of one name in two
namespaces, and Argo CD Applications of one name in two namespaces all deploy side by side.
People see the short name where it is unique and ``Kind/namespace/name`` where it is not, in
``status``, ``--app``, ``history`` and the inventories' names.
"""

from __future__ import annotations

import json
from pathlib import Path

from clikit import REPOS, cluster_case, cm_path, inventory_path, live, output, shown

from sandbox.agent.snapshot import AppState, in_tree_order
from sandbox.apply.inventory import storage_name
from sandbox.cluster.local import LocalRuntime
from sandbox.model import Health, SyncStatus
from sandbox.source.appid import AppName, pick, shown_names

IDENTITY = REPOS / "identity"


def test_namesake_flux_apps_all_deploy_and_are_told_apart_everywhere(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    with cluster_case(tmp_path, local_runtime, IDENTITY / "flux", "namesakes") as case:
        u, cli, kube = case.uid, case.cli, case.kube
        synced = cli("sync")
        assert synced.returncode == 0, shown(synced)
        assert "defined twice" not in output(synced)
        assert live(kube, cm_path(f"hello-k-{u}", "greeting"))["data"] == {"from": "kustomization"}
        assert live(kube, cm_path(f"hello-h-{u}", "greeting"))["data"] == {"from": "helmrelease"}
        assert live(kube, cm_path(f"team-a-{u}", "team"))["data"] == {"team": "a"}
        assert live(kube, cm_path(f"team-b-{u}", "team"))["data"] == {"team": "b"}

        hello_k, hello_h = f"Kustomization/flux-system/hello{u}", f"HelmRelease/flux-system/hello{u}"
        apps_a, apps_b = f"Kustomization/flux-system/apps{u}", f"Kustomization/team-b/apps{u}"
        table = output(cli("status"))
        for qualified in (hello_k, hello_h, apps_a, apps_b):
            assert qualified in table, table
        assert f"\nroot{u} " in table, "a unique name shows short"

        apps = {a["name"]: a for a in json.loads(cli("status", "--json").stdout)["apps"]}
        assert set(apps) == {f"root{u}", f"hello{u}", hello_h, f"apps{u}", apps_b}, "ids: plain at home"
        assert apps[f"hello{u}"]["shownName"] == hello_k

        ambiguous = cli("sync", "--app", f"hello{u}")
        assert ambiguous.returncode == 2
        said = output(ambiguous)
        assert f"hello{u} names 2 apps (" in said and "name one of them" in said, said
        assert hello_k in said and hello_h in said
        one = cli("sync", "--app", f"helmrelease/hello{u}")
        assert one.returncode == 0, shown(one)
        assert cli("sync", "--app", f"team-b/apps{u}").returncode == 0, "an app known by namespace/name"

        for app in (f"hello{u}", hello_h, f"apps{u}", apps_b):
            inventory = live(kube, inventory_path(storage_name(app)))
            assert inventory is not None and inventory["data"]["app"] == app, app
        history = output(cli("history"))
        assert hello_h in history and apps_b in history and hello_k in history
        only = output(cli("history", "--app", hello_h))
        assert hello_k not in only and hello_h in only


def test_argo_cd_applications_of_one_name_in_two_namespaces_are_two_apps(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    with cluster_case(tmp_path, local_runtime, IDENTITY / "argo", "apps in any namespace") as case:
        u, cli, kube = case.uid, case.cli, case.kube
        synced = cli("sync")
        assert synced.returncode == 0, shown(synced)
        assert live(kube, cm_path(f"web-a-{u}", "web"))["data"] == {"side": "a"}
        assert live(kube, cm_path(f"web-b-{u}", "web"))["data"] == {"side": "b"}
        table = output(cli("status"))
        assert f"Application/argocd/web{u}" in table and f"Application/team-b/web{u}" in table
        assert cli("sync", "--app", f"team-b/web{u}").returncode == 0


def _state(name: str, parent: str = "", kind: str = "Kustomization") -> AppState:
    return AppState(
        name=name, path=".", namespace="default", source_type="plain", sync=SyncStatus.SYNCED,
        health=Health.HEALTHY, git_revision="a", target_revision="a", deployed_revision="a", auto_sync=True,
        self_heal=True, prune=True, parent=parent, kind=kind,
    )  # fmt: skip


def test_each_nested_app_is_listed_under_the_app_that_defines_it_whatever_the_discovery_order() -> None:
    apps = (_state("root"), _state("b-child", "b"), _state("a"), _state("a-child", "a"), _state("b", "root"),
            _state("a-grandchild", "a-child"))  # fmt: skip
    assert [a.name for a in in_tree_order(apps)] == ["root", "b", "b-child", "a", "a-child", "a-grandchild"]


def test_a_short_name_shows_where_unique_and_names_of_any_form_pick_an_app() -> None:
    names = [AppName.of("Kustomization", "flux-system", "hello"), AppName.of("HelmRelease", "flux-system", "hello"),
             AppName.of("Kustomization", "team-b", "apps"), AppName("web")]  # fmt: skip
    assert [n.id for n in names] == [
        "hello",
        "HelmRelease/flux-system/hello",
        "Kustomization/team-b/apps",
        "web",
    ]
    assert shown_names(names) == {
        "hello": "Kustomization/flux-system/hello", "HelmRelease/flux-system/hello": "HelmRelease/flux-system/hello",
        "Kustomization/team-b/apps": "apps", "web": "web",
    }  # fmt: skip
    assert [n.id for n in pick(names, "hello")] == ["hello", "HelmRelease/flux-system/hello"], (
        "a shared name asks"
    )
    assert [n.id for n in pick(names, "Kustomization/flux-system/hello")] == ["hello"]
    assert [n.id for n in pick(names, "helmrelease/hello")] == ["HelmRelease/flux-system/hello"]
    assert [n.id for n in pick(names, "team-b/apps")] == ["Kustomization/team-b/apps"]
    assert pick(names, "nothing") == []
    assert storage_name("HelmRelease/flux-system/hello").startswith("helmrelease.flux-system.hello-")
    assert storage_name("hello") == "hello"


def test_an_id_alone_says_the_names_it_holds_so_history_needs_no_discovery() -> None:
    """history names its apps from the ids it recorded: a qualified id names its object, a plain
    one only itself; where two share a short name, Git is read for which kind a plain one is."""
    release = AppName.from_id("HelmRelease/web/web")
    assert (release.kind, release.namespace, release.short, release.qualified) == (
        "HelmRelease", "web", "web", "HelmRelease/web/web",
    )  # fmt: skip
    plain = AppName.from_id("apps")
    assert (plain.kind, plain.short, plain.qualified) == ("", "apps", "apps")
    assert shown_names([release, plain]) == {"HelmRelease/web/web": "web", "apps": "apps"}
