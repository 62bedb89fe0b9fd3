"""Noticing commits in a real git repository, without reacting to mere reads."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from agentkit import commit, configmap, git, new_repo, wait_for
from sandbox.source.repowatch import RepoWatcher


def test_a_commit_is_noticed_within_a_second_and_reported_once(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "env", {"a/cm.yaml": configmap("a", {})})
    moves: list[tuple[str | None, str]] = []
    watcher = RepoWatcher(
        repo / ".git", lambda: git(repo, "rev-parse", "HEAD"), lambda o, n: moves.append((o, n))
    )
    watcher.start()
    try:
        old = git(repo, "rev-parse", "HEAD")
        new = commit(repo, "second", {"a/cm.yaml": configmap("a", {"v": "2"})})
        started = time.monotonic()
        wait_for(lambda: moves, 1.0, 0.005, "the commit noticed")
        assert time.monotonic() - started < 1.0
        time.sleep(0.3)
        assert moves == [(old, new)]
    finally:
        watcher.stop()


def test_reading_the_repository_does_not_wake_the_watcher(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "env", {"a/cm.yaml": configmap("a", {})})
    reads = 0
    lock = threading.Lock()

    def read_head() -> str:
        nonlocal reads
        with lock:
            reads += 1
        return git(repo, "rev-parse", "HEAD")

    watcher = RepoWatcher(repo / ".git", read_head, lambda o, n: None)
    watcher.start()
    try:
        time.sleep(0.2)
        before = reads
        for _ in range(20):
            git(repo, "rev-parse", "HEAD")
            git(repo, "log", "-1")
        time.sleep(0.5)
        assert reads - before <= 1, "reads of HEAD must not trigger re-reads (only the 5 s poll may)"
    finally:
        watcher.stop()


def test_a_folder_that_becomes_a_repository_is_noticed_by_the_poll(tmp_path: Path) -> None:
    folder = tmp_path / "later"
    folder.mkdir()

    def read_head() -> str | None:
        try:
            return git(folder, "rev-parse", "HEAD")
        except Exception:  # not a repository, or no commits yet
            return None

    moves: list[str] = []
    watcher = RepoWatcher(folder / ".git", read_head, lambda o, n: moves.append(n), poll=0.1)
    watcher.start()
    try:
        new_repo(folder, {"a/cm.yaml": configmap("a", {})})
        head = git(folder, "rev-parse", "HEAD")
        wait_for(lambda: moves == [head], 3, 0.02, "the first commit noticed")
    finally:
        watcher.stop()
