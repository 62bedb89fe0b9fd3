"""One app's controller: its desired state per revision, and every operation on that app.

The controller keeps three revisions apart, because the paths that matter most to a user
are the ones where they differ:

- the **target**: what the app syncs to (Git's head, or the revision it was rolled back to);
- the **deployed** revision: the last one that synced, which is what the cluster runs;
- the **failure**: the last target that failed, with how often and when it is tried again.

Self-heal re-applies the deployed revision's objects, never a newer target that failed. A
failed sync is retried with backoff (5 s doubling to 5 min, as Argo CD's self-heal backoff),
and a failure that repeats as it was updates its one history record instead of adding rows.
The controller runs only on the agent's worker thread.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from sandbox.agent.appview import AppFacts, app_health, app_state
from sandbox.agent.commands import Command, Retry
from sandbox.agent.history import History, ObjectOutcome, SyncRecord
from sandbox.agent.ownership import Ownership
from sandbox.agent.revert import choose_target
from sandbox.agent.settings import AppSettings
from sandbox.agent.snapshot import AppState, RevertTarget
from sandbox.agent.status import object_health, object_sync
from sandbox.apply.desired import DesiredSet
from sandbox.apply.dryrun import Comparison, DryRun, Verdict
from sandbox.apply.kube import KubeError
from sandbox.apply.livecache import LiveCache
from sandbox.apply.sync import Action, ObjectResult, Syncer, SyncOutcome
from sandbox.model import Health, ObjectKey, Problem, Rendered
from sandbox.source.appconfig import CONFIG_FILE, AppSpec
from sandbox.source.envrepo import CommitInfo, EnvRepo, EnvRepoError
from sandbox.source.render import render_app

BACKOFF_FIRST = 5.0
BACKOFF_MAX = 300.0
SYNC_RECORDS = 200  # recent records per app carried in the snapshot


@dataclass
class Services:
    """What every controller shares: the repo, the cluster, the history and the agent's hooks."""

    repo: EnvRepo
    repo_path: Path
    cache: LiveCache
    dry: DryRun
    syncer: Syncer
    history: History
    ownership: Ownership
    event: Callable[[str, str, str], None]  # (level, app, message)
    publish: Callable[[], None]
    schedule: Callable[[float, Command], None]  # run a command after a delay (seconds)
    save_settings: Callable[[], None]
    is_namespaced: Callable[[str, str], bool | None]


@dataclass
class Failure:
    revision: str
    message: str
    record_id: int
    attempts: int = 1
    backoff: float = BACKOFF_FIRST
    retry_at: float | None = None  # wall clock


