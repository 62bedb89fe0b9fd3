"""The pull agent against a real API server and real git repositories."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from string import Template

import pytest
from clikit import repo_from_fixture

from agentkit import (
    app_state,
    cm_path,
    commit,
    configmap,
    deployment,
    git,
    new_repo,
    read,
    running,
    unique,
    wait_for,
)
from sandbox.agent.commands import Rollback, SetSelfHeal
from sandbox.cluster.local import LocalRuntime
from sandbox.kube.client import Kube
from sandbox.model import Health, SyncStatus
from sandbox.tools import toolchain


@pytest.fixture
def kube(local_runtime: LocalRuntime) -> Iterator[Kube]:
    client = Kube(local_runtime.kubeconfig_path, local_runtime.context)
    yield client
    client.close()


def _healthy_and_synced(agent, name):  # type: ignore[no-untyped-def]
    state = app_state(agent, name)
    return state if state and state.sync == SyncStatus.SYNCED and state.health == Health.HEALTHY else None


def test_plain_kustomize_and_helm_apps_sync_and_become_healthy(tmp_path: Path, kube: Kube) -> None:
    plain, kust, chart = unique("plain"), unique("kust"), unique("helm")
    files = {
        "sandbox.yaml": f"""apps:
  - name: {plain}
    path: apps/plain
  - name: {kust}
    path: apps/kust/overlays/dev
  - name: {chart}
    path: apps/chart
    values: [values-dev.yaml]
