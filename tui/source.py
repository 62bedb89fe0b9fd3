"""What the app observes and commands: the Agent, or anything with the same small interface.

``SnapshotSource`` spells out the part of ``sandbox.agent.Agent`` the TUI uses, so the app
never reaches further into the engine. ``StaticSnapshotSource`` serves one fixed Snapshot
(no cluster, no git): it makes SVG snapshots deterministic and shows the UI in demos; its
commands are recorded, not performed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from sandbox.agent.commands import UserCommand
from sandbox.agent.history import SyncRecord
from sandbox.agent.revert import RevertResult
from sandbox.agent.snapshot import Snapshot
from sandbox.model import ObjectKey
from sandbox.source.envrepo import CommitInfo


@dataclass(frozen=True)
class RuntimeInfo:
    """What provides the cluster, as the header shows it."""

    runtime: str  # kind | local | existing | static
    cluster: str  # e.g. "running", "running (3 nodes)"
    kubeconfig: str = ""
    context: str = ""
    simulated: str = ""  # what the runtime plays instead of real parts (the local runtime's kwok)


class SnapshotSource(Protocol):
    """The observed interface of ``sandbox.agent.loop.Agent``: snapshots (which carry the commit
    log and the sync records too: the app reads no git and no SQLite of its own), and commands."""

    def subscribe(self, subscriber: Callable[[Snapshot], None]) -> None: ...
    def snapshot(self) -> Snapshot: ...
    # what a person asks (sync, rollback, resume, auto-sync, self-heal): queued, returns at once
    def send(self, command: UserCommand) -> None: ...
    # blocking: called from worker threads only
    def revert(self, sha: str | None = None, app: str | None = None) -> RevertResult: ...
    def hand_scale(self, key: ObjectKey, replicas: int) -> str: ...
    def diff_object(self, app: str, key: ObjectKey, context: int = 3) -> str: ...
    def default_rollback_target(self, app: str) -> str | None: ...
    def default_revert_target(self, app: str | None = None) -> str | None: ...


@dataclass
class StaticSnapshotSource:
    """A fixed Snapshot with its commit log, sync records and diffs; commands are recorded.

    ``publish`` hands a new snapshot to the subscribers, on the caller's thread, as the agent
    does on its own: tests use it to drive status changes without a cluster.
    """

    fixed: Snapshot
    commit_log: Sequence[CommitInfo] = ()
    sync_records: Sequence[SyncRecord] = ()
    diffs: dict[ObjectKey, str] = field(default_factory=dict)  # compact (3 lines of context)
    full_diffs: dict[ObjectKey, str] = field(default_factory=dict)  # any larger context
    calls: list[Any] = field(default_factory=list)  # the commands sent, and the blocking calls as tuples

    def __post_init__(self) -> None:
        self.fixed = self._with_log(self.fixed)
        self._subscribers: list[Callable[[Snapshot], None]] = []

    def _with_log(self, snapshot: Snapshot) -> Snapshot:
        """The snapshot carrying this source's commit log and sync records, as the agent's do."""
        if snapshot.commits or not (self.commit_log or self.sync_records):
            return snapshot
        newest = sorted(self.sync_records, key=lambda r: r.id, reverse=True)
        apps = tuple(
            replace(a, syncs=tuple(r for r in newest if r.app == a.name)) if not a.syncs else a
            for a in snapshot.apps
        )
        return replace(snapshot, apps=apps, commits=tuple(self.commit_log))

    def subscribe(self, subscriber: Callable[[Snapshot], None]) -> None:
        self._subscribers.append(subscriber)

    def snapshot(self) -> Snapshot:
        return self.fixed

    def publish(self, snapshot: Snapshot) -> None:
        snapshot = self._with_log(snapshot)
        self.fixed = snapshot
        for subscriber in list(self._subscribers):
            subscriber(snapshot)

    def send(self, command: UserCommand) -> None:
        self.calls.append(command)

    def revert(self, sha: str | None = None, app: str | None = None) -> RevertResult:
        self.calls.append(("revert", sha, app))
        target = sha or self.default_revert_target(app) or ""
        return RevertResult("0" * 40, target, f'Revert "{target[:7]}"', "undo: git revert 0000000")

    def hand_scale(self, key: ObjectKey, replicas: int) -> str:
        self.calls.append(("hand_scale", key, replicas))
        return f"kubectl scale {key.kind.lower()}/{key.name} -n {key.namespace} --replicas={replicas}"

    def diff_object(self, app: str, key: ObjectKey, context: int = 3) -> str:
        if context > 3 and key in self.full_diffs:
            return self.full_diffs[key]
        return self.diffs.get(key, "")

    def default_rollback_target(self, app: str) -> str | None:
        commits = list(self.commit_log)
        return commits[1].sha if len(commits) > 1 else None

    def default_revert_target(self, app: str | None = None) -> str | None:
        state = self.fixed.app(app) if app else (self.fixed.apps[0] if self.fixed.apps else None)
        if state is None:
            return None
        return state.revert_target.sha if state.revert_target else state.deployed_revision
