"""The app state snapshot the engine publishes: immutable, complete, cheap to hand around.

Subscribers (the TUI, the CLI's --json, benchmarks) only ever see these; they never reach
into the agent. Live manifests inside are shared, never mutated after they enter the cache.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any

from sandbox.agent.history import INTERRUPTED, SyncRecord
from sandbox.model import Health, Manifest, ObjectKey, Problem, SyncStatus
from sandbox.source.appid import AppName, pick, shown_names
from sandbox.source.envrepo import CommitInfo


@dataclass(frozen=True)
class ObjectState:
    """One object of an app: desired beside live, with its status and its owned children."""

    key: ObjectKey
    sync: SyncStatus
    health: Health
    health_message: str = ""
    source: str = ""
    desired: Manifest | None = None
    live: Manifest | None = None
    children: tuple[ObjectState, ...] = ()
    sync_message: str = ""  # why it is not Synced: the API server's refusal, another app's claim

    @property
    def attention(self) -> int:
        """Sort rank: out-of-sync and unhealthy objects first."""
        rank = 0 if self.sync != SyncStatus.SYNCED else 2
        if self.health in (Health.DEGRADED, Health.MISSING):
            rank = min(rank, 0)
        elif self.health == Health.PROGRESSING:
            rank = min(rank, 1)
        return rank

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.key.kind,
            "group": self.key.group,
            "namespace": self.key.namespace,
            "name": self.key.name,
            "sync": str(self.sync),
            "health": str(self.health),
            "message": self.health_message,
            "syncMessage": self.sync_message,
            "source": self.source,
            "children": [c.to_json() for c in self.children],
        }


class ReadyStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


@dataclass(frozen=True)
class Ready:
    status: ReadyStatus
    reason: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"status": str(self.status), "reason": self.reason, "message": self.message}


@dataclass(frozen=True)
class AppState:
    """One app: its spec, what Git says, what is deployed, and every object's status."""

    name: str
    path: str
    namespace: str
    source_type: str
    sync: SyncStatus
    health: Health
    git_revision: str  # the branch head the app's manifests were read at
    target_revision: str  # what the agent is syncing to (Git head, or the rollback target)
    deployed_revision: str | None
    auto_sync: bool
    self_heal: bool
    prune: bool
    rolled_back: bool = False
    operation: str = "Idle"  # Idle | Syncing
    last_sync: float | None = None
    last_result: str = ""
    message: str = ""
    objects: tuple[ObjectState, ...] = ()
    problems: tuple[Problem, ...] = ()
    drift: tuple[ObjectKey, ...] = ()
    syncs: tuple[SyncRecord, ...] = ()  # recent sync records, newest first, without their objects
    revert_target: RevertTarget | None = None  # what revert (v) with no commit named undoes
    removed: bool = False  # gone from sandbox.yaml with prune off: its objects stay, Orphaned
    retry_at: float | None = None  # a failed sync is tried again then (wall clock)
    attempts: int = 0  # how many times the current failure happened
    parent: str = ""  # the app-of-apps that defines this app
    kind: str = ""  # the Argo CD / Flux object that defines it (Application, Kustomization, HelmRelease)
    release: str = ""  # its Helm release name
    home: str = ""  # that object's namespace
    object_name: str = ""  # that object's name ("" when the app's name is it)
    notices: tuple[Problem, ...] = ()  # what its render did other than written (left out, ignored), and why
    health_from: str = ""  # rolled up: the app it defines whose health this is ("" when its own)
    health_from_failure: str = ""  # ... because that app failed: "failed to sync", "does not render"
    health_from_deeper: bool = False  # ... an app below one it defines (not its own child)
    health_timeout: float = 0.0  # a Flux app's health check gives up after this long (0: never)
    ready: Ready | None = None  # a Flux app's Ready condition, as `flux get` words it (see ready)
    ready_on_apply: bool = False  # a Flux Kustomization without spec.wait or healthChecks: Ready once applied
    defines: tuple[
        tuple[str, str], ...
    ] = ()  # Argo CD / Flux app definitions its render holds: (object, file)
    shown_name: str = (
        ""  # what people see: the short name where unique among the apps shown (Snapshot sets it)
    )

    @property
    def names(self) -> AppName:
        return AppName(self.name, self.kind, self.home, self.object_name or self.name)

    @property
    def rollback_note(self) -> str:
        if not self.rolled_back:
            return ""
        return (
            f"rolled back: cluster at {self.deployed_revision and self.deployed_revision[:7]}, "
            f"Git at {self.git_revision[:7]}; auto-sync paused"
        )

    def health_below(self, shown: Mapping[str, str] | None = None) -> str:
        """Whose health, below it, the app's rolled-up health is ("" when its own): "app web it
        defines failed to sync"; ``shown`` names the apps as the table does."""
        if not self.health_from:
            return ""
        state = self.health_from_failure or f"is {self.health}"
        where = "below it" if self.health_from_deeper else "it defines"
        return f"app {(shown or {}).get(self.health_from, self.health_from)} {where} {state}"

    @property
    def said(self) -> str:
        """What explains the app as it is now: the last sync's message while it still does,
        else the present reason first and that message after it, so the two never contradict
        (OutOfSync beside "nothing to do"; an interrupted sync's message once all is in sync)."""
        said = self.message or (self.problems[0].message if self.problems else "")  # before any sync too
        if self.problems and self.message and self.last_result == "Succeeded":
            # Git's head does not render, and no sync tried it (auto-sync off): that comes first.
            return f"{self.problems[0].message} (last sync: {self.message})"
        if self.problems or not self.last_result:
            return said
        if self.sync == SyncStatus.OUT_OF_SYNC and self.last_result == "Succeeded":
            return f"{self._why_out_of_sync()} (last sync: {said})" if said else self._why_out_of_sync()
        if self.sync == SyncStatus.SYNCED and self.last_result == "Failed" and said.startswith(INTERRUPTED):
            return f"in sync with Git (last sync {said})"
        return said

    def _why_out_of_sync(self) -> str:
        if self.git_revision != self.deployed_revision and self.target_revision == self.git_revision:
            return f"Git is at {self.git_revision[:7]}, not yet deployed"
        differ = [o for o in self.objects if o.sync != SyncStatus.SYNCED]
        if not differ:
            return "out of sync with Git"
        return f"{len(differ)} object{'s' if len(differ) > 1 else ''} differ{'' if len(differ) > 1 else 's'} from Git"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "namespace": self.namespace,
            "parent": self.parent,
            "kind": self.kind,
            "objectNamespace": self.home,
            "objectName": self.object_name or self.name,
            "source": self.source_type,
            "sync": str(self.sync),
            "health": str(self.health),
            "healthFrom": self.health_from,
            "gitRevision": self.git_revision,
            "targetRevision": self.target_revision,
            "deployedRevision": self.deployed_revision,
            "autoSync": self.auto_sync,
            "selfHeal": self.self_heal,
            "prune": self.prune,
            "rolledBack": self.rolled_back,
            "note": self.rollback_note,
            "operation": self.operation,
            "lastSync": self.last_sync,
            "lastResult": self.last_result,
            "message": self.message,
            "problems": [str(p) for p in self.problems],
            "notices": [str(p) for p in self.notices],
            "drift": [str(k) for k in self.drift],
            "removed": self.removed,
            "retryAt": self.retry_at,
            "attempts": self.attempts,
            "revertTarget": self.revert_target.to_json() if self.revert_target else None,
            "objects": [o.to_json() for o in self.objects],
        }


