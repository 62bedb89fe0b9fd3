"""One app's controller: its desired state per revision, and every operation on that app.

The controller keeps three revisions apart, because the paths that matter most to a user
are the ones where they differ:

- the **target**: what the app syncs to (Git's head, or the revision it was rolled back to);
- the **deployed** revision: the last one that synced, which is what the cluster runs;
- the **failure**: the last target that failed, with how often and when it is tried again.

Self-heal re-applies the deployed revision's objects, never a newer target that failed
(``selfheal.py``). A failed sync is retried with backoff (``failures.py``), and a failure that
repeats as it was updates its one history record instead of adding rows. What the app shows
(its state, health and revert target) is ``appreport.py``. The controller runs only on the
agent's worker thread.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable

from sandbox.agent import appchanges
from sandbox.agent.appreport import AppReport
from sandbox.agent.commands import Continue, Drift, Retry
from sandbox.agent.controls import Controls
from sandbox.agent.dependencies import Dependencies
from sandbox.agent.failures import Failure, failure_words
from sandbox.agent.history import SyncRecord
from sandbox.agent.selfheal import SelfHealing
from sandbox.agent.services import Services
from sandbox.agent.settings import AppSettings
from sandbox.agent.snapshot import RevertTarget
from sandbox.agent.status import object_outcomes
from sandbox.apply.desired import DesiredSet
from sandbox.apply.dryrun import Comparison, Verdict
from sandbox.apply.outcome import Action, ObjectResult, SyncOutcome
from sandbox.apply.steps import POLL, Steps
from sandbox.kube.client import KubeError
from sandbox.model import ObjectKey, Problem, Rendered
from sandbox.source.appconfig import AppSpec
from sandbox.source.envrepo import CommitInfo, EnvRepoError
from sandbox.source.render import render_app

SYNC_RECORDS = 200  # recent records per app carried in the snapshot


class AppController(AppReport, SelfHealing, Dependencies, Controls):
    def __init__(self, spec: AppSpec, services: Services, settings: AppSettings, automated: bool) -> None:
        self.spec = spec
        self.s = services
        self._depends_poll = False  # a DependsOn look is scheduled
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
        self._said_failure: tuple[str, str] | None = None  # the failure this agent said whole last
        self.applied_all_but_shared = False  # its last sync failed only for objects other apps own
        self.announced_health = ""
        self.failure: Failure | None = None
        self.heal_failure: Failure | None = None  # kept apart: it says nothing of Git's head
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
        self._retry_token = 0  # only the newest scheduled retry runs
        self._flight: InFlight | None = None  # the sync under way, put aside while it waits
        self._flights = 0  # syncs started: a Continue names the one it is for
        self._refresh_syncs()
        last = services.history.last_outcome(spec.name)
        if last is not None:
            # What an earlier run left: a failure is still the failure (revert targets its commit,
            # and the same failure again counts as one more attempt of it).
            self.last_sync, self.last_result, self.message = last.ended, last.result, last.message
            if last.result == "Failed":
                self.failure = Failure.resumed(last)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def syncing(self) -> bool:
        return self.operation == "Syncing"

    # -- Git ----------------------------------------------------------------------------------

    def follow(self, head: str, trigger: str, force: bool = False, target: DesiredSet | None = None) -> None:
        """Git's head moved (or the agent started): bring the app to it, if it follows Git.

        ``force``: a revert this agent made deploys even when the agent does not follow Git on
        its own (a one-shot command), but never into an app whose auto-sync is off. ``target``:
        ``head`` rendered already.
        """
        self.git_revision = head
        follows = (force or self.automated) and self.settings.auto_sync
        if self.config_problems:
            if follows:
                self.fail(head, trigger, self._config_message())
            else:
                self.last_result, self.message = "Failed", self._config_message()
            return
        if self.settings.paused:
            # Rolled back: Git moved on, the cluster stays where the user put it, and a sync
            # (s, or `gitops-sandbox sync`) syncs that revision, not Git's head.
            paused_at = self.settings.paused_at or head
            if self.target is None or self.target.revision != paused_at:
                self.target = self.render(paused_at)
            self._ensure_deployed_rendered()
            return
        if trigger == "commit" and self._unchanged_by(head):
            self.target = _repointed(self.target, head)  # type: ignore[arg-type]
            if self._flight is not None:  # the sync under way deploys this very content
                self._flight.target = self.target
            if self.deployed is not None and self.deployed_revision == self.deployed.revision:
                self.deployed = self.target
                self.deployed_revision = head
            return
        self.target = target or self.render(head)
        self._ensure_deployed_rendered()
        if follows:
            self.sync(trigger)
        else:
            self.assess()
            if trigger in ("commit", "source"):
                self._say_not_followed(head)

    def _say_not_followed(self, head: str) -> None:
        """A commit reached an app that does not follow Git on its own: say what it would do, as
        Argo CD's app turns OutOfSync (or ComparisonError) at once, so a watch shows it."""
        target = self.target
        if target is None:
            return
        why = "auto-sync is off" if not self.settings.auto_sync else "this command syncs only when asked"
        if not target.ok:
            self.s.event("warning", self.name, f"{head[:7]} does not render: {target.problems[0]} ({why}: "
                                               "nothing applied)")  # fmt: skip
            return
        differing = sum(1 for key in target.objects
                        if (c := self.comparisons.get(key)) is not None and c.verdict != Verdict.SAME)  # fmt: skip
        if differing:
            self.s.event("info", self.name, f"{head[:7]} would change {differing} object(s); {why}: it waits for a "
                                            "sync")  # fmt: skip

    def source_changed(self, head: str) -> DesiredSet | None:
        """What it renders at ``head`` when that differs from its target (an app repo it reads
        from moved, and a commit there may or may not touch its files), else None."""
        fresh = self.render(head)
        if self.target is not None and (fresh.marked, fresh.rendered.problems) == (
            self.target.marked,
            self.target.rendered.problems,
        ):
            return None
        return fresh

    def render(self, revision: str) -> DesiredSet:
        rendered = render_app(self.s.repo, self.spec, revision, is_namespaced=self.s.is_namespaced)
        if rendered.ok:
            self.rendered_ever = True
        return DesiredSet.of(rendered, self.spec.ignore_differences)

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
        if self.deployed is not None:  # its health is read from the cache, also when Git's head fails
            self.s.syncer.watch_kinds(
                (o.manifest["apiVersion"], o.key.kind) for o in self.deployed.objects.values()
            )

    # -- sync ---------------------------------------------------------------------------------

    def sync(self, trigger: str, revision: str | None = None) -> None:
        """Sync the target (or ``revision``); on failure nothing changes and a retry is set.

        A following agent does not wait here while the sync waits on the cluster (a wave's
        health, a hook): the sync is put aside and goes on at each ``Continue``, so other
        apps sync meanwhile. A newer target supersedes a sync under way, as Flux cancels a
        health check when a new revision comes. One-shot commands put it aside too, and wait for
        every sync to end.
        """
        if self.config_problems:
            self.fail(self.git_revision, trigger, self._config_message())
            return
        wanted = revision or (self.target.revision if self.target else self.git_revision)
        if not wanted:
            return
        if (self.spec.depends_on or self.spec.after_parent) and not self._dependencies_ready(trigger):
            return
        if self.target is None or self.target.revision != wanted or self.s.syncer.misplaced(self.target):
            self.target = self.render(wanted)
        target = self.target
        if self._flight is not None:
            if _same_content(self._flight.target, target):  # that very sync is under way
                self._flight.target = target  # a commit that leaves the app as it is: that one's
                if trigger == "manual":
                    self.s.event("info", self.name, f"already syncing {target.revision[:7]}: {self.message}")
                return
            self.abandon(f"superseded by a sync of {target.revision[:7]} ({trigger})")
        info = self._commit(target.revision)
        sync_id = self.s.history.start(
            self.name, target.revision, info.author if info else "", info.subject if info else "", trigger
        )
        self.operation = "Syncing"
        self.s.publish()
        self._flights += 1
        self._flight = InFlight(
            self._flights, self._apply(target, trigger), target, sync_id, trigger, time.monotonic()
        )
        self._step(self._flight)

    def go_on(self, flight: int) -> None:
        """The sync put aside looks again at what it waits for (``Continue``)."""
        if self._flight is not None and self._flight.number == flight:
            self._step(self._flight)

    def abandon(self, why: str) -> None:
        """Give up the sync under way: what it applied stays (tracked by its inventory), the
        waves after the one it waited on are not applied, nothing is pruned; its record says why."""
        flight, self._flight = self._flight, None
        if flight is None:
            return
        flight.steps.close()
        self.operation = "Idle"
        message = f"{why} while waiting for {flight.waiting or 'the cluster'}; the rest of it was not applied, nothing pruned"
        self.s.history.finish(flight.sync_id, "Failed", str(self.health()), message, [])
        self.s.event("warning", self.name, f"sync of {flight.target.revision[:7]} {message}")

    @property
    def in_flight(self) -> bool:
        return self._flight is not None

    def finish(self) -> None:
        """Take the sync under way to its end here (a one-shot command whose next app waits on
        this one: the worker would otherwise hold the wait and this sync both)."""
        if self._flight is not None:
            self._step(self._flight, inline=True)

    def _step(self, flight: InFlight, inline: bool = False) -> None:
        """Take the sync's steps until it waits (put aside, looked at again soon, one-shot
        commands too: other apps sync meanwhile) or ends; ``inline``, until it ends."""
        while True:
            try:
                waiting = next(flight.steps)
            except StopIteration as done:
                outcome: SyncOutcome = done.value
            except KubeError as exc:
                why = (f"interrupted: the cluster stopped answering ({exc.message})" if exc.transient
                       else f"sync failed: {exc}")  # fmt: skip
                outcome = SyncOutcome(self.name, flight.target.revision, (), False, why)
            except BaseException:
                # The agent stopping mid-sync (its pools shut) or a bug: the sync is over all the
                # same; the worker says which, and the stop marks the record interrupted.
                self._flight, self.operation = None, "Idle"
                raise
            else:
                if waiting.what != flight.waiting:
                    self._say_wait(flight, waiting.what)
                if not inline:
                    self.s.schedule(POLL, Continue(self.name, flight.number))
                    return
                time.sleep(POLL)
                continue
            self._flight, self.operation, self.last_sync = None, "Idle", time.time()
            self._conclude(flight, outcome)
            return

    def _say_wait(self, flight: InFlight, what: str) -> None:
        """What the sync waits for, in the app's message; said as an event when a new step starts
        waiting (a wave, a hook), so a watch shows why nothing seems to happen."""
        step = what.split(":", 1)[0]
        if step != flight.waiting.split(":", 1)[0]:
            self.s.event("info", self.name, f"syncing {flight.target.revision[:7]}: waiting for {what}")
        flight.waiting, self.message = what, f"waiting for {what}"
        self.s.publish()

    def _conclude(self, flight: InFlight, outcome: SyncOutcome) -> None:
        """A sync ended: record it, take what it found, set a retry when it failed."""
        target, sync_id, trigger = flight.target, flight.sync_id, flight.trigger
        self._take_results(target, outcome.results)
        applied = {
            r.key
            for r in outcome.results
            if r.action in (Action.CREATED, Action.CONFIGURED, Action.UNCHANGED)
        }
        self.s.ownership.take(target, applied, only=outcome.ok)
        # Health is recorded from the watch cache: every object the sync applied must be in it
        # (a kind this sync watched first may still be listing), or it would read Missing.
        self.s.cache.wait_present(applied)
        if outcome.ok:
            self._succeeded(target, outcome, sync_id, trigger, time.monotonic() - flight.started)
        else:
            self._failed(
                target.revision,
                outcome.message,
                sync_id,
                trigger,
                outcome.results,
                retry=target.ok,
                desired=target,
            )  # a render's problems are in its message: said once
        self._refresh_syncs()
        self._recheck_after_sync()
        if trigger == "rollback" and outcome.ok:
            self.s.event(
                "info", self.name,
                f"rolled back to {target.revision[:7]}: cluster at {target.revision[:7]}, Git at "
                f"{self.git_revision[:7]}; auto-sync paused (undo: resume auto-sync)",
            )  # fmt: skip

    def _apply(self, target: DesiredSet, trigger: str) -> Steps[SyncOutcome]:
        return self.s.syncer.sync_steps(
            target, prune=self.spec.prune,
            namespace=self.spec.created_namespace,
            owner_of=self.s.ownership.owner_of,
            inventory_extra=appchanges.inventory_extra(self.spec, self.s.repo_path, self.s.repo.git_dir),
            # A retry carries on a sync that did not end well: its hooks run again, as the
            # operation they belong to never completed.
            rebuild=self.deployed_revision is not None, always_hooks=trigger in ("manual", "retry"),
        )  # fmt: skip

    def _recheck_after_sync(self) -> None:
        """Watch events are set aside while a sync runs (they are mostly its own): objects that
        someone else changed meanwhile get their drift check now."""
        deployed = self.deployed
        if deployed is None or not self.automated:
            return
        changed = []
        for key in deployed.objects:
            live = self.s.cache.get(key)
            known = self.s.dry.verified.resource_version(key)
            if live is not None and known is not None and live["metadata"].get("resourceVersion") != known:
                changed.append(key)
        if changed:
            self.s.schedule(0.0, Drift(self.name, frozenset(changed)))

    def _succeeded(
        self, target: DesiredSet, outcome: SyncOutcome, sync_id: int, trigger: str, elapsed: float
    ) -> None:
        self.deployed, self.deployed_revision, self.record_id = target, target.revision, sync_id
        self.failure = None
        self.applied_all_but_shared = False
        self.drift.clear()
        self.last_result, self.message = "Succeeded", outcome.message
        health = self.health()
        recorded = object_outcomes(outcome.results, target, self.s.cache.get)
        self.s.history.finish(sync_id, "Succeeded", str(health), outcome.message, recorded)
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
        results = list(results)
        refused = [r for r in results if r.action == Action.FAILED]
        # Everything applied but objects other apps own: what it defines was applied all the same.
        self.applied_all_but_shared = bool(refused) and all(
            r.comparison is not None and r.comparison.verdict == Verdict.CONFLICT for r in refused
        )
        failure = self.failure = self._record_failure(
            self.failure, revision, message, sync_id, results, desired
        )
        self._retry_token += 1  # a retry scheduled before this failure is void now
        retry_in = None
        if retry and self.automated and self.settings.auto_sync and not self.settings.paused:
            retry_in = failure.schedule_retry(self.spec.retry_interval)
            self.s.schedule(retry_in, Retry(self.name, revision, self._retry_token))
        else:
            failure.retry_at = None
        self.s.event("error", self.name, failure_words(failure, trigger, self._said_failure, retry_in))
        self._said_failure = (revision, message)

    def _record_failure(
        self, previous: Failure | None, revision: str, message: str, sync_id: int,
        results: Iterable[ObjectResult], desired: DesiredSet | None,
    ) -> Failure:  # fmt: skip
        """One history record per failure: the same failure again is one more attempt of it."""
        if previous is not None and previous.revision == revision and previous.message == message:
            self.s.history.fold(sync_id, previous.record_id)
            previous.attempts += 1
            return previous
        recorded = object_outcomes(results, desired, self.s.cache.get)
        self.s.history.finish(sync_id, "Failed", str(self.health()), message, recorded)
        return Failure(revision, message, sync_id)

    def retry(self, revision: str, token: int) -> None:
        """The backoff after a failure ran out: sync again, if that target is still wanted."""
        failure = self.failure
        if token != self._retry_token or failure is None or failure.revision != revision:
            return
        if self.target is None or self.target.revision != revision or self.settings.paused:
            return
        if self.automated and self.settings.auto_sync:
            self.sync("retry")

    def redeploy(self) -> None:
        """The cluster was replaced by an empty one: what was deployed is gone, so the target
        (Git's revision, or the rollback's) is synced again, auto-sync or not. Not an app Git
        suspends (Flux never reconciles it), nor one that never deployed and waits for a sync."""
        if self.removed or self.config_problems or self.suspended:
            return
        if self.deployed_revision is None and not self.settings.auto_sync:
            return
        self.abandon("the cluster was replaced")
        self.deployed = None
        self.failure = None
        self.target = self.target or self.render(self.settings.paused_at or self.git_revision)
        self.sync("cluster")

    def catch_up(self) -> None:
        """The cluster came back: a target that failed (or never synced) is synced now, without
        waiting for its backoff; a deployed app gets its drift checked (it may have missed some)."""
        if not (self.automated and self.settings.auto_sync) or self.settings.paused or self.removed:
            return
        target = self.target
        if target is None or self.config_problems:
            return
        if self.failure is not None or self.deployed_revision != target.revision:
            self.sync("retry")
        elif self.deployed is not None:
            self.check_drift(tuple(self.deployed.objects))

    def assess(self) -> None:
        """Compare Git with the cluster by dry-run; change nothing (auto-sync off, or one-shot)."""
        target = self.target
        if target is None or not target.ok:
            return
        self.s.syncer.watch_kinds((o.manifest["apiVersion"], o.key.kind) for o in target.objects.values())
        found = self.s.dry.compare_all(
            target,
            self.s.cache.get,
            self.s.ownership.owner_of,
            self.s.syncer.pool,
            self.spec.created_namespace,
        )
        self.comparisons.update(found)

    def _take_results(self, target: DesiredSet, results: Iterable[ObjectResult]) -> None:
        for result in results:
            if result.comparison is not None and result.key in target.objects:
                self.comparisons[result.key] = result.comparison

    # -- helpers ----------------------------------------------------------------------------------

    def _config_message(self) -> str:
        """Its entry's problems as one message, each naming no app where it is this one (the
        message is said of this app already)."""
        return "; ".join(str(dataclasses.replace(p, object="") if p.object == self.name else p)
                         for p in self.config_problems)  # fmt: skip

    def _commit(self, revision: str) -> CommitInfo | None:
        try:
            return self.s.repo.commit_info(revision)
        except EnvRepoError:
            return None

    def _refresh_syncs(self) -> None:
        self.syncs = tuple(self.s.history.records(self.name, limit=SYNC_RECORDS, objects=False))

    def _unchanged_by(self, head: str) -> bool:
        """Whether a commit leaves the app's desired objects exactly as last synced (and
        nothing about it calls for a sync: no drift to undo, auto-sync on)."""
        target = self.target
        if (
            target is None or not target.ok or self.last_result != "Succeeded"
            or self.drift or not self.settings.auto_sync or not self.automated
        ):  # fmt: skip
            return False
        return appchanges.untouched_by(self.s.repo, self.spec, target.revision, head)


def _same_content(one: DesiredSet, other: DesiredSet) -> bool:
    return one is other or (one.marked, one.rendered.hooks, one.rendered.problems) == (
        other.marked,
        other.rendered.hooks,
        other.rendered.problems,
    )


def _repointed(desired: DesiredSet, revision: str) -> DesiredSet:
    """The same objects, said to be at another revision (a commit that did not touch them)."""
    rendered: Rendered = dataclasses.replace(desired.rendered, revision=revision)
    return DesiredSet(rendered, desired.objects, desired.marked)


@dataclasses.dataclass
class InFlight:
    """A sync under way: its remaining steps, and what it waits for now."""

    number: int
    steps: Steps[SyncOutcome]
    target: DesiredSet
    sync_id: int
    trigger: str
    started: float
    waiting: str = ""
