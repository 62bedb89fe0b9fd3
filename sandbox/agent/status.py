"""Sync status and health, of one object and of one app: pure functions of plain values.

Every status the sandbox shows is decided here, from what Git wants (the desired manifest),
what the cluster has (the live manifest) and what the last comparison between the two found
(a server-side dry-run, which needs the API server and so is done by the caller). Nothing
here talks to a cluster, git or a file: tests feed it dicts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sandbox.agent.history import ObjectOutcome
from sandbox.apply import health
from sandbox.apply.desired import DesiredSet
from sandbox.apply.dryrun import Comparison, Verdict
from sandbox.apply.health import HealthResult
from sandbox.apply.outcome import Action, ObjectResult
from sandbox.model import HEALTH_ORDER, Health, Manifest, ObjectKey, SyncStatus, worst_health


def object_sync(desired: Manifest | None, live: Manifest | None, last: Comparison | None) -> SyncStatus:
    """An object's sync status.

    ``desired`` None means Git no longer has the object while the app still claims it live.
    ``last`` None means it was never compared (say, the first render has not been checked).
    """
    if desired is None:
        return SyncStatus.ORPHANED if live is not None else SyncStatus.UNKNOWN
    if live is None:
        return SyncStatus.MISSING
    if last is None:
        return SyncStatus.UNKNOWN
    return SyncStatus.SYNCED if last.verdict == Verdict.SAME else SyncStatus.OUT_OF_SYNC


def object_health(live: Manifest | None) -> HealthResult:
    """An object's health; one that is not live is Missing."""
    return health.assess(live)


@dataclass(frozen=True)
class AppFacts:
    """What an app's sync status and health are decided from, beside its objects'."""

    rendered: bool  # some revision of the app ever rendered (without problems)
    problems: bool  # the target revision did not render, or the app's entry is invalid
    following_git: bool  # the target is Git's head (not rolled back, not behind)
    synced_target: bool = False  # a sync of the target revision succeeded (the cluster holds it)


def app_sync(facts: AppFacts, objects: Iterable[SyncStatus]) -> SyncStatus:
    """OutOfSync when anything differs from Git; Unknown when Git's revision cannot be
    compared: before the first render, or while the target does not render (Argo CD's
    ComparisonError: the sync status is Unknown until the manifests generate again)."""
    statuses = list(objects)
    if facts.problems or (not facts.rendered and not statuses):
        return SyncStatus.UNKNOWN
    if not facts.following_git:
        return SyncStatus.OUT_OF_SYNC
    if any(s != SyncStatus.SYNCED for s in statuses):
        return SyncStatus.OUT_OF_SYNC
    if not statuses and not facts.synced_target:
        return SyncStatus.OUT_OF_SYNC  # nothing to compare says nothing: it has not synced this revision
    return SyncStatus.SYNCED


def app_health(facts: AppFacts, expected: Iterable[Health]) -> Health:
    """The worst health of the objects the cluster should be running (Missing for one gone).

    ``expected`` holds the health of each object of the deployed revision: what runs, not
    what a newer, failed commit asked for. Unknown when the app never rendered and nothing
    of it is known to run; Missing when none of it is live.
    """
    values = list(expected)
    if not values:
        if facts.synced_target:
            return Health.HEALTHY  # nothing of its own to run, and its revision synced: as Argo CD says
        return Health.MISSING if facts.rendered else Health.UNKNOWN
    return worst_health(values)


@dataclass(frozen=True)
class RolledUp:
    """An app's health with its descendants', and which app it comes from when not its own."""

    health: Health
    from_app: str = ""  # the descendant whose health this is ("" when the app's own)
    failed: bool = False  # that descendant's sync failed (it counts as Degraded above it)


def rolled_up(
    health_of: dict[str, Health],
    own_objects: dict[str, bool],
    parent_of: dict[str, str],
    failed: frozenset[str] = frozenset(),
    blocked: frozenset[str] = frozenset(),
) -> dict[str, RolledUp]:
    """Each app's health with its children's (app-of-apps) rolled in, as Argo CD shows an
    Application of Applications: the worst of its own objects' and every descendant's. An
    app with no objects of its own is as healthy as its children. A descendant whose last
    sync failed (or that does not render) counts as Degraded for the apps above it: its own
    health may read Unknown (nothing of it is known to run), but the tree above it is broken.
    Of descendants as unhealthy as each other, the one named is one that failed on its own
    over one ``blocked`` by another app (waiting on a dependency or parent that failed): the
    cause, not what it stopped."""
    children: dict[str, list[str]] = {}
    for name, parent in parent_of.items():
        if parent and parent in health_of and parent != name:
            children.setdefault(parent, []).append(name)
    done: dict[str, RolledUp] = {}

    def as_child(name: str, seen: frozenset[str]) -> RolledUp:
        found = resolve(name, seen)
        # An app that failed on its own is named over what it defines: the nearest cause.
        degraded = HEALTH_ORDER.index(Health.DEGRADED)
        if name in failed and (degraded < HEALTH_ORDER.index(found.health)
                               or (degraded == HEALTH_ORDER.index(found.health) and name not in blocked)):  # fmt: skip
            return RolledUp(Health.DEGRADED, name, failed=True)
        return RolledUp(found.health, found.from_app or name, found.failed)

    def resolve(name: str, seen: frozenset[str]) -> RolledUp:
        if name in done:
            return done[name]
        below = [as_child(c, seen | {name}) for c in sorted(children.get(name, ())) if c not in seen]
        own = [RolledUp(health_of[name])] if own_objects.get(name) or not below else []
        candidates = own + below
        done[name] = (
            min(candidates, key=lambda r: (HEALTH_ORDER.index(r.health), r.from_app in blocked))
            if candidates
            else RolledUp(Health.HEALTHY)
        )
        return done[name]

    return {name: resolve(name, frozenset()) for name in health_of}


def object_outcomes(
    results: Iterable[ObjectResult], desired: DesiredSet | None, live: Callable[[ObjectKey], Manifest | None]
) -> list[ObjectOutcome]:
    """What a sync did to each object, as the history records it: its action, and its sync
    status and health right after (a pruned object's sync status is Unknown: it is gone)."""
    out = []
    for result in results:
        now = live(result.key)
        marked = desired.marked.get(result.key) if desired else None
        gone = result.action == Action.PRUNED
        sync = "Unknown" if gone else str(object_sync(marked, now, result.comparison))
        message = result.message
        if result.source and result.action == Action.FAILED:
            message = f"{result.source}: {message}"
        out.append(
            ObjectOutcome(str(result.key), str(result.action), sync, str(object_health(now).status), message)
        )
    return out
