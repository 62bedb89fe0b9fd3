"""Revert a commit in the env repo as a new commit: the one place the sandbox writes to it.

It runs the real git CLI, not a library, so the user's hooks, signing and config apply as
they would to their own `git revert`. Every check that can refuse runs before anything is
written, and when git itself stops (a conflict, a hook, signing) the repository is put back
exactly as it was: the user's repo is theirs, and a half-done revert in it is a bug.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sandbox.agent.snapshot import RevertTarget
from sandbox.source.appconfig import CONFIG_FILE
from sandbox.source.envrepo import EnvRepo, EnvRepoError

TRAILER = "Reverted-by: gitops-sandbox"
FALLBACK_NAME = "gitops-sandbox"
FALLBACK_EMAIL = "gitops-sandbox@localhost"

# Markers of an operation git has in progress; reverting on top of one would tangle the two.
_IN_PROGRESS = {
    "MERGE_HEAD": "a merge",
    "rebase-merge": "a rebase",
    "rebase-apply": "a rebase (or git am)",
    "CHERRY_PICK_HEAD": "a cherry-pick",
    "REVERT_HEAD": "a revert",
    "sequencer": "a cherry-pick or revert sequence",
}

# Files in the git dir that a failed `git revert` (or its --abort) writes; restored on refusal.
_SCRATCH = ("MERGE_MSG", "AUTO_MERGE", "ORIG_HEAD", "COMMIT_EDITMSG", "REVERT_HEAD")

# Variables that would point git at another repository than the one we were given (they are
# set when the sandbox itself is started from inside a git hook).
_REPO_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_COMMON_DIR")


class RevertError(Exception):
    """A revert did not happen."""


class RevertRefused(RevertError):
    """The revert was refused or abandoned, and the repository is exactly as it was."""


@dataclass(frozen=True)
class RevertResult:
    new_sha: str
    reverted_sha: str
    message: str  # the new commit's full message
    undo_hint: str


def revert_commit(repo_path: Path, sha: str, branch: str | None = None) -> RevertResult:
    """Revert `sha` on the current branch of the repo at `repo_path` as one new commit.

    Raises RevertRefused, with the repository untouched, when the working tree or git's state
    makes a revert unsafe, HEAD is not on `branch` (or is detached), `sha` is not in HEAD's
    history, or the revert conflicts.
    """
    git = _Git(Path(repo_path))
    git.check_repository()
    head_ref, head = _safe_head(git, branch)
    target = _revertible(git, sha, head_ref, head)
    parents = git.out("rev-list", "--parents", "-n", "1", target).split()[1:]
    scratch = git.snapshot(_SCRATCH)
    args = ["revert", "--edit", "--cleanup=strip"]
    if len(parents) > 1:
        args += ["-m", "1"]  # the branch the merge landed on is the mainline to go back to
    proc = git.run(*git.identity_overrides(), *args, target, write=True)
    new_head = git.out("rev-parse", "-q", "--verify", "HEAD", check=False)
    if new_head != head:
        # Decided by HEAD, not the exit code: a post-commit hook can fail after the commit exists.
        if git.out("rev-parse", f"{new_head}^") != head:
            raise RevertError(f"{git.where}: HEAD moved unexpectedly during the revert (now {new_head})")
        message = git.out("log", "-1", "--format=%B", new_head)
        return RevertResult(new_head, target, message, f"undo with: git revert {new_head}")
    conflicts = git.out("diff", "--name-only", "--diff-filter=U", check=False).splitlines()
    staged = git.run("diff", "--cached", "--quiet").returncode != 0
    git.restore(head, scratch)
    if conflicts:
        reason = f"reverting {target[:12]} conflicts with later changes in {_list(conflicts)}"
    elif not staged and "nothing to commit" in proc.stdout + proc.stderr:
        reason = f"reverting {target[:12]} changes nothing: its changes are already undone at HEAD"
    else:
        reason = f"git revert failed: {_last_lines(proc.stderr or proc.stdout)}"
    raise RevertRefused(f"{git.where}: {reason}; nothing was changed")


def _safe_head(git: _Git, branch: str | None) -> tuple[str, str]:
    """(HEAD's ref, HEAD's commit) when a revert may commit there: no git operation in
    progress, HEAD on ``branch`` (not detached), and no uncommitted change to a tracked file."""
    markers = git.git_paths(list(_IN_PROGRESS))
    busy = [what for name, what in _IN_PROGRESS.items() if markers[name].exists()]
    if busy:
        raise RevertRefused(f"{git.where}: {busy[0]} is in progress; finish or abort it before reverting")
    head_ref = git.out("symbolic-ref", "-q", "HEAD", check=False)
    if not head_ref:
        # A commit on a detached HEAD belongs to no branch the sandbox watches, and is easily lost.
        raise RevertRefused(f"{git.where}: HEAD is detached; check out a branch before reverting")
    if branch is not None:
        wanted = branch if branch.startswith("refs/") else f"refs/heads/{branch}"
        if head_ref != wanted:
            raise RevertRefused(
                f"{git.where}: HEAD is on {_short(head_ref)}, not {_short(wanted)}; "
                f"check out {_short(wanted)} before reverting"
            )
    head = git.out("rev-parse", "-q", "--verify", "HEAD^{commit}", check=False)
    if not head:
        raise RevertRefused(f"{git.where}: {_short(head_ref)} has no commits yet")
    files = git.changed_tracked_files()
    if files:
        raise RevertRefused(
            f"{git.where}: uncommitted changes to tracked files ({_list(files)}); "
            "commit or stash them before reverting"
        )
    return head_ref, head


def _revertible(git: _Git, sha: str, head_ref: str, head: str) -> str:
    """The full sha of ``sha``, a commit already in the branch's history."""
    if not sha or sha.startswith("-"):
        raise RevertRefused(f"{sha!r} is not a commit")
    target = git.out("rev-parse", "-q", "--verify", f"{sha}^{{commit}}", check=False)
    if not target:
        raise RevertRefused(f"{git.where}: no commit {sha!r} in this repository")
    ancestor = git.run("merge-base", "--is-ancestor", target, head)
    if ancestor.returncode == 1:
        raise RevertRefused(
            f"{git.where}: {target[:12]} is not in the history of {_short(head_ref)}; "
            "only commits already on the branch can be reverted"
        )
    if ancestor.returncode != 0:
        raise RevertError(f"git merge-base failed: {ancestor.stderr.strip()}")
    return target