@dataclass(frozen=True)
class RevertTarget:
    """The commit a revert with none named would undo, and why that one."""

    sha: str
    subject: str
    why: str  # e.g. "its sync failed", "it turned Degraded", "deployed"

    def to_json(self) -> dict[str, str]:
        return {"sha": self.sha, "subject": self.subject, "why": self.why}


@dataclass(frozen=True)
class Event:
    """Something the agent did and why, or an error with the file and object it concerns."""

    time: float
    level: str  # info | warning | error
    app: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"time": self.time, "level": self.level, "app": self.app, "message": self.message}


@dataclass(frozen=True)
class Snapshot:
    """Everything a subscriber shows, at one instant."""

    seq: int
    repo: str
    branch: str
    head: str
    apps: tuple[AppState, ...] = ()
    events: tuple[Event, ...] = ()
    problems: tuple[Problem, ...] = ()
    taken: float = field(default_factory=time.time)
    commits: tuple[CommitInfo, ...] = ()  # the followed branch's log, newest first
    notices: tuple[str, ...] = ()  # one-line notes on how the env repo is read
    unreachable: str = ""  # the cluster does not answer: since when and why ("" while it does)
    # The names of every app of the repo, where ``apps`` holds some of them (see only()).
    names_of_all: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.names_of_all:
            return  # some apps of a snapshot: each keeps the name the whole repo gives it
        shown = shown_names(a.names for a in self.apps)
        if any(a.shown_name != shown[a.name] for a in self.apps):
            apps = tuple(dataclasses.replace(a, shown_name=shown[a.name]) for a in self.apps)
            object.__setattr__(self, "apps", apps)

    def app(self, name: str) -> AppState | None:
        """The app whose id is ``name``."""
        return next((a for a in self.apps if a.name == name), None)

    def named(self, name: str) -> list[AppState]:
        """Every app ``name``, as a person typed it, could mean (several when a short name is shared)."""
        picked = {n.id for n in pick([a.names for a in self.apps], name)}
        return [a for a in self.apps if a.name in picked]

    @cached_property
    def shown_names(self) -> dict[str, str]:
        """app id -> what to show: its short name where unique among these apps, else qualified."""
        return {**self.names_of_all, **{a.name: a.shown_name for a in self.apps}}

    def only(self, keep: Callable[[AppState], bool]) -> Snapshot:
        """The snapshot with the apps ``keep`` takes, named as among all of them (an app named
        in a message, though left out, by the name the full table gives it)."""
        return dataclasses.replace(
            self, apps=tuple(a for a in self.apps if keep(a)), names_of_all=dict(self.shown_names)
        )

    def shown(self, app: str) -> str:
        return self.shown_names.get(app, app)

    def _app_json(self, app: AppState) -> dict[str, Any]:
        shown = {"shownName": self.shown(app.name)}
        return {**app.to_json(), **shown, **({"ready": app.ready.to_json()} if app.ready else {})}

    def to_json(self) -> dict[str, Any]:
        return {
            "repo": self.repo,
            "branch": self.branch,
            "head": self.head,
            "apps": [self._app_json(a) for a in self.apps],
            "problems": [str(p) for p in self.problems],
            "notices": list(self.notices),
            "clusterUnreachable": self.unreachable,
        }


def in_tree_order(apps: tuple[AppState, ...]) -> tuple[AppState, ...]:
    """Each app right under the app that defines it (depth first), siblings in the order given;
    an app whose parent is not among them stays at the top level."""
    ids = {a.name for a in apps}
    children: dict[str, list[AppState]] = {}
    for app in apps:
        children.setdefault(app.parent if app.parent in ids and app.parent != app.name else "", []).append(
            app
        )
    ordered: list[AppState] = []
    seen: set[str] = set()
    stack = list(reversed(children.get("", [])))
    while stack:
        app = stack.pop()
        if app.name in seen:
            continue
        seen.add(app.name)
        ordered.append(app)
        stack += reversed(children.get(app.name, []))
    return tuple(ordered) + tuple(a for a in apps if a.name not in seen)  # a parent cycle: shown at the end


def app_depths(apps: tuple[AppState, ...]) -> dict[str, int]:
    """How deep each app sits under app-of-apps parents (0 for a top-level app)."""
    parents = {a.name: a.parent for a in apps}
    depths = {}
    for name in parents:
        depth, parent, seen = 0, parents[name], {name}
        while parent in parents and parent not in seen:
            seen.add(parent)
            depth += 1
            parent = parents[parent]
        depths[name] = depth
    return depths
