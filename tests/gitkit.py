"""Real git repositories for engine tests, with the user's own git config kept out."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def git_env(name: str = "Test", email: str = "test@example.com") -> dict[str, str]:
    """An environment where git reads no global or system config and commits as ``name``."""
    return {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
    }


GIT_ENV = git_env()


def git(repo: Path, *args: str, env: dict[str, str] = GIT_ENV) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


def write(repo: Path, files: dict[str, str | bytes]) -> None:
    for rel, content in files.items():
        path = repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def commit(
    repo: Path,
    files: dict[str, str | bytes] | None = None,
    message: str = "change",
    env: dict[str, str] = GIT_ENV,
) -> str:
    write(repo, files or {})
    git(repo, "add", "-A", env=env)
    git(repo, "commit", "-q", "--allow-empty", "-m", message, env=env)
    return git(repo, "rev-parse", "HEAD", env=env)


def snapshot(repo: Path) -> tuple[str, dict[str, bytes]]:
    """Everything a render must not change: status, index, HEAD and every working file."""
    files = {
        str(p.relative_to(repo)): p.read_bytes()
        for p in sorted(repo.rglob("*"))
        if p.is_file() and not p.is_symlink() and ".git" not in p.relative_to(repo).parts
    }
    files[".git/index"] = (repo / ".git" / "index").read_bytes()
    files[".git/HEAD"] = (repo / ".git" / "HEAD").read_bytes()
    return git(repo, "status", "--porcelain", "--untracked-files=all"), files