class AppController:
    def __init__(self, spec: AppSpec, services: Services, settings: AppSettings, automated: bool) -> None:
        self.spec = spec
        self.s = services
        self.settings = settings
        # An agent that follows Git (watch, the app) syncs commits, heals drift and retries;
        # one that runs a single command (sync, rollback...) does only that command.
        self.automated = automated
        self.git_revision = ""
        self.target: DesiredSet | None = None
        self.deployed: DesiredSet | None = None
        self.deployed_revision: str | None = None
        self.record_id: int | None = None  # the deployed sync's record: its health is kept current
        self.recorded_health = ""
        self.announced_health = ""
        self.failure: Failure | None = None
        self.comparisons: dict[ObjectKey, Comparison] = {}
        self.drift: set[ObjectKey] = set()
        self.config_problems: tuple[Problem, ...] = ()
        self.rendered_ever = False
        self.removed = False
        self.operation = "Idle"
        self.last_sync: float | None = None
        self.last_result = ""
        self.message = ""
        self.syncs: tuple[SyncRecord, ...] = ()
        self._revert_memo: tuple[tuple[object, ...], RevertTarget | None] | None = None
        record = services.history.deployed(spec.name)
        if record is not None:
            self.deployed_revision, self.record_id = record.revision, record.id
            self.recorded_health = record.health
        self._refresh_syncs()
        last = self.syncs[0] if self.syncs else None
        if last is not None and last.ended is not None:
            # What an earlier run left: a failure is still the failure (revert targets its commit,
            # and the same failure again counts as one more attempt of it).
            self.last_sync, self.last_result, self.message = last.ended, last.result, last.message
            if last.result == "Failed":
                self.failure = Failure(last.revision, last.message, last.id, last.attempts)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def syncing(self) -> bool:
        return self.operation == "Syncing"

    @property
    def may_heal(self) -> bool:
        return (
            self.automated
            and self.settings.self_heal
            and self.settings.auto_sync
            and not self.settings.paused
        )

    # -- Git ----------------------------------------------------------------------------------

    def follow(self, head: str, trigger: str, force: bool = False) -> None:
        """Git's head moved (or the agent started): bring the app to it, if it follows Git."""
        self.git_revision = head
        if self.config_problems:
            if force or (self.automated and self.settings.auto_sync):
                self.fail(head, trigger, "; ".join(str(p) for p in self.config_problems))
            else:
                self.last_result, self.message = "Failed", "; ".join(str(p) for p in self.config_problems)
            return
        if self.settings.paused:
            self._ensure_deployed_rendered()
            return  # rolled back: Git moved on, the cluster stays where the user put it
        if trigger == "commit" and self._unchanged_by(head):
            self.target = _repointed(self.target, head)  # type: ignore[arg-type]
            if self.deployed is not None and self.deployed_revision == self.deployed.revision:
                self.deployed = self.target
                self.deployed_revision = head
            return
        self.target = self.render(head)
        self._ensure_deployed_rendered()
        if force or (self.automated and self.settings.auto_sync):
            self.sync(trigger)
        else:
            self.assess()

    def render(self, revision: str) -> DesiredSet:
        rendered = render_app(self.s.repo, self.spec, revision, is_namespaced=self.s.is_namespaced)
        if rendered.ok:
            self.rendered_ever = True
        return DesiredSet.of(rendered)

    def _ensure_deployed_rendered(self) -> None:
        """Self-heal needs the deployed revision's objects: render them when only the sha is known."""
        revision = self.deployed_revision
        if not revision or (self.deployed is not None and self.deployed.revision == revision):
            return
        if self.target is not None and self.target.revision == revision:
            self.deployed = self.target
            return
        try:
            desired = self.render(revision)
        except EnvRepoError:
            return
        self.deployed = desired if desired.ok else None

    # -- sync ---------------------------------------------------------------------------------

    def sync(self, trigger: str, revision: str | None = None) -> SyncOutcome | None:
        """Sync the target (or ``revision``); on failure nothing changes and a retry is set."""
        if self.config_problems:
            self.fail(self.git_revision, trigger, "; ".join(str(p) for p in self.config_problems))
            return None
        wanted = revision or (self.target.revision if self.target else self.git_revision)
        if not wanted:
            return None
        if self.target is None or self.target.revision != wanted:
            self.target = self.render(wanted)
        target = self.target
        info = self._commit(target.revision)
        sync_id = self.s.history.start(
            self.name, target.revision, info.author if info else "", info.subject if info else "", trigger
        )
        self.operation = "Syncing"
        self.s.publish()
        started = time.monotonic()
        try:
            outcome = self.s.syncer.sync(
                target, prune=self.spec.prune, namespace=self.spec.namespace,
                owner_of=self.s.ownership.owner_of, inventory_extra=self._inventory_extra(),
            )  # fmt: skip
        except KubeError as exc:
            outcome = SyncOutcome(self.name, target.revision, (), False, f"sync failed: {exc}")
        finally:
            self.operation = "Idle"
        self.last_sync = time.time()
        self._take_results(target, outcome.results)
        applied = {
            r.key
            for r in outcome.results
            if r.action in (Action.CREATED, Action.CONFIGURED, Action.UNCHANGED)
        }
        self.s.ownership.take(target, applied)
        if outcome.ok:
            self._succeeded(target, outcome, sync_id, trigger, time.monotonic() - started)
        else:
            self._failed(
                target.revision,
                outcome.message,
                sync_id,
                trigger,
                outcome.results,
                retry=target.ok,
                desired=target,
            )
            for problem in target.problems:
                self.s.event("error", self.name, str(problem))
        self._refresh_syncs()
        return outcome

    def _succeeded(
        self, target: DesiredSet, outcome: SyncOutcome, sync_id: int, trigger: str, elapsed: float
    ) -> None:
        self.deployed, self.deployed_revision, self.record_id = target, target.revision, sync_id
        self.failure = None
        self.drift.clear()
        self.last_result, self.message = "Succeeded", outcome.message
        health = self.health()
        outcomes = self._outcomes(outcome.results, target)
        self.s.history.finish(sync_id, "Succeeded", str(health), outcome.message, outcomes)
        self.recorded_health = str(health)
        self.s.event(
            "info",
            self.name,
            f"synced {target.revision[:7]} ({trigger}) in {elapsed:.2f}s: {outcome.message}",
        )

    def fail(self, revision: str, trigger: str, message: str) -> None:
        """Record a failure found before any sync could run (an invalid entry, a vanished folder)."""
        info = self._commit(revision)
        sync_id = self.s.history.start(
            self.name, revision, info.author if info else "", info.subject if info else "", trigger
        )
        self._failed(revision, message, sync_id, trigger, (), retry=False)
        self._refresh_syncs()

    def _failed(
        self, revision: str, message: str, sync_id: int, trigger: str, results: Iterable[ObjectResult],
        retry: bool, desired: DesiredSet | None = None,
    ) -> None:  # fmt: skip
        self.last_result, self.message = "Failed", message
        failure = self.failure
        if failure is not None and failure.revision == revision and failure.message == message:
            self.s.history.fold(sync_id, failure.record_id)
            failure.attempts += 1
            again = f" (attempt {failure.attempts})"
        else:
            outcomes = self._outcomes(results, desired)
            self.s.history.finish(sync_id, "Failed", str(self.health()), message, outcomes)
            failure = self.failure = Failure(revision, message, sync_id)
            again = ""
        when = ""
        if retry and self.automated and self.settings.auto_sync and not self.settings.paused:
            failure.retry_at = time.time() + failure.backoff
            when = f"; retrying in {failure.backoff:.0f}s"
            self.s.schedule(failure.backoff, Retry(self.name, revision))
            failure.backoff = min(failure.backoff * 2, BACKOFF_MAX)
        else:
            failure.retry_at = None
        self.s.event("error", self.name, f"sync of {revision[:7]} failed ({trigger}){again}: {message}{when}")

    def retry(self, revision: str) -> None:
        """The backoff after a failure ran out: sync again, if that target is still wanted."""
        failure = self.failure
        if failure is None or failure.revision != revision or self.target is None:
            return
        if self.target.revision != revision or not (self.automated and self.settings.auto_sync):
            return
        if self.settings.paused:
            return
        self.sync("retry")

    def assess(self) -> None:
        """Compare Git with the cluster by dry-run; change nothing (auto-sync off, or one-shot)."""
        target = self.target
        if target is None or not target.ok:
            return
        self.s.syncer.watch_kinds((o.manifest["apiVersion"], o.key.kind) for o in target.objects.values())
        for key, marked in target.marked.items():
            live = self.s.cache.get(key)
            claim = self.s.ownership.owner_of(key, live)
            if claim is not None and claim.app != self.name:
                where = f" ({claim.source})" if claim.source else ""
                self.comparisons[key] = Comparison(Verdict.CONFLICT, f"belongs to app {claim.app}{where}")
            elif live is None:
                self.comparisons[key] = Comparison(Verdict.DIFFERS)
            else:
                self.comparisons[key] = self.s.dry.compare(key, marked, live)

    def _take_results(self, target: DesiredSet, results: Iterable[ObjectResult]) -> None:
        for result in results:
            if result.comparison is not None and result.key in target.objects:
                self.comparisons[result.key] = result.comparison

    # -- drift and self-heal --------------------------------------------------------------------

    def check_drift(self, keys: Iterable[ObjectKey]) -> None:
        """Live objects changed: compare them with the deployed revision, and heal when allowed."""
        deployed = self.deployed
        if deployed is None or self.syncing:
            return
        heal: list[ObjectKey] = []
        for key in keys:
            marked = deployed.marked.get(key)
            if marked is None:
                continue
            found = self.s.dry.compare(key, marked, self.s.cache.get(key))
            self._compare_target(key, deployed, found)
            if found.verdict == Verdict.SAME:
                self.drift.discard(key)
            elif self.may_heal:
                heal.append(key)
            elif key not in self.drift:
                self.drift.add(key)
                why = "self-heal is off" if self.settings.self_heal else "auto-sync is off"
                self.s.event("warning", self.name, f"drift: {key} differs from Git ({why})")
        if heal:
            self._heal(deployed, heal)

    def _compare_target(self, key: ObjectKey, deployed: DesiredSet, found: Comparison) -> None:
        target = self.target
        if target is None or not target.ok or key not in target.marked:
            return
        if target is deployed or target.marked[key] == deployed.marked[key]:
            self.comparisons[key] = found
        else:
            self.comparisons[key] = self.s.dry.compare(key, target.marked[key], self.s.cache.get(key))

    def _heal(self, deployed: DesiredSet, keys: list[ObjectKey]) -> None:
        revision = deployed.revision
        info = self._commit(revision)
        sync_id = self.s.history.start(
            self.name, revision, info.author if info else "", info.subject if info else "", "drift"
        )
        results = self.s.syncer.reapply(deployed, keys)
        if self.target is deployed:
            self._take_results(deployed, results)
        ok = all(r.action != Action.FAILED for r in results)
        for r in results:
            if r.action != Action.FAILED:
                self.drift.discard(r.key)
        names = ", ".join(str(r.key) for r in results)
        if ok:
            message = f"self-heal re-applied {names} from {revision[:7]}"
            outcomes = self._outcomes(results, deployed)
            self.s.history.finish(sync_id, "Succeeded", str(self.health()), message, outcomes)
            self.s.event("info", self.name, f"drift undone: {message}")
        else:
            message = "self-heal failed: " + "; ".join(f"{r.key}: {r.message}" for r in results if r.message)
            self._failed(revision, message, sync_id, "drift", results, retry=False, desired=deployed)
        self._refresh_syncs()

    # -- rollback, resume, settings ---------------------------------------------------------------

    def rollback(self, revision: str) -> SyncOutcome | None:
        self.settings = dataclasses.replace(self.settings, paused_at=revision)
        self.s.save_settings()
        self.target = self.render(revision)
        outcome = self.sync("rollback")
        if outcome is not None and outcome.ok:
            self.s.event(
                "info", self.name,
                f"rolled back to {revision[:7]}: cluster at {revision[:7]}, Git at {self.git_revision[:7]}; "
                "auto-sync paused (undo: resume auto-sync)",
            )  # fmt: skip
        return outcome

    def resume(self) -> None:
        self.settings = dataclasses.replace(self.settings, auto_sync=True, paused_at=None)
        self.s.save_settings()
        self.s.event("info", self.name, f"auto-sync on: following Git at {self.git_revision[:7]}")
        self.target = self.render(self.git_revision)
        self.sync("manual")

    def set_auto_sync(self, on: bool) -> None:
        if on:
            self.resume()
            return
        self.settings = dataclasses.replace(self.settings, auto_sync=False)
        self.s.save_settings()
        self.s.event("info", self.name, "auto-sync off: new commits are shown, not deployed")

    def set_self_heal(self, on: bool) -> None:
        self.settings = dataclasses.replace(self.settings, self_heal=on)
        self.s.save_settings()
        self.s.event("info", self.name, f"self-heal {'on' if on else 'off'}")
        if on and self.drift:
            self.check_drift(tuple(self.drift))

    def default_rollback_target(self) -> str | None:
        deployed = self.deployed_revision
        if not deployed:
            return None
        found = self.s.history.last_healthy_before(self.name, deployed)
        if found:
            return found
        info = self._commit(deployed)
        return info.parents[0] if info and info.parents else None

    # -- what the snapshot shows ----------------------------------------------------------------

    def health(self) -> Health:
        return app_health(self.facts(), self.s.cache)

    def view(self) -> AppState:
        state = app_state(self.facts(), self.s.cache)
        return dataclasses.replace(state, revert_target=self._revert_target(state.health))

    def facts(self) -> AppFacts:
        failure = self.failure
        target = self.target
        problems = (*(target.problems if target else ()), *self.config_problems)
        return AppFacts(
            spec=self.spec, git_revision=self.git_revision, target=target, deployed=self.deployed,
            deployed_revision=self.deployed_revision, comparisons=dict(self.comparisons),
            drift=frozenset(self.drift), settings=self.settings, problems=problems,
            rendered_ever=self.rendered_ever or self.deployed_revision is not None, operation=self.operation,
            last_sync=self.last_sync, last_result=self.last_result, message=self.message, syncs=self.syncs,
            removed=self.removed, retry_at=failure.retry_at if failure else None,
            attempts=failure.attempts if failure else 0,
        )  # fmt: skip

    def _revert_target(self, health: Health) -> RevertTarget | None:
        head_failed = self.failure is not None and self.failure.revision == self.git_revision
        key = (
            self.git_revision,
            self.deployed_revision,
            head_failed,
            health == Health.DEGRADED,
            self.settings.paused,
        )
        if self._revert_memo is None or self._revert_memo[0] != key:  # it reads git: once per change
            found = choose_target(
                self.s.repo, self.spec.path, self.git_revision, self.deployed_revision, head_failed=head_failed,
                degraded=health == Health.DEGRADED, paused=self.settings.paused,
            )  # fmt: skip
            self._revert_memo = (key, found)
        return self._revert_memo[1]

    def track_health(self, state: AppState) -> None:
        """Keep the deployed sync's health in the history current (rollback needs 'Healthy'), and
        say so in the events when the app's health changes."""
        if state.operation != "Idle":
            return
        health = str(state.health)
        if health != self.announced_health:
            if self.announced_health:
                worst = next(
                    (o for o in state.objects if o.health == state.health and o.health_message), None
                )
                why = (
                    f": {worst.key} {worst.health_message}"
                    if worst and state.health != Health.HEALTHY
                    else ""
                )
                level = "error" if state.health == Health.DEGRADED else "info"
                self.s.event(level, self.name, f"{health} at {(state.deployed_revision or '')[:7]}{why}")
            self.announced_health = health
        if self.record_id and health != self.recorded_health:
            self.recorded_health = health
            try:
                self.s.history.update_health(self.record_id, health)
            except Exception:  # history is informative; a locked file must not stop the agent
                pass

    # -- helpers ----------------------------------------------------------------------------------

    def _outcomes(self, results: Iterable[ObjectResult], desired: DesiredSet | None) -> list[ObjectOutcome]:
        out = []
        for result in results:
            live = self.s.cache.get(result.key)
            marked = desired.marked.get(result.key) if desired else None
            gone = result.action == Action.PRUNED
            sync = "Unknown" if gone else str(object_sync(marked, live, result.comparison))
            message = result.message
            if result.source and result.action == Action.FAILED:
                message = f"{result.source}: {message}"
            out.append(
                ObjectOutcome(
                    str(result.key), str(result.action), sync, str(object_health(live).status), message
                )
            )
        return out

    def _inventory_extra(self) -> dict[str, str]:
        return {
            "repo": str(self.s.repo_path), "path": self.spec.path, "namespace": self.spec.namespace,
            "prune": "true" if self.spec.prune else "false",
        }  # fmt: skip

    def _commit(self, revision: str) -> CommitInfo | None:
        try:
            return self.s.repo.commit_info(revision)
        except EnvRepoError:
            return None

    def _refresh_syncs(self) -> None:
        self.syncs = tuple(self.s.history.records(self.name, limit=SYNC_RECORDS, objects=False))

    def _unchanged_by(self, head: str) -> bool:
        """Whether a commit leaves a plain app's desired objects exactly as last synced.

        Only plain apps qualify: a Kustomize base or a Helm values file may live outside the
        app's folder. Equal git tree ids with no symlinks inside mean identical manifests.
        """
        target = self.target
        if (
            target is None or not target.ok or self.spec.source != "plain" or self.last_result != "Succeeded"
            or self.drift or not self.settings.auto_sync or not self.automated
        ):  # fmt: skip
            return False
        repo, before, path = self.s.repo, target.revision, self.spec.path
        try:
            return (
                repo.tree_id(before, path) == repo.tree_id(head, path) is not None
                and repo.tree_id(before, CONFIG_FILE) == repo.tree_id(head, CONFIG_FILE)
                and not repo.has_symlinks(head, path)
            )
        except EnvRepoError:
            return False


def _repointed(desired: DesiredSet, revision: str) -> DesiredSet:
    """The same objects, said to be at another revision (a commit that did not touch them)."""
    rendered: Rendered = dataclasses.replace(desired.rendered, revision=revision)
    return DesiredSet(rendered, desired.objects, desired.marked)
