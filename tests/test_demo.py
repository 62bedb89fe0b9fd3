"""`gitops-sandbox demo`: the scripted history it writes, and what each revision does on a
real API server (the broken commit Degraded, the fix Healthy)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_samples import SAMPLES, all_synced_and_healthy, running_agent, wait_for, walk

from sandbox.agent.commands import Resume, Rollback
from sandbox.agent.loop import Agent
from sandbox.agent.snapshot import Snapshot
from sandbox.cli import demo
from sandbox.cluster.local import LocalRuntime
from sandbox.kube.client import Kube
from sandbox.model import Health, SyncStatus

TAGS = ["demo/1-first", "demo/2-bump", "demo/3-broken", "demo/4-fix"]
# The broken commit must turn Degraded in about this long (progressDeadlineSeconds is 15).
DEGRADED_WITHIN = 40


def run_demo(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real command in a HOME without any git config: the demo needs no global identity."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "XDG_CONFIG"))}
    env.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1", GITOPS_SANDBOX_STATE_DIR=str(tmp_path / "state"))
    return subprocess.run(
        [sys.executable, "-m", "sandbox.cli", "demo", "--no-open", *args],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.parametrize("sample", SAMPLES)
def test_demo_writes_four_scripted_commits_ending_at_the_fix(sample: str, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    script = demo.load_script(sample)

    proc = run_demo(tmp_path, "--sample", sample, "--dir", str(repo))

    assert proc.returncode == 0, proc.stderr
    assert f"demo env repo: {repo}" in proc.stdout
    log = git(repo, "log", "--format=%H %an <%ae>%n%B%x00").split("\x00")
    commits = [entry.strip() for entry in log if entry.strip()]
    assert [c.split("\n", 1)[1] for c in reversed(commits)] == [c.message.strip() for c in script.commits]
    assert {c.split("\n", 1)[0].split(" ", 1)[1] for c in commits} == {
        f"{demo.DEMO_NAME} <{demo.DEMO_EMAIL}>"
    }
    shas = [c.split(" ", 1)[0] for c in reversed(commits)]
    assert [git(repo, "rev-parse", tag) for tag in TAGS] == shas
    assert git(repo, "symbolic-ref", "--short", "HEAD") == "main"
    assert git(repo, "status", "--porcelain") == ""
    assert not (repo / demo.SCRIPT_FILE).exists()
    # The broken commit is one line, the CPU typo; the fix changes that line only.
    assert _changed_lines(repo, TAGS[1], TAGS[2])[1] == ['cpu: "500"']
    assert _changed_lines(repo, TAGS[2], TAGS[3]) == (['cpu: "500"'], ["cpu: 500m"])


def _changed_lines(repo: Path, old: str, new: str) -> tuple[list[str], list[str]]:
    """(removed, added) lines between two revisions, stripped."""
    diff = git(repo, "diff", "--unified=0", old, new).splitlines()
    removed = [line[1:].strip() for line in diff if line.startswith("-") and not line.startswith("---")]
    added = [line[1:].strip() for line in diff if line.startswith("+") and not line.startswith("+++")]
    return removed, added


def test_demo_stop_at_broken_ends_the_branch_at_the_broken_commit_and_keeps_the_fix_tagged(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"

    proc = run_demo(tmp_path, "--dir", str(repo), "--stop-at", "broken")

    assert proc.returncode == 0, proc.stderr
    assert git(repo, "rev-parse", "HEAD") == git(repo, "rev-parse", TAGS[2])
    assert git(repo, "rev-list", "--count", "HEAD") == "3"
    assert git(repo, "rev-parse", f"{TAGS[3]}^") == git(repo, "rev-parse", TAGS[2])
    assert git(repo, "status", "--porcelain") == ""
    assert 'cpu: "500"' in (repo / "web" / "web.yaml").read_text()
    assert f"merge --ff-only {TAGS[3]}" in proc.stdout


def test_demo_runs_in_its_own_folder_under_the_state_dir_made_anew_each_run(tmp_path: Path) -> None:
    first = run_demo(tmp_path, "--sample", "helm")
    assert first.returncode == 0, first.stderr
    path = Path(first.stdout.splitlines()[0].removeprefix("demo env repo: "))
    (path / "scratch.txt").write_text("left by the user")

    second = run_demo(tmp_path, "--sample", "helm")

    assert second.returncode == 0, second.stderr
    assert Path(second.stdout.splitlines()[0].removeprefix("demo env repo: ")) == path
    assert path == tmp_path / "state" / "demo" / "helm"
    assert not (path / "scratch.txt").exists(), "the earlier run is gone"
    assert git(path, "rev-list", "--count", "HEAD") == "4"


def test_demo_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")

    proc = run_demo(tmp_path, "--dir", str(taken))

    assert proc.returncode == 2
    assert "not an empty folder" in proc.stderr
    assert [p.name for p in taken.iterdir()] == ["notes.txt"]


def test_demo_rejects_an_unknown_sample(tmp_path: Path) -> None:
    proc = run_demo(tmp_path, "--sample", "nope", "--dir", str(tmp_path / "repo"))

    assert proc.returncode == 2
    assert "invalid choice: 'nope'" in proc.stderr
    assert not (tmp_path / "repo").exists()


def test_a_script_edit_that_no_longer_matches_its_sample_fails_and_leaves_no_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    samples = tmp_path / "samples"
    shutil.copytree(demo.SAMPLES_DIR / "plain", samples / "plain")
    web = samples / "plain" / "web" / "web.yaml"
    web.write_text(
        web.read_text().replace("cpu: 50m", "cpu: 100m")
    )  # the sample moved on, the script did not
    monkeypatch.setattr(demo, "SAMPLES_DIR", samples)

    with pytest.raises(demo.DemoError, match=r"step broken, web/web\.yaml: 'cpu: 50m' occurs 0 times"):
        demo.create("plain", tmp_path / "repo")
    assert not (tmp_path / "repo").exists()


# -- on the cluster -----------------------------------------------------------------------------


@pytest.fixture
def kube(local_runtime: LocalRuntime) -> Iterator[Kube]:
    client = Kube(local_runtime.kubeconfig_path, local_runtime.context)
    yield client
    client.close()


def _deployed(snapshot: Snapshot, app: str, sha: str, health: Health) -> bool:
    state = snapshot.app(app)
    return (
        state is not None
        and state.deployed_revision == sha
        and state.last_result == "Succeeded"
        and state.health == health
    )


def _holds(agent: Agent, snapshot: Snapshot, app: str, sha: str) -> bool:
    """Healthy at ``sha`` with the cluster holding that revision: until the watch delivers
    the applied objects, the previous revision's would look Healthy too."""
    state = snapshot.app(app)
    return (
        _deployed(snapshot, app, sha, Health.HEALTHY)
        and state is not None
        and all(agent.diff_object(app, o.key) == "" for o in state.objects)
    )


