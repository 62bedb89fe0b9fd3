"""One app as the snapshot shows it, built from the facts a controller or an observer holds.

The agent's controllers and the read-only observer both end here, so ``status`` and the
running app show an app the same way: the same objects, orphans, children and statuses.
"""

from __future__ import annotations

import dataclasses
import posixpath
import time
from collections.abc import Iterator, Mapping, Set
from dataclasses import dataclass, field
from typing import Protocol

from sandbox.agent import status
from sandbox.agent.history import SyncRecord
from sandbox.agent.ready import BLOCKED, flux_ready
from sandbox.agent.settings import AppSettings
from sandbox.agent.snapshot import AppState, ObjectState, RevertTarget
from sandbox.apply.desired import DesiredSet
from sandbox.apply.dryrun import Comparison
from sandbox.apply.inventory import storage_name, tracking_app
from sandbox.manifest.appkinds import APP_KINDS, ARGO_APP_KINDS, FLUX_APP_KINDS
from sandbox.manifest.waves import COMPARE_OPTIONS, options_of
from sandbox.model import DesiredObject, Health, Manifest, ObjectKey, Problem, Rendered, SyncStatus
from sandbox.source.appconfig import AppSpec
from sandbox.source.appid import shown_names

CHILD_DEPTH = 3


class LiveView(Protocol):
    """What the view reads of the live objects (the agent's watch cache, or plain dicts in tests)."""

    def get(self, key: ObjectKey) -> Manifest | None: ...
    def children(self, uid: str) -> list[Manifest]: ...
    def labeled(self, value: str) -> list[Manifest]: ...


@dataclass(frozen=True)
class AppFacts:
    """Everything known about one app, apart from the live objects the cache holds."""

    spec: AppSpec
    git_revision: str
    target: DesiredSet | None  # what Git (or a rollback) wants now
    deployed: DesiredSet | None  # what the cluster should be running
    deployed_revision: str | None
    comparisons: Mapping[ObjectKey, Comparison] = field(default_factory=dict)
    drift: frozenset[ObjectKey] = frozenset()
    settings: AppSettings = AppSettings()
    problems: tuple[Problem, ...] = ()
    rendered_ever: bool = False
    operation: str = "Idle"
    last_sync: float | None = None
    last_result: str = ""
    message: str = ""
    syncs: tuple[SyncRecord, ...] = ()
    revert_target: RevertTarget | None = None
    removed: bool = False
    retry_at: float | None = None
    attempts: int = 0
    # What its inventory says runs: its health where the deployed revision cannot be rendered
    # again (an app kept while what defines it does not render, known from the inventory alone).
    running: tuple[ObjectKey, ...] = ()

    @property
    def shown(self) -> DesiredSet | None:
        """The desired set the trees show: the target's, or the deployed one's when the target
        did not render (so a broken commit does not make the running objects look orphaned)."""
        if self.target is not None and self.target.ok:
            return self.target
        return self.deployed or self.target


