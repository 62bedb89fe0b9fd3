"""Env repos that are not (yet) what they should be: the exit code says so, in one line.

2 when a command could not start (no env repo there, a ref it lacks), 1 when it ran and
failed (a sandbox.yaml that does not read, a corrupt object database), never 0, and never a
traceback. Fixtures are under tests/repos/states/.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from clikit import REPOS, Cli, cm_path, commit_fixture, live, output, repo_from_fixture, shown, uid
from gitkit import git

from sandbox import session
from sandbox.cluster.local import LocalRuntime
from sandbox.kube.client import Kube

STATES = REPOS / "states"


def _cli(repo: Path, tmp_path: Path, runtime: LocalRuntime) -> Cli:
    return Cli(repo, tmp_path / "state", runtime)


def _refused(proc: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    said = output(proc)
    assert proc.returncode == code, shown(proc)
    assert "Traceback" not in said, said
    for needle in needles:
        assert needle in said, f"{needle!r} not in:\n{said}"
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == len(set(errors)), f"an error said twice: {errors}"


@pytest.mark.parametrize("command", ["sync", "status", "diff", "history"])
def test_a_folder_that_does_not_exist_is_refused_before_anything_starts(
    command: str, tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    proc = _cli(tmp_path / "nowhere", tmp_path, local_runtime)(command)
    if command == "history":  # reads the history file only: none is there, nothing to list
        assert proc.returncode == 0 and "Traceback" not in output(proc), shown(proc)
        return
    _refused(proc, 2, "does not exist")


@pytest.mark.parametrize("command", ["sync", "status", "diff"])
def test_a_folder_that_is_not_a_git_repository_is_refused(
    command: str, tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    folder = tmp_path / "plain"
    (folder / "web").mkdir(parents=True)
    (folder / "web" / "settings.yaml").write_text((STATES / "good" / "web" / "settings.yaml").read_text())
    _refused(_cli(folder, tmp_path, local_runtime)(command), 2, "not a git repository", "git init")


@pytest.mark.parametrize("command", ["sync", "status", "check"])
def test_a_repository_without_commits_is_refused(
    command: str, tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    repo = tmp_path / "env"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    args = ("--ref", "main") if command == "check" else ()
    _refused(_cli(repo, tmp_path, local_runtime)(command, *args), 2, "no commits")


def test_a_subfolder_of_an_env_repo_is_refused_with_the_fix(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    repo, _c1 = repo_from_fixture(tmp_path / "env", STATES / "good", {"uid": uid()}, "first")
    _refused(_cli(repo / "web", tmp_path, local_runtime)("sync"), 2, "not a git repository", "top folder")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("check", "--ref", "no-such-branch"), "no-such-branch"),
        (("check", "--ref=--upload-pack=touch /tmp/pwned"), "not a branch name"),
        (("diff", "--ref", "no-such-branch"), "no-such-branch"),
        (("diff", "--ref=-x"), "not a revision"),  # argparse takes "--ref -x" as a missing value
    ],
)
def test_a_ref_the_repo_lacks_or_one_that_looks_like_an_option_exits_2(
    args: tuple[str, ...], needle: str, tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    repo, _c1 = repo_from_fixture(tmp_path / "env", STATES / "good", {"uid": uid()}, "first")
    cli = _cli(repo, tmp_path, local_runtime)
    assert cli("sync").returncode == 0
    _refused(cli(*args), 2, needle)
    assert not Path("/tmp/pwned").exists()


@pytest.mark.parametrize(
    ("fixture", "needles"),
    [
        ("bad-config", ("sandbox.yaml:4", "invalid YAML")),
        ("empty-config", ("sandbox.yaml", "is empty")),
        ("duplicate-apps", ("sandbox.yaml", "used 2 times")),
    ],
)
def test_a_first_sandbox_yaml_that_does_not_read_fails_and_is_recorded(
    fixture: str, needles: tuple[str, ...], tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    names = {"uid": uid()}
    repo, c1 = repo_from_fixture(tmp_path / "env", STATES / fixture, names, "first")
    cli = _cli(repo, tmp_path, local_runtime)
    _refused(cli("sync"), 1, *needles)
    status = cli("status")
    assert status.returncode == 1, shown(status)
    rows = [(r["app"], r["revision"], r["result"]) for r in cli.history_rows()]
    # Under the app the problem names (an app listed twice), else under the env repo.
    owner = f"web{names['uid']}" if fixture == "duplicate-apps" else ""
    assert (owner, c1, "Failed") in rows, rows
    assert (owner or "(env repo)") in cli("history").stdout


def test_a_sandbox_yaml_broken_after_a_deploy_keeps_every_app_and_fails(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    names = {"uid": uid()}
    repo, _c1 = repo_from_fixture(tmp_path / "env", STATES / "good", names, "first")
    cli = _cli(repo, tmp_path, local_runtime)
    assert cli("sync").returncode == 0
    bad = commit_fixture(repo, STATES / "bad-config", names, "break sandbox.yaml")
    _refused(cli("sync"), 1, "sandbox.yaml:4", "invalid YAML")
    app = f"web{names['uid']}"
    kube = Kube(local_runtime.kubeconfig_path, local_runtime.context)
    try:
        assert (live(kube, cm_path(app, "settings")) or {}).get("data") == {"v": "1"}, "nothing is pruned"
    finally:
        kube.close()
    rows = [(r["app"], r["revision"], r["result"]) for r in cli.history_rows()]
    assert (app, bad, "Failed") in rows, rows


def test_a_sandbox_yaml_that_is_a_symlink_out_of_the_repo_is_refused_not_ignored(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    names = {"uid": uid()}
    repo, _c1 = repo_from_fixture(tmp_path / "env", STATES / "good", names, "first")
    cli = _cli(repo, tmp_path, local_runtime)
    assert cli("sync").returncode == 0
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text((repo / "sandbox.yaml").read_text())
    (repo / "sandbox.yaml").unlink()
    os.symlink(outside, repo / "sandbox.yaml")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "sandbox.yaml points out of the repo")
    _refused(cli("sync"), 1, "sandbox.yaml", "symlink")
    states = cli("status", "--json")
    assert f'"name": "web{names["uid"]}"' in states.stdout, "the app keeps its name: no fallback to folders"
    assert '"name": "web"' not in states.stdout


def test_a_corrupt_object_database_says_which_object_and_to_run_git_fsck(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    repo, _c1 = repo_from_fixture(tmp_path / "env", STATES / "good", {"uid": uid()}, "first")
    blob = git(repo, "rev-parse", "HEAD:web/settings.yaml")
    loose = repo / ".git" / "objects" / blob[:2] / blob[2:]
    loose.chmod(0o644)
    loose.write_bytes(b"BAD")
    # The one app that reads the object fails, naming the file; the tree still reads.
    _refused(_cli(repo, tmp_path, local_runtime)("sync"), 1, "web/settings.yaml", "corrupt", "git fsck")


def test_a_second_env_repo_with_the_same_app_name_never_prunes_the_firsts_objects(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    names = {"uid": uid()}
    app = f"shared{names['uid']}"
    first, _ = repo_from_fixture(tmp_path / "first", REPOS / "tworepos" / "first", names, "first repo")
    second, _ = repo_from_fixture(tmp_path / "second", REPOS / "tworepos" / "second", names, "second repo")
    assert _cli(first, tmp_path / "one", local_runtime)("sync").returncode == 0
    kube = Kube(local_runtime.kubeconfig_path, local_runtime.context)
    try:
        refused = _cli(second, tmp_path / "two", local_runtime)("sync")
        _refused(refused, 1, app, "belongs to the env repo", str(first))
        assert "GITOPS_SANDBOX_STATE_DIR" in output(refused), (
            "the fix that works for every repo, flux-system too"
        )
        assert [n for n in ("a", "b", "c") if live(kube, cm_path(app, n))] == ["a", "b"], (
            "nothing of the first lost"
        )
        status = _cli(second, tmp_path / "two", local_runtime)("status")
        assert status.returncode == 1 and "belongs to the env repo" in output(status), shown(status)
        # The first repo gone (moved or deleted): its apps are the second's to drive.
        subprocess.run(["rm", "-rf", str(first)], check=True)
        adopted = _cli(second, tmp_path / "two", local_runtime)("sync")
        assert adopted.returncode == 0, shown(adopted)
        assert [n for n in ("a", "b", "c") if live(kube, cm_path(app, n))] == ["c"]
    finally:
        kube.close()


def test_history_of_a_repo_never_synced_lists_nothing_and_creates_nothing(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    repo, _c1 = repo_from_fixture(tmp_path / "env", STATES / "good", {"uid": uid()}, "first")
    cli = _cli(repo, tmp_path, local_runtime)
    proc = cli("history")
    assert proc.returncode == 0 and "Traceback" not in output(proc), shown(proc)
    assert not cli.history_path.exists()
    with pytest.raises(sqlite3.OperationalError):
        sqlite3.connect(f"file:{cli.history_path}?mode=ro", uri=True).execute("SELECT 1")


def test_a_worktree_of_the_env_repo_is_the_same_repo_and_drives_its_apps(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    """`git worktree add` makes another checkout of one repository: its apps are that repo's,
    never refused as another env repo's (a repository is known by its common git dir), while a
    truly different repo with the same app name is still refused (the test above)."""
    names = {"uid": uid()}
    app = f"shared{names['uid']}"
    main, _ = repo_from_fixture(tmp_path / "main", REPOS / "tworepos" / "first", names, "first repo")
    assert _cli(main, tmp_path / "one", local_runtime)("sync").returncode == 0
    worktree = tmp_path / "review"
    git(main, "worktree", "add", "-q", "-b", "review", str(worktree))
    (worktree / "shared" / "c.yaml").write_text(
        (worktree / "shared" / "a.yaml").read_text().replace("name: a", "name: c")
    )
    git(worktree, "add", "-A")
    git(worktree, "commit", "-q", "-m", "c too, on review")
    synced = _cli(worktree, tmp_path / "two", local_runtime)("sync")
    assert synced.returncode == 0, shown(synced)
    assert "belongs to the env repo" not in output(synced)
    kube = Kube(local_runtime.kubeconfig_path, local_runtime.context)
    try:
        assert live(kube, cm_path(app, "c")) is not None
    finally:
        kube.close()


@pytest.mark.parametrize("command", ["sync", "status", "diff"])
def test_a_flux_repo_of_several_cluster_entries_asks_which_before_anything_starts(
    command: str, tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    """Which cluster to run is the user's to say: asked at once, exit 2 (the command could not
    start), before a cluster or an agent starts; with --entry it runs."""
    repo, _c1 = repo_from_fixture(tmp_path / "env", REPOS / "flux" / "unbootstrapped", {}, "two clusters")
    cli = _cli(repo, tmp_path, local_runtime)
    _refused(
        cli(command),
        2,
        "2 cluster entries (clusters/production, clusters/staging)",
        "--entry clusters/production",
    )
    assert not cli.history_path.exists(), "no agent started"
    # Named, it runs (status: the fixture's apps are no uid's, and a sync would leave a
    # flux-system app on the shared cluster that other tests' repos then could not sync).
    chosen = cli("status", "--entry", "clusters/staging")
    assert "cluster entries" not in output(chosen) and "tenants" in chosen.stdout, shown(chosen)


@pytest.mark.parametrize("command", ["sync", "status"])
def test_an_entry_that_is_a_file_is_refused_before_anything_starts(
    command: str, tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    repo, _c1 = repo_from_fixture(tmp_path / "env", REPOS / "argocd" / "two-clusters", {}, "two clusters")
    cli = _cli(repo, tmp_path, local_runtime)
    _refused(cli(command, "--entry", "clusters/east/web.yaml"), 2, "it is a file", "(--entry clusters/east)")
    assert not cli.history_path.exists(), "no agent started"


def test_a_command_naming_no_entry_runs_from_the_one_the_last_agent_ran(
    tmp_path: Path, local_runtime: LocalRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`watch --entry clusters/staging` runs in one terminal; `status` in another names no
    entry: it reads the same apps, and says so, instead of asking again."""
    repo, _c1 = repo_from_fixture(tmp_path / "env", REPOS / "flux" / "unbootstrapped", {}, "two clusters")
    cli = _cli(repo, tmp_path, local_runtime)
    monkeypatch.setenv("GITOPS_SANDBOX_STATE_DIR", str(cli.state))
    session.remember_entry(repo, "clusters/staging")  # as started_agent does for an agent run so
    assert cli.history_path.with_suffix(".entry").read_text() == "clusters/staging\n"

    status = cli("status")
    assert "tenants" in status.stdout and "cluster entries (" not in status.stderr, shown(status)
    assert "note: --entry clusters/staging, the entry the last agent on this repo ran from" in status.stderr
    named = cli("status", "--entry", "clusters/production")
    assert "the last agent" not in named.stderr, "an entry named is the one run"
    git(repo, "rm", "-rq", "clusters/staging")
    git(repo, "commit", "-qm", "staging gone")
    alone = cli("status")
    assert "the last agent" not in alone.stderr and "cluster entries (" not in alone.stderr, (
        "a remembered entry gone from Git is not run; the one entry left is no question"
    )


