"""The cluster itself breaks: the API server or etcd SIGKILLed, then `cluster up`.

These faults need a cluster of their own (killing the session's would break every other
test), so one module-scoped local runtime serves all of them. Each runs `watch` as a user
would, kills a component with SIGKILL, brings the cluster back with the runtime's own `up`,
and the agent must converge to Git's head without another commit, say that it lost and
regained the cluster, leave no orphan, and leave no record "Running".
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from clikit import Cli, commit_all, live, uid, wait_for
from gitkit import git
from test_faults import FAULTS, _items, _ours

from sandbox.cluster.local import LocalRuntime
from sandbox.kube.client import Kube


def _progress(message: str) -> None:
    print(f"[fault cluster] {message}", file=sys.stderr, flush=True)


@pytest.fixture(scope="module")
def fault_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRuntime]:
    runtime = LocalRuntime(root=tmp_path_factory.mktemp("faults") / "local", cluster="gitops-sandbox-faults")
    try:
        runtime.up(_progress)
        yield runtime
    finally:
        runtime.down(_progress)


def _kill(runtime: LocalRuntime, component: str) -> None:
    pid = int((runtime.cluster_dir / "pids" / f"{component}.pid").read_text().strip())
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: component in runtime.dead_components(), 10, what=f"{component} to be dead")


def _repo(tmp_path: Path, runtime: LocalRuntime) -> tuple[Cli, str]:
    from string import Template

    suffix = uid()
    repo = tmp_path / "env"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "sandbox.yaml").write_text(Template((FAULTS / "sandbox.yaml").read_text()).substitute(uid=suffix))
    _items(repo, 1)
    commit_all(repo, "one item")
    return Cli(repo, tmp_path / "state", runtime), f"many{suffix}"


def _all_ended(cli: Cli) -> list[dict[str, object]] | None:
    """The history, once no sync in it is still running (the interrupted one included)."""
    rows = cli.history_rows()
    return rows if rows and all(r["result"] != "Running" for r in rows) else None


def _converged(kube: Kube, app: str, count: int) -> bool:
    try:
        return _ours(kube, app) == sorted(f"item-{i}" for i in range(count))
    except Exception:  # the API server is still coming back
        return False


def test_a_commit_made_while_the_api_server_is_down_deploys_once_it_is_back(
    tmp_path: Path, fault_runtime: LocalRuntime
) -> None:
    cli, app = _repo(tmp_path, fault_runtime)
    kube = Kube(fault_runtime.kubeconfig_path, fault_runtime.context)
    try:
        with cli.watch() as watch:
            watch.wait_for_line("synced", 120)
            _kill(fault_runtime, "kube-apiserver")
            watch.wait_for_line("lost the cluster", 60)
            _items(cli.repo, 3)
            meanwhile = commit_all(cli.repo, "three items, while the API server is down")
            watch.wait_for_line(meanwhile[:7], 60)  # the agent saw the commit (and could not sync it)
            fault_runtime.up(_progress)
            watch.wait_for_line("answers again", 90)
            wait_for(lambda: _converged(kube, app, 3), 90, 0.5, what="the commit made meanwhile deployed")
            # The end of catching up is said, with what is not at its target yet.
            said = watch.wait_for_line("caught up after the outage since", 60)
            assert said.endswith("every app at its target (1)"), said
        rows = cli.history_rows()
        assert not [r for r in rows if r["result"] == "Running"], rows
    finally:
        kube.close()


@pytest.mark.parametrize("component", ["kube-apiserver", "etcd"])
def test_a_sync_cut_short_by_a_dead_component_converges_after_cluster_up_and_leaves_no_orphan(
    component: str, tmp_path: Path, fault_runtime: LocalRuntime
) -> None:
    cli, app = _repo(tmp_path, fault_runtime)
    kube = Kube(fault_runtime.kubeconfig_path, fault_runtime.context)
    try:
        with cli.watch() as watch:
            watch.wait_for_line("synced", 120)
            _items(cli.repo, 300)
            commit_all(cli.repo, "300 items")
            wait_for(lambda: len(_ours(kube, app)) > 20, 120, 0.02, what="the sync to be creating objects")
            _kill(fault_runtime, component)
            fault_runtime.up(_progress)
            wait_for(lambda: _converged(kube, app, 300), 180, 0.5, what="all 300 items after the outage")
            _items(cli.repo, 1)
            commit_all(cli.repo, "back to one item")
            wait_for(lambda: _converged(kube, app, 1), 120, 0.5, what="the 299 others pruned")
            # The prune shows in the cluster before the sync's record closes (health comes
            # after it): stopping the agent now would cut that sync short, and prove nothing.
            rows = wait_for(lambda: _all_ended(cli), 60, 0.2, what="the last sync's record to close")
            text = watch.text
        assert "lost the cluster" in text or "interrupted" in text, text
        assert not [r for r in rows if r["result"] == "Running"], rows
        assert live(kube, f"/api/v1/namespaces/{app}/configmaps/item-0") is not None
    finally:
        kube.close()


def test_a_replaced_cluster_is_noticed_and_gets_every_app_again_without_a_commit(
    tmp_path: Path, fault_runtime: LocalRuntime
) -> None:
    """`cluster down` then `cluster up` under a running `watch`: a new cluster, with a new CA.
    The agent notices the kubeconfig names another cluster, reconnects, says so in one line,
    and deploys Git's revision to it, inventory included, with no commit."""
    from clikit import inventory_path

    from sandbox.kube.kubeconfig import identity_of

    cli, app = _repo(tmp_path, fault_runtime)
    with cli.watch() as watch:
        watch.wait_for_line("synced", 120)
        old = identity_of(fault_runtime.kubeconfig_path, fault_runtime.context)
        fault_runtime.down(_progress)
        watch.wait_for_line("lost the cluster", 60)
        fault_runtime.up(_progress)
        assert identity_of(fault_runtime.kubeconfig_path, fault_runtime.context) != old, "a new CA"
        watch.wait_for_line("names a new cluster", 60)
        kube = Kube(fault_runtime.kubeconfig_path, fault_runtime.context)
        try:
            try:
                wait_for(
                    lambda: _converged(kube, app, 1), 90, 0.5, what="the app deployed to the new cluster"
                )
            except AssertionError as err:
                raise AssertionError(f"{err}\n{watch.text}") from None
            assert live(kube, inventory_path(app)) is not None, "its inventory too"
        finally:
            kube.close()
    rows = cli.history_rows()
    assert any(r["trigger"] == "cluster" and r["result"] == "Succeeded" for r in rows), [
        (r["trigger"], r["result"], r["message"]) for r in rows
    ]
    assert not [r for r in rows if r["result"] == "Running"], rows


