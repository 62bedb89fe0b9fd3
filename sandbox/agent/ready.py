"""A Flux app's Ready condition, worded as kustomize-controller and helm-controller word it, so
``status`` reads as ``flux get kustomizations`` / ``flux get helmreleases`` would.

Pure: it reads one app's state. The sandbox plays both controllers, so the condition is
derived from what it did (rendered, waited, applied, assessed health), not read from objects.
"""

from __future__ import annotations

from collections.abc import Mapping

from sandbox.agent.snapshot import AppState, Ready, ReadyStatus
from sandbox.manifest.appkinds import FLUX_APP_KINDS
from sandbox.model import Health, ObjectKey, Problem, SyncStatus

WAITING = "waiting for dependsOn: "  # the controller's message while dependencies are not Ready
DEPENDENCY_FAILED = "not synced: it depends on "  # ... and once one of them failed
WAITING_PARENT = "waiting for its parent to apply it: "  # a Flux app exists once its parent applied it
PARENT_FAILED = "not synced: its parent did not apply it: "
BLOCKED = (WAITING, DEPENDENCY_FAILED, WAITING_PARENT, PARENT_FAILED)  # another app's doing, not its own


def _said(problem: Problem, app: str) -> str:
    """A problem as a Ready message: what is wrong first (a table column shows the start), then
    where: its file, and its object when that is not the app itself."""
    where = ", ".join(w for w in (problem.file, "" if problem.object == app else problem.object) if w)
    return f"{problem.message} ({where})" if where else problem.message


def flux_ready(
    app: AppState, branch: str, shown: Mapping[str, str] | None = None, now: float | None = None
) -> Ready | None:
    """The app's Ready condition, or None for an app no Flux object defines; ``shown`` names
    the apps as the table does (by id when not given); ``now``: when it is read (a health
    check gives up ``health_timeout`` after the sync, as the controllers' spec.timeout)."""
    if app.kind not in FLUX_APP_KINDS:
        return None
    helm = app.kind == "HelmRelease"
    if app.problems:
        named = next((p.reason for p in app.problems if p.reason), "")
        reason = named or ("InstallFailed" if helm else "BuildFailed")
        return Ready(ReadyStatus.FALSE, reason, "; ".join(_said(p, app.name) for p in app.problems))
    for said in (WAITING, DEPENDENCY_FAILED):
        if app.message.startswith(said):
            return Ready(
                ReadyStatus.FALSE, "DependencyNotReady", f"dependencies not ready: {app.message[len(said) :]}"
            )
    if app.message.startswith((WAITING_PARENT, PARENT_FAILED)) and app.deployed_revision is None:
        return Ready(ReadyStatus.UNKNOWN, "Progressing", app.message)  # not in the cluster yet, as in Flux
    if app.last_result == "Failed":
        return Ready(ReadyStatus.FALSE, "InstallFailed" if helm else "ReconciliationFailed", app.message)
    if not app.auto_sync and app.deployed_revision is None and app.operation == "Idle":
        return Ready(ReadyStatus.UNKNOWN, "Progressing", "suspended: not reconciled yet")  # `flux suspend`
    if app.operation == "Idle" and app.deployed_revision is None and not app.last_result:
        # Nothing reconciles it yet: no agent runs, or none has come to it.
        return Ready(
            ReadyStatus.UNKNOWN, "Progressing", "not reconciled yet (`sync` or `watch` reconciles it)"
        )
    if app.operation != "Idle" or app.deployed_revision is None:
        return Ready(ReadyStatus.UNKNOWN, "Progressing", "Reconciliation in progress")
    revision = f"{branch}@sha1:{app.deployed_revision}"
    applied = app.deployed_revision == app.target_revision
    # Drift leaves Ready as it is (the revision is applied): said beside it, as the reason it is
    # OutOfSync. Seen from another process (status), drift is the objects that differ from the
    # revision applied, as the agent that saw the change counts it.
    drifted = len(app.drift) or (
        sum(1 for o in app.objects if o.sync == SyncStatus.OUT_OF_SYNC)
        if applied and app.sync is not SyncStatus.SYNCED
        else 0
    )
    drift = (f"; {drifted} object(s) changed in the cluster since, left as they are "
             f"({'driftDetection is not enabled' if helm else 'self-heal is off'})" if drifted else "")  # fmt: skip
    if app.ready_on_apply:  # kustomize-controller checks no health without spec.wait or healthChecks
        if app.deployed_revision == app.target_revision:
            return Ready(ReadyStatus.TRUE, "ReconciliationSucceeded", f"Applied revision: {revision}{drift}")
        return Ready(ReadyStatus.UNKNOWN, "Progressing", f"{app.sync}: a new revision is not applied yet")
    health = _health_ready(app, app.health_below(shown), now)
    if health is not None:
        return health
    if app.sync is not SyncStatus.SYNCED and not (drifted and applied):
        return Ready(ReadyStatus.UNKNOWN, "Progressing", f"{app.sync}: a new revision is not applied yet")
    if helm:
        # helm-controller's words: the first release is installed, every later one upgraded.
        releases = sum(1 for r in app.syncs if r.result in ("Succeeded", "Degraded") and r.trigger != "drift")
        verb = "upgrade" if releases > 1 else "install"
        return Ready(ReadyStatus.TRUE, f"{verb.capitalize()}Succeeded",
                     f"Helm {verb} succeeded for release {app.namespace}/{app.release} at {revision}{drift}")  # fmt: skip
    return Ready(ReadyStatus.TRUE, "ReconciliationSucceeded", f"Applied revision: {revision}{drift}")


def _timed_out(app: AppState, now: float | None) -> bool:
    return bool(now and app.health_timeout and app.last_sync and now - app.last_sync > app.health_timeout)


def _check_name(key: ObjectKey) -> str:
    """An object as the controllers' health check names it: Kind/namespace/name."""
    return "/".join(p for p in (key.kind, key.namespace, key.name) if p)


def _failed_checks(app: AppState) -> str:
    """The objects that failed their health check, each with why (not the sync's summary)."""
    failed = [f"{_check_name(o.key)}: {o.health_message or o.health}" for o in app.objects
              if o.health is Health.DEGRADED]  # fmt: skip
    return ("health check failed: " + "; ".join(failed[:3])) if failed else ""


def _health_ready(app: AppState, below: str, now: float | None) -> Ready | None:
    """Ready as the health check decides it, or None once everything is healthy (``below``: the
    app below it whose health rolled up, said first)."""
    if app.health is Health.DEGRADED:
        return Ready(
            ReadyStatus.FALSE,
            "HealthCheckFailed",
            below or _failed_checks(app) or app.message or "health check failed",
        )
    if app.health is Health.PROGRESSING and _timed_out(app, now):
        waited = ", ".join(f"{_check_name(o.key)} status: 'InProgress'" for o in app.objects
                           if o.health is Health.PROGRESSING)  # fmt: skip
        return Ready(ReadyStatus.FALSE, "HealthCheckFailed",
                     f"health check failed after {app.health_timeout:g}s: timeout waiting for: [{below or waited}]")  # fmt: skip
    if app.health is Health.PROGRESSING:
        return Ready(ReadyStatus.UNKNOWN, "Progressing", below or "Reconciliation in progress")
    if app.health is not Health.HEALTHY:  # Unknown, Missing
        return Ready(ReadyStatus.UNKNOWN, "Progressing", below or f"its objects are {app.health}")
    return None