def test_status_without_a_cluster_says_the_problems_an_apps_render_finds(tmp_path: Path) -> None:
    import sys

    from gitkit import commit

    repo = tmp_path / "env"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, {"web/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata:\n  a: '1'\n  a: '2'\n",
                  "broken/cm.yaml": "kind: [\n"}, "a broken app beside a good one")  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "sandbox.cli", "status", "-C", str(repo), "--runtime", "local"],
        capture_output=True, text=True, env={**os.environ, "GITOPS_SANDBOX_STATE_DIR": str(tmp_path / "state")},
        timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2, shown(proc)
    assert "broken: broken/cm.yaml:1: invalid YAML" in proc.stdout, shown(proc)
    verbose = subprocess.run(
        [sys.executable, "-m", "sandbox.cli", "status", "-v", "-C", str(repo), "--runtime", "local"],
        capture_output=True, text=True, env={**os.environ, "GITOPS_SANDBOX_STATE_DIR": str(tmp_path / "state")},
        timeout=60,
    )  # fmt: skip
    assert "note: web/cm.yaml:6" in verbose.stdout and "twice" in verbose.stdout, shown(verbose)


def test_status_without_a_cluster_still_says_what_git_holds_and_starts_nothing(tmp_path: Path) -> None:
    """No cluster runs: status cannot compare, so it exits 2, but it still lists the apps Git
    defines (sync and health Unknown) and their problems, and creates nothing."""
    import sys

    repo, _c1 = repo_from_fixture(tmp_path / "env", STATES / "good", {"uid": uid()}, "first")
    state = tmp_path / "state"
    proc = subprocess.run(
        [sys.executable, "-m", "sandbox.cli", "status", "-C", str(repo), "--runtime", "local"],
        capture_output=True, text=True, env={**os.environ, "GITOPS_SANDBOX_STATE_DIR": str(state)}, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2, shown(proc)
    assert "cluster is absent" in proc.stderr and "Traceback" not in output(proc), shown(proc)
    rows = [line.split() for line in proc.stdout.splitlines() if line.startswith("web")]
    assert rows and rows[0][1:3] == ["Unknown", "Unknown"], proc.stdout
    assert not state.exists() or not any(state.rglob("*")), "a command that only looks creates nothing"
    as_json = subprocess.run(
        [sys.executable, "-m", "sandbox.cli", "status", "-C", str(repo), "--runtime", "local", "--json"],
        capture_output=True, text=True, env={**os.environ, "GITOPS_SANDBOX_STATE_DIR": str(state)}, timeout=60,
    )  # fmt: skip
    assert as_json.returncode == 2 and "cluster is absent" in as_json.stderr, shown(as_json)
    apps = json.loads(as_json.stdout)["apps"]
    assert [(a["sync"], a["health"]) for a in apps if a["name"].startswith("web")] == [("Unknown", "Unknown")]
