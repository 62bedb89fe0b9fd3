"""Nothing lost when things break: a lost inventory, an agent killed in the middle of a sync.

Real faults against the session's API server: the inventory ConfigMap deleted by hand, and
the CLI SIGKILLed while it creates hundreds of objects. Afterwards a commit drops those
objects, and one sync must leave none behind and no record "Running".
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from string import Template

import pytest
from clikit import REPOS, Cli, commit_all, inventory_path, live, shown, uid, wait_for
from gitkit import git

from sandbox.cluster.local import LocalRuntime
from sandbox.kube.client import Kube

FAULTS = REPOS / "faults"


@pytest.fixture
def kube(local_runtime: LocalRuntime) -> Iterator[Kube]:
    client = Kube(local_runtime.kubeconfig_path, local_runtime.context)
    yield client
    client.close()


def _items(repo: Path, count: int) -> None:
    """The app holds ``count`` ConfigMaps (item-0 ... item-<count-1>) in one file."""
    template = Template((FAULTS / "item.yaml").read_text())
    folder = repo / "many"
    folder.mkdir(exist_ok=True)
    (folder / "items.yaml").write_text(
        "---\n".join(template.substitute(i=i, payload="x" * 200) for i in range(count))
    )


def _repo(tmp_path: Path, runtime: LocalRuntime) -> tuple[Cli, str]:
    suffix = uid()
    repo = tmp_path / "env"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "sandbox.yaml").write_text(Template((FAULTS / "sandbox.yaml").read_text()).substitute(uid=suffix))
    return Cli(repo, tmp_path / "state", runtime), f"many{suffix}"


def _ours(kube: Kube, app: str) -> list[str]:
    found = kube.get(
        f"/api/v1/namespaces/{app}/configmaps", {"labelSelector": f"gitops-sandbox.io/app={app}"}
    )
    return sorted(item["metadata"]["name"] for item in found.get("items") or [])


def test_an_inventory_deleted_by_hand_is_rebuilt_before_prune_so_nothing_is_left_behind(
    tmp_path: Path, local_runtime: LocalRuntime, kube: Kube
) -> None:
    cli, app = _repo(tmp_path, local_runtime)
    _items(cli.repo, 3)
    commit_all(cli.repo, "three items")
    assert cli("sync").returncode == 0
    kube.request("DELETE", inventory_path(app))
    _items(cli.repo, 1)
    commit_all(cli.repo, "one item")
    synced = cli("sync")
    assert synced.returncode == 0, shown(synced)
    assert _ours(kube, app) == ["item-0"]
    assert live(kube, inventory_path(app)) is not None


def test_a_sync_killed_halfway_leaves_nothing_untracked_and_no_record_running(
    tmp_path: Path, local_runtime: LocalRuntime, kube: Kube
) -> None:
    cli, app = _repo(tmp_path, local_runtime)
    _items(cli.repo, 1)
    commit_all(cli.repo, "one item")
    assert cli("sync").returncode == 0
    _items(cli.repo, 500)
    commit_all(cli.repo, "500 items")
    doomed = subprocess.Popen(
        cli.argv("sync"), env=cli.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for(lambda: len(_ours(kube, app)) > 20, 120, 0.02, what="the sync to be creating objects")
    finally:
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(10)
    halfway = len(_ours(kube, app))
    assert 1 < halfway < 500, f"the kill came too late or too early: {halfway} items live"
    _items(cli.repo, 1)
    commit_all(cli.repo, "back to one item")
    time.sleep(0.5)  # the killed process's last requests have landed
    synced = cli("sync")
    assert synced.returncode == 0, shown(synced)
    assert _ours(kube, app) == ["item-0"], "objects the killed sync made were left behind"
    rows = cli.history_rows()
    assert not [r for r in rows if r["result"] == "Running"], rows
    assert any(r["message"] == "interrupted" for r in rows), [
        (r["trigger"], r["result"], r["message"]) for r in rows
    ]


def test_a_command_the_agent_fails_to_carry_out_is_a_problem_until_it_works_again(
    tmp_path: Path, local_runtime: LocalRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in the sandbox (here injected: reading the apps raises once) must not read as
    success: the failed command is a problem of the snapshot, so `sync` exits 1, until the
    same command works again."""
    from agentkit import commit, new_repo, running, unique
    from sandbox.agent import apps as agent_apps
    from sandbox.kube.client import Kube

    app = unique("fault")
    repo = new_repo(
        tmp_path / "env", {f"{app}/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"}
    )
    real = agent_apps.AppSet.refresh
    calls = {"n": 0}

    def once(self: agent_apps.AppSet, *args: object, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("injected")
        real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(agent_apps.AppSet, "refresh", once)
    kube = Kube(local_runtime.kubeconfig_path, local_runtime.context)
    try:
        with running(repo, kube, tmp_path) as agent:
            problems = [str(p) for p in agent.publish_now().problems]
            assert any("Startup failed: RuntimeError: injected" in p for p in problems), problems
            commit(repo, "a commit: Git's head is read again", {f"{app}/cm.yaml": "apiVersion: v1\nkind: ConfigMap\n"
                                                                "metadata: {name: b}\n"})  # fmt: skip
            wait_for(lambda: calls["n"] >= 2, 20)
            assert agent.wait_idle(60)
            assert not [p for p in agent.publish_now().problems if "injected" in str(p)]
    finally:
        kube.close()


def _signal_mid_sync(
    tmp_path: Path, runtime: LocalRuntime, kube: Kube, sig: signal.Signals
) -> tuple[Cli, int, str]:
    """A watch whose first sync (500 objects) is creating objects gets ``sig``: its exit code and stderr."""
    cli, app = _repo(tmp_path, runtime)
    _items(cli.repo, 500)
    commit_all(cli.repo, "500 items")
    watch = subprocess.Popen(
        cli.argv("watch"), env=cli.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        wait_for(lambda: len(_ours(kube, app)) > 20, 120, 0.02, what="the sync to be creating objects")
        watch.send_signal(sig)
        code = watch.wait(30)
    finally:
        if watch.poll() is None:
            watch.kill()
    return cli, code, watch.stderr.read().decode() if watch.stderr else ""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_or_sighup_ends_a_watch_mid_sync_as_ctrl_c_does_with_the_signals_exit_code(
    tmp_path: Path, local_runtime: LocalRuntime, kube: Kube, sig: signal.Signals
) -> None:
    """As systemd, `docker stop`, a CI cancel or a closed terminal send them: the sync under way
    is recorded as interrupted (never left Running), the agent's lock is released (the next
    command runs at once), and the exit code says it was interrupted."""
    cli, code, stderr = _signal_mid_sync(tmp_path, local_runtime, kube, sig)
    assert code == 128 + sig, (code, stderr)  # as a shell says it
    rows = cli.history_rows()
    assert not [r for r in rows if r["result"] == "Running"], rows
    assert any(r["result"] == "Failed" and "interrupted" in r["message"] for r in rows), [
        (r["trigger"], r["result"], r["message"]) for r in rows
    ]
    again = cli("sync")
    assert "driven by" not in shown(again) and "another agent" not in shown(again), "the lock was released"
    assert not (cli.state / "bugs.log").exists(), (cli.state / "bugs.log").read_text()


def test_ctrl_c_ends_a_watch_that_is_still_starting_with_0(
    tmp_path: Path, local_runtime: LocalRuntime, kube: Kube
) -> None:
    """Ctrl-C during the first sync of a watch (before it has printed a thing) ends it as Ctrl-C
    ends a watch: 0, the sync recorded as interrupted."""
    cli, code, stderr = _signal_mid_sync(tmp_path, local_runtime, kube, signal.SIGINT)
    assert code == 0, (code, stderr)
    rows = cli.history_rows()
    assert not [r for r in rows if r["result"] == "Running"], rows


def test_sigterm_ends_an_idle_watch_with_its_exit_code_and_ctrl_c_with_0(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    """Ctrl-C is how a person ends a watch (0); SIGTERM is how a supervisor stops it (143)."""
    cli, _app = _repo(tmp_path, local_runtime)
    _items(cli.repo, 1)
    commit_all(cli.repo, "one item")
    for sig, expected in ((signal.SIGTERM, 128 + signal.SIGTERM), (signal.SIGINT, 0)):
        with cli.watch() as watch:
            watch.wait_for_line("synced", 120)
            watch.proc.send_signal(sig)
            assert watch.proc.wait(30) == expected, (sig, watch.text[-2000:])
