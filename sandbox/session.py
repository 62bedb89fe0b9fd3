"""The one composition root: runtime -> client -> agent (or observer), for the CLI and the TUI.

Commands that change the cluster bring it up when it is not running; commands that only
look never do (starting a cluster is a change too) and say how to start it instead.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sandbox.agent import appview
from sandbox.agent.history import HistoryReader
from sandbox.agent.history import path_for_repo as history_path
from sandbox.agent.loop import Agent
from sandbox.agent.observer import Observer
from sandbox.agent.snapshot import Snapshot
from sandbox.apply.reader import ClusterReader
from sandbox.cluster.runtime import ClusterError, ClusterStatus, Runtime
from sandbox.cluster.runtimes import runtime_for
from sandbox.kube.client import Kube
from sandbox.paths import private_dir
from sandbox.source.appid import AppName
from sandbox.source.discovery import discover, entry_question
from sandbox.source.envrepo import EnvRepo, EnvRepoError
from sandbox.source.percommit import NO_CLUSTER, defining_renders

# How long a one-shot command waits for its syncs (GITOPS_SANDBOX_SETTLE_SECONDS to change it).
SETTLE_TIMEOUT = float(os.environ.get("GITOPS_SANDBOX_SETTLE_SECONDS") or 300)
Progress = Callable[[str], None]


@dataclass
class Connection:
    """A cluster the sandbox may use, and a client on its own kubeconfig."""

    runtime: Runtime
    status: ClusterStatus
    kube: Kube

    def close(self) -> None:
        self.kube.close()


def connect(args: argparse.Namespace, progress: Progress, bring_up: bool = True) -> Connection:
    """The runtime ``args`` name, up (``bring_up``) or as it is; ClusterError when not running."""
    runtime = runtime_for(
        args.runtime, getattr(args, "context", None), getattr(args, "kubeconfig", None), progress
    )
    status = runtime.up(progress) if bring_up else runtime.status()
    if not status.running:
        detail = f" ({status.detail})" if status.detail else ""
        raise ClusterError(
            f"the {runtime.name} cluster is {status.state}{detail}: this command only looks, so it does "
            "not start one; run `gitops-sandbox cluster up` first"
        )
    return Connection(runtime, status, Kube(runtime.kubeconfig_path, status.context))


@dataclass(frozen=True)
class Checked:
    """What check_repo found: the entry to run from, and the note saying why when it is not the
    one named."""

    entry: str | None
    note: str = ""


def check_repo(repo: Path, branch: str | None = None, entry: str | None = None) -> Checked:
    """The entry the command runs from: ``entry``, or, where discovery would first ask which of
    the repo's cluster entries to run, the one the last agent on this repo ran (as kubectl keeps
    a current context). Raise EnvRepoError, saying what to do, when ``repo`` is no env repo, or
    the question stands (before any cluster starts: a question must not cost a minute of
    start-up first)."""
    env = EnvRepo(repo, branch)
    try:
        head = env.branch or "HEAD"
        question = entry_question(env, head, entry)
        last = remembered_entry(repo) if question is not None and entry is None else None
        if last is not None and env.is_dir(head, last):
            return Checked(last, f"--entry {last}, the entry the last agent on this repo ran from (this repo has "
                                 "several cluster entries; --entry names another)")  # fmt: skip
    except EnvRepoError:
        question = None  # a repo that opens but does not read: the command runs, and fails saying so
    finally:
        env.close()
    if question is not None:
        raise EnvRepoError(question.message)
    return Checked(entry)


def _entry_file(repo: Path) -> Path:
    return history_path(repo).with_suffix(".entry")


def remember_entry(repo: Path, entry: str) -> None:
    """Keep the entry an agent runs from, for the commands after it that name none."""
    path = _entry_file(repo)
    private_dir(path.parent)
    path.write_text(entry + "\n", encoding="utf-8")


def remembered_entry(repo: Path) -> str | None:
    try:
        return _entry_file(repo).read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def found_in_git(repo: Path, entry: str | None = None) -> Snapshot:
    """The apps at the env repo's head as Git alone says them (no cluster: their sync and health
    Unknown, nothing deployed), with discovery's problems and each app's own (its render's) and
    notes: what `status` can still say where no cluster runs."""
    env = EnvRepo(repo)
    try:
        head = env.resolve(env.branch or "HEAD")
        found = discover(env, head, entry)
        valid = [a for a in found.apps if not a.invalid]
        renders = dict(
            zip((a.name for a in valid), defining_renders(env, valid, head, NO_CLUSTER), strict=True)
        )
    finally:
        env.close()
    apps = tuple(
        appview.from_git(a, head, renders[a.name][0] if a.name in renders else None) for a in found.apps
    )
    notices = (found.note, *found.notices) if found.note else found.notices
    return Snapshot(
        0, str(repo), env.branch or "HEAD", head, apps, problems=tuple(found.problems), notices=notices
    )


def app_names(repo: Path, entry: str | None = None) -> list[AppName]:
    """The names of the apps at the env repo's head, read from Git alone (no cluster): for
    commands that show recorded app ids (history). Empty when the repo cannot be read."""
    try:
        env = EnvRepo(repo)
    except EnvRepoError:
        return []
    try:
        return [a.names for a in discover(env, "HEAD", entry).apps]
    except EnvRepoError:
        return []
    finally:
        env.close()


@contextmanager
def started_agent(
    repo: Path,
    connection: Connection,
    *,
    automated: bool,
    branch: str | None = None,
    trigger: str = "startup",
    watch_repo: bool = False,
    settings_path: Path | None = None,
    exclusive: bool = True,
    settle: bool = True,
    focus: str | None = None,
    entry: str | None = None,
) -> Iterator[Agent]:
    """An agent on ``repo``, started (and settled: its first pass done), stopped afterwards.

    ``focus``: the one app a one-shot command is about; the others are not rendered.
    """
    if entry is not None:
        remember_entry(repo, entry)
    agent = Agent(
        repo, connection.kube, branch=branch, automated=automated, startup_trigger=trigger,
        settings_path=settings_path, focus=focus, entry=entry,
    )  # fmt: skip
    agent.start(watch_repo=watch_repo, exclusive=exclusive)
    try:
        if settle and not agent.wait_idle(SETTLE_TIMEOUT):
            raise TimeoutError(f"the agent did not settle within {SETTLE_TIMEOUT}s")
        yield agent
    finally:
        agent.stop()


@contextmanager
def observer(
    repo: Path, connection: Connection, branch: str | None = None, entry: str | None = None
) -> Iterator[Observer]:
    """A read-only view of ``repo`` and the cluster."""
    with HistoryReader(history_path(repo)) as history:
        found = Observer(repo, ClusterReader(connection.kube), history, branch=branch, entry=entry)
        try:
            yield found
        finally:
            found.close()
