"""What the agent's queue carries: one typed command per thing that can happen.

The UI, the CLI, the repo watcher, the live cache and the agent's own timers only put
commands on the queue; the agent's one worker takes them off and handles each in one place,
so no two operations on one app ever run at once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sandbox.model import ObjectKey


@dataclass(frozen=True)
class Startup:
    """Read the env repo, build a controller per app, bring each to its target."""


@dataclass(frozen=True)
class CommitSeen:
    """The followed branch moved to ``revision``."""

    revision: str


@dataclass(frozen=True)
class SourceMoved:
    """What apps read their files from moved to ``revision``: another local repo (an app repo)
    at the ref it follows, or the env repo's own ``ref`` an app is pinned to (a branch that is
    not the one watched)."""

    repo: str  # "" for the env repo
    revision: str
    ref: str = ""  # "" for the other repo's HEAD


@dataclass(frozen=True)
class Reverted:
    """This agent made ``revision`` (a git revert): deploy it as a revert, not as a commit."""

    revision: str


@dataclass(frozen=True)
class ManualSync:
    """Sync now, each app (or one) to its target revision."""

    app: str | None = None


@dataclass(frozen=True)
class Rollback:
    app: str
    revision: str | None = None  # None: the last revision that synced Healthy before the deployed one


@dataclass(frozen=True)
class Resume:
    """Auto-sync on again for the app; ends a rollback."""

    app: str


@dataclass(frozen=True)
class SetAutoSync:
    app: str
    on: bool


@dataclass(frozen=True)
class SetSelfHeal:
    app: str
    on: bool


@dataclass(frozen=True)
class Drift:
    """Live objects of an app changed behind the agent's back (or may have)."""

    app: str
    keys: frozenset[ObjectKey]


@dataclass(frozen=True)
class Retry:
    """A failed sync's backoff ran out: try the app's target again."""

    app: str
    revision: str
    token: int  # the controller runs only its newest retry


@dataclass(frozen=True)
class Continue:
    """A sync put aside while it waits on the cluster looks again (``flight`` names it: one
    superseded since is not taken up again)."""

    app: str
    flight: int


@dataclass(frozen=True)
class DependsOn:
    """An app that waits for the apps it depends on (Flux's dependsOn) looks again."""

    app: str
    trigger: str


@dataclass(frozen=True)
class ClusterCheck:
    """The cluster does not answer: has the kubeconfig been given another cluster meanwhile?"""


@dataclass(frozen=True)
class ClusterBack:
    """The API server answers again after an outage: bring every app to its target now."""

    since: str = ""  # when it stopped answering (wall clock, as said then)


@dataclass(frozen=True)
class Settled:
    """What came of the catching up after an outage, once the syncs and heals it queued ran."""

    since: str  # when the cluster stopped answering, as said then


@dataclass(frozen=True)
class Barrier:
    """Done once every command queued before it is: for the CLI and tests to wait on."""

    done: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class Stop:
    pass


Command = (
    Startup | CommitSeen | SourceMoved | Reverted | ManualSync | Rollback | Resume | SetAutoSync | SetSelfHeal
    | Drift | Retry | Continue | DependsOn | ClusterCheck | ClusterBack | Settled | Barrier | Stop
)  # fmt: skip

# What a person asks of the agent (a key in the app, a CLI command): Agent.send takes any of them.
UserCommand = ManualSync | Rollback | Resume | SetAutoSync | SetSelfHeal