""",
        "apps/plain/web.yaml": deployment("web", 2) + "---\n" + configmap("web-config", {"mode": "plain"}),
        "apps/kust/base/kustomization.yaml": "resources: [cm.yaml]\n",
        "apps/kust/base/cm.yaml": configmap("settings", {"level": "base"}),
        "apps/kust/overlays/dev/kustomization.yaml": (
            "resources: [../../base]\nnamePrefix: dev-\n"
            "patches:\n  - patch: |-\n      - op: replace\n        path: /data/level\n        value: dev\n"
            "    target: {kind: ConfigMap, name: settings}\n"
        ),
        "apps/chart/Chart.yaml": "apiVersion: v2\nname: demo\nversion: 0.1.0\n",
        "apps/chart/values.yaml": "greeting: hello\nreplicas: 1\n",
        "apps/chart/values-dev.yaml": "greeting: hello-dev\n",
        "apps/chart/templates/cm.yaml": (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-greeting\n"
            "data:\n  greeting: {{ .Values.greeting | quote }}\n"
        ),
    }
    repo = new_repo(tmp_path / "env", files)
    with running(repo, kube, tmp_path) as agent:
        for name in (plain, kust, chart):
            wait_for(lambda n=name: _healthy_and_synced(agent, n), 30, what=f"{name} Synced and Healthy")
        assert read(kube, cm_path(plain, "web-config"))["data"] == {"mode": "plain"}
        assert read(kube, cm_path(kust, "dev-settings"))["data"] == {"level": "dev"}
        assert read(kube, cm_path(chart, f"{chart}-greeting"))["data"] == {"greeting": "hello-dev"}
        tree = app_state(agent, plain)
        web = next(o for o in tree.objects if o.key.kind == "Deployment")
        replica_sets = [c for c in web.children if c.key.kind == "ReplicaSet"]
        assert replica_sets and len(replica_sets[0].children) == 2, "Deployment -> ReplicaSet -> 2 Pods"


def test_a_new_commit_is_deployed_within_a_second_without_any_command(tmp_path: Path, kube: Kube) -> None:
    app = unique("live")
    repo = new_repo(tmp_path / "env", {f"{app}/cm.yaml": configmap("conf", {"v": "1"})})
    with running(repo, kube, tmp_path):
        wait_for(lambda: read(kube, cm_path(app, "conf")), 10)
        commit(repo, "bump", {f"{app}/cm.yaml": configmap("conf", {"v": "2"})})
        started = time.monotonic()
        wait_for(lambda: read(kube, cm_path(app, "conf"))["data"]["v"] == "2", 10, 0.01)
        assert time.monotonic() - started < 1.0


def test_a_file_removed_from_git_is_pruned_and_nothing_else(tmp_path: Path, kube: Kube) -> None:
    app = unique("prune")
    repo = new_repo(
        tmp_path / "env",
        {f"{app}/a.yaml": configmap("a", {"k": "a"}), f"{app}/b.yaml": configmap("b", {"k": "b"})},
    )
    bystander = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "hand-made", "namespace": app}}
    with running(repo, kube, tmp_path) as agent:
        wait_for(lambda: read(kube, cm_path(app, "b")), 10)
        kube.request("POST", f"/api/v1/namespaces/{app}/configmaps", body=bystander)
        commit(repo, "drop b", {f"{app}/b.yaml": None})
        wait_for(lambda: read(kube, cm_path(app, "b")) is None, 10, what="b pruned")
        assert read(kube, cm_path(app, "a")) is not None
        assert read(kube, cm_path(app, "hand-made")) is not None
        # The prune shows in the cluster before the sync's record closes with its objects.
        record = wait_for(lambda: (r := agent.history.records(app)[0]).result != "Running" and r, 10,
                          what="the sync's record to close")  # fmt: skip
        assert [(o.key, o.action) for o in record.objects if o.action == "pruned"] == [
            (f"ConfigMap {app}/b", "pruned")
        ]


def test_an_object_taken_over_by_hand_is_reported_not_pruned(tmp_path: Path, kube: Kube) -> None:
    app = unique("keep")
    repo = new_repo(tmp_path / "env", {f"{app}/a.yaml": configmap("a", {"k": "a"})})
    with running(repo, kube, tmp_path) as agent:
        wait_for(lambda: read(kube, cm_path(app, "a")), 10)
        agent.send(SetSelfHeal(app, False))
        agent.wait_idle()
        # Someone strips the tracking annotation: the object is no longer provably ours.
        kube.request(
            "PATCH", cm_path(app, "a"),
            body={"metadata": {"annotations": {"gitops-sandbox.io/tracking-id": None}}},
            content_type="application/merge-patch+json",
        )  # fmt: skip
        dropped = commit(repo, "drop a", {f"{app}/a.yaml": None, f"{app}/other.yaml": configmap("other", {})})
        record = wait_for(
            lambda: next(
                (r for r in agent.history.records(app) if r.revision == dropped and not r.running), None
            ),
            10,
        )
        assert read(kube, cm_path(app, "a")) is not None
        kept = [o for o in record.objects if o.action == "kept"]
        assert kept and "tracking annotation" in kept[0].message


def test_kubectl_scale_is_undone_by_self_heal_within_a_second(
    tmp_path: Path, kube: Kube, local_runtime: LocalRuntime
) -> None:
    app = unique("heal")
    repo = new_repo(tmp_path / "env", {f"{app}/web.yaml": deployment("web", 2)})
    path = f"/apis/apps/v1/namespaces/{app}/deployments/web"
    with running(repo, kube, tmp_path) as agent:
        wait_for(lambda: _healthy_and_synced(agent, app), 30)
        generation = read(kube, path)["metadata"]["generation"]
        kubectl = toolchain.ensure("kubectl")
        subprocess.run(
            [str(kubectl), "--kubeconfig", str(local_runtime.kubeconfig_path), "scale", "deployment/web",
             "-n", app, "--replicas=5"],
            check=True, capture_output=True,
        )  # fmt: skip
        started = time.monotonic()
        # healed: back at 2 replicas, two spec changes later (the scale, then the undo)
        wait_for(
            lambda: (d := read(kube, path))["spec"]["replicas"] == 2 and d["metadata"]["generation"] >= generation + 2,
            5, 0.005, "scale undone",
        )  # fmt: skip
        assert time.monotonic() - started < 1.0
        wait_for(
            lambda: any(r.trigger == "drift" for r in agent.history.records(app)), 5, what="drift recorded"
        )


def test_the_history_row_of_a_heal_keeps_its_health_current_as_a_commits_row_does(
    tmp_path: Path, kube: Kube
) -> None:
    """A Deployment deleted by hand is re-created by self-heal, not Healthy at that instant: the
    heal's row (the newest sync that did not fail) follows it to Healthy, as a commit's does."""
    app = unique("heals")
    repo = new_repo(tmp_path / "env", {f"{app}/web.yaml": deployment("web", 1)})
    with running(repo, kube, tmp_path) as agent:
        wait_for(lambda: _healthy_and_synced(agent, app), 30)
        kube.request("DELETE", f"/apis/apps/v1/namespaces/{app}/deployments/web")
        heal = wait_for(
            lambda: next((r for r in agent.history.records(app) if r.trigger == "drift" and not r.running), None),
            10, what="the heal recorded",
        )  # fmt: skip
        wait_for(
            lambda: next(r for r in agent.history.records(app) if r.id == heal.id).health == "Healthy",
            30, what=f"the heal's row Healthy (it was {heal.health} when it ended)",
        )  # fmt: skip


def test_drift_is_shown_not_undone_when_self_heal_is_off(tmp_path: Path, kube: Kube) -> None:
    app = unique("drift")
    repo = new_repo(tmp_path / "env", {f"{app}/cm.yaml": configmap("conf", {"v": "git"})})
    with running(repo, kube, tmp_path) as agent:
        wait_for(lambda: _healthy_and_synced(agent, app), 10)
        agent.send(SetSelfHeal(app, False))
        agent.wait_idle()
        kube.request(
            "PATCH",
            cm_path(app, "conf"),
            body={"data": {"v": "hand"}},
            content_type="application/merge-patch+json",
        )
        state = wait_for(lambda: (s := app_state(agent, app)) and s.drift and s, 5, what="drift shown")
        assert state.sync == SyncStatus.OUT_OF_SYNC
        assert [str(k) for k in state.drift] == [f"ConfigMap {app}/conf"]
        assert read(kube, cm_path(app, "conf"))["data"]["v"] == "hand"
        agent.send(SetSelfHeal(app, True))
        wait_for(lambda: read(kube, cm_path(app, "conf"))["data"]["v"] == "git", 5, what="healed once on")


def test_rollback_pauses_auto_sync_until_resumed_and_revert_deploys_a_new_commit(
    tmp_path: Path, kube: Kube
) -> None:
    app = unique("undo")
    repo = new_repo(tmp_path / "env", {f"{app}/cm.yaml": configmap("conf", {"v": "1"})})
    with running(repo, kube, tmp_path) as agent:
        wait_for(lambda: _healthy_and_synced(agent, app), 10)
        good = git(repo, "rev-parse", "HEAD")
        bad = commit(repo, "v2", {f"{app}/cm.yaml": configmap("conf", {"v": "2"})})
        wait_for(lambda: read(kube, cm_path(app, "conf"))["data"]["v"] == "2", 10)
        wait_for(
            lambda: (
                (s := app_state(agent, app)) and s.deployed_revision == bad and s.health == Health.HEALTHY
            ),
            10,
        )

        agent.send(Rollback(app))
        wait_for(lambda: read(kube, cm_path(app, "conf"))["data"]["v"] == "1", 10, what="rolled back")
        state = wait_for(
            lambda: (s := app_state(agent, app)) and s.rolled_back and s.operation == "Idle" and s, 5
        )
        assert state.deployed_revision == good and state.git_revision == bad
        assert f"cluster at {good[:7]}, Git at {bad[:7]}" in state.rollback_note
        assert git(repo, "rev-parse", "HEAD") == bad, "rollback leaves Git unchanged"

        newer = commit(repo, "v3 while rolled back", {f"{app}/cm.yaml": configmap("conf", {"v": "3"})})
        wait_for(lambda: app_state(agent, app).git_revision == newer, 5)
        agent.wait_idle()
        assert read(kube, cm_path(app, "conf"))["data"]["v"] == "1", "auto-sync is paused"

        result = agent.revert(app=app)
        assert result.reverted_sha == newer
        assert git(repo, "log", "-1", "--format=%s") == 'Revert "v3 while rolled back"'
        wait_for(lambda: read(kube, cm_path(app, "conf"))["data"]["v"] == "2", 10, what="revert deployed")
        assert not app_state(agent, app).rolled_back
        triggers = [r.trigger for r in agent.history.records(app)]
        assert "rollback" in triggers and "revert" in triggers


def test_revert_refuses_when_tracked_files_have_uncommitted_changes(tmp_path: Path, kube: Kube) -> None:
    from sandbox.agent.revert import RevertRefused

    app = unique("dirty")
    repo = new_repo(tmp_path / "env", {f"{app}/cm.yaml": configmap("conf", {"v": "1"})})
    with running(repo, kube, tmp_path) as agent:
        wait_for(lambda: _healthy_and_synced(agent, app), 10)
        (repo / app / "cm.yaml").write_text(configmap("conf", {"v": "edited"}))
        head = git(repo, "rev-parse", "HEAD")
        with pytest.raises(RevertRefused, match="uncommitted"):
            agent.revert(app=app)
        assert git(repo, "rev-parse", "HEAD") == head


def test_prune_is_exact_after_a_restart_thanks_to_the_inventory(tmp_path: Path, kube: Kube) -> None:
    app = unique("restart")
    repo = new_repo(
        tmp_path / "env", {f"{app}/a.yaml": configmap("a", {}), f"{app}/b.yaml": configmap("b", {})}
    )
    with running(repo, kube, tmp_path):
        wait_for(lambda: read(kube, cm_path(app, "b")), 10)
    commit(repo, "drop b while the agent is stopped", {f"{app}/b.yaml": None})
    with running(repo, kube, tmp_path):
        wait_for(lambda: read(kube, cm_path(app, "b")) is None, 10, what="b pruned after restart")
        assert read(kube, cm_path(app, "a")) is not None


def test_custom_resources_wait_for_their_crd_to_be_established(tmp_path: Path, kube: Kube) -> None:
    app = unique("crd")
    plural = f"widgets{app.replace('-', '')}"
    group = "demo.example.com"
    crd = f"""apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: {plural}.{group}}}
