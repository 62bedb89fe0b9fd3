"""The pull agent: Git is the source of truth and the cluster converges to it.

An in-process library object that the TUI and the CLI both drive. It owns the lifecycle
(locks, watches, the worker thread), turns everything that happens into typed commands on
one queue, and hands each to the controller of the app it concerns; one worker runs them in
order, so no two operations race on the same objects. After each change it publishes a new
immutable ``Snapshot``.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from sandbox.agent import appview, settings, sources
from sandbox.agent.apps import AppSet
from sandbox.agent.commands import (
    Barrier,
    ClusterBack,
    ClusterCheck,
    Command,
    CommitSeen,
    Continue,
    DependsOn,
    Drift,
    ManualSync,
    Resume,
    Retry,
    Reverted,
    Rollback,
    SetAutoSync,
    SetSelfHeal,
    Settled,
    SourceMoved,
    Startup,
    UserCommand,
)
from sandbox.agent.controller import AppController
from sandbox.agent.history import INTERRUPTED, History
from sandbox.agent.history import path_for_repo as history_path_for
from sandbox.agent.locking import AgentLocks
from sandbox.agent.observer import diff_of
from sandbox.agent.ownership import Ownership
from sandbox.agent.publisher import Publisher, Subscriber
from sandbox.agent.readiness import Readiness
from sandbox.agent.revert import RevertResult, revert_commit
from sandbox.agent.services import Services
from sandbox.agent.snapshot import Event, Snapshot
from sandbox.agent.waiting import Waiting
from sandbox.agent.worker import Worker
from sandbox.apply.dryrun import DryRun, Verified
from sandbox.apply.handscale import hand_scale
from sandbox.apply.inventory import APP_LABEL, InventoryStore, tracking_app
from sandbox.apply.livecache import CHILD_KINDS, LiveCache
from sandbox.apply.reader import ClusterReader
from sandbox.apply.steps import POLL
from sandbox.apply.sync import Syncer
from sandbox.kube.client import Kube, KubeError
from sandbox.model import Manifest, ObjectKey, Problem, SyncStatus
from sandbox.source.appspec import AppSpec
from sandbox.source.envrepo import CommitInfo, EnvRepo, EnvRepoError
from sandbox.source.repowatch import RepoWatcher

COMMIT_LOG = 200
CLUSTER_CHECK = 2.0  # seconds between looks at the kubeconfig while the cluster does not answer


class Agent:
    """Watches the env repo, runs one controller per app, and publishes snapshots.

    ``automated`` agents (watch, the app, check) deploy each commit, heal drift and retry
    failures; the others (one-shot sync, rollback, resume, revert) do only what they are told.
    """

    def __init__(
        self,
        repo_path: Path,
        kube: Kube,
        history: History | None = None,
        branch: str | None = None,
        automated: bool = True,
        settings_path: Path | None = None,
        startup_trigger: str = "startup",
        focus: str | None = None,
        entry: str | None = None,
    ) -> None:
        self.repo_path = Path(repo_path).resolve()
        self.entry = entry  # where app discovery starts, when the user names it (--entry)
        self.kube = kube
        self.reader = ClusterReader(kube)
        self.history = history or History(history_path_for(self.repo_path))
        self.branch_arg = branch
        self.automated = automated
        self.startup_trigger = startup_trigger
        self.focus = focus  # a one-shot command about one app renders only that one
        self.cache = LiveCache(self.reader, index_label=APP_LABEL)
        self.inventories = InventoryStore(kube)
        self.dry = DryRun(self.reader, Verified())
        self.syncer = Syncer(kube, self.dry, self.cache, self.inventories)
        self.ownership = Ownership(lambda app, key: self.apps.source_of(app, key) if self.apps else "")
        self.settings_path = settings_path or settings.path_for_repo(self.repo_path)
        self.repo: EnvRepo | None = None
        self.apps: AppSet | None = None  # made once the repo opens
        self.head = ""
        self.branch = branch or ""
        self._problems: tuple[Problem, ...] = ()
        self._commits: tuple[CommitInfo, ...] = ()
        self._unreachable = ""  # since when and why the cluster does not answer
        self._lost_at = ""  # when it last stopped answering
        self._events: deque[Event] = deque(maxlen=300)
        self._publisher = Publisher(self._build, lambda message: self._events.append(
            Event(time.time(), "error", "", message)))  # fmt: skip
        self._worker = Worker(self._handle, self._busy, self._publish, self._event)
        self._watcher: RepoWatcher | None = None
        # What apps read besides the env repo's branch: (other repo's path or "", ref or "")
        self._sources = sources.SourceWatchers()
        self._locks = AgentLocks(self.repo_path, kube.host)
        self.stop_reason = "the agent was stopped"  # what a sync cut short by the stop is said to be

    # -- lifecycle --------------------------------------------------------------------------

    def start(self, watch_repo: bool = True, exclusive: bool = False) -> None:
        """Open the repo, start watches and the worker; the first sync is queued at once.

        ``exclusive`` takes the env repo's agent lock: two agents changing the same apps
        would undo each other (one's rollback is the other's drift).
        """
        if exclusive:
            # The repo's own lock, whatever settings this run keeps (`check` keeps its own aside).
            self._locks.take_repo(settings.path_for_repo(self.repo_path).with_suffix(".lock"))
        self.history.cluster = self.kube.cluster_uid()  # what syncs are recorded against
        self._open_repo()
        for group, kind in CHILD_KINDS:
            resource = self.kube.resources().get((group, kind))
            if resource:
                self.cache.watch(resource)
        self.cache.subscribe(self._on_live_change)
        self.cache.on_connectivity(self._on_connectivity)
        self._worker.start()
        if watch_repo:
            self._watcher = RepoWatcher(self.repo_path / ".git", self._read_head, self._on_commit)
            self._watcher.start()
        self._worker.put(Startup())

    def stop(self) -> None:
        self._worker.stopping()
        self._publisher.cancel()
        if self._watcher:
            self._watcher.stop()
        self._sources.stop()
        self.cache.stop()
        self.syncer.close()
        self._worker.join(timeout=5)
        # A sync cut short by the stop ends in the history as interrupted, never Running.
        self.history.interrupt_running(f"{INTERRUPTED}: {self.stop_reason}")
        if self.repo:
            self.repo.close()
        self._locks.release()

    def _open_repo(self) -> None:
        try:
            self.repo = EnvRepo(self.repo_path, self.branch_arg)
            self.branch = self.repo.branch or "HEAD"
            self._problems = ()
        except EnvRepoError as exc:
            self.repo = None
            self._problems = (Problem(str(exc), file=str(self.repo_path)),)
            self._event("error", "", str(exc))

    def _read_head(self) -> str | None:
        if self.repo is None:
            self._open_repo()
        if self.repo is None:
            return None
        try:
            return self.repo.head()
        except EnvRepoError:
            return None

    # -- subscribers ------------------------------------------------------------------------

    def subscribe(self, subscriber: Subscriber) -> None:
        """Receive every new snapshot (called on an agent thread: hand it over, do not block)."""
        self._publisher.subscribe(subscriber)

    def snapshot(self) -> Snapshot:
        return self._publisher.snapshot or Snapshot(0, str(self.repo_path), self.branch, "")

    def wait_idle(self, timeout: float = 60) -> bool:
        """Block until every queued command is done, and every sync they started has ended
        (for the CLI and tests)."""
        barrier = Barrier()
        self._worker.put(barrier)
        return barrier.done.wait(timeout)

    # -- commands (any thread) --------------------------------------------------------------

    def send(self, command: UserCommand) -> None:
        """Queue what a person asked (sync, rollback, resume, auto-sync, self-heal); the one
        worker carries it out in order, and returns at once."""
        self._worker.put(command)

    def revert(self, sha: str | None = None, app: str | None = None) -> RevertResult:
        """git revert of a commit (default: what the app's revert target says) as a new commit."""
        target = sha or self.default_revert_target(app)
        if not target:
            raise EnvRepoError("nothing to revert: no deployed revision yet")
        result = revert_commit(self.repo_path, target, self.repo.branch if self.repo else None)
        self._event("info", app or "", f"{result.message.splitlines()[0]}; {result.undo_hint}")
        if self._watcher:
            self._watcher.mark_seen(result.new_sha)  # this agent deploys it as a revert, not a commit
        self._worker.put(Reverted(result.new_sha))
        return result

    def touched_by(self, sha: str) -> set[str]:
        """The apps a commit changed (see AppSet.touched_by)."""
        return self.apps.touched_by(sha) if self.apps else set()

    def hand_scale(self, key: ObjectKey, replicas: int) -> str:
        """For learning: scale a workload by hand, as `kubectl scale` would (see apply/handscale)."""
        return hand_scale(self.kube, self.cache, key, replicas)

    def diff_object(self, app: str, key: ObjectKey, context: int = 3) -> str:
        """The unified diff a sync would make to one object (server-side dry-run vs live)."""
        state = self.snapshot().app(app)
        obj = next((o for o in state.objects if o.key == key), None) if state else None
        return diff_of(self.dry, key, obj.desired if obj else None, self.cache.get(key), context)

    def default_rollback_target(self, app: str) -> str | None:
        controller = self.apps.get(app) if self.apps else None
        return controller.default_rollback_target() if controller else None

    def default_revert_target(self, app: str | None = None) -> str | None:
        """What revert undoes with no commit named: the app's revert target; with no app named,
        the newest of all apps' targets (the commit that broke one, else the newest deployed
        change), not whichever app sorts first."""
        controllers = self._controllers(app) if app else self._controllers()
        if not controllers:
            return None if app else self.head or None
        targets = [t.sha for t in (c.revert_target() for c in controllers) if t]
        if len(set(targets)) <= 1 or self.repo is None:
            return next(iter(targets), None)
        try:
            newest_first = [c.sha for c in self.repo.commits(self.head, limit=500)]
        except EnvRepoError:
            newest_first = []
        return next((sha for sha in newest_first if sha in targets), targets[0])

    # -- reactions --------------------------------------------------------------------------

    def _on_commit(self, old: str | None, new: str) -> None:
        self._worker.put(CommitSeen(new))

    def _on_live_change(self, kind: str, key: ObjectKey, obj: Manifest) -> None:
        name = tracking_app(obj)
        controller = None
        if self.automated and self.apps is not None:  # a one-shot command does not heal
            # By annotation, else by key: an object someone stripped of it is still drift.
            controller = self.apps.get(name) if name else self.apps.deployed_owner(key)
        # During a sync the changes are the sync's own; it settles its objects when it ends.
        if controller is not None and not controller.syncing and controller.deployed is not None:
            if key in controller.deployed.objects:
                known = self.dry.verified.resource_version(key)
                version = obj.get("metadata", {}).get("resourceVersion")
                if kind == "DELETED" or version != known:
                    self._worker.put(Drift(controller.name, frozenset((key,))))
        self._publish()

    def _on_connectivity(self, reachable: bool, why: str) -> None:
        self._unreachable = "" if reachable else f"unreachable since {time.strftime('%H:%M:%S')}: {why}"
        if not reachable:
            self._lost_at = time.strftime("%H:%M:%S")
            self._event(
                "warning", "", f"lost the cluster ({why}); syncs fail and are retried until it answers"
            )
            self._worker.schedule(CLUSTER_CHECK, ClusterCheck())
            return
        self._event("info", "", "the cluster answers again: bringing every app to its target")
        self._worker.put(ClusterBack(self._lost_at))

    def _check_cluster(self) -> None:
        """Whether the kubeconfig names another cluster now (`cluster down` then `cluster up`: a
        new CA): then talk to that one, and give it every app at its target revision,
        inventories included, without waiting for a commit. Looked at while the cluster does
        not answer, and when it answers again (a CA read from a file may already be the new)."""
        if not self.kube.replaced():
            if not self.cache.reachable:
                self._worker.schedule(CLUSTER_CHECK, ClusterCheck())
            return
        self.kube.reconnect()
        self.history.cluster = self.kube.cluster_uid()
        self.cache.forget_all()
        self.dry.verified.clear()
        self.syncer.forget_cluster()
        self._event("info", "", f"the kubeconfig names a new cluster ({self.kube.host}): reconnected; "
                                "deploying every app's target revision to it")  # fmt: skip
        for controller in self._controllers():
            controller.redeploy()

    def _busy(self) -> bool:
        """A sync is under way (put aside while it waits on the cluster)."""
        return any(c.in_flight for c in self._controllers())

    def _handle(self, command: Command) -> None:
        match command:
            case Startup():
                self._refresh(self._read_head(), self.startup_trigger)
            case CommitSeen(revision):
                self._refresh(revision, "commit")
            case SourceMoved(repo, revision, ref):
                for controller in self._controllers():
                    if (repo, ref) not in sources.sources_of(controller.spec) or not self.head:
                        continue
                    if (fresh := controller.source_changed(self.head)) is not None:
                        # The commit it read: a later one than this command's when they came fast.
                        read = self._head_of(repo, ref) or revision
                        said = (f"new commit {read[:7]} in {repo}, which it reads" if repo else
                                f"new commit {read[:7]} on {ref}, which it follows")  # fmt: skip
                        self._event("info", controller.name, said)
                        controller.follow(self.head, "source", target=fresh)
            case Reverted(revision):
                for controller in self._controllers():
                    if controller.settings.paused:  # a revert ends a rollback: Git is followed again
                        controller.settings = settings.AppSettings(True, controller.settings.self_heal)
                self._save_settings()
                self._refresh(revision, "revert", force=True)
            case ManualSync(app):
                if self.apps:
                    self.apps.sync(app, self.head)
            case Rollback(app, revision):
                self._rollback(app, revision)
            case Resume(app):
                self._each(app, AppController.resume)
            case SetAutoSync(app, on):
                self._each(app, lambda c: c.set_auto_sync(on))
            case SetSelfHeal(app, on):
                self._each(app, lambda c: c.set_self_heal(on))
            case Drift(app, keys):
                self._each(app, lambda c: c.check_drift(keys))
            case Retry(app, revision, token):
                self._each(app, lambda c: c.retry(revision, token))
            case Continue(app, flight):
                self._each(app, lambda c: c.go_on(flight))
            case DependsOn(app, trigger):
                self._each(app, lambda c: c.follow_dependencies(trigger))
            case ClusterCheck():
                self._check_cluster()
            case ClusterBack():
                self._check_cluster()  # back, or another cluster at the same address (a CA file re-read)
                for controller in self._controllers():
                    controller.catch_up()
                self._worker.put(Settled(command.since))
            case Settled() if self._busy():
                self._worker.schedule(POLL, command)  # what came of it is known once the syncs end
            case Settled():
                self._event("info", "", _settled(self.publish_now(), command.since))
            case Barrier():
                pass

    def _controllers(self, app: str | None = None) -> list[AppController]:
        return self.apps.controllers(app) if self.apps else []

    def _each(self, app: str, action: Callable[[AppController], None]) -> None:
        for controller in self._controllers(app):
            action(controller)

    def _rollback(self, app: str, revision: str | None) -> None:
        controller = self.apps.get(app) if self.apps else None
        if controller is None or self.repo is None:
            self._event("error", app, f"rollback: no app named {app}")
            return
        target = self.repo.resolve(revision) if revision else controller.default_rollback_target()
        if not target:
            self._event("error", app, "rollback: no earlier healthy revision to roll back to")
            return
        controller.rollback(target)

    # -- Git -> apps --------------------------------------------------------------------------

    def _refresh(self, head: str | None, trigger: str, force: bool = False) -> None:
        if self.repo is None or not head:
            if self.repo is None:
                self._open_repo()
            return
        if self.apps is None:
            self.apps = AppSet(
                self._services(self.repo), self.inventories, settings.load(self.settings_path),
                self.settings_path, self.automated, self._locks.claim_app, self.focus, self.entry,
            )  # fmt: skip
        previous, self.head = self.head, head
        if trigger == "commit":  # said before what the commit makes the apps do
            info = self.repo.commit_info(head)
            self._event("info", "", f"new commit {info.short} by {info.author}: {info.subject}")
        self.apps.refresh(previous, head, trigger, force)
        self._commits = tuple(
            self.repo.commits(head, limit=COMMIT_LOG)
        )  # after: a commit's sync waits for nothing
        self._follow_sources()

    def _head_of(self, path: str, ref: str = "") -> str | None:
        return sources.head_of(self.repo, path, ref) if self.repo is not None else None

    def _follow_sources(self) -> None:
        """Watch what apps read besides the env repo's branch, as that branch is watched: a
        commit in an app repo, or on a branch of the env repo an app follows (Argo CD's
        targetRevision), redeploys the apps that read it."""
        if self._watcher is None:  # a one-shot command reads them once, when it renders
            return
        wanted = {source for c in self._controllers() for source in sources.sources_of(c.spec)}
        self._sources.follow(
            wanted,
            self.repo_path,
            self._head_of,
            lambda path, new, ref: self._worker.put(SourceMoved(path, new, ref)),
        )

    def _services(self, repo: EnvRepo) -> Services:
        return Services(
            repo=repo, repo_path=self.repo_path, cache=self.cache, dry=self.dry, syncer=self.syncer,
            history=self.history, ownership=self.ownership, event=self._event, publish=self._publish,
            schedule=self._worker.schedule, save_settings=self._save_settings, is_namespaced=self._is_namespaced,
            waiting_on=self._waiting_on,
            finish_awaited=self._finish_awaited,
        )  # fmt: skip

    def _finish_awaited(self, spec: AppSpec) -> None:
        # Every other sync under way, not only the dependencies': a dependency is Ready once the
        # apps it defines are, and theirs may be among them.
        for controller in self._controllers():
            if controller.name != spec.name:
                controller.finish()

    def _waiting_on(self, spec: AppSpec) -> Waiting:
        """What ``spec`` waits for before it syncs (see readiness)."""
        return Readiness(self._controllers(), None if self.automated else self.focus).waiting_on(spec)

    def _is_namespaced(self, group: str, kind: str) -> bool | None:
        try:
            return self.kube.is_namespaced(group, kind)
        except KubeError:
            return None

    def _save_settings(self) -> None:
        if self.apps:
            self.apps.save_settings()

    # -- snapshots --------------------------------------------------------------------------

    def _event(self, level: str, app: str, message: str) -> None:
        self._events.append(Event(time.time(), level, app, message))
        self._publish()

    def _publish(self) -> None:
        self._publisher.soon()

    def publish_now(self) -> Snapshot:
        """Build a snapshot immediately (for the CLI, which prints once and exits)."""
        return self._publisher.now()

    def _build(self, seq: int) -> Snapshot:
        controllers = self._controllers()
        # The history records the health status shows: an app-of-apps' rolled up.
        read_at = self.apps.read_at if self.apps else {}
        apps = appview.finished(tuple(c.view() for c in controllers), self.branch, read_at)
        for controller, state in zip(controllers, apps, strict=True):
            controller.track_health(state)
        problems = self._problems + self._worker.failures() + (self.apps.problems if self.apps else ())
        return Snapshot(
            seq, str(self.repo_path), self.branch, self.head, apps, tuple(self._events), problems,
            commits=self._commits, notices=self.apps.notices if self.apps else (), unreachable=self._unreachable,
        )  # fmt: skip


def _settled(snapshot: Snapshot, since: str) -> str:
    """One line for the end of catching up after an outage: every app in step, or which are not
    and why (as its status line says it)."""
    apps = snapshot.apps
    behind = [a for a in apps if a.sync != SyncStatus.SYNCED or a.last_result == "Failed"]
    if not behind:
        return f"caught up after the outage since {since}: every app at its target ({len(apps)})"
    named = ", ".join(f"{a.shown_name or a.name} ({a.said or a.sync})" for a in behind[:5])
    more = f" and {len(behind) - 5} more" if len(behind) > 5 else ""
    return (f"after the outage since {since}: {len(apps) - len(behind)} of {len(apps)} apps at their "
            f"target; not: {named}{more}")  # fmt: skip
