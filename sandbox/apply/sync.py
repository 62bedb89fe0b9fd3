"""Sync: one pass that makes the cluster match one app's desired set, or changes nothing.

As Flux's ssa package does it: every object is checked by a server-side dry-run before any
is applied, and one the API server refuses stops the sync with nothing applied or pruned.
Namespaces and CRDs go first (objects inside a new namespace, or of a kind a new CRD brings,
can only be checked once those exist); then the rest in waves by a stable kind order
(Helm's install order), each wave in parallel; prune last, in reverse order. An object is
applied only when it is missing or the dry-run says applying would change it.

An object belongs to the app that applied it first (its tracking annotation says which):
another app that renders it fails for that object and never takes it over.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from sandbox.apply import diff
from sandbox.apply.desired import DesiredSet
from sandbox.apply.dryrun import Comparison, DryRun, OwnerOf, Verdict
from sandbox.apply.hooks import HookRun, HookRunner, hooks_at
from sandbox.apply.inventory import (
    APP_LABEL,
    Entry,
    Inventory,
    InventoryStore,
    conflict,
    owning_repo,
)
from sandbox.apply.livecache import LiveCache
from sandbox.apply.outcome import Action, ObjectResult, SyncOutcome
from sandbox.apply.plan import SyncPlan, Wave, group_of, kind_rank
from sandbox.apply.plan import plan as plan_of
from sandbox.apply.prune import prune_leftover
from sandbox.apply.steps import Steps
from sandbox.apply.syncrun import SyncRun
from sandbox.apply.waits import until_established, until_healthy
from sandbox.kube.client import Kube, KubeError
from sandbox.manifest.waves import Phase
from sandbox.model import DesiredObject, ObjectKey

WORKERS = 32
SAID_REFUSED = 5  # objects named in a failed sync's one-line message; each object's row says its own


class Syncer:
    """Applies and prunes one app at a time, sharing the watch cache with the agent."""

    def __init__(self, kube: Kube, dry: DryRun, cache: LiveCache, inventories: InventoryStore) -> None:
        self.kube = kube
        self.dry = dry
        self.cache = cache
        self.inventories = inventories
        self.pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="sync")
        self.hook_runner = HookRunner(kube)
        self._namespaces: set[str] = set()

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def watch_kinds(self, kinds: Iterable[tuple[str, str]]) -> list[str]:
        """Make sure the cache follows each (apiVersion, kind); the unknown ones are returned."""
        unknown = []
        for api_version, kind in dict.fromkeys(kinds):
            resource = self.kube.resource_for(api_version, kind)
            if resource is None:
                unknown.append(f"{api_version} {kind}")
            elif not self.cache.watching(resource):
                self.cache.watch(resource, APP_LABEL)
        return unknown

    def misplaced(self, desired: DesiredSet) -> bool:
        """Whether the cluster's scope of a kind contradicts where the render put its objects:
        rendered while the cluster did not know the kind (its CRD installed since), a guess put a
        cluster-scoped object in a namespace, or the other way round. Such a render is redone."""
        placed = {(group_of(o.manifest["apiVersion"]), o.key.kind, bool(o.key.namespace))
                  for o in desired.objects.values()}  # fmt: skip
        known = self.kube.resources()
        if any((group, kind) not in known for group, kind, _ in placed):
            known = self.kube.resources(refresh=True)  # once, however many kinds it lacks
        return any(
            (group, kind) in known and known[(group, kind)].namespaced != in_namespace
            for group, kind, in_namespace in placed
        )

    def plan(self, desired: DesiredSet, previous: Inventory | None) -> SyncPlan:
        """The order a sync of ``desired`` takes on this cluster now (see plan)."""
        return plan_of(
            desired, previous,
            knows_kind=lambda api_version, kind: self.kube.resource_for(api_version, kind) is not None,
            has_namespace=lambda name: name in self._namespaces or self.cache.get(
                ObjectKey("", "Namespace", "", name)) is not None,
        )  # fmt: skip

    def sync_steps(
        self,
        desired: DesiredSet,
        *,
        prune: bool,
        namespace: str,
        owner_of: OwnerOf,
        inventory_extra: dict[str, str] | None = None,
        rebuild: bool = False,
        always_hooks: bool = False,
    ) -> Steps[SyncOutcome]:
        """Apply an app's desired set, step by step as its plan orders it; prune what the
        inventory and annotations both claim. A generator: it yields whenever the sync waits
        on the cluster (a wave's health, a hook, a CRD), so whoever runs it may do other work
        meanwhile, and returns the outcome.

        On an app's first deploy (no inventory yet: nothing of it runs that a half-applied
        commit could break) objects that do not exist are created without a dry-run first,
        as ``kubectl apply`` would; a refused one stops the sync after its wave.

        The app's target namespace is created when Git does not declare it (as Argo CD's
        CreateNamespace option does), and is not tracked, so prune never deletes it.

        ``rebuild``: the app deployed before, so a missing inventory was lost (deleted by hand):
        it is rebuilt from the objects that carry the app's tracking annotation before anything
        is pruned. An app another env repo deployed is never touched from this one (its
        inventory says which repo): one repo must not prune another's objects.
        """
        if not desired.ok:
            problems = "; ".join(str(p) for p in desired.problems)
            return self._failed(desired, (), f"render failed, nothing applied or pruned: {problems}")
        previous = self.inventories.load(desired.app)
        owner = owning_repo(previous, inventory_extra or {})
        if owner is not None:
            return self._failed(desired, (), _another_repos(desired.app, owner))
        if previous is None and rebuild:
            previous = self.inventories.rebuild(desired.app, self.kube)
        run = SyncRun(
            desired,
            previous,
            inventory_extra,
            check_creations=previous is not None and bool(previous.entries),
        )
        refused = self._check(run, owner_of)
        if refused is not None:
            return refused
        run.plan = self.plan(desired, run.previous)
        self._record_arrivals(run)
        declared = {o.key.name for o in run.objects if o.key.kind == "Namespace"}
        try:
            if namespace and namespace not in declared:
                self._ensure_namespace(namespace)
        except KubeError as exc:
            return self._failed(desired, (), f"namespace {namespace}: {exc.message}; nothing applied")
        run.run_hooks = bool(desired.rendered.hooks) and (always_hooks or self._changes(run))
        return (yield from self._execute(run, prune))

    def _check(self, run: SyncRun, owner_of: OwnerOf) -> SyncOutcome | None:
        """Everything checked before anything is applied: kinds the cluster knows (or this sync's
        CRDs bring), objects no other app owns, and a dry-run of what can be judged now."""
        desired, previous, objects = run.desired, run.previous, run.objects
        self.watch_kinds((e.api_version, e.key.kind) for e in (previous.entries if previous else ()))
        unknown = self.watch_kinds((o.manifest["apiVersion"], o.key.kind) for o in objects)
        unknown_here = [u for u in unknown if (group_of(u.split()[0]), u.split()[1]) not in run.coming]
        if unknown_here:
            detail = "; ".join(
                f"{o.source} ({o.key}): the cluster does not know {o.manifest['apiVersion']} {o.key.kind}"
                for o in objects
                if f"{o.manifest['apiVersion']} {o.key.kind}" in unknown_here
            )
            return self._failed(desired, (), f"{detail}; nothing applied or pruned")
        # An object another app owns fails alone, when its turn comes (never applied from here,
        # never in this app's inventory); the rest of the app applies.
        conflicts = self._conflicts(desired.app, objects, owner_of)
        # What needs a new namespace or CRD waits; the rest is judged now.
        now = [o for o in objects if o.key not in conflicts and (
               (group_of(o.manifest["apiVersion"]), o.key.kind) not in run.coming or
               self.kube.resource_for(o.manifest["apiVersion"], o.key.kind) is not None)]  # fmt: skip
        run.checked = {**self._compare(desired, now, run.check_creations), **conflicts}
        failed = {k: c for k, c in run.checked.items() if c.verdict == Verdict.FAILED}
        return self._refused(desired, objects, failed, run.checked) if failed else None

    def _record_arrivals(self, run: SyncRun) -> None:
        """Before anything is applied, the inventory names every object this sync may create: a
        sync cut short (the agent killed, the API server gone) leaves nothing untracked."""
        previous = run.previous
        known = previous.keys() if previous else set()
        arriving = [Entry(o.key, o.manifest["apiVersion"]) for o in run.objects if o.key not in known
                    and not _conflicting(run.checked.get(o.key))]  # fmt: skip
        if arriving:
            entries = (*(previous.entries if previous else ()), *arriving)
            run.previous = Inventory(run.desired.app, previous.revision if previous else "", entries)
            self.inventories.save(run.previous, run.inventory_extra)

    def _changes(self, run: SyncRun) -> bool:
        """Whether the sync changes anything (hooks run only then, or on a first deploy)."""
        previous = run.previous
        return (
            not run.check_creations
            or any(c.verdict != Verdict.SAME for c in run.checked.values()) or len(run.checked) < len(run.objects)
            or any(e.key not in run.desired.objects for e in (previous.entries if previous else ()))
        )  # fmt: skip

    def _execute(self, run: SyncRun, prune: bool) -> Steps[SyncOutcome]:
        """The plan's steps: PreSync hooks, the waves, then prune and PostSync hooks."""
        desired, plan = run.desired, run.plan
        if run.run_hooks:
            run.hooks += yield from self.hook_runner.run(
                desired.app, list(plan.pre_sync), Phase.PRE_SYNC, kind_rank
            )
            if not all(h.ok for h in run.hooks):
                return (yield from self._hook_failed(desired, (), run.hooks, "nothing applied or pruned"))
        stopped = yield from self._waves(run)
        if stopped is not None:
            return stopped
        if not all(h.ok for h in run.hooks):
            return (yield from self._hook_failed(desired, run.results, run.hooks, "nothing pruned"))
        if any(r.action == Action.FAILED for r in run.results):
            return (yield from self._apply_failed(run))
        return (yield from self._finish(run, prune))

    def _waves(self, run: SyncRun) -> Steps[SyncOutcome | None]:
        """Each wave of the plan in turn, with its Sync hooks; the next waits until it is healthy."""
        desired, results = run.desired, run.results
        # A wave that holds only Sync hooks is a step only when hooks run (something changes).
        waves = [w for w in run.plan.waves if w.objects or run.run_hooks]
        for index, wave in enumerate(waves):
            if any(r.action == Action.FAILED for r in results) or not all(h.ok for h in run.hooks):
                results += [ObjectResult(o.key, Action.SKIPPED, "not applied: an earlier wave failed",
                                         o.source, run.checked.get(o.key)) for o in wave.objects]  # fmt: skip
                continue
            done = yield from self._apply_stage(
                desired, wave, run.coming, run.checked, run.check_creations, results
            )
            if done is not None:
                return done
            if wave.hooks and run.run_hooks:
                run.hooks += yield from self.hook_runner.run(
                    desired.app, list(wave.hooks), Phase.SYNC, kind_rank
                )
            later = index + 1 < len(waves) or bool(run.run_hooks and run.plan.post_sync)
            if later and not any(r.action == Action.FAILED for r in results) and all(h.ok for h in run.hooks):
                waiting = yield from until_healthy(self.kube, self.cache, list(wave.objects), wave.number)
                if waiting:
                    results += [ObjectResult(o.key, Action.SKIPPED, "not applied: an earlier wave did not become "
                                             "healthy", o.source, run.checked.get(o.key))
                                for w in waves[index + 1:] for o in w.objects]  # fmt: skip
                    what = (f"wave {wave.number} did not become healthy: {waiting}; the waves after it were not "
                            "applied, nothing pruned")  # fmt: skip
                    return (yield from self._hook_failed(desired, results, run.hooks, what))
        return None

    def _apply_failed(self, run: SyncRun) -> Steps[SyncOutcome]:
        """Some object was refused when applied: nothing is pruned, and the last good revision's
        objects stay tracked beside what this sync applied."""
        desired, previous, results = run.desired, run.previous, run.results
        failed_results = [r for r in results if r.action == Action.FAILED]
        not_applied = (Action.FAILED, Action.SKIPPED)
        kept = [*run.applied_entries(), *run.leftover()]
        kept += [Entry(r.key, desired.objects[r.key].manifest["apiVersion"]) for r in results
                 if r.action in not_applied and previous and r.key in previous.keys()]  # fmt: skip
        self.inventories.save(Inventory(desired.app, previous.revision if previous else "", tuple(kept)),
                              run.inventory_extra)  # fmt: skip
        message = f"{len(failed_results)} object(s) failed to apply; nothing pruned: " + _first_few(
            [f"{r.key} ({r.source}): {r.message}" for r in failed_results]
        )
        if run.run_hooks:
            run.hooks += yield from self.hook_runner.run(
                desired.app, list(run.plan.sync_fail), Phase.SYNC_FAIL, kind_rank
            )
        return SyncOutcome(desired.app, desired.revision, tuple(results), False, message, tuple(run.hooks))

    def _finish(self, run: SyncRun, prune: bool) -> Steps[SyncOutcome]:
        """Prune what was left from Git (the plan's order), record the inventory, PostSync hooks."""
        desired = run.desired
        applied = run.applied_entries()
        pruned, still_owned = prune_leftover(
            self.kube, self.cache, self.dry, desired.app, run.leftover(), prune
        )
        run.results += pruned
        self.inventories.save(
            Inventory(desired.app, desired.revision, tuple(applied) + tuple(still_owned)), run.inventory_extra
        )
        if run.run_hooks and run.plan.post_sync:
            run.hooks += yield from self.hook_runner.run(
                desired.app, list(run.plan.post_sync), Phase.POST_SYNC, kind_rank
            )
            if not all(h.ok for h in run.hooks):
                return (
                    yield from self._hook_failed(desired, run.results, run.hooks, "the objects were applied")
                )
        outcome = SyncOutcome(desired.app, desired.revision, tuple(run.results), True, "", tuple(run.hooks))
        return SyncOutcome(
            desired.app, desired.revision, outcome.results, True, outcome.summary(), outcome.hooks
        )

    def _apply_stage(
        self,
        desired: DesiredSet,
        wave: Wave,
        coming: set[tuple[str, str]],
        checked: dict[ObjectKey, Comparison],
        check_creations: bool,
        results: list[ObjectResult],
    ) -> Steps[SyncOutcome | None]:
        """Apply one sync wave: its Namespaces and CRDs, then (checked now, when they could not
        be before) the rest by kind. A SyncOutcome when the sync must stop here."""
        first = list(wave.first)
        made_first = self._apply_wave(desired, first, checked)
        results += made_first
        if first:
            try:
                yield from until_established(self.kube, first, results)
            except KubeError as exc:
                return self._failed(desired, results, f"{exc.message}; nothing else applied or pruned")
            if coming:
                self.kube.resources(refresh=True)  # new CRDs bring new kinds
                # This wave's kinds only: a later wave's may come with a later wave's CRD.
                unknown = self.watch_kinds((o.manifest["apiVersion"], o.key.kind) for o in wave.objects)
                if unknown:
                    return self._failed(
                        desired, results,
                        f"the cluster does not know {', '.join(unknown)}; nothing else applied or pruned",
                    )  # fmt: skip
        rest = [o for group in wave.by_kind for o in group]
        # Objects whose namespace or kind did not exist before: checked now, all before any.
        waiting = [
            o for o in rest if o.key not in checked or (check_creations and not checked[o.key].validated)
        ]
        if waiting:
            late = self._compare(desired, waiting, check_creations)
            checked.update(late)
            failed = {k: c for k, c in late.items() if c.verdict == Verdict.FAILED}
            if failed:
                applied = sum(1 for r in results if r.action in (Action.CREATED, Action.CONFIGURED))
                outcome = self._refused(desired, rest, failed, checked)
                note = (
                    f" (but {applied} object(s) of its Namespaces, CRDs or earlier waves were applied before)"
                )
                return SyncOutcome(desired.app, desired.revision, (*results, *outcome.results), False,
                                   outcome.message + (note if applied else ""))  # fmt: skip
        # Every object of the wave is applied, whichever of them the API server refuses (as
        # gitops-engine runs a wave's tasks together): a refused one fails the sync, and the waves
        # after it wait, but not its neighbours. Only a Namespace or CRD of the wave that failed
        # holds back the rest, which may need it.
        held = [r for r in made_first if r.action == Action.FAILED]
        for group in wave.by_kind:
            if held:
                results += [ObjectResult(o.key, Action.SKIPPED, f"not applied: {held[0].key} of its wave failed",
                                         o.source, checked.get(o.key)) for o in group]  # fmt: skip
                continue
            results += self._apply_wave(desired, list(group), checked)
        return None

    def _hook_failed(
        self, desired: DesiredSet, results: Iterable[ObjectResult], hooks: list[HookRun], what: str
    ) -> Steps[SyncOutcome]:
        """A hook (or a wave) failed: the SyncFail hooks run, and the sync fails saying which."""
        hooks = list(hooks)
        failed = [h for h in hooks if not h.ok]
        hooks += yield from self.hook_runner.run(desired.app, hooks_at(desired.rendered.hooks, Phase.SYNC_FAIL),
                                      Phase.SYNC_FAIL, kind_rank)  # fmt: skip
        detail = "; ".join(f"{h.phase} hook {h.key} ({h.source}) failed: {h.message}" for h in failed)
        message = f"{detail}; {what}" if detail else what
        return SyncOutcome(desired.app, desired.revision, tuple(results), False, message, tuple(hooks))

    # -- checks -------------------------------------------------------------------------------

    def _conflicts(
        self, app: str, objects: list[DesiredObject], owner_of: OwnerOf
    ) -> dict[ObjectKey, Comparison]:
        found = {}
        for obj in objects:
            claim = owner_of(obj.key, self.cache.get(obj.key))
            if claim is not None and claim.app != app:
                found[obj.key] = Comparison(Verdict.CONFLICT, conflict(claim, app, obj.source))
        return found

    def _compare(
        self, desired: DesiredSet, objects: list[DesiredObject], check_creations: bool
    ) -> dict[ObjectKey, Comparison]:
        def one(obj: DesiredObject) -> tuple[ObjectKey, Comparison]:
            live = self.cache.get(obj.key)
            if live is None and not check_creations:
                return obj.key, Comparison(Verdict.DIFFERS, validated=False)
            return obj.key, self.dry.compare(
                obj.key, desired.marked[obj.key], live, desired.ignored.get(obj.key, ())
            )

        if len(objects) > 1:
            return dict(self.pool.map(one, objects))
        return dict(map(one, objects))

    def _refused(
        self,
        desired: DesiredSet,
        objects: list[DesiredObject],
        failed: dict[ObjectKey, Comparison],
        checked: dict[ObjectKey, Comparison],
    ) -> SyncOutcome:
        """Nothing applied: the failed objects, and what the others would have done."""
        results = []
        for obj in objects:
            comparison = failed.get(obj.key) or checked.get(obj.key)
            if obj.key in failed:
                action, message = Action.FAILED, failed[obj.key].message
            elif comparison is not None and comparison.verdict == Verdict.SAME:
                action, message = Action.UNCHANGED, ""
            else:
                action, message = Action.SKIPPED, "not applied: another object of this sync failed"
            results.append(ObjectResult(obj.key, action, message, obj.source, comparison))
        refused = [
            f"{obj.key} ({obj.source}): {failed[obj.key].message}" for obj in objects if obj.key in failed
        ]
        message = f"{len(refused)} object(s) refused; nothing applied or pruned: {_first_few(refused)}"
        return SyncOutcome(desired.app, desired.revision, tuple(results), False, message)

    def _failed(self, desired: DesiredSet, results: Iterable[ObjectResult], message: str) -> SyncOutcome:
        return SyncOutcome(desired.app, desired.revision, tuple(results), False, message)

    # -- applying -----------------------------------------------------------------------------

    def reapply(self, desired: DesiredSet, checked: dict[ObjectKey, Comparison]) -> list[ObjectResult]:
        """Apply objects of a desired set again as they are (self-heal), as ``checked`` found them."""
        return self._apply_wave(
            desired, [desired.objects[k] for k in checked if k in desired.objects], checked
        )

    def forget_cluster(self) -> None:
        """Another cluster now: nothing known to exist in the old one holds (its namespaces, the
        inventories' namespace)."""
        self._namespaces.clear()
        self.inventories.forget_cluster()

    def _ensure_namespace(self, name: str) -> None:
        if name in self._namespaces:
            return
        # its own field manager: the namespace is not one of the app's objects, never pruned
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        self.kube.apply(namespace, field_manager="gitops-sandbox-namespace")
        self._namespaces.add(name)

    def _apply_wave(
        self, desired: DesiredSet, wave: list[DesiredObject], checked: dict[ObjectKey, Comparison]
    ) -> list[ObjectResult]:
        if not wave:
            return []

        def one(obj: DesiredObject) -> ObjectResult:
            return self._apply_one(desired, obj, checked.get(obj.key))

        if len(wave) == 1:
            return [one(wave[0])]
        return list(self.pool.map(one, wave))

    def _apply_one(self, desired: DesiredSet, obj: DesiredObject, check: Comparison | None) -> ObjectResult:
        if _conflicting(check):
            assert check is not None
            return ObjectResult(obj.key, Action.FAILED, check.message, obj.source, check)
        if check is not None and check.verdict == Verdict.SAME:
            return ObjectResult(obj.key, Action.UNCHANGED, source=obj.source, comparison=check)
        marked = desired.marked[obj.key]
        try:
            created, result = self.kube.apply(marked)
        except KubeError as exc:
            if exc.transient:  # the API server went away in the middle: say so, it is retried
                exc = KubeError(exc.status, exc.reason, f"interrupted: {exc.message}", exc.body)
            return ObjectResult(
                obj.key, Action.FAILED, exc.message, obj.source, Comparison(Verdict.FAILED, exc.message)
            )
        self.dry.verified.record(obj.key, diff.content_hash(marked), result)
        action = Action.CREATED if created else Action.CONFIGURED
        return ObjectResult(obj.key, action, source=obj.source, comparison=Comparison(Verdict.SAME))

    # -- pruning ------------------------------------------------------------------------------

    def watch_inventory(self, app: str) -> None:
        """Follow every kind an app's inventory lists (to show what it left behind)."""
        found = self.inventories.load(app)
        self.watch_kinds((e.api_version, e.key.kind) for e in (found.entries if found else ()))

    def release(self, app: str) -> int:
        """Forget the app, keeping its objects (an Argo CD Application deleted without its
        resources finalizer): its inventory goes, so no app claims them. How many there are."""
        previous = self.inventories.load(app)
        self.inventories.delete(app)
        return len(previous.entries) if previous else 0

    def prune_all(self, app: str) -> list[ObjectResult]:
        """Delete every object the app's inventory and annotations both claim, then the inventory
        (the app was removed from the env repo, with prune on)."""
        previous = self.inventories.load(app)
        entries = list(previous.entries) if previous else []
        self.watch_kinds((e.api_version, e.key.kind) for e in entries)
        results, _owned = prune_leftover(self.kube, self.cache, self.dry, app, entries, True, removing=True)
        self.inventories.delete(app)
        return results


def _conflicting(check: Comparison | None) -> bool:
    return check is not None and check.verdict == Verdict.CONFLICT


def _another_repos(app: str, owner: str) -> str:
    return (
        f"app {app} on this cluster belongs to the env repo {owner}: nothing applied or pruned. "
        "Give each env repo a cluster of its own (GITOPS_SANDBOX_STATE_DIR=<another folder> for the "
        f"commands of one), or `gitops-sandbox cluster down` to start anew; or rename the app here, or "
        f"remove it from {owner}"
    )


def _first_few(said: list[str]) -> str:
    """The first few of what failed, and how many more: a message stays one readable line."""
    more = (
        f"; and {len(said) - SAID_REFUSED} more (`status -v` lists each)" if len(said) > SAID_REFUSED else ""
    )
    return "; ".join(said[:SAID_REFUSED]) + more
