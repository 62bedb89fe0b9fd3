"""The headless CLI as a user runs it, pointed at the test cluster as an `existing` runtime."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentkit import commit, configmap, git, new_repo, unique
from sandbox.cluster.local import LocalRuntime

UNSCHEDULABLE = """apiVersion: apps/v1
kind: Deployment
metadata: {{name: hungry}}
spec:
  progressDeadlineSeconds: 3
  selector: {{matchLabels: {{app: hungry}}}}
  template:
    metadata: {{labels: {{app: hungry}}}}
    spec:
      containers:
        - name: main
          image: nginx:1.27-alpine
          resources: {{requests: {{cpu: "5000"}}}}
"""


class Cli:
    def __init__(self, repo: Path, state: Path, runtime: LocalRuntime) -> None:
        self.repo = repo
        self.env = dict(os.environ, GITOPS_SANDBOX_STATE_DIR=str(state))
        self.target = [
            "--runtime", "existing", "--context", runtime.context,
            "--kubeconfig", str(runtime.kubeconfig_path),
        ]  # fmt: skip

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        command, rest = args[0], args[1:]
        return subprocess.run(
            [sys.executable, "-m", "sandbox.cli", command, "-C", str(self.repo), *self.target, *rest],
            capture_output=True, text=True, env=self.env, timeout=300,
        )  # fmt: skip


@pytest.fixture
def cli_repo(tmp_path: Path, local_runtime: LocalRuntime) -> tuple[Cli, str]:
    app = unique("cli")
    repo = new_repo(tmp_path / "env", {f"{app}/cm.yaml": configmap("conf", {"v": "1"})})
    return Cli(repo, tmp_path / "state", local_runtime), app


def test_sync_status_and_history_report_in_text_and_json(cli_repo: tuple[Cli, str]) -> None:
    cli, app = cli_repo
    synced = cli("sync", "--json")
    assert synced.returncode == 0, synced.stderr
    state = next(a for a in json.loads(synced.stdout)["apps"] if a["name"] == app)
    assert state["sync"] == "Synced"
    status = cli("status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert app in status.stdout and "Synced" in status.stdout and "Healthy" in status.stdout
    history = json.loads(cli("history", "--json").stdout)
    assert history[0]["app"] == app and history[0]["result"] == "Succeeded"
    assert history[0]["objects"][0]["key"] == f"ConfigMap {app}/conf"


def test_status_of_one_app_shows_that_app_and_its_exit_code_says_of_it_alone(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    good, bad = unique("good"), unique("bad")
    repo = new_repo(tmp_path / "env", {f"{good}/cm.yaml": configmap("conf", {"v": "1"}),
                                       f"{bad}/cm.yaml": "kind: ["})  # fmt: skip
    cli = Cli(repo, tmp_path / "state", local_runtime)
    assert cli("sync").returncode == 1, "bad does not render"
    alone = cli("status", "--app", good)
    assert alone.returncode == 0, alone.stdout + alone.stderr
    assert good in alone.stdout and bad not in alone.stdout
    assert "ConfigMap" in alone.stdout and "conf" in alone.stdout, (
        "its objects, as `argocd app get` lists them"
    )
    assert cli("status", "--app", bad).returncode == 1
    unknown = cli("status", "--app", "nowhere")
    assert unknown.returncode == 2 and "nowhere" in unknown.stderr
    assert f"(the apps: {bad}, {good})" in unknown.stderr, "the names it could have been"
    checked = cli("check", "--ref", "main", "--app", good, "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert [a["name"] for a in json.loads(checked.stdout)["apps"]] == [good], "the app asked about alone"
    assert bad not in checked.stderr, "another app's errors are not this check's"


def test_diff_exit_codes_follow_flux(cli_repo: tuple[Cli, str]) -> None:
    cli, app = cli_repo
    assert cli("sync").returncode == 0
    same = cli("diff", "--ref", "main")
    assert same.returncode == 0, same.stdout + same.stderr
    git(cli.repo, "checkout", "-q", "-b", "feature")
    commit(cli.repo, "change", {f"{app}/cm.yaml": configmap("conf", {"v": "2"})})
    git(cli.repo, "checkout", "-q", "main")
    changed = cli("diff", "--ref", "feature")
    assert changed.returncode == 1, changed.stdout + changed.stderr
    assert "-  v: '1'" in changed.stdout and "+  v: '2'" in changed.stdout
    missing = cli("diff", "--ref", "no-such-branch")
    assert missing.returncode == 2
    assert "no-such-branch" in missing.stderr and "Traceback" not in missing.stderr


def test_check_gates_a_broken_branch_with_exit_1_and_passes_a_good_one(cli_repo: tuple[Cli, str]) -> None:
    cli, app = cli_repo
    git(cli.repo, "checkout", "-q", "-b", "broken")
    commit(cli.repo, "needs more cpu than any node has", {f"{app}/hungry.yaml": UNSCHEDULABLE.format()})
    git(cli.repo, "checkout", "-q", "main")
    broken = cli("check", "--ref", "broken", "--timeout", "20")
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "Degraded" in broken.stdout and "hungry" in broken.stdout
    good = cli("check", "--ref", "main", "--timeout", "20")
    assert good.returncode == 0, good.stdout + good.stderr
    assert git(cli.repo, "rev-parse", "--abbrev-ref", "HEAD") == "main", "check never checks out"


def test_a_check_of_a_branch_that_does_not_render_names_what_runs_and_leaves_status_clean(
    cli_repo: tuple[Cli, str],
) -> None:
    """The check says the cluster still runs the old commit, not the branch; the check's failure
    is the branch's, so `status` of the followed branch, and the next agent, do not take it."""
    cli, app = cli_repo
    assert cli("sync").returncode == 0
    deployed = git(cli.repo, "rev-parse", "HEAD")
    git(cli.repo, "checkout", "-q", "-b", "broken")
    bad = commit(cli.repo, "not yaml", {f"{app}/cm.yaml": "data: [\n"})
    git(cli.repo, "checkout", "-q", "main")

    checked = cli("check", "--ref", "broken", "--timeout", "20")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert f"at {deployed[:7]}; broken ({bad[:7]}) was not deployed" in checked.stdout, checked.stdout
    assert f"at {deployed[:7]} (broken)" not in checked.stdout

    status = cli("status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "cm.yaml" not in status.stdout + status.stderr, status.stdout
    history = json.loads(cli("history", "--json").stdout)
    assert history[0]["trigger"] == "check" and history[0]["result"] == "Failed", history[0]
    synced = cli("sync")
    assert synced.returncode == 0, synced.stdout + synced.stderr


def test_a_second_agent_on_the_same_repo_is_refused_with_a_clear_message(cli_repo: tuple[Cli, str]) -> None:
    cli, _app = cli_repo
    watch = subprocess.Popen(
        [sys.executable, "-m", "sandbox.cli", "watch", "-C", str(cli.repo), *cli.target],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli.env,
    )  # fmt: skip
    try:
        assert watch.stdout is not None
        assert "synced" in watch.stdout.readline()
        second = cli("sync")
        assert second.returncode == 2
        assert "an agent is already running" in second.stderr
        # check keeps its settings aside, but drives the same apps: refused as well, before it runs
        git(cli.repo, "branch", "feature")
        checked = cli("check", "--ref", "feature", "--timeout", "10")
        assert checked.returncode == 2 and "an agent is already running" in checked.stderr, checked.stderr
        assert "Orphaned" not in checked.stdout, checked.stdout
    finally:
        watch.terminate()
        watch.wait(10)


def test_status_takes_the_repo_as_its_argument_and_ends_quietly_when_its_reader_goes_away(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    app = unique("many")
    many = "---\n".join(configmap(f"c{i}", {"v": "1"}) for i in range(1500))  # far more than a pipe holds
    repo = new_repo(tmp_path / "env", {f"{app}/cms.yaml": many})
    cli = Cli(repo, tmp_path / "state", local_runtime)
    named = subprocess.run(
        [sys.executable, "-m", "sandbox.cli", "status", str(repo), *cli.target],
        capture_output=True, text=True, env=cli.env, timeout=300,
    )  # fmt: skip
    assert app in named.stdout and "error" not in named.stderr, named.stdout + named.stderr

    # `status -v | head -1`: the pipe closes after one line; no traceback, SIGPIPE's exit code.
    shell = f"{sys.executable} -m sandbox.cli status -v {repo} {' '.join(cli.target)} | head -1; exit ${{PIPESTATUS[0]}}"
    piped = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, env=cli.env, timeout=300)
    assert "Traceback" not in piped.stderr and "BrokenPipeError" not in piped.stderr, piped.stderr
    assert piped.returncode == 141 and len(piped.stdout.splitlines()) == 1, (piped.returncode, piped.stderr)


def test_rollback_resume_and_revert_take_the_repo_and_the_app_as_every_command_does(
    cli_repo: tuple[Cli, str],
) -> None:
    """`status REPO` and `sync --app A` are how the other commands read their words; rollback,
    resume and revert read them so too (`revert REPO SHA`, `rollback --app A`), and keep their
    own (`rollback A`, `revert -C REPO SHA`)."""
    cli, app = cli_repo
    first = git(cli.repo, "rev-parse", "HEAD")
    assert cli("sync").returncode == 0
    second = commit(cli.repo, "v 2", {f"{app}/cm.yaml": configmap("conf", {"v": "2"})})
    assert cli("sync").returncode == 0

    def bare(*words: str) -> subprocess.CompletedProcess[str]:  # no -C: the repo is a word
        return subprocess.run([sys.executable, "-m", "sandbox.cli", *words, *cli.target],
                              capture_output=True, text=True, env=cli.env, timeout=300)  # fmt: skip

    rolled = bare("rollback", str(cli.repo), app, "--to", first)
    assert rolled.returncode == 0 and "undo:" in rolled.stdout, rolled.stdout + rolled.stderr
    resumed = cli("resume", "--app", app)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    reverted = bare("revert", str(cli.repo), second)
    assert reverted.returncode == 0, reverted.stdout + reverted.stderr
    assert f"reverts {second[:7]}" in reverted.stdout, reverted.stdout
    assert "v: '1'" in git(cli.repo, "show", f"HEAD:{app}/cm.yaml"), "the revert undid v 2"

    unnamed = cli("rollback")
    assert unnamed.returncode == 2 and "name the app: rollback APP (or --app APP)" in unnamed.stderr, (
        unnamed.stderr
    )
    two = cli("resume", app, "--app", "other")
    assert two.returncode == 2 and f"two apps named: {app} and --app other" in two.stderr, two.stderr
