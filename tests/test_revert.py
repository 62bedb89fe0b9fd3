"""Revert on real git repositories built with the git CLI in tmp_path.

Every refusal is checked against a full snapshot of the repository (porcelain status, HEAD,
refs, the git dir's state files and the bytes of every file in the working tree).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from sandbox.agent.revert import TRAILER, RevertRefused, RevertResult, revert_commit

USER_NAME = "Test User"
USER_EMAIL = "test@example.com"


@pytest.fixture(autouse=True)
def hermetic_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME whose git config holds only an identity, so the developer's config cannot leak in."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(
        f"[user]\n\tname = {USER_NAME}\n\temail = {USER_EMAIL}\n[init]\n\tdefaultBranch = main\n"
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    for var in (
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
        "EMAIL",
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_EDITOR",
    ):
        monkeypatch.delenv(var, raising=False)
    return home


def git(repo: Path, *args: str, check: bool = True) -> str:
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout.strip()


def commit(repo: Path, subject: str, files: dict[str, str | None]) -> str:
    for name, content in files.items():
        path = repo / name
        if content is None:
            git(repo, "rm", "-q", name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            git(repo, "add", name)
    git(repo, "commit", "-q", "-m", subject)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """An env repo with three commits on main touching separate files."""
    repo = tmp_path / "env"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, "Add app", {"apps/web/deploy.yaml": "replicas: 1\n", "README.md": "env\n"})
    commit(repo, "Scale web to 3", {"apps/web/deploy.yaml": "replicas: 3\n"})
    commit(repo, "Add api", {"apps/api/deploy.yaml": "image: api:1\n"})
    return repo


@dataclass(frozen=True)
class Snapshot:
    status: str
    head: str
    head_ref: str
    refs: str
    files: dict[str, bytes]
    git_state: dict[str, bytes | None]


_STATE_FILES = (
    "MERGE_HEAD",
    "MERGE_MSG",
    "AUTO_MERGE",
    "ORIG_HEAD",
    "CHERRY_PICK_HEAD",
    "REVERT_HEAD",
    "COMMIT_EDITMSG",
    "sequencer",
    "rebase-merge",
    "rebase-apply",
)


def snapshot(repo: Path) -> Snapshot:
    files = {
        str(p.relative_to(repo)): p.read_bytes()
        for p in sorted(repo.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(repo).parts
    }
    state: dict[str, bytes | None] = {}
    for name in _STATE_FILES:
        path = repo / ".git" / name
        if path.is_dir():
            state[name] = b"<dir>" + "\n".join(sorted(str(p) for p in path.rglob("*"))).encode()
        else:
            state[name] = path.read_bytes() if path.exists() else None
    return Snapshot(
        status=git(repo, "status", "--porcelain"),
        head=git(repo, "rev-parse", "HEAD"),
        head_ref=git(repo, "symbolic-ref", "-q", "HEAD", check=False),
        refs=git(repo, "for-each-ref"),
        files=files,
        git_state=state,
    )


def assert_refused_unchanged(repo: Path, sha: str, match: str, branch: str | None = None) -> RevertRefused:
    before = snapshot(repo)
    with pytest.raises(RevertRefused, match=match) as info:
        revert_commit(repo, sha, branch)
    assert snapshot(repo) == before
    return info.value


def count(repo: Path) -> int:
    return int(git(repo, "rev-list", "--count", "HEAD"))


# -- reverts that happen ------------------------------------------------------------------


def test_revert_of_normal_commit_restores_content_and_adds_one_commit(repo: Path) -> None:
    scale = git(repo, "rev-parse", "HEAD~1")
    head, commits = git(repo, "rev-parse", "HEAD"), count(repo)
    (repo / "notes.txt").write_text("untracked, and left alone\n")

    result = revert_commit(repo, scale[:8], branch="main")

    assert isinstance(result, RevertResult)
    assert result.reverted_sha == scale
    assert result.new_sha == git(repo, "rev-parse", "HEAD")
    assert git(repo, "rev-parse", "HEAD~1") == head
    assert count(repo) == commits + 1
    assert (repo / "apps/web/deploy.yaml").read_text() == "replicas: 1\n"
    assert (repo / "apps/api/deploy.yaml").read_text() == "image: api:1\n"  # later commit kept
    assert (repo / "notes.txt").read_text() == "untracked, and left alone\n"
    expected = f'Revert "Scale web to 3"\n\nThis reverts commit {scale}.\n\n{TRAILER}'
    assert git(repo, "log", "-1", "--format=%B") == expected
    assert result.message == expected
    assert result.undo_hint == f"undo with: git revert {result.new_sha}"
    assert git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>") == (
        f"{USER_NAME} <{USER_EMAIL}>|{USER_NAME} <{USER_EMAIL}>"
    )
    assert git(repo, "status", "--porcelain") == "?? notes.txt"
    for leftover in ("REVERT_HEAD", "MERGE_MSG", "sequencer"):
        assert not (repo / ".git" / leftover).exists()


def test_revert_of_head_and_full_branch_ref_accepted(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    result = revert_commit(repo, "HEAD", branch="refs/heads/main")
    assert result.reverted_sha == head
    assert not (repo / "apps/api").exists()


def test_revert_of_merge_commit_reverts_against_first_parent(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    commit(repo, "Add worker", {"apps/worker/deploy.yaml": "replicas: 2\n"})
    git(repo, "checkout", "-q", "main")
    commit(repo, "Bump api", {"apps/api/deploy.yaml": "image: api:2\n"})
    git(repo, "merge", "-q", "--no-ff", "-m", "Merge feature", "feature")
    merge = git(repo, "rev-parse", "HEAD")
    assert len(git(repo, "rev-list", "--parents", "-n", "1", merge).split()) == 3

    result = revert_commit(repo, merge, branch="main")

    # Undoing the merge removes what the feature branch brought and keeps main's own work.
    assert not (repo / "apps/worker").exists()
    assert (repo / "apps/api/deploy.yaml").read_text() == "image: api:2\n"
    assert git(repo, "rev-parse", "HEAD~1") == merge
    assert git(repo, "log", "-1", "--format=%s") == 'Revert "Merge feature"'
    assert result.message.endswith(TRAILER)


def test_revert_without_identity_uses_sandbox_identity_for_that_commit_only(
    repo: Path, hermetic_git: Path
) -> None:
    (hermetic_git / ".gitconfig").write_text("")
    result = revert_commit(repo, "HEAD")
    assert git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>", result.new_sha) == (
        "gitops-sandbox <gitops-sandbox@localhost>|gitops-sandbox <gitops-sandbox@localhost>"
    )
    assert git(repo, "config", "--get", "user.name", check=False) == ""
    assert (hermetic_git / ".gitconfig").read_text() == ""


def test_revert_runs_the_users_hooks(repo: Path) -> None:
    hook = repo / ".git" / "hooks" / "post-commit"
    hook.write_text('#!/bin/sh\ngit log -1 --format=%s > "$(git rev-parse --git-dir)/hook-saw"\n')
    hook.chmod(0o755)
    revert_commit(repo, "HEAD")
    assert (repo / ".git" / "hook-saw").read_text() == 'Revert "Add api"\n'


# -- refusals: the repository is left exactly as it was -----------------------------------


def test_refuses_unstaged_changes_to_tracked_files(repo: Path) -> None:
    (repo / "README.md").write_text("edited\n")
    error = assert_refused_unchanged(repo, "HEAD~1", "uncommitted changes")
    assert "README.md" in str(error)


def test_refuses_staged_changes(repo: Path) -> None:
    (repo / "apps/new.yaml").write_text("kind: ConfigMap\n")
    git(repo, "add", "apps/new.yaml")
    error = assert_refused_unchanged(repo, "HEAD~1", "uncommitted changes")
    assert "apps/new.yaml" in str(error)


def test_refuses_during_merge(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature", "HEAD~1")
    commit(repo, "Scale web to 5", {"apps/web/deploy.yaml": "replicas: 5\n"})
    git(repo, "checkout", "-q", "main")
    commit(repo, "Scale web to 4", {"apps/web/deploy.yaml": "replicas: 4\n"})
    git(repo, "merge", "feature", check=False)
    assert (repo / ".git" / "MERGE_HEAD").exists()
    assert_refused_unchanged(repo, "HEAD~2", "a merge is in progress")


def test_refuses_during_cherry_pick(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature", "HEAD~1")
    pick = commit(repo, "Scale web to 5", {"apps/web/deploy.yaml": "replicas: 5\n"})
    git(repo, "checkout", "-q", "main")
    commit(repo, "Scale web to 4", {"apps/web/deploy.yaml": "replicas: 4\n"})
    git(repo, "cherry-pick", pick, check=False)
    assert (repo / ".git" / "CHERRY_PICK_HEAD").exists()
    assert_refused_unchanged(repo, "HEAD~2", "cherry-pick is in progress")


def test_refuses_during_rebase(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature", "HEAD~1")
    commit(repo, "Scale web to 5", {"apps/web/deploy.yaml": "replicas: 5\n"})
    git(repo, "checkout", "-q", "main")
    commit(repo, "Scale web to 4", {"apps/web/deploy.yaml": "replicas: 4\n"})
    git(repo, "checkout", "-q", "feature")
    git(repo, "rebase", "main", check=False)
    assert (repo / ".git" / "rebase-merge").is_dir()
    assert_refused_unchanged(repo, "main~1", "a rebase is in progress")


def test_refuses_during_users_own_revert(repo: Path) -> None:
    commit(repo, "Scale web to 4", {"apps/web/deploy.yaml": "replicas: 4\n"})
    git(repo, "revert", "--no-edit", "HEAD~2", check=False)  # conflicts with the later scale
    assert (repo / ".git" / "REVERT_HEAD").exists()
    assert_refused_unchanged(repo, "HEAD~1", "a revert is in progress")


def test_refuses_when_head_is_not_on_branch(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    error = assert_refused_unchanged(repo, "HEAD~1", "HEAD is on feature, not main", branch="main")
    assert "check out main" in str(error)


def test_refuses_detached_head(repo: Path) -> None:
    git(repo, "checkout", "-q", "--detach", "HEAD")
    assert_refused_unchanged(repo, "HEAD~1", "detached")


def test_refuses_commit_not_in_history_of_head(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    elsewhere = commit(repo, "Feature only", {"feature.txt": "x\n"})
    git(repo, "checkout", "-q", "main")
    assert_refused_unchanged(repo, elsewhere, "not in the history of main")


def test_refuses_unknown_commit(repo: Path) -> None:
    assert_refused_unchanged(repo, "0" * 40, "no commit")
    assert_refused_unchanged(repo, "--hard", "not a commit")


def test_refuses_outside_a_repository(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(RevertRefused, match="not a git repository"):
        revert_commit(plain, "HEAD")


def test_conflicting_revert_is_aborted_cleanly_and_names_the_files(repo: Path) -> None:
    scale = git(repo, "rev-parse", "HEAD~1")
    commit(repo, "Scale web to 4", {"apps/web/deploy.yaml": "replicas: 4\n"})
    # An ORIG_HEAD from the user's earlier work must survive the abort byte for byte.
    git(repo, "reset", "-q", "--hard", "HEAD")
    (repo / ".git" / "ORIG_HEAD").write_text(scale + "\n")
    (repo / "scratch.txt").write_text("untracked\n")
    error = assert_refused_unchanged(repo, scale, "conflicts")
    assert "apps/web/deploy.yaml" in str(error)
    assert "nothing was changed" in str(error)


def test_revert_of_already_reverted_commit_refused_without_leftovers(repo: Path) -> None:
    api = git(repo, "rev-parse", "HEAD")
    revert_commit(repo, api)
    assert_refused_unchanged(repo, api, "changes nothing")


def test_revert_blocked_by_untracked_file_refused_unchanged(repo: Path) -> None:
    added = git(repo, "rev-parse", "HEAD")
    removal = commit(repo, "Remove api", {"apps/api/deploy.yaml": None})
    (repo / "apps/api").mkdir(parents=True, exist_ok=True)
    (repo / "apps/api/deploy.yaml").write_text("mine, untracked\n")
    assert added != removal
    assert_refused_unchanged(repo, removal, "untracked")


def test_revert_failing_at_commit_time_is_rolled_back(repo: Path) -> None:
    # Signing fails after git has applied the revert to the index and tree, without leaving
    # REVERT_HEAD behind: the path where --abort cannot help.
    git(repo, "config", "commit.gpgsign", "true")
    git(repo, "config", "gpg.program", "false")
    error = assert_refused_unchanged(repo, "HEAD~1", "git revert failed")
    assert "gpg" in str(error)
