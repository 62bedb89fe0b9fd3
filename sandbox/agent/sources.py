"""What apps read besides the env repo's watched branch, and the watchers that follow it:
another repo (an app repo), or another branch of the env repo (Argo CD's targetRevision)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from sandbox.source.appspec import AppSpec
from sandbox.source.envrepo import EnvRepo, EnvRepoError
from sandbox.source.repowatch import RepoWatcher

Source = tuple[str, str]  # (another repo's path, or ""; the ref followed there, "" for its HEAD)

_FULL_SHA = re.compile(r"^[0-9a-f]{40}$")


def sources_of(spec: AppSpec) -> set[Source]:
    """What an app reads besides the env repo's watched branch, every source of a multi-source
    Application's included."""
    return {found for one in (spec, *spec.also) if (found := source_of(one)) != ("", "")}


def source_of(spec: AppSpec) -> Source:
    """What an app reads besides the env repo's watched branch. ("", "") for the watched
    branch, and for a commit pinned by its sha (it never moves)."""
    if spec.repo:
        return spec.repo, ""
    if spec.revision and not _FULL_SHA.match(spec.revision):
        return "", spec.revision
    return "", ""


def head_of(repo: EnvRepo, path: str, ref: str = "") -> str | None:
    """The commit a source is at now: a branch of the env repo (or its remote-tracking one, as
    apps read it), or another repo's ref; None when it cannot be read."""
    try:
        if not path:
            return repo.resolve_pinned(ref)[0]
        return repo.other(path).resolve(ref or "HEAD")
    except EnvRepoError:
        return None


class SourceWatchers:
    """One repo watcher per source the apps read, started and stopped as the apps change."""

    def __init__(self) -> None:
        self._watchers: dict[Source, RepoWatcher] = {}

    def follow(
        self,
        wanted: set[Source],
        repo_path: Path,
        head: Callable[[str, str], str | None],
        moved: Callable[[str, str, str], None],
    ) -> None:
        """Watch every source in ``wanted`` (and no other); ``moved(path, commit, ref)`` is
        called with each commit a source moves to, and once at the start with where it is."""
        for path, ref in wanted - set(self._watchers):

            def read(path: str = path, ref: str = ref) -> str | None:
                # No commits yet, or moved away (None): its apps say so when they render.
                return head(path, ref)

            def changed(_old: str | None, new: str, path: str = path, ref: str = ref) -> None:
                moved(path, new, ref)

            watcher = RepoWatcher(Path(path or repo_path) / ".git", read, changed)
            watcher.start()
            self._watchers[(path, ref)] = watcher
            # A commit made while the apps rendered, before this watcher saw the repo, counts.
            if (now := watcher.read_head()) is not None:
                moved(path, now, ref)
        for source in set(self._watchers) - wanted:
            self._watchers.pop(source).stop()

    def stop(self) -> None:
        for watcher in self._watchers.values():
            watcher.stop()
