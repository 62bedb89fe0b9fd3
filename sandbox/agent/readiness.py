"""What an app waits for before it syncs, as Flux has it: the apps it depends on until they are
Ready, and its parent until it applied the app.

A dependency is Ready as kustomize-controller and helm-controller judge it (see _unready). A
one-shot command about one app (`sync --app`) syncs nothing else, so waiting there on an app it
leaves alone fails at once, saying what to do.
"""

from __future__ import annotations

from sandbox.agent.controller import AppController
from sandbox.agent.snapshot import AppState
from sandbox.agent.waiting import Waiting
from sandbox.model import Health
from sandbox.source.appid import shown_names
from sandbox.source.appspec import AppSpec


class Readiness:
    """Over the apps as they are now; ``focus``: the one app a one-shot command syncs."""

    def __init__(self, controllers: list[AppController], focus: str | None) -> None:
        self.controllers = controllers
        self.focus = focus
        self._by_name = {c.name: c for c in controllers}
        self._all: list[AppState] | None = None

    def _get(self, name: str) -> AppController | None:
        return self._by_name.get(name)

    def waiting_on(self, spec: AppSpec) -> Waiting:
        """What ``spec`` waits for (see Waiting): each dependency until it is Ready as Flux
        has it (see _unready); it failed for good when it, or what its readiness waits on, failed."""
        pending, failed = [], []
        shown = shown_names(c.spec.names for c in self.controllers)  # as the table names them
        for name in spec.depends_on:
            controller = self._get(name)
            if controller is None:
                # As kustomize-controller: "unable to get ... dependency: ... not found", at once
                # (DependencyNotReady); waiting would not make it, only a commit can.
                failed.append(f"{shown.get(name, name)} (not found: no app of that name at this revision)")
                continue
            broken, unready = self._unready(
                controller, shown.get(name, name), shown.get(name, name), shown, {name}
            )
            if broken:
                failed.append(broken)
            elif unready and self._left_out_of_this_run(name):
                failed.append(f"{unready}: {self._only_one()}")
            elif unready:
                pending.append(unready)
        parent_pending = parent_failed = ""
        parent = self._get(spec.parent) if spec.after_parent else None
        itself = self._get(spec.name)
        # One its parent applied before exists in the cluster, and its controller goes on with the
        # new revision whatever the parent's newest sync did (Flux and Argo CD both do).
        if itself is not None and (itself.deployed_revision is not None or _applied_by(parent, spec)):
            parent = None
        if parent is not None:
            state = parent.view()
            # A parent whose sync failed only for objects other apps own applied the rest: this
            # app among them (Flux would have applied all of it).
            applied = state.last_result == "Succeeded" or parent.applied_all_but_shared
            if state.last_result == "Failed" and not applied:
                parent_failed = f"{shown.get(spec.parent, spec.parent)}: sync failed"
            elif not applied and self._left_out_of_this_run(spec.parent):
                parent_failed = f"{shown.get(spec.parent, spec.parent)} ({state.last_result or 'not synced'}): {self._only_one()}"
            elif not applied:
                parent_pending = (
                    f"{shown.get(spec.parent, spec.parent)} ({state.last_result or 'not synced'})"
                )
        return Waiting(tuple(pending), tuple(failed), parent_pending, parent_failed)

    def _unready(
        self, app: AppController, who: str, top: str, shown: dict[str, str], seen: set[str]
    ) -> tuple[str, str]:
        """(why ``app`` failed for good, why it is not Ready yet), each "" when not, as Flux
        judges a dependency: applied at all, then as its spec says (AppSpec.waits,
        health_checks): nothing more, or its objects healthy and the apps it applied Ready, or
        the objects its health checks name (an app among them by its own rule)."""
        state = app.view()
        if state.last_result == "Failed":
            return f"{who}: sync failed", ""
        if state.last_result != "Succeeded":  # its health says nothing yet: what is live is not its doing
            return "", f"{who} ({state.last_result or 'not synced yet'})"
        below = [c for c in self.controllers if c.spec.parent == app.name and c.name not in seen]
        if app.spec.health_checks:
            checked = set(app.spec.health_checks)
            below = [c for c in below if c.spec.names.qualified in checked]
            broken, unready = self._checked_objects(
                app, who, checked - {c.spec.names.qualified for c in below}, shown
            )
            if broken or unready:
                return broken, unready
        elif app.spec.ready_once_applied:
            return "", ""  # Ready once applied
        found = [self._unready(c, f"{shown.get(c.name, c.name)} (which {top} defines)", top, shown, seen | {c.name})
                 for c in below]  # fmt: skip
        # An app it applied that failed ends the wait at once, though its own objects are not
        # healthy yet: Flux's wait would time out on that app's Ready, never met.
        if broken := next((b for b, _ in found if b), ""):
            return broken, ""
        if not app.spec.health_checks and state.objects and state.health != Health.HEALTHY:
            return "", f"{who} ({state.last_result}, {state.health})"
        return next(((b, u) for b, u in found if u), ("", ""))

    def _checked_objects(
        self, app: AppController, who: str, checks: set[str], shown: dict[str, str]
    ) -> tuple[str, str]:
        """(failed for good, not Ready yet) of the objects ``app``'s healthChecks name ("Kind/
        namespace/name"), as kustomize-controller judges them: wherever an app applies one, by
        its health; one no app applies is NotFound, for good once the apps ``app`` defines have
        synced; one the sandbox plays (a Flux controller it leaves out) is met."""
        plays = {
            f"{k.kind}/{k.namespace}/{k.name}" for k in (app.target.rendered.plays if app.target else ())
        }
        if not checks - plays:
            return "", ""
        views = self._views()
        # Each app's objects as Git has them, applied or not yet (Missing until they are).
        health = {f"{o.key.kind}/{o.key.namespace}/{o.key.name}": o.health for v in views for o in v.objects}
        below = self._below(app.name, views)
        for check in sorted(checks - plays):
            if check not in health:
                if all(v.last_result in ("Succeeded", "Failed") for v in below):
                    failed = [shown.get(v.name, v.name) for v in below if v.last_result == "Failed"]
                    why = f" ({', '.join(failed[:3])} failed)" if failed else ""
                    return f"{who}: its health check {check} names an object no app applies{why}", ""
                return "", f"{who} ({check} is not applied yet)"
            if health[check] != Health.HEALTHY:
                return "", f"{who} ({check} is {health[check]})"
        return "", ""

    def _views(self) -> list[AppState]:
        """Every app as it is now, made once per look (a view is not free, and a look may ask
        for it once per dependency)."""
        if self._all is None:
            self._all = [c.view() for c in self.controllers]
        return self._all

    @staticmethod
    def _below(name: str, views: list[AppState]) -> list[AppState]:
        """The apps ``name`` defines, and theirs, all the way down."""
        found: list[AppState] = []
        parents, seen = {name}, {name}
        while parents:
            more = [v for v in views if v.parent in parents and v.name not in seen]
            found += more
            parents = {v.name for v in more}
            seen |= parents
        return found

    def _left_out_of_this_run(self, app: str) -> bool:
        """Whether a one-shot command about one app (`sync --app`) leaves ``app`` alone: then
        nothing will sync it while the command waits, and waiting is pointless."""
        if self.focus is None:
            return False
        controller = self._get(app)
        return controller is None or not (
            controller.name == self.focus or controller.spec.names.answers_to(self.focus)
        )

    def _only_one(self) -> str:
        return f"this command syncs {self.focus} only; sync that app first, or sync without --app"


def _applied_by(parent: AppController | None, spec: AppSpec) -> bool:
    """Whether the revision ``parent`` runs applied the object that defines ``spec`` (so it is in
    the cluster, whether or not its own sync ever succeeded)."""
    deployed = parent.deployed if parent is not None else None
    if deployed is None:
        return False
    name = spec.object_name or spec.name
    return any(c.key.kind == spec.kind and c.key.name == name and c.key.namespace in (spec.home, "")
               for c in deployed.rendered.children)  # fmt: skip