def test_the_app_header_says_the_cluster_is_unreachable_while_it_is_and_running_once_it_answers(
    tmp_path: Path, fault_runtime: LocalRuntime
) -> None:
    from agentkit import configmap, new_repo, running
    from tui.components.header import SandboxHeader
    from tui.source import RuntimeInfo

    repo = new_repo(tmp_path / "env", {f"hdr{uid()}/cm.yaml": configmap("settings", {"v": "1"})})
    kube = Kube(fault_runtime.kubeconfig_path, fault_runtime.context)
    header = SandboxHeader(RuntimeInfo(runtime="local", cluster="running (gitops-sandbox-faults, 1 node)"))
    try:
        with running(repo, kube, tmp_path) as agent:
            assert agent.publish_now().unreachable == ""
            _kill(fault_runtime, "kube-apiserver")
            lost = wait_for(lambda: agent.publish_now().unreachable, 60, 0.2, what="the snapshot to say so")
            shown = header.render_text(agent.publish_now()).plain.splitlines()[0]
            assert "cluster unreachable since" in shown and "running" not in shown, shown
            assert lost.startswith("unreachable since "), lost
            fault_runtime.up(_progress)
            wait_for(
                lambda: agent.publish_now().unreachable == "", 90, 0.2, what="the cluster to answer again"
            )
            shown = header.render_text(agent.publish_now()).plain.splitlines()[0]
            assert "cluster running (gitops-sandbox-faults" in shown, shown
    finally:
        kube.close()


def test_a_stopped_api_server_is_said_not_to_answer_within_seconds_and_answering_once_resumed(
    tmp_path: Path, fault_runtime: LocalRuntime
) -> None:
    """SIGSTOP: the process lives and its port accepts connections, but nothing answers, so no
    request fails fast and the watches wait quietly; only a deadline tells."""
    from agentkit import configmap, new_repo, running

    repo = new_repo(tmp_path / "env", {f"stop{uid()}/cm.yaml": configmap("settings", {"v": "1"})})
    kube = Kube(fault_runtime.kubeconfig_path, fault_runtime.context)
    pid = int((fault_runtime.cluster_dir / "pids" / "kube-apiserver.pid").read_text().strip())
    try:
        with running(repo, kube, tmp_path) as agent:
            assert agent.publish_now().unreachable == ""
            os.kill(pid, signal.SIGSTOP)
            try:
                lost = wait_for(
                    lambda: agent.publish_now().unreachable, 40, 0.2, what="the snapshot to say so"
                )
                assert "the API server does not answer" in lost, lost
            finally:
                os.kill(pid, signal.SIGCONT)
            wait_for(lambda: agent.publish_now().unreachable == "", 40, 0.2, what="it to answer again")
            assert any("answers again" in e.message for e in agent.publish_now().events)
    finally:
        kube.close()


def test_status_on_a_new_cluster_says_nothing_of_the_app_is_deployed_there(
    tmp_path: Path, fault_runtime: LocalRuntime
) -> None:
    import json

    cli, app = _repo(tmp_path, fault_runtime)
    synced = cli("sync")
    assert synced.returncode == 0, synced.stderr
    # A commit the old cluster refused: that failure is the old cluster's, not the new one's.
    (cli.repo / "many" / "bad.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Bad_Name}\n"
    )
    commit_all(cli.repo, "an object the API server refuses")
    assert cli("sync").returncode == 1
    before = {a["name"]: a for a in json.loads(cli("status", "--json").stdout)["apps"]}[app]
    assert before["lastResult"] == "Failed" and "Bad_Name" in before["message"], before
    fault_runtime.down(_progress)
    fault_runtime.up(_progress)

    status = cli("status", "--json")

    found = {a["name"]: a for a in json.loads(status.stdout)["apps"]}
    assert found[app]["deployedRevision"] is None, "the history is the repo's; this cluster runs none of it"
    assert (found[app]["lastResult"], found[app]["message"]) == ("", ""), "the old cluster's failure"
    assert status.returncode == 1
