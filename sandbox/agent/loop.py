"""The pull agent: Git is the source of truth and the cluster converges to it.

An in-process library object that the TUI and the CLI both drive. It owns the lifecycle
(locks, watches, the worker thread), turns everything that happens into typed commands on
one queue, and hands each to the controller of the app it concerns; one worker runs them in
order, so no two operations race on the same objects. After each change it publishes a new
immutable ``Snapshot``.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import IO

from sandbox import locks
from sandbox.agent import appset, settings
from sandbox.agent.commands import (
    Barrier,
    Command,
    CommitSeen,
    Drift,
    ManualSync,
    Resume,
    Retry,
    Reverted,
    Rollback,
    SetAutoSync,
    SetSelfHeal,
    Startup,
    Stop,
)
from sandbox.agent.controller import AppController, Services
from sandbox.agent.history import History, ObjectOutcome
from sandbox.agent.history import path_for_repo as history_path_for
from sandbox.agent.observer import diff_of
from sandbox.agent.ownership import Ownership
from sandbox.agent.revert import RevertResult, revert_commit
from sandbox.agent.snapshot import Event, Snapshot
from sandbox.apply.dryrun import DryRun, Verified
from sandbox.apply.inventory import APP_LABEL, InventoryStore, tracking_app
from sandbox.apply.kube import Kube, KubeError
from sandbox.apply.livecache import LiveCache
from sandbox.apply.reader import ClusterReader
from sandbox.apply.sync import Syncer
from sandbox.model import Manifest, ObjectKey, Problem
from sandbox.paths import cache_dir
from sandbox.source.appconfig import CONFIG_FILE, AppSpec, load_apps, uncommitted_config
from sandbox.source.envrepo import CommitInfo, EnvRepo, EnvRepoError
from sandbox.source.repowatch import RepoWatcher

Subscriber = Callable[[Snapshot], None]
CHILD_KINDS = (("apps", "ReplicaSet"), ("", "Pod"), ("batch", "Job"))
PUBLISH_DEBOUNCE = 0.03
COMMIT_LOG = 200


class AgentBusy(RuntimeError):
    """Another agent already drives this env repo."""


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
    ) -> None:
        self.repo_path = Path(repo_path).resolve()
        self.kube = kube
        self.reader = ClusterReader(kube)
        self.history = history or History(history_path_for(self.repo_path))
        self.branch_arg = branch
        self.automated = automated
        self.startup_trigger = startup_trigger
        self.cache = LiveCache(self.reader, index_label=APP_LABEL)
        self.inventories = InventoryStore(kube)
        self.dry = DryRun(self.reader, Verified())
        self.syncer = Syncer(kube, self.dry, self.cache, self.inventories)
        self.ownership = Ownership(self._source_of)
        self.settings_path = settings_path or settings.path_for_repo(self.repo_path)
        self.repo: EnvRepo | None = None
        self.head = ""
        self.branch = branch or ""
        self._apps: dict[str, AppController] = {}
        self._settings: dict[str, settings.AppSettings] = {}
        self._problems: tuple[Problem, ...] = ()
        self._notices: tuple[str, ...] = ()
        self._commits: tuple[CommitInfo, ...] = ()
        self._events: deque[Event] = deque(maxlen=300)
        self._queue: queue.Queue[Command] = queue.Queue()
        self._timers: set[threading.Timer] = set()
        self._lock = threading.RLock()
        self._subscribers: list[Subscriber] = []
        self._seq = 0
        self._snapshot = Snapshot(0, str(self.repo_path), self.branch, "")
        self._publish_timer: threading.Timer | None = None
        self._last_build = 0.0  # seconds the last snapshot took to build
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._run, name="agent", daemon=True)
        self._watcher: RepoWatcher | None = None
        self._lock_handle: IO[str] | None = None
        self._app_locks: dict[str, IO[str]] = {}
        self._exclusive = False

    # -- lifecycle --------------------------------------------------------------------------

    def start(self, watch_repo: bool = True, exclusive: bool = False) -> None:
        """Open the repo, start watches and the worker; the first sync is queued at once.

        ``exclusive`` takes the env repo's agent lock: two agents changing the same apps
        would undo each other (one's rollback is the other's drift).
        """
        self._exclusive = exclusive
        if exclusive:
            self._take_lock()
        self._open_repo()
        for group, kind in CHILD_KINDS:
            resource = self.kube.resources().get((group, kind))
            if resource:
                self.cache.watch(resource)
        self.cache.subscribe(self._on_live_change)
        self._worker.start()
        if watch_repo:
            self._watcher = RepoWatcher(self.repo_path / ".git", self._read_head, self._on_commit)
            self._watcher.start()
        self._queue.put(Startup())

    def _take_lock(self) -> None:
        handle, holder = locks.try_own(self.settings_path.with_suffix(".lock"), f"pid {os.getpid()}")
        if handle is None:
            raise AgentBusy(
                f"an agent is already running for {self.repo_path} ({holder}): use that one, or stop it first"
            )
        self._lock_handle = handle

    def stop(self) -> None:
        self._stop.set()
        self._queue.put(Stop())
        for timer in list(self._timers):
            timer.cancel()
        if self._watcher:
            self._watcher.stop()
        self.cache.stop()
        self.syncer.close()
        if self._worker.is_alive():
            self._worker.join(timeout=5)
        if self.repo:
            self.repo.close()
        if self._lock_handle:
            self._lock_handle.close()
            self._lock_handle = None
        for handle in self._app_locks.values():
            handle.close()
        self._app_locks.clear()

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
        self._subscribers.append(subscriber)

    def snapshot(self) -> Snapshot:
        return self._snapshot

    def wait_idle(self, timeout: float = 60) -> bool:
        """Block until every queued command is done (for the CLI and tests)."""
        barrier = Barrier()
        self._queue.put(barrier)
        return barrier.done.wait(timeout)

    # -- commands (any thread) --------------------------------------------------------------

    def sync(self, app: str | None = None) -> None:
        """Sync now: each app (or one) to its target revision."""
        self._queue.put(ManualSync(app))

    def rollback(self, app: str, revision: str | None = None) -> None:
        """Sync an earlier revision; auto-sync pauses for that app until resumed or reverted."""
        self._queue.put(Rollback(app, revision))

    def resume(self, app: str) -> None:
        """Turn auto-sync back on (and end a rollback): the app follows Git again."""
        self._queue.put(Resume(app))

    def set_auto_sync(self, app: str, on: bool) -> None:
        self._queue.put(SetAutoSync(app, on))

    def set_self_heal(self, app: str, on: bool) -> None:
        self._queue.put(SetSelfHeal(app, on))

    def revert(self, sha: str | None = None, app: str | None = None) -> RevertResult:
        """git revert of a commit (default: what the app's revert target says) as a new commit."""
        target = sha or self.default_revert_target(app)
        if not target:
            raise EnvRepoError("nothing to revert: no deployed revision yet")
        result = revert_commit(self.repo_path, target, self.repo.branch if self.repo else None)
        self._event("info", app or "", f"{result.message.splitlines()[0]}; {result.undo_hint}")
        if self._watcher:
            self._watcher.mark_seen(result.new_sha)  # this agent deploys it as a revert, not a commit
        self._queue.put(Reverted(result.new_sha))
        return result

    def hand_scale(self, key: ObjectKey, replicas: int) -> str:
        """A hand edit for learning: scale a workload as `kubectl scale` would, behind Git's back.

        With self-heal on, the agent sees the drift through its watch and undoes it.
        Returns what was done, in kubectl terms.
        """
        live = self.cache.get(key)
        if live is None:
            raise KubeError(404, "NotFound", f"{key} is not in the cluster")
        resource = self.kube.resource_for(live["apiVersion"], key.kind)
        if resource is None or "replicas" not in (live.get("spec") or {}):
            raise KubeError(400, "BadRequest", f"{key} cannot be scaled")
        self.kube.request(
            "PATCH", resource.path(key.namespace, key.name) + "/scale",
            body={"spec": {"replicas": replicas}}, params={"fieldManager": "kubectl-scale"},
            content_type="application/merge-patch+json",
        )  # fmt: skip
        return f"kubectl scale {key.kind.lower()}/{key.name} -n {key.namespace} --replicas={replicas}"

    def diff_object(self, app: str, key: ObjectKey, context: int = 3) -> str:
        """The unified diff a sync would make to one object (server-side dry-run vs live)."""
        state = self._snapshot.app(app)
        obj = next((o for o in state.objects if o.key == key), None) if state else None
        return diff_of(self.dry, key, obj.desired if obj else None, self.cache.get(key), context)

    def default_rollback_target(self, app: str) -> str | None:
        with self._lock:
            controller = self._apps.get(app)
        return controller.default_rollback_target() if controller else None

    def default_revert_target(self, app: str | None = None) -> str | None:
        state = self._snapshot.app(app) if app else next(iter(self._snapshot.apps), None)
        if state is None:
            return self.head or None
        return state.revert_target.sha if state.revert_target else None

    # -- reactions --------------------------------------------------------------------------

    def _on_commit(self, old: str | None, new: str) -> None:
        self._queue.put(CommitSeen(new))

    def _on_live_change(self, kind: str, key: ObjectKey, obj: Manifest) -> None:
        name = tracking_app(obj)
        controller = self._apps.get(name) if name else None
        # During a sync the changes are the sync's own; it settles its objects when it ends.
        if controller is not None and not controller.syncing and controller.deployed is not None:
            if key in controller.deployed.objects:
                known = self.dry.verified.resource_version(key)
                version = obj.get("metadata", {}).get("resourceVersion")
                if kind == "DELETED" or version != known:
                    self._queue.put(Drift(controller.name, frozenset((key,))))
        self._publish()

    def _schedule(self, delay: float, command: Command) -> None:
        def fire() -> None:
            self._timers.discard(timer)
            if not self._stop.is_set():
                self._queue.put(command)

        timer = threading.Timer(delay, fire)
        timer.daemon = True
        self._timers.add(timer)
        timer.start()

    # -- the worker -------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            command = self._queue.get()
            if isinstance(command, Stop):
                return
            for item in self._merge_drift(command):
                try:
                    self._handle(item)
                except Exception as exc:  # the agent keeps running whatever one command does
                    app = getattr(item, "app", None) or ""
                    self._event("error", app, f"{type(item).__name__} failed: {type(exc).__name__}: {exc}")
                finally:
                    if isinstance(item, Barrier):
                        item.done.set()
            self._publish()

    def _merge_drift(self, first: Command) -> list[Command]:
        """A flood of drift events (a rollout, a bulk edit) becomes one command per app."""
        if not isinstance(first, Drift):
            return [first]
        merged: dict[str, set[ObjectKey]] = {first.app: set(first.keys)}
        others: list[Command] = []
        while True:
            try:
                command = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(command, Drift):
                merged.setdefault(command.app, set()).update(command.keys)
            else:
                others.append(command)
        for command in others:
            self._queue.put(command)
        return [Drift(app, frozenset(keys)) for app, keys in merged.items()]

    def _handle(self, command: Command) -> None:
        match command:
            case Startup():
                self._settings = settings.load(self.settings_path)
                self._refresh(self._read_head(), self.startup_trigger)
            case CommitSeen(revision):
                self._refresh(revision, "commit")
            case Reverted(revision):
                for controller in self._controllers():
                    if controller.settings.paused:
                        controller.settings = settings.AppSettings(True, controller.settings.self_heal)
                self._save_settings()
                self._refresh(revision, "revert", force=True)
            case ManualSync(app):
                for controller in self._controllers(app):
                    if controller.removed:
                        self._remove(controller, self.head, prune_now=True)
                    else:
                        controller.sync("manual")
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
            case Retry(app, revision):
                self._each(app, lambda c: c.retry(revision))
            case Barrier():
                pass

    def _controllers(self, app: str | None = None) -> list[AppController]:
        with self._lock:
            return [c for n, c in self._apps.items() if app is None or n == app]

    def _each(self, app: str, action: Callable[[AppController], None]) -> None:
        for controller in self._controllers(app):
            action(controller)

    def _rollback(self, app: str, revision: str | None) -> None:
        with self._lock:
            controller = self._apps.get(app)
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
        previous, self.head = self.head, head
        self._commits = tuple(self.repo.commits(head, limit=COMMIT_LOG))
        specs, problems = load_apps(self.repo, head)
        self._problems = tuple(problems)
        for problem in problems:
            self._event("error", "", str(problem))
        self._notice_uncommitted_config(head)
        configured = self.repo.read_file(head, CONFIG_FILE) is not None
        known = self._known_apps()
        self._apply_plan(appset.plan(specs, problems, configured, known, head), known, head)
        for controller in self._touched_first(previous, head):
            controller.follow(head, trigger, force)
        if trigger == "commit":
            info = self.repo.commit_info(head)
            self._event("info", "", f"new commit {info.short} by {info.author}: {info.subject}")

    def _known_apps(self) -> dict[str, AppSpec]:
        """Every app this env repo ran: the running controllers, and the inventories it wrote."""
        known = {name: c.spec for name, c in self._apps.items()}
        if not self._apps:  # a fresh start: what did earlier runs leave in the cluster?
            for inventory in self.inventories.all():
                extra = inventory.extra
                if extra.get("repo") == str(self.repo_path) and inventory.app not in known:
                    known[inventory.app] = AppSpec(
                        inventory.app, extra.get("path", inventory.app), extra.get("namespace", inventory.app),
                        "plain", prune=extra.get("prune", "true") == "true",
                    )  # fmt: skip
        return known

    def _apply_plan(self, plan: appset.AppSetPlan, known: dict[str, AppSpec], head: str) -> None:
        with self._lock:
            old = dict(self._apps)
            self._apps = {}
            for spec in plan.specs:
                controller = old.get(spec.name)
                if controller is None or controller.removed:
                    controller = self._controller(spec)
                controller.spec, controller.config_problems, controller.removed = spec, (), False
                self._apps[spec.name] = controller
            for name, problems in plan.broken.items():
                controller = old.get(name) or self._controller(known[name])
                controller.config_problems = problems
                self._apps[name] = controller
            for name, problem in plan.vanished.items():
                controller = old.get(name) or self._controller(known[name])
                controller.config_problems = (problem,)
                self._apps[name] = controller
        for name, controller in self._apps.items():
            holder = self._claim_app(name)
            if holder:
                controller.config_problems = (
                    Problem(f"app {name} is driven by another agent on this cluster ({holder}); "
                            "not syncing it from here", object=name),
                )  # fmt: skip
        for name in plan.removed:
            self._remove(old.get(name) or self._controller(known[name]), head, prune_now=self.automated)

    def _controller(self, spec: AppSpec) -> AppController:
        saved = self._settings.get(spec.name) or settings.AppSettings(spec.auto_sync, spec.self_heal)
        return AppController(spec, self._services(), saved, self.automated)

    def _remove(self, controller: AppController, head: str, prune_now: bool) -> None:
        """The app left a valid sandbox.yaml: prune its objects (prune on) or keep them, Orphaned.

        ``prune_now`` False (an agent that does not sync on its own) only marks it removed;
        the next sync prunes.
        """
        name = controller.name
        was_removed = controller.removed
        if controller.spec.prune and prune_now:
            results = self.syncer.prune_all(name)
            self.ownership.release(name)
            with self._lock:
                self._apps.pop(name, None)
            pruned = [r for r in results if str(r.action) == "pruned"]
            info = self.repo.commit_info(head) if self.repo else None
            sync_id = self.history.start(
                name, head, info.author if info else "", info.subject if info else "", "removed"
            )
            message = f"app {name} was removed from {CONFIG_FILE}: pruned {len(pruned)} object(s)"
            outcomes = [
                ObjectOutcome(str(r.key), str(r.action), "Unknown", "Missing", r.message) for r in results
            ]
            self.history.finish(sync_id, "Succeeded", "Missing", message, outcomes)
            self._event("warning", name, message)
            return
        controller.removed = True
        controller.target = controller.deployed = None
        controller.git_revision = head
        self.syncer.watch_inventory(name)  # its objects show, Orphaned
        with self._lock:
            self._apps[name] = controller
        if not was_removed:
            if controller.spec.prune:
                message = f"app {name} was removed from {CONFIG_FILE}; the next sync prunes its objects"
            else:
                message = (f"app {name} was removed from {CONFIG_FILE}; prune is off, so its objects stay "
                           "in the cluster (Orphaned)")  # fmt: skip
            self._event("warning", name, message)
            controller.message = message

    def _notice_uncommitted_config(self, head: str) -> None:
        assert self.repo is not None
        note = uncommitted_config(self.repo_path, self.repo, head)
        notices = (note,) if note else ()
        if notices != self._notices and note:
            self._event("warning", "", note)
        self._notices = notices

    def _claim_app(self, name: str) -> str | None:
        """Hold a machine-wide lock on (cluster, app); None when ours, else who holds it.

        Two agents syncing the same app from two repos would undo each other forever.
        """
        if name in self._app_locks or not self._exclusive:
            return None  # an agent that only looks takes no lock
        key = hashlib.sha256(f"{self.kube.host}|{name}".encode()).hexdigest()[:16]
        owner = f"pid {os.getpid()}, env repo {self.repo_path}"
        handle, holder = locks.try_own(cache_dir() / "locks" / f"app-{key}.lock", owner)
        if handle is None:
            return holder
        self._app_locks[name] = handle
        return None

    def _touched_first(self, old: str | None, new: str) -> list[AppController]:
        """Apps whose folder the commit changed go first, so a commit's latency does not grow
        with the size of every other app (they are rendered and synced after it)."""
        controllers = [c for c in self._controllers() if not c.removed]
        if not old or old == new or self.repo is None:
            return controllers
        try:
            changed = self.repo.changed_paths(old, new)
        except EnvRepoError:
            return controllers

        def touched(controller: AppController) -> bool:
            path = controller.spec.path
            prefix = "" if path in ("", ".") else path.rstrip("/") + "/"
            return any(p.startswith(prefix) for p in changed)

        return sorted(controllers, key=lambda c: not touched(c))

    def _services(self) -> Services:
        assert self.repo is not None
        return Services(
            repo=self.repo, repo_path=self.repo_path, cache=self.cache, dry=self.dry, syncer=self.syncer,
            history=self.history, ownership=self.ownership, event=self._event, publish=self._publish,
            schedule=self._schedule, save_settings=self._save_settings, is_namespaced=self._is_namespaced,
        )  # fmt: skip

    def _source_of(self, app: str, key: ObjectKey) -> str:
        controller = self._apps.get(app)
        for desired in (controller.deployed, controller.target) if controller else ():
            if desired is not None and key in desired.objects:
                return desired.objects[key].source
        return ""

    def _is_namespaced(self, group: str, kind: str) -> bool | None:
        try:
            return self.kube.is_namespaced(group, kind)
        except KubeError:
            return None

    def _save_settings(self) -> None:
        with self._lock:
            for name, controller in self._apps.items():
                self._settings[name] = controller.settings
            current = dict(self._settings)
        settings.save(self.settings_path, current)

    # -- snapshots --------------------------------------------------------------------------

    def _event(self, level: str, app: str, message: str) -> None:
        self._events.append(Event(time.time(), level, app, message))
        self._publish()

    def _publish(self) -> None:
        """Build and hand out a new snapshot soon; a flood of changes becomes one snapshot."""
        with self._lock:
            if self._publish_timer is not None:
                return
            # Building a snapshot of thousands of objects costs CPU the sync needs: under load,
            # wait at least twice as long as the last build took.
            delay = max(PUBLISH_DEBOUNCE, 2 * self._last_build)
            self._publish_timer = threading.Timer(delay, self._publish_now)
            self._publish_timer.daemon = True
            self._publish_timer.start()

    def _publish_now(self) -> None:
        started = time.perf_counter()
        with self._lock:
            self._publish_timer = None
            self._seq += 1
            controllers = list(self._apps.values())
            apps = tuple(c.view() for c in controllers)
            snapshot = Snapshot(
                self._seq, str(self.repo_path), self.branch, self.head, apps, tuple(self._events),
                self._problems, commits=self._commits, notices=self._notices,
            )  # fmt: skip
            self._snapshot = snapshot
            self._last_build = time.perf_counter() - started
        for controller, state in zip(controllers, apps, strict=True):
            controller.track_health(state)
        for subscriber in list(self._subscribers):
            try:
                subscriber(snapshot)
            except Exception as exc:  # a broken subscriber must not stop the agent
                self._events.append(Event(time.time(), "error", "", f"subscriber failed: {exc}"))

    def publish_now(self) -> Snapshot:
        """Build a snapshot immediately (for the CLI, which prints once and exits)."""
        self._publish_now()
        return self._snapshot
