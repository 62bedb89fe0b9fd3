"""The running app set: one controller per app of the env repo at the followed head.

Each commit may add apps, change their entries, break them, or take them away; this module
keeps the controllers in step (``appchanges.changes`` decides which app is removed, vanished or
broken) and carries out a removal: prune, or keep the objects and list them as Orphaned.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from sandbox.agent import appchanges, settings
from sandbox.agent.controller import AppController
from sandbox.agent.history import ObjectOutcome
from sandbox.agent.services import Services
from sandbox.agent.settings import AppSettings
from sandbox.apply.inventory import InventoryReader
from sandbox.apply.outcome import Action
from sandbox.model import ObjectKey, Problem
from sandbox.source.appconfig import CONFIG_FILE, AppSpec, uncommitted_config
from sandbox.source.argocd import RESOURCES_FINALIZER
from sandbox.source.discovery import discover
from sandbox.source.envrepo import EnvRepoError
from sandbox.source.percommit import ClusterFacts

Claim = Callable[[str], str | None]  # app -> None when this agent may drive it, else who does


class AppSet:
    def __init__(
        self,
        services: Services,
        inventories: InventoryReader,
        saved: dict[str, AppSettings],
        settings_path: Path,
        automated: bool,
        claim: Claim,
        focus: str | None = None,
        entry: str | None = None,
    ) -> None:
        self.s = services
        self.entry = entry
        self.focus = focus  # only this app is rendered and followed (`sync --app`, `rollback APP`)
        self.inventories = inventories
        self.saved = saved
        self.settings_path = settings_path
        self.automated = automated
        self.claim = claim
        self.problems: tuple[Problem, ...] = ()
        self.notices: tuple[str, ...] = ()
        self.note = ""
        self._why_removed: dict[str, str] = {}  # app -> why it is gone, where discovery knows it
        self.read_at: Mapping[str, str] = {}  # app -> the earlier revision the apps it defines come from
        self._unowned: set[tuple[str, str, str]] = set()  # (head, app, message) failures recorded
        self._apps: dict[str, AppController] = {}
        self._lock = threading.RLock()

    def controllers(self, app: str | None = None) -> list[AppController]:
        with self._lock:
            return [c for n, c in self._apps.items() if app is None or n == app]

    def get(self, name: str) -> AppController | None:
        with self._lock:
            return self._apps.get(name)

    # -- Git -> apps --------------------------------------------------------------------------

    def refresh(self, previous: str | None, head: str, trigger: str, force: bool = False) -> None:
        """Git's head is ``head``: bring the app set, and then each app, to it."""
        repo = self.s.repo
        found = discover(repo, head, self.entry, ClusterFacts(self._deployed()))
        specs, problems, configured = found.apps, found.problems, found.configured
        self.problems = tuple(problems)
        names = {spec.name for spec in specs}
        for problem in problems:  # under the app it is about: said once with that app's own failure
            self.s.event("error", problem.object if problem.object in names else "", str(problem))
        self.note = found.note  # where the apps came from (said when an app is gone)
        self.read_at = found.read_at
        known = self._known()
        found_changes = appchanges.changes(specs, problems, configured, known, head, lambda path: repo.is_dir(head, path),
                           lambda spec: appchanges.still_defined(spec, repo, head), found.unrendered,
                           found.read_files)  # fmt: skip
        self._say_notices(head, found.note, (*found.notices, *map(str, found_changes.elsewhere.values())))
        self._why_removed = found_changes.why_removed
        self._apply(found_changes, known, head)
        if self.automated or force:
            self._record_unowned_problems(head, trigger)
        for controller in self._touched_first(previous, head):
            if (
                self.focus is None
                or controller.name == self.focus
                or controller.spec.names.answers_to(self.focus)
            ):
                controller.follow(head, trigger, force)
            else:
                controller.git_revision = head

    def _record_unowned_problems(self, head: str, trigger: str) -> None:
        """Problems no running app carries are failed syncs too, recorded once per failure: an
        invalid entry of an app that never ran (a path outside the repo, a bad name) under that
        app's name, and a sandbox.yaml that does not read, with no app at all, under the env
        repo (app "")."""
        running = {c.name for c in self.controllers()}
        owners: dict[str, list[Problem]] = {}
        for problem in self.problems:
            owner = problem.object if problem.object and problem.object not in running else ""
            if owner or not running:
                owners.setdefault(owner, []).append(problem)
        recorded = set()
        for owner, problems in owners.items():
            message = "; ".join(str(p) for p in problems)
            recorded.add((owner, message))
            if (head, owner, message) in self._unowned:
                continue
            info = self.s.repo.commit_info(head)
            sync_id = self.s.history.start(owner, head, info.author, info.subject, trigger)
            self.s.history.finish(sync_id, "Failed", "Unknown", f"nothing applied or pruned: {message}", [])
        self._unowned = {(head, owner, message) for owner, message in recorded}

    def sync(self, app: str | None, head: str) -> None:
        """Sync now; for an app removed from sandbox.yaml, that is its prune."""
        if app is None:
            self._record_unowned_problems(head, "manual")
        for controller in self.controllers(app):
            if app is None and controller.suspended:
                # Flux reconciles no suspended object (`flux reconcile` refuses one): named, it syncs once.
                self.s.event("warning", controller.name, "not synced: suspended in Git (spec.suspend: true), as Flux "
                             f"leaves it; `sync --app {controller.name}` syncs it once")  # fmt: skip
                continue
            if not controller.removed:
                controller.sync("manual")
                continue
            try:
                self._remove(controller, head, prune_now=True)
            except Exception as exc:  # the other apps still sync
                controller.message = f"removing app {controller.name} failed: {type(exc).__name__}: {exc}"
                self.s.event("error", controller.name, controller.message)

    def _known(self) -> dict[str, AppSpec]:
        """Every app this env repo ran: the running controllers, else the inventories it wrote."""
        with self._lock:
            known = {name: c.spec for name, c in self._apps.items()}
        if not known:  # a fresh start: what did earlier runs leave in the cluster?
            known = appchanges.known_from(self.inventories.all(), self.s.repo_path, self.s.repo.git_dir)
        return known

    def _deployed(self) -> dict[str, str]:
        """The revision the cluster runs of each app: the controllers', else the inventories'."""
        with self._lock:
            if self._apps:
                return {n: c.deployed_revision for n, c in self._apps.items() if c.deployed_revision}
        return appchanges.deployed_from(self.inventories.all(), self.s.repo_path, self.s.repo.git_dir)

    def _apply(self, changes: appchanges.AppChanges, known: dict[str, AppSpec], head: str) -> None:
        with self._lock:
            old = dict(self._apps)
        # Built aside and swapped in at once: watch threads look controllers up meanwhile.
        apps: dict[str, AppController] = {}
        for spec in changes.specs:
            controller = old.get(spec.name)
            if controller is None or controller.removed:
                controller = self._controller(spec)
            was = (controller.spec.auto_sync, controller.spec.self_heal)
            controller.spec, controller.config_problems, controller.removed = spec, (), False
            if was != (spec.auto_sync, spec.self_heal):
                controller.follow_definition(spec, head)
            apps[spec.name] = controller
        broken = {**changes.broken, **{name: (problem,) for name, problem in changes.vanished.items()}}
        for name, problems in broken.items():
            controller = old.get(name) or self._controller(known[name])
            controller.config_problems = problems
            apps[name] = controller
        for name, controller in apps.items():
            holder = self.claim(name)
            if holder:
                controller.config_problems = (
                    Problem(f"app {name} is driven by another agent on this cluster ({holder}), whose env repo "
                            f"has an app of that name (whatever its kind: one cluster tells apps apart by name); "
                            "not syncing it from here. Stop that agent, or name one of the apps differently",
                            object=name),
                )  # fmt: skip
        for name in changes.elsewhere:
            if name in old:  # another run's app now: this one stops driving it, and leaves it as it is
                old[name].abandon(f"app {name} is not reached from the apps at {head[:7]} any more")
        for name in changes.removed:
            if name in old:
                apps[name] = old[name]  # until its removal is carried out
        with self._lock:
            self._apps = apps
        for name in changes.removed:
            controller = old.get(name) or self._controller(known[name])
            try:
                self._remove(controller, head, prune_now=self.automated)
            except Exception as exc:  # one app's prune must not stop the others following Git
                controller.message = f"removing app {name} failed: {type(exc).__name__}: {exc}"
                self.s.event("error", name, controller.message)
                with self._lock:
                    self._apps[name] = controller

    def _controller(self, spec: AppSpec) -> AppController:
        saved = self.saved.get(spec.name)
        if saved is None or saved.defined not in (None, (spec.auto_sync, spec.self_heal)):
            # None kept, or the definition changed in Git since they were kept: it rules again.
            saved = AppSettings(spec.auto_sync, spec.self_heal, paused_at=saved.paused_at if saved else None)
        return AppController(spec, self.s, saved, self.automated)

    def _remove(self, controller: AppController, head: str, prune_now: bool) -> None:
        """The app left a valid sandbox.yaml: prune its objects (prune on) or keep them, Orphaned.

        ``prune_now`` False (an agent that does not sync on its own) only marks it removed;
        its next sync prunes.
        """
        name = controller.name
        controller.abandon("the app was removed from Git")
        if prune_now and not controller.spec.cascade:
            kept = self.s.syncer.release(name)
            message = (f"{self._gone(controller.spec, head)}; its Application has no {RESOURCES_FINALIZER} finalizer, "
                       f"so, as Argo CD does, its {kept} object(s) stay in the cluster, no app's any more")  # fmt: skip
            self._forget(controller, head, message, [])
            return
        if controller.spec.prune and prune_now:
            controller.removed = True  # what its prune leaves Missing is no health of a sync of it
            results = self.s.syncer.prune_all(name)
            pruned = sum(1 for r in results if r.action == Action.PRUNED)
            outcomes = [
                ObjectOutcome(str(r.key), str(r.action), "Unknown", "Missing", r.message) for r in results
            ]
            self._forget(
                controller, head, f"{self._gone(controller.spec, head)}: pruned {pruned} object(s)", outcomes
            )
            return
        was_removed = controller.removed
        controller.removed = True
        controller.target = controller.deployed = None
        controller.git_revision = head
        self.s.syncer.watch_inventory(name)  # its objects show, Orphaned
        with self._lock:
            self._apps[name] = controller
        if not was_removed:
            if not controller.spec.cascade:  # what the next sync does: leaves them, no app's any more
                message = (f"{self._gone(controller.spec, head)}; its Application has no {RESOURCES_FINALIZER} "
                           "finalizer, so, as Argo CD does, its objects stay in the cluster")  # fmt: skip
            elif controller.spec.prune:
                message = f"{self._gone(controller.spec, head)}; the next sync prunes its objects"
            else:
                message = (f"{self._gone(controller.spec, head)}; prune is off, so its objects stay in the cluster "
                           "(Orphaned)")  # fmt: skip
            self.s.event("warning", name, message)
            controller.message = message

    def _forget(
        self, controller: AppController, head: str, message: str, outcomes: list[ObjectOutcome]
    ) -> None:
        """The app is no more: its ownership and controller go, its history says what became of it."""
        name = controller.name
        self.s.ownership.release(name)
        with self._lock:
            self._apps.pop(name, None)
        info = self.s.repo.commit_info(head)
        sync_id = self.s.history.start(name, head, info.author, info.subject, "removed")
        self.s.history.finish(sync_id, "Succeeded", "Missing", message, outcomes)
        self.s.event("warning", name, message)

    def _gone(self, spec: AppSpec, head: str) -> str:
        return self._why_removed.get(spec.name) or appchanges.gone(spec, self.s.repo, head, self.note)

    def _say_notices(self, head: str, discovery: str, said: tuple[str, ...] = ()) -> None:
        note = uncommitted_config(self.s.repo_path, self.s.repo, head)
        notices = tuple(n for n in (discovery, note, *said) if n)
        if notices != self.notices:
            for new in notices:
                if new not in self.notices:
                    self.s.event("warning" if new == note else "info", "", new)
        self.notices = notices

    def _touched_first(self, old: str | None, new: str) -> list[AppController]:
        """Apps whose folder the commit changed go first, so a commit's latency does not grow
        with the size of every other app (they are rendered and synced after it)."""
        controllers = [c for c in self.controllers() if not c.removed]
        if not old or old == new:
            return controllers
        try:
            changed = self.s.repo.changed_paths(old, new)
        except EnvRepoError:
            return controllers

        def touched(controller: AppController) -> bool:
            path = controller.spec.path
            prefix = "" if path in ("", ".") else path.rstrip("/") + "/"
            return any(p.startswith(prefix) for p in changed)

        return sorted(controllers, key=lambda c: not touched(c))

    def touched_by(self, sha: str) -> set[str]:
        """The apps commit ``sha`` changed: a file in an app's folder or the file that defines it;
        every app, when it changed sandbox.yaml."""
        try:
            info = self.s.repo.commit_info(sha)
            changed = self.s.repo.changed_paths(info.parents[0] if info.parents else None, sha)
        except EnvRepoError:
            return {c.name for c in self.controllers()}
        found = set()
        for controller in self.controllers():
            path, defined = controller.spec.path, controller.spec.defined_in
            prefix = "" if path in ("", ".") else path.rstrip("/") + "/"
            if any(p.startswith(prefix) or p in (defined, CONFIG_FILE) for p in changed):
                found.add(controller.name)
        return found

    # -- what other parts ask -------------------------------------------------------------------

    def source_of(self, app: str, key: ObjectKey) -> str:
        """The file ``app`` renders ``key`` from (for messages about who owns what)."""
        controller = self.get(app)
        for desired in (controller.deployed, controller.target) if controller else ():
            if desired is not None and key in desired.objects:
                return desired.objects[key].source
        return ""

    def deployed_owner(self, key: ObjectKey) -> AppController | None:
        """The app whose deployed revision has ``key`` (for a live object that lost its annotation)."""
        for controller in self.controllers():
            if controller.deployed is not None and key in controller.deployed.objects:
                return controller
        return None

    def save_settings(self) -> None:
        for controller in self.controllers():
            defined = (controller.spec.auto_sync, controller.spec.self_heal)
            self.saved[controller.name] = dataclasses.replace(controller.settings, defined=defined)
        settings.save(self.settings_path, dict(self.saved))