spec:
  group: {group}
  names: {{kind: Widget{app.replace("-", "")}, plural: {plural}}}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema: {{openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}}}
"""
    cr = f"apiVersion: {group}/v1\nkind: Widget{app.replace('-', '')}\nmetadata: {{name: w1}}\nspec: {{size: 3}}\n"
    repo = new_repo(tmp_path / "env", {f"{app}/crd.yaml": crd, f"{app}/widget.yaml": cr})
    with running(repo, kube, tmp_path) as agent:
        wait_for(lambda: _healthy_and_synced(agent, app), 20, what="CRD and CR synced")
        assert read(kube, f"/apis/{group}/v1/namespaces/{app}/{plural}/w1")["spec"] == {"size": 3}


def test_two_agents_on_different_repos_never_fight_over_one_app(tmp_path: Path, kube: Kube) -> None:
    from sandbox.agent.history import History
    from sandbox.agent.loop import Agent

    app = unique("twin")
    first = new_repo(tmp_path / "one", {f"{app}/cm.yaml": configmap("conf", {"from": "one"})})
    second = new_repo(tmp_path / "two", {f"{app}/cm.yaml": configmap("conf", {"from": "two"})})
    agents = []
    for repo in (first, second):
        agent = Agent(
            repo,
            kube,
            history=History(repo / ".." / f"{repo.name}.sqlite"),
            settings_path=repo.parent / f"{repo.name}.json",
        )
        agent.start(exclusive=True)
        assert agent.wait_idle(30)
        agents.append(agent)
    try:
        assert read(kube, cm_path(app, "conf"))["data"] == {"from": "one"}
        refused = app_state(agents[1], app)
        assert refused is not None and "driven by another agent" in str(refused.problems[0])
        assert str(first) in str(refused.problems[0])
    finally:
        for agent in agents:
            agent.stop()


def test_stopping_the_agent_ends_its_watches_at_once(tmp_path: Path, kube: Kube) -> None:
    import threading

    app = unique("stop")
    repo = new_repo(tmp_path / "env", {f"{app}/cm.yaml": configmap("conf", {})})
    with running(repo, kube, tmp_path) as agent:
        watches = [t for t in threading.enumerate() if t.name.startswith("watch-")]
        assert watches
        agent.stop()
        wait_for(lambda: not any(t.is_alive() for t in watches), 3, what="watch threads ended")


def test_rolling_back_to_the_revision_already_deployed_changes_nothing_and_says_so(
    tmp_path: Path, kube: Kube
) -> None:
    app = unique("already")
    repo = new_repo(tmp_path / "env", {f"{app}/cm.yaml": configmap("conf", {"v": "1"})})
    with running(repo, kube, tmp_path) as agent:
        wait_for(lambda: _healthy_and_synced(agent, app), 10)
        head = git(repo, "rev-parse", "HEAD")
        version = read(kube, cm_path(app, "conf"))["metadata"]["resourceVersion"]
        syncs = len(agent.history.records(app))
        agent.send(Rollback(app, head))
        agent.wait_idle()
        state = app_state(agent, app)
        assert not state.rolled_back and state.auto_sync, "auto-sync stays on"
        assert state.sync == SyncStatus.SYNCED
        assert f"already at {head[:7]}" in state.message
        assert read(kube, cm_path(app, "conf"))["metadata"]["resourceVersion"] == version
        assert len(agent.history.records(app)) == syncs, "no sync was recorded"


def test_a_kind_whose_crd_arrives_after_the_first_sync_is_placed_by_the_clusters_scope(
    tmp_path: Path, kube: Kube
) -> None:
    """A render made while the cluster did not know a kind guesses its scope; once its CRD is
    installed (by hand) the retry renders again, so a cluster-scoped object written with a
    namespace is Synced as one object, not OutOfSync beside a namespaced phantom."""
    from clikit import REPOS, uid

    from sandbox.manifest import kubeyaml

    names = {"uid": uid()}
    repo, _ = repo_from_fixture(tmp_path / "repo", REPOS / "late-crd", names, "a kind not known yet")
    app = f"wide{names['uid']}"
    with running(repo, kube, tmp_path) as agent:
        failed = wait_for(lambda: (a := app_state(agent, app)) and a.last_result == "Failed" and a, 30)
        assert "does not know" in failed.message, failed.message
        crd = kubeyaml.load(Template((REPOS / "late-crd-cluster" / "crd.yaml").read_text()).substitute(names))
        kube.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", body=crd)
        try:
            synced = wait_for(lambda: (a := app_state(agent, app)) and a.last_result == "Succeeded" and a, 60,
                              what="the retry after the CRD came")  # fmt: skip
            assert agent.wait_idle(30)
            state = app_state(agent, app)
            assert state is not None and state.sync == SyncStatus.SYNCED, (state.sync, state.said)
            assert [(o.key.namespace, o.key.name) for o in state.objects] == [("", "wide")], state.objects
            assert synced.deployed_revision == state.git_revision
        finally:
            kube.request(
                "DELETE", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{crd['metadata']['name']}"
            )


def test_a_commit_an_app_with_auto_sync_off_does_not_follow_is_said_as_it_comes(
    tmp_path: Path, kube: Kube
) -> None:
    """Argo CD turns such an app OutOfSync (or ComparisonError) at once: a watch says what the
    commit would change, or that it does not render, and applies nothing."""
    from sandbox.agent.commands import SetAutoSync

    app = unique("manual")
    repo = new_repo(tmp_path / "env", {f"{app}/cm.yaml": configmap("conf", {"v": "1"})})
    with running(repo, kube, tmp_path) as agent:
        wait_for(lambda: _healthy_and_synced(agent, app), 10)
        agent.send(SetAutoSync(app, False))
        assert agent.wait_idle(30)
        changed = commit(repo, "v2", {f"{app}/cm.yaml": configmap("conf", {"v": "2"})})
        wait_for(lambda: any(e.app == app and f"{changed[:7]} would change 1 object(s); auto-sync is off" in e.message
                             for e in agent.publish_now().events), 20, what="the change said")  # fmt: skip
        broken = commit(repo, "broken", {f"{app}/bad.yaml": "kind: [\n"})
        wait_for(lambda: any(e.app == app and e.message.startswith(f"{broken[:7]} does not render: ")
                             for e in agent.publish_now().events), 20, what="the render failure said")  # fmt: skip
        assert read(kube, cm_path(app, "conf"))["data"] == {"v": "1"}, "nothing applied"