def app_state(facts: AppFacts, cache: LiveView) -> AppState:
    shown = facts.shown
    desired: Mapping[ObjectKey, DesiredObject] = shown.objects if shown else {}
    marked: Mapping[ObjectKey, Manifest] = shown.marked if shown else {}
    objects = [
        _object_state(facts, key, obj, marked.get(key), cache.get(key), cache) for key, obj in desired.items()
    ]
    name = facts.spec.name
    orphans = [
        o
        for o in cache.labeled(storage_name(name))
        if ObjectKey.of(o) not in desired and tracking_app(o) == name
    ]
    objects += [_object_state(facts, ObjectKey.of(o), None, None, o, cache) for o in orphans]
    # Argo CD's compare-options IgnoreExtraneous: an object left from Git does not make the app OutOfSync.
    ignored = {ObjectKey.of(o) for o in orphans if "IgnoreExtraneous" in options_of(o, COMPARE_OPTIONS)}
    objects.sort(key=lambda o: (o.attention, o.key.kind, o.key.namespace, o.key.name))
    app_facts = _status_facts(facts)
    if facts.removed:
        health = status.app_health(app_facts, [o.health for o in objects])
    else:
        health = app_health(facts, cache)
    return AppState(
        name=name, path=facts.spec.path, namespace=facts.spec.namespace, source_type=facts.spec.source,
        sync=SyncStatus.OUT_OF_SYNC if facts.removed else status.app_sync(
            app_facts, (o.sync for o in objects if o.key not in ignored)
        ),
        health=health,
        git_revision=facts.git_revision,
        target_revision=facts.target.revision if facts.target else facts.settings.paused_at or facts.git_revision,
        deployed_revision=facts.deployed_revision,
        auto_sync=facts.settings.auto_sync and not facts.settings.paused,
        self_heal=facts.settings.self_heal, prune=facts.spec.prune, rolled_back=facts.settings.paused,
        operation=facts.operation, last_sync=facts.last_sync, last_result=facts.last_result,
        message=facts.message, objects=tuple(objects), problems=facts.problems,
        drift=tuple(sorted(facts.drift)), syncs=facts.syncs, revert_target=facts.revert_target,
        removed=facts.removed, retry_at=facts.retry_at, attempts=facts.attempts, parent=facts.spec.parent,
        kind=facts.spec.kind, release=facts.spec.release_name, home=facts.spec.home,
        ready_on_apply=facts.spec.kind == "Kustomization" and facts.spec.ready_once_applied,
        health_timeout=facts.spec.health_timeout,
        object_name=facts.spec.object_name, notices=facts.target.rendered.notices if facts.target else (),
        defines=_defines(facts),
    )  # fmt: skip


def app_health(facts: AppFacts, cache: LiveView) -> Health:
    """The health of what the cluster should run: the deployed revision's objects (the
    target's, before anything deployed)."""
    base = facts.deployed or (facts.target if facts.target is not None and facts.target.ok else None)
    keys = base.objects if base else (facts.running if facts.deployed_revision else ())
    expected = [status.object_health(cache.get(k)).status for k in keys]
    return status.app_health(_status_facts(facts), expected)


def _status_facts(facts: AppFacts) -> status.AppFacts:
    following = facts.target is None or facts.target.revision == facts.git_revision
    return status.AppFacts(
        rendered=facts.rendered_ever,
        problems=bool(facts.problems),
        following_git=not facts.settings.paused and following,
        synced_target=facts.target is not None
        and (
            facts.deployed_revision == facts.target.revision or _unchanged_since(facts.deployed, facts.target)
        ),
    )


def _unchanged_since(deployed: DesiredSet | None, target: DesiredSet) -> bool:
    """The target renders what the deployed revision rendered (a later commit that did not touch
    the app): the cluster holds the target too, as the agent treats such a commit."""
    return (
        deployed is not None and target.ok and deployed.revision != target.revision
        and (deployed.marked, deployed.rendered.children) == (target.marked, target.rendered.children)
    )  # fmt: skip


def _object_state(
    facts: AppFacts,
    key: ObjectKey,
    obj: DesiredObject | None,
    marked: Manifest | None,
    live: Manifest | None,
    cache: LiveView,
) -> ObjectState:
    assessed = status.object_health(live)
    comparison = facts.comparisons.get(key)
    sync = status.object_sync(marked, live, comparison)
    if key in facts.drift and sync == SyncStatus.SYNCED:
        sync = SyncStatus.OUT_OF_SYNC
    message = comparison.message if comparison is not None and sync != SyncStatus.SYNCED else ""
    children = tuple(_children(live, cache)) if live else ()
    return ObjectState(
        key,
        sync,
        assessed.status,
        _with_cause(assessed.status, assessed.message, children),
        obj.source if obj else "",
        marked,
        live,
        children,
        message,
    )