def _degraded_deployment(snapshot: Snapshot, app: str) -> bool:
    """The broken Deployment itself reads Degraded (an autoscaler of it may say so first)."""
    state = snapshot.app(app)
    return state is not None and any(
        o.key.kind == "Deployment" and o.health == Health.DEGRADED for o in state.objects
    )


@pytest.mark.parametrize("sample", SAMPLES)
def test_demo_history_is_healthy_except_the_broken_commit_which_turns_degraded(
    sample: str, tmp_path: Path, kube: Kube
) -> None:
    made = demo.create(sample, tmp_path / "repo")
    sha = {c.step: c.sha for c in made.commits}

    with running_agent(made.path, kube, tmp_path) as agent:
        [named] = agent.publish_now().named(made.app)  # the script names it as people see it
        app = named.name
        # HEAD is the fix: everything Synced and Healthy.
        wait_for(agent, lambda s: _holds(agent, s, app, sha["fix"]) and all_synced_and_healthy(s), "Healthy")

        for step in ("first", "bump"):
            agent.send(Rollback(app, sha[step]))
            agent.wait_idle(60)
            target = sha[step]
            # wait_for calls the predicate before the loop moves on, so the late binding is safe.
            wait_for(agent, lambda s: _holds(agent, s, app, target), f"Healthy at {step}")  # noqa: B023

        agent.send(Rollback(app, sha["broken"]))
        agent.wait_idle(60)
        snapshot, took = wait_for(
            agent,
            lambda s: _deployed(s, app, sha["broken"], Health.DEGRADED) and _degraded_deployment(s, app),
            "Degraded at the broken commit",
            timeout=DEGRADED_WITHIN,
        )
        broken = snapshot.app(app)
        assert broken is not None
        # The API server took it (the sync succeeded); the scheduler is what refuses it.
        assert broken.last_result == "Succeeded"
        degraded = {o.key.kind: o for o in broken.objects if o.health == Health.DEGRADED}
        # An autoscaler of that Deployment cannot read metrics of Pending pods, and says so
        # (Degraded, as Argo CD shows it); nothing else turns Degraded.
        assert "Deployment" in degraded and set(degraded) <= {"Deployment", "HorizontalPodAutoscaler"}
        assert "progress deadline" in degraded["Deployment"].health_message
        pending = [
            o
            for o in walk(degraded["Deployment"].children)
            if o.key.kind == "Pod" and "Insufficient cpu" in o.health_message
        ]
        assert pending, "no pod of the broken revision reports Insufficient cpu"
        # An app-of-apps above it shows its health (as Argo CD does); every other app is untouched.
        above, parent = set(), broken.parent
        while parent and parent not in above:
            above.add(parent)
            found = snapshot.app(parent)
            parent = found.parent if found else ""
        assert all(snapshot.app(a).health == Health.DEGRADED for a in above)  # type: ignore[union-attr]
        others = [a for a in snapshot.apps if a.name != app and a.name not in above]
        assert all(a.health == Health.HEALTHY for a in others), "the broken commit touched only one app"
        print(f"{sample}: {app} Degraded {took:.1f} s after the rollback to the broken commit")

        # Back to Git's HEAD, the fix.
        agent.send(Resume(app))
        agent.wait_idle(60)
        snapshot, _took = wait_for(
            agent,
            lambda s: _holds(agent, s, app, sha["fix"]) and all_synced_and_healthy(s),
            "Healthy at the fix",
        )
        fixed = snapshot.app(app)
        assert fixed is not None and fixed.sync == SyncStatus.SYNCED and not fixed.rolled_back
