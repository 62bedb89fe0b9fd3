"""The pull agent: Git is the source of truth and the cluster converges to it.

An in-process library object that the TUI and the CLI both drive. One worker thread runs
every sync, drift check, rollback and self-heal in order, so no two operations race on the
same objects; commands from the UI only enqueue work and return. After each change the
agent builds a new immutable ``Snapshot`` and hands it to its subscribers.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from sandbox import locks
from sandbox.agent.history import History, ObjectOutcome
from sandbox.agent.history import path_for_repo as history_path_for
from sandbox.agent.revert import RevertResult, revert_commit
from sandbox.agent.snapshot import AppState, Event, ObjectState, Snapshot
from sandbox.apply import diff, health
from sandbox.apply.inventory import APP_LABEL, InventoryStore, mark
from sandbox.apply.kube import Kube, KubeError
from sandbox.apply.livecache import LiveCache
from sandbox.apply.sync import ObjectResult, Syncer, SyncOutcome, Verified
from sandbox.model import (
    DesiredObject,
    Health,
    Manifest,
    ObjectKey,
    Problem,
    Rendered,
    SyncStatus,
    worst_health,
)
from sandbox.paths import cache_dir, state_dir
from sandbox.source.appconfig import AppSpec, load_apps
from sandbox.source.envrepo import CommitInfo, EnvRepo, EnvRepoError
from sandbox.source.render import render_app
from sandbox.source.repowatch import RepoWatcher

Subscriber = Callable[[Snapshot], None]
CHILD_KINDS = (("apps", "ReplicaSet"), ("", "Pod"), ("batch", "Job"))
PUBLISH_DEBOUNCE = 0.03


@dataclass
class _App:
    """The agent's private, mutable view of one app."""

    spec: AppSpec
    rendered: Rendered | None = None
    desired: dict[ObjectKey, DesiredObject] = field(default_factory=dict)
    marked: dict[ObjectKey, Manifest] = field(default_factory=dict)  # desired, with tracking marks
    git_revision: str = ""
    target_revision: str = ""
    deployed_revision: str | None = None
    paused: bool = False  # rolled back: auto-sync waits until resumed or reverted
    auto_sync: bool = True
    self_heal: bool = True
    operation: str = "Idle"
    last_sync: float | None = None
    last_result: str = ""
    message: str = ""
    sync_id: int | None = None
    recorded_health: str = ""
    announced_health: str = ""
    status: dict[ObjectKey, SyncStatus] = field(default_factory=dict)
    drift: set[ObjectKey] = field(default_factory=set)
    config_problems: tuple[Problem, ...] = ()  # its sandbox.yaml entry is invalid


@dataclass(frozen=True)
class _Task:
    kind: str  # startup | commit | manual | drift | rollback | resume | check
    app: str | None = None
    revision: str | None = None
    keys: tuple[ObjectKey, ...] = ()
    done: threading.Event | None = None


class AgentBusy(RuntimeError):
    """Another agent already drives this env repo."""