def _with_cause(health: Health, message: str, children: tuple[ObjectState, ...]) -> str:
    """A workload still rolling out, or failed, says why when a pod of it says (a Secret it
    reads is missing, no node takes it): "0 of 1 available" alone leaves the user to look."""
    if health not in (Health.PROGRESSING, Health.DEGRADED):
        return message
    cause = next(_causes(children), None)
    return f"{message}; {cause}" if cause and message else cause or message


def _causes(children: tuple[ObjectState, ...]) -> Iterator[str]:
    for child in children:
        said = child.health_message
        if child.key.kind == "Pod" and child.health in (Health.DEGRADED, Health.PROGRESSING) \
                and said.startswith(("container ", _UNSCHEDULABLE)):  # fmt: skip
            yield f"pod {child.key.name}: {said}{_ONE_NODE if _ONE_NODE_SAYS in said else ''}"
        yield from _causes(child.children)


# The scheduler's words for a pod no node takes; on the sandbox's one node, required pod
# anti-affinity with more replicas than nodes is the common cause, and it is the sandbox's.
_UNSCHEDULABLE = "Unschedulable: "
_ONE_NODE_SAYS = "0/1 nodes are available: 1 node(s) didn't match pod anti-affinity rules"
_ONE_NODE = " (the sandbox's cluster has one node: pods that must not share a node cannot all run here)"


def _children(live: Manifest, cache: LiveView, depth: int = 0) -> list[ObjectState]:
    uid = live.get("metadata", {}).get("uid")
    if not uid or depth > CHILD_DEPTH:
        return []
    out = []
    for child in cache.children(uid):
        assessed = status.object_health(child)
        out.append(
            ObjectState(
                ObjectKey.of(child),
                SyncStatus.SYNCED,
                assessed.status,
                assessed.message,
                live=child,
                children=tuple(_children(child, cache, depth + 1)),
            )  # fmt: skip
        )
    return out


def _defines(facts: AppFacts) -> tuple[tuple[str, str], ...]:
    """The Argo CD and Flux app definitions the app's render holds that discovery does not walk
    from it: (object, file). From an Application it walks Applications, from a Flux app Flux
    apps (one left out there, say as a second definition, is a problem of its own); from an app
    no such object defines, none."""
    rendered = facts.target.rendered if facts.target else None
    children = rendered.children if rendered else ()
    kind = facts.spec.kind
    walked = ARGO_APP_KINDS if kind in ARGO_APP_KINDS else FLUX_APP_KINDS if kind in FLUX_APP_KINDS else ()
    return tuple(
        (str(c.key), c.source) for c in children if c.key.kind in APP_KINDS and c.key.kind not in walked
    )


def finished(
    apps: tuple[AppState, ...], branch: str, read_at: Mapping[str, str] | None = None,
    unread: Set[str] = frozenset(),
) -> tuple[AppState, ...]:  # fmt: skip
    """The apps as a snapshot shows them: app-of-apps' health rolled up, then each Flux app's
    Ready condition (which reads the rolled-up health), and what an app defines that became
    no app said (an Application in a sandbox.yaml app's folder: nothing of it would run);
    ``read_at``: the apps whose apps come from an earlier revision (see discovery), said so;
    ``unread``: apps that do not render and never deployed, whose apps are not known, said so."""
    parents = {a.parent for a in apps}
    shown = shown_names(a.names for a in apps)  # the table's names, for the messages
    now = time.time()  # what a health check that waited too long has become
    earlier = read_at or {}
    return tuple(
        dataclasses.replace(
            a,
            ready=flux_ready(a, branch, shown, now),
            notices=(
                *a.notices,
                *_unclaimed(a, parents),
                *_defines_earlier(a, earlier.get(a.name, "")),
                *_defines_unknown(a, unread),
            ),
        )  # fmt: skip
        for a in roll_up(apps)
    )