class _Git:
    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self.where = str(repo)
        self.env = {k: v for k, v in os.environ.items() if k not in _REPO_ENV}

    def run(self, *args: str, write: bool = False) -> subprocess.CompletedProcess[str]:
        env = dict(self.env)
        if write:
            # The default revert message plus our trailer, added by git's own trailer tool as
            # the "editor", so the commit still goes through git revert with its hooks.
            env["GIT_EDITOR"] = f"git interpret-trailers --in-place --trailer '{TRAILER}'"
        else:
            # Reads must not refresh the index: a refusal leaves even .git/index untouched.
            env["GIT_OPTIONAL_LOCKS"] = "0"
        try:
            return subprocess.run(
                ["git", "-C", str(self.repo), *args],
                capture_output=True,
                text=True,
                env=env,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except FileNotFoundError as exc:
            raise RevertRefused("git is not installed (or not on PATH)") from exc

    def out(self, *args: str, check: bool = True) -> str:
        proc = self.run(*args)
        if check and proc.returncode != 0:
            raise RevertError(f"git {' '.join(args)} failed: {_last_lines(proc.stderr)}")
        return proc.stdout.strip() if proc.returncode == 0 else ""

    def changed_tracked_files(self) -> list[str]:
        """Tracked files that differ from HEAD in the index or working tree (staged or not)."""
        proc = self.run("status", "--porcelain=v1", "-z", "--untracked-files=no")
        if proc.returncode != 0:
            raise RevertError(f"git status failed: {_last_lines(proc.stderr)}")
        entries = iter(proc.stdout.split("\0"))
        files = []
        for entry in entries:
            if not entry:
                continue
            files.append(entry[3:])
            if "R" in entry[:2] or "C" in entry[:2]:
                next(entries, None)  # -z puts a rename's source path in the next entry
        return files

    def check_repository(self) -> None:
        if not self.repo.is_dir():
            raise RevertRefused(f"{self.where}: no such directory")
        proc = self.run("rev-parse", "--is-bare-repository")
        if proc.returncode != 0:
            raise RevertRefused(f"{self.where}: not a git repository")
        if proc.stdout.strip() == "true":
            raise RevertRefused(f"{self.where}: a bare repository has no working tree to revert in")

    def git_paths(self, names: list[str]) -> dict[str, Path]:
        # --git-path, not .git/<name>: worktrees and GIT_COMMON_DIR layouts put these elsewhere.
        args = [a for name in names for a in ("--git-path", name)]
        lines = self.out("rev-parse", *args).splitlines()
        return {name: _absolute(self.repo, line) for name, line in zip(names, lines, strict=True)}

    def snapshot(self, names: tuple[str, ...]) -> dict[Path, bytes | None]:
        return {path: _read(path) for path in self.git_paths(list(names)).values()}

    def restore(self, head: str, scratch: dict[Path, bytes | None]) -> None:
        """Undo a revert git stopped partway, back to `head` and the git dir as it was."""
        markers = self.git_paths(["REVERT_HEAD", "sequencer"])
        if any(p.exists() for p in markers.values()):
            self.run("revert", "--abort", write=True)
        if self.out("rev-parse", "-q", "--verify", "HEAD", check=False) != head:
            raise RevertError(f"{self.where}: could not restore HEAD to {head}; check `git status`")
        if self.run("diff", "--quiet", "HEAD").returncode != 0 or self.out(
            "diff", "--name-only", "--diff-filter=U"
        ):
            # Some failures (editor, signing) stop without REVERT_HEAD, so --abort cannot help;
            # tracked files were clean before, so resetting to HEAD loses nothing of the user's.
            reset = self.run("reset", "-q", "--merge", head, write=True)
            if reset.returncode != 0:
                raise RevertError(
                    f"{self.where}: a failed revert left changes that could not be undone "
                    f"({_last_lines(reset.stderr)}); check `git status`"
                )
        for path, data in scratch.items():
            if data is None:
                path.unlink(missing_ok=True)
            elif _read(path) != data:
                path.write_bytes(data)

    def identity_overrides(self) -> list[str]:
        """`-c` options for whichever of name and email git has no configured value for."""
        env = self.env
        name = self._config("user.name") or (
            (self._config("author.name") or env.get("GIT_AUTHOR_NAME"))
            and (self._config("committer.name") or env.get("GIT_COMMITTER_NAME"))
        )
        email = (
            self._config("user.email")
            or env.get("EMAIL")
            or (
                (self._config("author.email") or env.get("GIT_AUTHOR_EMAIL"))
                and (self._config("committer.email") or env.get("GIT_COMMITTER_EMAIL"))
            )
        )
        overrides = []
        if not name:
            overrides += ["-c", f"user.name={FALLBACK_NAME}"]
        if not email:
            overrides += ["-c", f"user.email={FALLBACK_EMAIL}"]
        return overrides

    def _config(self, key: str) -> str:
        return self.out("config", "--get", key, check=False)


def _absolute(repo: Path, path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() else repo / p


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return None


def _short(ref: str) -> str:
    return ref.removeprefix("refs/heads/")


def _list(files: list[str], most: int = 5) -> str:
    shown = ", ".join(files[:most])
    return shown + (f" and {len(files) - most} more" if len(files) > most else "")


def _last_lines(text: str, count: int = 8) -> str:
    # git's own words, minus the hints that tell the user to run --continue/--abort themselves.
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("hint:")]
    return " / ".join(lines[-count:]) or "no output"


def choose_target(
    repo: EnvRepo, app_path: str, head: str, deployed: str | None, *, head_failed: bool, degraded: bool,
    paused: bool,
) -> RevertTarget | None:  # fmt: skip
    """What revert undoes when no commit is named.

    When Git's head failed to sync (or synced and turned Degraded), the commit that broke the
    app: reverting the deployed, good commit would keep the breakage and throw a good change
    away. When rolled back, the head that was rolled back from. Else the deployed revision's
    newest commit that changed the app (a later commit may have touched only other apps).
    """
    if not head:
        return None
    if paused:
        return _target(repo, head, "rolled back from it")
    if head_failed:
        return _target(repo, _newest_touching(repo, app_path, head, stop=deployed), "its sync failed")
    if deployed == head and degraded:
        return _target(repo, _newest_touching(repo, app_path, head, stop=None), "it turned Degraded")
    return _target(repo, _newest_touching(repo, app_path, deployed or head, stop=None), "deployed")


def _target(repo: EnvRepo, sha: str, why: str) -> RevertTarget:
    try:
        subject = repo.commit_info(sha).subject
    except EnvRepoError:
        subject = ""
    return RevertTarget(sha, subject, why)


def _newest_touching(repo: EnvRepo, app_path: str, start: str, stop: str | None, limit: int = 50) -> str:
    """The newest commit from ``start`` back (to ``stop``, excluded) that changed the app's folder
    or sandbox.yaml; ``start`` itself when none did (a Kustomize base elsewhere, say)."""
    prefix = "" if app_path in ("", ".") else app_path.rstrip("/") + "/"
    try:
        for commit in repo.commits(start, limit=limit):
            if commit.sha == stop:
                break
            parent = commit.parents[0] if commit.parents else None
            changed = repo.changed_paths(parent, commit.sha)
            if any(p.startswith(prefix) or p == CONFIG_FILE for p in changed):
                return commit.sha
    except EnvRepoError:
        pass
    return start