class Agent:
    """Watches the env repo, renders each app, syncs it, and publishes snapshots."""

    def __init__(
        self,
        repo_path: Path,
        kube: Kube,
        history: History | None = None,
        branch: str | None = None,
        auto_sync: bool = True,
        settings_path: Path | None = None,
        startup_trigger: str = "startup",
    ) -> None:
        self.repo_path = Path(repo_path).resolve()
        self.kube = kube
        self.history = history or History(history_path_for(self.repo_path))
        self.branch_arg = branch
        self.auto_sync_default = auto_sync
        self.startup_trigger = startup_trigger
        self.cache = LiveCache(kube, index_label=APP_LABEL)
        self.inventories = InventoryStore(kube)
        self.verified = Verified()
        self.syncer = Syncer(kube, self.cache, self.inventories, self.verified)
        key = hashlib.sha256(str(self.repo_path).encode()).hexdigest()[:12]
        self.settings_path = settings_path or state_dir() / "agent" / f"{key}.json"
        self.repo: EnvRepo | None = None
        self.head = ""
        self.head_synced: str | None = None
        self.branch = branch or ""
        self._apps: dict[str, _App] = {}
        self._owner: dict[ObjectKey, str] = {}  # desired key -> app
        self._syncing: set[str] = set()
        self._last_build = 0.0  # seconds the last snapshot took to build
        self._problems: tuple[Problem, ...] = ()
        self._events: deque[Event] = deque(maxlen=300)
        self._tasks: queue.Queue[_Task] = queue.Queue()
        self._lock = threading.RLock()
        self._subscribers: list[Subscriber] = []
        self._seq = 0
        self._snapshot = Snapshot(0, str(self.repo_path), self.branch, "")
        self._publish_timer: threading.Timer | None = None
        self._stop = threading.Event()
        self._idle = threading.Event()
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
            git_dir = self.repo_path / ".git"
            self._watcher = RepoWatcher(git_dir, self._read_head, self._on_commit)
            self._watcher.start()
        self._tasks.put(_Task("startup"))

    def _take_lock(self) -> None:
        handle, holder = locks.try_own(self.settings_path.with_suffix(".lock"), f"pid {os.getpid()}")
        if handle is None:
            raise AgentBusy(
                f"an agent is already running for {self.repo_path} ({holder}): use that one, or stop it first"
            )
        self._lock_handle = handle

    def stop(self) -> None:
        self._stop.set()
        self._tasks.put(_Task("stop"))
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
        """Block until every queued task is done (for the CLI and tests)."""
        done = threading.Event()
        self._tasks.put(_Task("barrier", done=done))
        return done.wait(timeout)

    # -- commands (any thread) --------------------------------------------------------------

    def sync(self, app: str | None = None) -> None:
        """Sync now: each app (or one) to its target revision."""
        self._tasks.put(_Task("manual", app=app))

    def rollback(self, app: str, revision: str | None = None) -> None:
        """Sync an earlier revision; auto-sync pauses for that app until resumed or reverted."""
        self._tasks.put(_Task("rollback", app=app, revision=revision))

    def resume(self, app: str) -> None:
        """Turn auto-sync back on (and end a rollback): the app follows Git again."""
        self._tasks.put(_Task("resume", app=app))

    def set_auto_sync(self, app: str, on: bool) -> None:
        if on:
            self.resume(app)
            return
        with self._lock:
            if app in self._apps:
                self._apps[app].auto_sync = False
        self._save_settings()
        self._event("info", app, "auto-sync off: new commits are shown, not deployed")
        self._publish()

    def set_self_heal(self, app: str, on: bool) -> None:
        with self._lock:
            state = self._apps.get(app)
            if state:
                state.self_heal = on
                drifted = tuple(state.drift)
        self._save_settings()
        self._event("info", app, f"self-heal {'on' if on else 'off'}")
        if on and state and drifted:
            self._tasks.put(_Task("drift", app=app, keys=drifted))
        self._publish()

    def revert(self, sha: str | None = None, app: str | None = None) -> RevertResult:
        """git revert of a commit (default: the app's deployed one) as a new commit in the env repo."""
        target = sha or self.default_revert_target(app)
        if not target:
            raise EnvRepoError("nothing to revert: no deployed revision yet")
        result = revert_commit(self.repo_path, target, self.repo.branch if self.repo else None)
        with self._lock:
            for state in self._apps.values():
                if state.paused:
                    state.paused = False
                    state.auto_sync = True
        self._save_settings()
        self._event("info", app or "", f"{result.message}; {result.undo_hint}")
        if self._watcher:
            self._watcher.mark_seen(result.new_sha)  # this agent deploys it as a revert, not a commit
        self._tasks.put(_Task("revert", revision=result.new_sha))
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

    def default_revert_target(self, app: str | None = None) -> str | None:
        """The deployed commit; when rolled back, the Git head that was rolled back from."""
        with self._lock:
            state = self._apps.get(app) if app else next(iter(self._apps.values()), None)
            if state is None:
                return self.head or None
            if state.paused:
                return state.git_revision
            return state.deployed_revision or state.git_revision

    def default_rollback_target(self, app: str) -> str | None:
        with self._lock:
            state = self._apps.get(app)
            deployed = state.deployed_revision if state else None
        if deployed:
            found = self.history.last_healthy_before(app, deployed)
            if found:
                return found
            if self.repo:
                info = self.repo.commit_info(deployed)
                return info.parents[0] if info.parents else None
        return None

    # -- reactions --------------------------------------------------------------------------

    def _on_commit(self, old: str | None, new: str) -> None:
        self._tasks.put(_Task("commit", revision=new))

    def _on_live_change(self, kind: str, key: ObjectKey, obj: Manifest | None) -> None:
        app = self._owner.get(key)
        # During a sync the changes are the sync's own; it settles its objects when it ends.
        if app is not None and app not in self._syncing:
            known = self.verified.resource_version(key)
            version = (obj or {}).get("metadata", {}).get("resourceVersion")
            if kind == "DELETED" or version != known:
                self._tasks.put(_Task("drift", app=app, keys=(key,)))
        self._publish()

    # -- the worker -------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            task = self._tasks.get()
            if task.kind == "stop":
                return
            for item in self._merge_drift(task):
                try:
                    self._do(item)
                except Exception as exc:  # the agent keeps running whatever one task does
                    self._event("error", item.app or "", f"{item.kind} failed: {type(exc).__name__}: {exc}")
                finally:
                    if item.done:
                        item.done.set()
            self._publish()

    def _merge_drift(self, first: _Task) -> list[_Task]:
        """A flood of drift events (a rollout, a bulk edit) becomes one task per app."""
        if first.kind != "drift":
            return [first]
        merged: dict[str, set[ObjectKey]] = {first.app or "": set(first.keys)}
        others: list[_Task] = []
        while True:
            try:
                task = self._tasks.get_nowait()
            except queue.Empty:
                break
            if task.kind == "drift":
                merged.setdefault(task.app or "", set()).update(task.keys)
            else:
                others.append(task)
        for task in others:
            self._tasks.put(task)
        return [_Task("drift", app=app, keys=tuple(keys)) for app, keys in merged.items()]

    def _do(self, task: _Task) -> None:
        if task.kind == "barrier":
            return
        if task.kind == "startup":
            self._load_settings()
            self._refresh_from_git(self._read_head(), trigger=self.startup_trigger)
        elif task.kind == "commit":
            self._refresh_from_git(task.revision, trigger="commit")
        elif task.kind == "revert":
            self._refresh_from_git(task.revision, trigger="revert", force_sync=True)
        elif task.kind == "manual":
            for state in self._selected(task.app):
                self._sync_app(state, state.target_revision or state.git_revision, "manual")
        elif task.kind == "rollback" and task.app:
            self._rollback(task.app, task.revision)
        elif task.kind == "resume" and task.app:
            self._resume(task.app)
        elif task.kind == "drift" and task.app:
            self._check_drift(task.app, task.keys)

    def _selected(self, app: str | None) -> list[_App]:
        with self._lock:
            return [s for n, s in self._apps.items() if app is None or n == app]

    # -- Git -> desired ---------------------------------------------------------------------

    def _refresh_from_git(self, head: str | None, trigger: str, force_sync: bool = False) -> None:
        if self.repo is None or not head:
            if self.repo is None:
                self._open_repo()
            return
        self.head = head
        specs, problems = load_apps(self.repo, head)
        self._problems = tuple(problems)
        for problem in problems:
            self._event("error", "", str(problem))
        with self._lock:
            known = dict(self._apps)
            self._apps = {}
            for spec in specs:
                state = known.get(spec.name) or _App(spec, auto_sync=spec.auto_sync, self_heal=spec.self_heal)
                state.spec = spec
                if spec.name not in known:
                    state.auto_sync = spec.auto_sync
                    record = self.history.deployed(spec.name)
                    state.deployed_revision = record.revision if record else None
                    state.sync_id = record.id if record else None
                state.config_problems = ()
                self._apps[spec.name] = state
            broken = self._keep_apps_with_config_problems(known, problems)
            for name, state in self._apps.items():
                holder = self._claim_app(name)
                if holder:
                    state.config_problems = (
                        Problem(f"app {name} is driven by another agent on this cluster ({holder}); "
                                "not syncing it from here", object=name),
                    )  # fmt: skip
                    broken.add(name)
            self._apply_saved_settings()
            for name in set(known) - set(self._apps):
                self._event(
                    "warning",
                    name,
                    f"app {name} is no longer in the env repo; its objects stay in the cluster",
                )
        previous = self.head_synced
        self.head_synced = head
        for state in self._touched_first(list(self._apps.values()), previous, head):
            state.git_revision = head
            if state.spec.name in broken:
                continue  # its entry in sandbox.yaml is invalid: keep the last good state as it is
            if state.paused:
                continue  # rolled back: Git moved on, the cluster stays where the user put it
            if trigger == "commit" and self._unchanged_by(state, head):
                state.target_revision = head
                if state.deployed_revision == state.rendered.revision:  # type: ignore[union-attr]
                    state.deployed_revision = head
                continue  # same files, same objects: nothing to render or apply
            state.target_revision = head
            self._render(state, head)
            if state.auto_sync and (self.auto_sync_default or force_sync):
                self._sync_app(state, head, trigger, rendered=state.rendered)
            else:
                self._assess_without_apply(state)
        if trigger == "commit":
            info = self.repo.commit_info(head)
            self._event("info", "", f"new commit {info.short} by {info.author}: {info.subject}")

    def _claim_app(self, name: str) -> str | None:
        """Hold a machine-wide lock on (cluster, app); None when ours, else who holds it.

        Two agents syncing the same app from two repos would undo each other forever.
        """
        if name in self._app_locks or not self._exclusive:
            return None  # an agent that only looks (status, diff) takes no lock
        key = hashlib.sha256(f"{self.kube.host}|{name}".encode()).hexdigest()[:16]
        owner = f"pid {os.getpid()}, env repo {self.repo_path}"
        handle, holder = locks.try_own(cache_dir() / "locks" / f"app-{key}.lock", owner)
        if handle is None:
            return holder
        self._app_locks[name] = handle
        return None

    def _keep_apps_with_config_problems(self, known: dict[str, _App], problems: list[Problem]) -> set[str]:
        """An app whose sandbox.yaml entry is invalid (or a whole invalid file) is not gone:
        keep its last good state, showing the problem, so nothing looks deleted."""
        whole_file = any(not p.object for p in problems)
        named = {p.object for p in problems if p.object}
        kept = set()
        for name, state in known.items():
            if name in self._apps or not (whole_file or name in named):
                continue
            state.config_problems = tuple(p for p in problems if p.object in ("", name))
            self._apps[name] = state
            kept.add(name)
        return kept

    def _unchanged_by(self, state: _App, head: str) -> bool:
        """Whether a commit leaves a plain app's desired objects exactly as last synced.

        Only plain apps qualify: a Kustomize base or a Helm values file may live outside the
        app's folder. Equal git tree ids with no symlinks inside mean identical manifests.
        """
        rendered = state.rendered
        if (
            self.repo is None or rendered is None or not rendered.ok or state.spec.source != "plain"
            or state.last_result != "Succeeded" or state.drift or state.auto_sync is False
        ):  # fmt: skip
            return False
        before, path = rendered.revision, state.spec.path
        try:
            return (
                self.repo.tree_id(before, path) == self.repo.tree_id(head, path) is not None
                and self.repo.tree_id(before, "sandbox.yaml") == self.repo.tree_id(head, "sandbox.yaml")
                and not self.repo.has_symlinks(head, path)
            )
        except EnvRepoError:
            return False

    def _touched_first(self, states: list[_App], old: str | None, new: str) -> list[_App]:
        """Apps whose folder the commit changed go first, so a commit's latency does not grow
        with the size of every other app (they are rendered and synced after it)."""
        if not old or old == new or self.repo is None:
            return states
        try:
            changed = self.repo.changed_paths(old, new)
        except EnvRepoError:
            return states

        def touched(state: _App) -> bool:
            prefix = "" if state.spec.path in ("", ".") else state.spec.path.rstrip("/") + "/"
            return any(p.startswith(prefix) for p in changed)

        return sorted(states, key=lambda s: not touched(s))

    def _render(self, state: _App, revision: str) -> Rendered:
        assert self.repo is not None
        rendered = render_app(self.repo, state.spec, revision, is_namespaced=self._is_namespaced)
        with self._lock:
            state.rendered = rendered
            state.desired = {o.key: o for o in rendered.objects}
            state.marked = {o.key: mark(o.manifest, state.spec.name, o.key) for o in rendered.objects}
            for key in list(self._owner):
                if self._owner[key] == state.spec.name and key not in state.desired:
                    del self._owner[key]
            for key in state.desired:
                self._owner[key] = state.spec.name
        return rendered

    def _is_namespaced(self, group: str, kind: str) -> bool | None:
        try:
            return self.kube.is_namespaced(group, kind)
        except KubeError:
            return None

    # -- sync -------------------------------------------------------------------------------

    def _sync_app(
        self, state: _App, revision: str, trigger: str, rendered: Rendered | None = None
    ) -> SyncOutcome:
        assert self.repo is not None
        name = state.spec.name
        if rendered is None or rendered.revision != revision:
            rendered = self._render(state, revision)
        info = self._commit(revision)
        sync_id = self.history.start(
            name, revision, info.author if info else "", info.subject if info else "", trigger
        )
        state.operation = "Syncing"
        self._publish()
        started = time.monotonic()
        self._syncing.add(name)
        try:
            outcome = self.syncer.sync(rendered, prune=state.spec.prune, namespace=state.spec.namespace)
        except KubeError as exc:
            outcome = SyncOutcome(name, revision, (), False, f"sync failed: {exc}")
        finally:
            self._syncing.discard(name)
        self._recheck_after_sync(state)
        state.operation = "Idle"
        state.last_sync = time.time()
        elapsed = time.monotonic() - started
        for result in outcome.results:
            self._record_status(state, result)
        app_health = self._app_health(state)
        if outcome.ok:
            state.deployed_revision = revision
            state.sync_id = sync_id
            state.last_result = "Succeeded"
            state.message = outcome.message
            state.drift.clear()
            self._event(
                "info", name, f"synced {revision[:7]} ({trigger}) in {elapsed:.2f}s: {outcome.message}"
            )
        else:
            state.last_result = "Failed"
            state.message = outcome.message
            for problem in rendered.problems:
                self._event("error", name, str(problem))
            self._event("error", name, f"sync of {revision[:7]} failed ({trigger}): {outcome.message}")
        self.history.finish(
            sync_id,
            "Succeeded" if outcome.ok else "Failed",
            str(app_health),
            outcome.message,
            [self._outcome(state, r) for r in outcome.results],
        )
        state.recorded_health = str(app_health)
        return outcome

    def _recheck_after_sync(self, state: _App) -> None:
        """Objects changed by someone else while the sync ran get a drift check."""
        changed = []
        for key in state.desired:
            live = self.cache.get(key)
            known = self.verified.resource_version(key)
            if live is not None and known is not None and live["metadata"].get("resourceVersion") != known:
                changed.append(key)
        if changed:
            self._tasks.put(_Task("drift", app=state.spec.name, keys=tuple(changed)))

    def _commit(self, revision: str) -> CommitInfo | None:
        try:
            return self.repo.commit_info(revision) if self.repo else None
        except EnvRepoError:
            return None

    def _record_status(self, state: _App, result: ObjectResult) -> None:
        if result.action in ("created", "configured", "unchanged"):
            state.status[result.key] = SyncStatus.SYNCED
        elif result.action == "failed":
            state.status[result.key] = (
                SyncStatus.OUT_OF_SYNC if self.cache.get(result.key) else SyncStatus.MISSING
            )
        elif result.action in ("pruned", "kept"):
            state.status.pop(result.key, None)

    def _outcome(self, state: _App, result: ObjectResult) -> ObjectOutcome:
        live = self.cache.get(result.key)
        status = state.status.get(
            result.key, SyncStatus.ORPHANED if result.action == "orphaned" else SyncStatus.UNKNOWN
        )
        message = result.message
        if result.source and result.action == "failed":
            message = f"{result.source}: {message}"
        return ObjectOutcome(
            str(result.key), result.action, str(status), str(health.assess(live).status), message
        )

    def _assess_without_apply(self, state: _App) -> None:
        """Auto-sync off: compare Git with the cluster by dry-run, change nothing."""
        if state.rendered is None or not state.rendered.ok:
            return
        self.syncer.watch_kinds(state.rendered.objects)
        for obj in state.rendered.objects:
            live = self.cache.get(obj.key)
            if live is None:
                state.status[obj.key] = SyncStatus.MISSING
                continue
            result = self.syncer.apply_one(state.spec.name, obj, dry_run=True)
            state.status[obj.key] = (
                SyncStatus.SYNCED if result.action == "unchanged" else SyncStatus.OUT_OF_SYNC
            )

    # -- drift and self-heal ----------------------------------------------------------------

    def _check_drift(self, app: str, keys: tuple[ObjectKey, ...]) -> None:
        with self._lock:
            state = self._apps.get(app)
        if state is None or state.rendered is None:
            return
        healed: list[ObjectResult] = []
        drifted: list[ObjectKey] = []
        for key in keys:
            obj = state.desired.get(key)
            if obj is None:
                continue
            check = self.syncer.apply_one(app, obj, dry_run=True)
            if check.action == "unchanged":
                state.status[key] = SyncStatus.SYNCED
                state.drift.discard(key)
                continue
            drifted.append(key)
            if state.self_heal and state.auto_sync and not state.paused:
                healed.append(self.syncer.apply_one(app, obj))
            else:
                state.drift.add(key)
                state.status[key] = (
                    SyncStatus.MISSING if self.cache.get(key) is None else SyncStatus.OUT_OF_SYNC
                )
                self._event("warning", app, f"drift: {key} differs from Git (self-heal is off)")
        if healed:
            revision = state.deployed_revision or state.target_revision
            info = self._commit(revision)
            sync_id = self.history.start(
                app, revision, info.author if info else "", info.subject if info else "", "drift"
            )
            for result in healed:
                self._record_status(state, result)
            ok = all(r.action != "failed" for r in healed)
            names = ", ".join(str(r.key) for r in healed)
            message = (
                f"self-heal re-applied {names}" if ok else "; ".join(r.message for r in healed if r.message)
            )
            self.history.finish(
                sync_id, "Succeeded" if ok else "Failed", str(self._app_health(state)), message,
                [self._outcome(state, r) for r in healed],
            )  # fmt: skip
            self._event("info" if ok else "error", app, f"drift undone: {message}")

    # -- rollback ---------------------------------------------------------------------------

    def _rollback(self, app: str, revision: str | None) -> None:
        with self._lock:
            state = self._apps.get(app)
        if state is None or self.repo is None:
            self._event("error", app, f"rollback: no app named {app}")
            return
        target = self.repo.resolve(revision) if revision else self.default_rollback_target(app)
        if not target:
            self._event("error", app, "rollback: no earlier healthy revision to roll back to")
            return
        state.paused = True
        state.target_revision = target
        self._save_settings()
        outcome = self._sync_app(state, target, "rollback")
        if outcome.ok:
            self._event(
                "info", app,
                f"rolled back to {target[:7]}: cluster at {target[:7]}, Git at {state.git_revision[:7]}; "
                "auto-sync paused (undo: resume auto-sync)",
            )  # fmt: skip

    def _resume(self, app: str) -> None:
        with self._lock:
            state = self._apps.get(app)
        if state is None:
            return
        state.paused = False
        state.auto_sync = True
        state.target_revision = state.git_revision
        self._save_settings()
        self._event("info", app, f"auto-sync on: following Git at {state.git_revision[:7]}")
        self._render(state, state.git_revision)
        self._sync_app(state, state.git_revision, "manual", rendered=state.rendered)

    # -- settings that survive restarts ------------------------------------------------------

    def _save_settings(self) -> None:
        with self._lock:
            data = {
                name: {"autoSync": s.auto_sync, "selfHeal": s.self_heal, "paused": s.paused,
                       "target": s.target_revision if s.paused else None}
                for name, s in self._apps.items()
            }  # fmt: skip
        self.settings_path.parent.mkdir(parents=True, exist_ok=True)
        self.settings_path.write_text(json.dumps(data, indent=2))

    def _load_settings(self) -> None:
        try:
            self._saved = json.loads(self.settings_path.read_text())
        except (OSError, ValueError):
            self._saved = {}

    def _apply_saved_settings(self) -> None:
        saved = getattr(self, "_saved", {})
        for name, values in saved.items():
            state = self._apps.get(name)
            if state is None:
                continue
            state.auto_sync = bool(values.get("autoSync", state.auto_sync))
            state.self_heal = bool(values.get("selfHeal", state.self_heal))
            if values.get("paused") and values.get("target"):
                state.paused = True
                state.target_revision = values["target"]
                state.auto_sync = False
        self._saved = {}

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
            apps = tuple(self._app_state(s) for s in self._apps.values())
            snapshot = Snapshot(
                self._seq,
                str(self.repo_path),
                self.branch,
                self.head,
                apps,
                tuple(self._events),
                self._problems,
            )
            self._snapshot = snapshot
            self._last_build = time.perf_counter() - started
        self._track_health(apps)
        for subscriber in list(self._subscribers):
            try:
                subscriber(snapshot)
            except Exception as exc:  # a broken subscriber must not stop the agent
                self._events.append(Event(time.time(), "error", "", f"subscriber failed: {exc}"))

    def publish_now(self) -> Snapshot:
        """Build a snapshot immediately (for the CLI, which prints once and exits)."""
        self._publish_now()
        return self._snapshot

    def _track_health(self, apps: tuple[AppState, ...]) -> None:
        """Keep the deployed sync's health in the history current (rollback needs 'Healthy'),
        and say so in the events when an app's health changes."""
        for app in apps:
            with self._lock:
                state = self._apps.get(app.name)
            if state and app.operation == "Idle" and str(app.health) != state.announced_health:
                if state.announced_health:
                    self._announce_health(app)
                state.announced_health = str(app.health)
            if (
                state
                and state.sync_id
                and str(app.health) != state.recorded_health
                and app.operation == "Idle"
            ):
                state.recorded_health = str(app.health)
                try:
                    self.history.update_health(state.sync_id, str(app.health))
                except Exception:  # history is informative; a locked file must not stop the agent
                    pass

    def _announce_health(self, app: AppState) -> None:
        worst = next((o for o in app.objects if o.health == app.health and o.health_message), None)
        why = f": {worst.key} {worst.health_message}" if worst and app.health != Health.HEALTHY else ""
        level = "error" if app.health == Health.DEGRADED else "info"
        revision = (app.deployed_revision or "")[:7]
        self._events.append(Event(time.time(), level, app.name, f"{app.health} at {revision}{why}"))

    def _app_health(self, state: _App) -> Health:
        return worst_health([health.assess(self.cache.get(k)).status for k in state.desired])

    def _object_state(self, state: _App, key: ObjectKey, obj: DesiredObject | None) -> ObjectState:
        live = self.cache.get(key)
        assessed = health.assess(live)
        if obj is None:
            sync = SyncStatus.ORPHANED
        elif live is None:
            sync = SyncStatus.MISSING
        elif key in state.drift:
            sync = SyncStatus.OUT_OF_SYNC
        else:
            sync = state.status.get(key, SyncStatus.UNKNOWN)
        children = tuple(self._child_states(live)) if live else ()
        return ObjectState(
            key, sync, assessed.status, assessed.message, obj.source if obj else "",
            state.marked.get(key) if obj else None, live, children,
        )  # fmt: skip

    def _child_states(self, live: Manifest, depth: int = 0) -> list[ObjectState]:
        uid = live.get("metadata", {}).get("uid")
        if not uid or depth > 3:
            return []
        out = []
        for child in self.cache.children(uid):
            assessed = health.assess(child)
            out.append(
                ObjectState(
                    ObjectKey.of(child),
                    SyncStatus.SYNCED,
                    assessed.status,
                    assessed.message,
                    live=child,
                    children=tuple(self._child_states(child, depth + 1)),
                )  # fmt: skip
            )
        return out

    def _app_state(self, state: _App) -> AppState:
        objects = [self._object_state(state, k, o) for k, o in state.desired.items()]
        orphans = [
            o for o in self.cache.labeled(state.spec.name)
            if ObjectKey.of(o) not in state.desired
        ]  # fmt: skip
        objects += [self._object_state(state, ObjectKey.of(o), None) for o in orphans]
        objects.sort(key=lambda o: (o.attention, o.key.kind, o.key.namespace, o.key.name))
        problems = (state.rendered.problems if state.rendered else ()) + state.config_problems
        statuses = [o.sync for o in objects]
        if problems or any(s != SyncStatus.SYNCED for s in statuses):
            sync = SyncStatus.OUT_OF_SYNC
        elif state.paused or state.target_revision != state.git_revision:
            sync = SyncStatus.OUT_OF_SYNC
        else:
            sync = SyncStatus.SYNCED
        app_health = worst_health([o.health for o in objects if o.sync != SyncStatus.ORPHANED])
        return AppState(
            name=state.spec.name, path=state.spec.path, namespace=state.spec.namespace,
            source_type=state.spec.source, sync=sync, health=app_health,
            git_revision=state.git_revision, target_revision=state.target_revision,
            deployed_revision=state.deployed_revision, auto_sync=state.auto_sync and not state.paused,
            self_heal=state.self_heal, prune=state.spec.prune, rolled_back=state.paused,
            operation=state.operation, last_sync=state.last_sync, last_result=state.last_result,
            message=state.message, objects=tuple(objects), problems=tuple(problems),
            drift=tuple(sorted(state.drift)),
        )  # fmt: skip

    # -- one-shot operations for the CLI ----------------------------------------------------

    def diff_object(self, app: str, key: ObjectKey, context: int = 3) -> str:
        """The unified diff a sync would make to one object (server-side dry-run vs live)."""
        with self._lock:
            state = self._apps.get(app)
            desired = state.marked.get(key) if state else None
        live = self.cache.get(key)
        if desired is None:
            return diff.unified(None, live, str(key), context)
        try:
            _created, predicted = self.kube.apply(desired, dry_run=True)
        except KubeError as exc:
            return f"# dry-run failed: {exc.message}\n" + diff.unified(desired, live, str(key), context)
        return diff.unified(predicted, live, str(key), context)