def from_git(spec: AppSpec, head: str, rendered: Rendered | None = None) -> AppState:
    """An app as Git alone says it, with no cluster to compare with: sync and health Unknown,
    nothing deployed (what `status` still says where no cluster runs), with what its render
    found wrong and said."""
    return AppState(
        name=spec.name, path=spec.path, namespace=spec.namespace, source_type=spec.source, sync=SyncStatus.UNKNOWN,
        health=Health.UNKNOWN, git_revision=head, target_revision=head, deployed_revision=None,
        auto_sync=spec.auto_sync, self_heal=spec.self_heal, prune=spec.prune,
        problems=(*spec.invalid, *(rendered.problems if rendered else ())),
        parent=spec.parent, kind=spec.kind, release=spec.release_name, home=spec.home, object_name=spec.object_name,
        notices=tuple(dict.fromkeys((*spec.notices, *(rendered.notices if rendered else ())))),
    )  # fmt: skip


def _defines_earlier(app: AppState, revision: str) -> tuple[Problem, ...]:
    if not revision:
        return ()
    why = f"it does not render at {app.git_revision[:7]}" if app.problems else "it is suspended in Git"
    return (Problem(
        f"the apps it defines are as at {revision[:7]}, the revision it last applied ({why}): its controller "
        "changes them only when it applies again", object=app.name,
    ),)  # fmt: skip


def _defines_unknown(app: AppState, unread: Set[str]) -> tuple[Problem, ...]:
    if app.name not in unread or app.kind not in ("Kustomization", "Application"):
        return ()
    return (Problem(
        f"the apps it defines are not known while it does not render at {app.git_revision[:7]}: it never "
        "deployed, so its controller never applied them and no revision of them runs", object=app.name,
    ),)  # fmt: skip


def _unclaimed(app: AppState, parents: set[str]) -> tuple[Problem, ...]:
    if not app.defines or app.name in parents or app.problems:  # a failed render: its own failure says why
        return ()
    listed = ", ".join(key for key, _file in app.defines[:3])
    more = f" and {len(app.defines) - 3} more" if len(app.defines) > 3 else ""
    files = sorted({file for _key, file in app.defines})
    # One file names them all; from several, the folder they share says where (not the first file).
    where = files[0] if len(files) == 1 else posixpath.commonpath(files) or "."
    return (Problem(
        f"read, not applied: {listed}{more}{f' (from {len(files)} files)' if len(files) > 1 else ''}. Argo CD and "
        "Flux definitions become apps only where discovery starts from them (an Argo CD or Flux entry: --entry "
        f"FOLDER, or `argocd:` / `flux: {{path: FOLDER}}` in sandbox.yaml); app {app.shown_name or app.name} is "
        "none, so nothing they define runs", file=where, object=app.name,
    ),)  # fmt: skip


def roll_up(apps: tuple[AppState, ...]) -> tuple[AppState, ...]:
    """The apps with each app-of-apps' health rolled up from the apps it defines."""
    if not any(a.parent for a in apps):
        return apps
    by_name = {a.name: a for a in apps}
    rolled = status.rolled_up(
        {a.name: a.health for a in apps},
        {a.name: bool(a.objects) for a in apps},
        {a.name: a.parent for a in apps},
        frozenset(a.name for a in apps if a.problems or a.last_result == "Failed"),
        frozenset(a.name for a in apps if a.message.startswith(BLOCKED)),
    )
    return tuple(
        a
        if rolled[a.name].health == a.health and not rolled[a.name].from_app
        else dataclasses.replace(
            a,
            health=rolled[a.name].health,
            health_from=rolled[a.name].from_app,
            health_from_failure=_failure(by_name[rolled[a.name].from_app]) if rolled[a.name].failed else "",
            health_from_deeper=by_name[rolled[a.name].from_app].parent != a.name
            if rolled[a.name].from_app
            else False,
        )
        for a in apps
    )


def _failure(app: AppState) -> str:
    """How an app below failed, as its parent's health says: its sync, or its render before any."""
    return "does not render" if app.problems and app.last_result != "Succeeded" else "failed to sync"
