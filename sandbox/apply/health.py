"""Health of live Kubernetes objects, assessed the way Argo CD's gitops-engine `pkg/health` does.

One small function per kind, looked up by (API group, kind). Each reads the object as the API
server returns it (a plain dict with `status`) and never raises: a status of the wrong shape
gives Unknown with a message saying what was wrong, so one odd object cannot stop the engine.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from sandbox.apply.crhealth import CUSTOM_RESOURCE_CHECKS
from sandbox.apply.statusfields import (
    Malformed,
    condition,
    condition_text,
    field_at,
    generation_observed,
    group_of,
    int_at,
    is_true,
    list_at,
    mapping_at,
    mappings_at,
    opt_int_at,
    str_at,
    time_at,
)
from sandbox.model import Health, HealthResult, Manifest, worst_health


def assess(live: Manifest | None) -> HealthResult:
    """The health of one live object; None (not in the cluster) is Missing."""
    if live is None:
        return HealthResult(Health.MISSING, "Object does not exist in the cluster")
    try:
        if not isinstance(live, dict):
            raise Malformed(f"expected an object, got {type(live).__name__}")
        # Argo checks this before any kind: whatever the status says, the object is going away.
        if field_at(live, "metadata", "deletionTimestamp"):
            return HealthResult(Health.PROGRESSING, "Pending deletion")
        check = _CHECKS.get((group_of(live), str_at(live, "kind")), _generic)
        return check(live)
    except Malformed as exc:
        return HealthResult(Health.UNKNOWN, f"Malformed object: {exc}")
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        # Last line of defence: a shape no accessor anticipated must still not crash the caller.
        return HealthResult(Health.UNKNOWN, f"Cannot assess health: {type(exc).__name__}: {exc}")


def app_health(results: Iterable[HealthResult]) -> Health:
    """An app's health: the worst of its objects' (Healthy when it has none)."""
    return worst_health(tuple(result.status for result in results))


# ---------------------------------------------------------------------------------------------
# Workloads


def _deployment(live: Manifest) -> HealthResult:
    if field_at(live, "spec", "paused") is True:
        return HealthResult(Health.SUSPENDED, "Deployment is paused")
    if not generation_observed(live):
        return HealthResult(
            Health.PROGRESSING, "Waiting for rollout: observed generation is behind the desired generation"
        )
    progressing = condition(live, "Progressing")
    if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        detail = str_at(progressing, "message")
        return HealthResult(
            Health.DEGRADED, "Deployment exceeded its progress deadline" + (f": {detail}" if detail else "")
        )
    desired = opt_int_at(live, "spec", "replicas")
    replicas = int_at(live, "status", "replicas")
    updated = int_at(live, "status", "updatedReplicas")
    available = int_at(live, "status", "availableReplicas")
    # Absent spec.replicas only happens on partial objects (the API server defaults it); Argo skips it too.
    if desired is not None and updated < desired:
        return HealthResult(
            Health.PROGRESSING, f"Waiting for rollout: {updated} of {desired} replicas have been updated"
        )
    if replicas > updated:
        msg = f"Waiting for rollout: {replicas - updated} old replicas are pending termination"
        return HealthResult(Health.PROGRESSING, msg)
    if available < updated:
        msg = f"Waiting for rollout: {available} of {updated} updated replicas are available"
        return HealthResult(Health.PROGRESSING, msg)
    return HealthResult(Health.HEALTHY)


def _statefulset(live: Manifest) -> HealthResult:
    observed = int_at(live, "status", "observedGeneration")
    # Unlike Deployments, 0 counts as unobserved: the controller has not looked at it at all yet.
    if observed == 0 or int_at(live, "metadata", "generation") > observed:
        return HealthResult(Health.PROGRESSING, "Waiting for statefulset spec update to be observed")
    desired = opt_int_at(live, "spec", "replicas")
    ready = int_at(live, "status", "readyReplicas")
    updated = int_at(live, "status", "updatedReplicas")
    if desired is not None and ready < desired:
        return HealthResult(Health.PROGRESSING, f"Waiting for {desired - ready} pods to be ready")
    strategy = mapping_at(live, "spec", "updateStrategy")
    strategy_type = str_at(strategy, "type")
    if strategy_type == "RollingUpdate" and field_at(strategy, "rollingUpdate") is not None:
        # With a partition only ordinals >= partition are meant to update, so fewer updated pods is done.
        partition = opt_int_at(strategy, "rollingUpdate", "partition")
        if desired is not None and partition is not None and updated < desired - partition:
            return HealthResult(
                Health.PROGRESSING,
                f"Waiting for partitioned roll out to finish: {updated} of {desired - partition} "
                "new pods have been updated",
            )
        return HealthResult(Health.HEALTHY, f"Partitioned roll out complete: {updated} pods updated")
    if strategy_type == "OnDelete":
        # Pods only change when someone deletes them, so revisions differing is the expected steady state.
        return HealthResult(Health.HEALTHY, f"StatefulSet has {ready} ready pods")
    update_rev = str_at(live, "status", "updateRevision")
    if update_rev != str_at(live, "status", "currentRevision"):
        return HealthResult(
            Health.PROGRESSING,
            f"Waiting for rolling update to complete: {updated} pods at revision {update_rev}",
        )
    current = int_at(live, "status", "currentReplicas")
    return HealthResult(Health.HEALTHY, f"Rolling update complete: {current} pods at revision {update_rev}")


def _daemonset(live: Manifest) -> HealthResult:
    if not generation_observed(live):
        return HealthResult(
            Health.PROGRESSING, "Waiting for rollout: observed generation is behind the desired generation"
        )
    desired = int_at(live, "status", "desiredNumberScheduled")
    updated = int_at(live, "status", "updatedNumberScheduled")
    available = int_at(live, "status", "numberAvailable")
    if str_at(live, "spec", "updateStrategy", "type") == "OnDelete":
        return HealthResult(Health.HEALTHY, f"{updated} of {desired} pods have been updated (OnDelete)")
    if updated < desired:
        msg = f"Waiting for rollout: {updated} of {desired} pods have been updated"
        return HealthResult(Health.PROGRESSING, msg)
    if available < desired:
        msg = f"Waiting for rollout: {available} of {desired} pods are available"
        return HealthResult(Health.PROGRESSING, msg)
    return HealthResult(Health.HEALTHY)


def _replicaset(live: Manifest) -> HealthResult:
    if not generation_observed(live):
        return HealthResult(
            Health.PROGRESSING, "Waiting for rollout: observed generation is behind the desired generation"
        )
    failure = condition(live, "ReplicaFailure")
    if is_true(failure):
        return HealthResult(Health.DEGRADED, condition_text(failure) or "ReplicaSet failed to create pods")
    desired = opt_int_at(live, "spec", "replicas")
    available = int_at(live, "status", "availableReplicas")
    if desired is not None and available < desired:
        msg = f"Waiting for rollout: {available} of {desired} replicas are available"
        return HealthResult(Health.PROGRESSING, msg)
    return HealthResult(Health.HEALTHY)


# ---------------------------------------------------------------------------------------------
# Pods


def _is_error_reason(reason: str) -> bool:
    # The kubelet's failure reasons follow these shapes: ErrImagePull, CreateContainerConfigError,
    # CrashLoopBackOff, ImagePullBackOff. Plain waiting (ContainerCreating, PodInitializing) does not.
    return reason.startswith("Err") or reason.endswith("Error") or reason.endswith("BackOff")


def _terminated_reason(name: str, terminated: dict[str, Any]) -> str:
    message = str_at(terminated, "message")
    if message:
        return message
    reason = str_at(terminated, "reason")
    if reason == "OOMKilled":
        return f"container {name!r} was OOMKilled"
    code = int_at(terminated, "exitCode")
    if code != 0:
        return f"container {name!r} failed with exit code {code}"
    return ""


def _pod(live: Manifest) -> HealthResult:
    # The API server defaults restartPolicy to Always, so absent means Always, not "finite".
    restart_policy = str_at(live, "spec", "restartPolicy") or "Always"
    init_statuses = mappings_at(live, "status", "initContainerStatuses")
    statuses = mappings_at(live, "status", "containerStatuses")
    pod_message = str_at(live, "status", "message")

    # Only long-running pods: a hook pod (Never/OnFailure) stuck pulling its image must stay
    # Progressing, or Argo would fail the hook before the image shows up (as gitops-engine notes).
    # Init containers are included (Argo looks only at app containers) because an init container
    # in CrashLoopBackOff otherwise leaves the pod Pending, i.e. Progressing, forever.
    if restart_policy == "Always":
        problems = []
        for ctr in init_statuses + statuses:
            waiting = mapping_at(ctr, "state", "waiting")
            reason = str_at(waiting, "reason")
            if waiting and _is_error_reason(reason):
                detail = str_at(waiting, "message")
                name = str_at(ctr, "name")
                problems.append(f"container {name!r}: {reason}" + (f": {detail}" if detail else ""))
        if problems:
            return HealthResult(Health.DEGRADED, "; ".join(problems))

    phase = str_at(live, "status", "phase")
    if phase == "Pending":
        scheduled = condition(live, "PodScheduled")
        if scheduled is not None and scheduled.get("status") == "False":
            return HealthResult(Health.PROGRESSING, condition_text(scheduled) or "Waiting to be scheduled")
        return HealthResult(
            Health.PROGRESSING, pod_message or _waiting_text(init_statuses + statuses) or "Pod is pending"
        )
    if phase == "Succeeded":
        return HealthResult(Health.HEALTHY, pod_message)
    if phase == "Failed":
        if pod_message:
            return HealthResult(Health.DEGRADED, pod_message)
        for ctr in init_statuses + statuses:
            terminated = mapping_at(ctr, "state", "terminated")
            reason = _terminated_reason(str_at(ctr, "name"), terminated) if terminated else ""
            if reason:
                return HealthResult(Health.DEGRADED, reason)
        return HealthResult(Health.DEGRADED, "Pod failed")
    if phase == "Running":
        if restart_policy != "Always":
            # Finite pods (usually hooks) are not done until they succeed.
            return HealthResult(Health.PROGRESSING, pod_message or "Pod is running to completion")
        if _pod_ready(live, statuses):
            return HealthResult(Health.HEALTHY, pod_message)
        for ctr in statuses:
            last = mapping_at(ctr, "lastState", "terminated")
            if last:
                name = str_at(ctr, "name")
                why = _terminated_reason(name, last) or f"container {name!r} restarted"
                return HealthResult(Health.DEGRADED, pod_message or f"Not ready: {why}")
        return HealthResult(Health.PROGRESSING, pod_message or "Waiting for containers to become ready")
    return HealthResult(Health.UNKNOWN, pod_message or f"Pod phase is {phase or 'not reported'}")


def _waiting_text(statuses: list[dict[str, Any]]) -> str:
    """What a container the kubelet has not started waits for, when it says (a volume it cannot
    mount: ContainerCreating with the FailedMount message)."""
    for ctr in statuses:
        waiting = mapping_at(ctr, "state", "waiting")
        if detail := str_at(waiting, "message"):
            return f"container {str_at(ctr, 'name')!r}: {str_at(waiting, 'reason')}: {detail}"
    return ""


def _pod_ready(live: Manifest, statuses: list[dict[str, Any]]) -> bool:
    ready = condition(live, "Ready")
    if ready is not None:
        return is_true(ready)
    # Without a Ready condition (partial objects), fall back to every container reporting ready.
    return bool(statuses) and all(ctr.get("ready") is True for ctr in statuses)


# ---------------------------------------------------------------------------------------------
# Batch


def _job(live: Manifest) -> HealthResult:
    # Conditions count only when True: a resumed Job keeps a Suspended=False condition while it
    # runs again, which Argo's check (type only) would report as Healthy.
    failed = condition(live, "Failed")
    if is_true(failed):
        return HealthResult(Health.DEGRADED, condition_text(failed) or "Job failed")
    complete = condition(live, "Complete")
    if is_true(complete):
        return HealthResult(Health.HEALTHY, str_at(complete, "message") or "Job completed")
    if is_true(condition(live, "Suspended")) or field_at(live, "spec", "suspend") is True:
        return HealthResult(Health.SUSPENDED, "Job is suspended")
    active, succeeded = int_at(live, "status", "active"), int_at(live, "status", "succeeded")
    return HealthResult(Health.PROGRESSING, f"Job is running: {active} active, {succeeded} succeeded")


def _cronjob(live: Manifest) -> HealthResult:
    # Argo's rules (resource_customizations/batch/CronJob/health.lua): an active run or a run that
    # never succeeded yet is Healthy, because the status cannot tell "not yet" from "never will".
    if field_at(live, "spec", "suspend") is True:
        return HealthResult(Health.SUSPENDED, "CronJob is suspended")
    if field_at(live, "status") is None:
        return HealthResult(Health.PROGRESSING, "Waiting for CronJob")
    last_schedule = time_at(live, "status", "lastScheduleTime")
    if last_schedule is None:
        return HealthResult(Health.HEALTHY, "CronJob has not been scheduled yet")
    last_success = time_at(live, "status", "lastSuccessfulTime")
    if last_success is None:
        return HealthResult(Health.HEALTHY, "CronJob has never completed successfully; it may not be healthy")
    if list_at(live, "status", "active"):
        return HealthResult(Health.HEALTHY, "A job is running; the last execution may not have succeeded")
    if last_success < last_schedule:
        return HealthResult(Health.DEGRADED, "CronJob has not completed its last execution successfully")
    return HealthResult(Health.HEALTHY, "CronJob has completed its last execution successfully")


# ---------------------------------------------------------------------------------------------
# Core, networking, autoscaling, API machinery


def _pvc(live: Manifest) -> HealthResult:
    phase = str_at(live, "status", "phase")
    if phase == "Bound":
        return HealthResult(Health.HEALTHY)
    if phase == "Pending":
        # The class says where to look: one no provisioner serves (its chart not installed)
        # keeps the claim Pending for good. The sandbox provisions its default class, standard.
        wanted = str_at(live, "spec", "storageClassName")
        if (volume := str_at(live, "spec", "volumeName")) and wanted:
            # Bound by name, a claim takes its volume only when their classes match; a claim
            # written with no class gets the cluster's default one when it is created.
            return HealthResult(Health.PROGRESSING, (
                f"Waiting for the claim to be bound to volume {volume}: it binds only if that volume's "
                f"storageClassName is {wanted} too (a claim written without one gets the cluster's default "
                "class; storageClassName: \"\" binds it to a volume of no class)"))  # fmt: skip
        of = f" of StorageClass {wanted}: it binds once a provisioner of that class runs" if wanted else ""
        return HealthResult(Health.PROGRESSING, f"Waiting for the claim to be bound to a volume{of}")
    if phase == "Lost":
        return HealthResult(Health.DEGRADED, "The claim lost its underlying volume")
    return HealthResult(Health.UNKNOWN, f"Claim phase is {phase or 'not reported'}")


def _has_lb_ingress(live: Manifest) -> bool:
    return bool(list_at(live, "status", "loadBalancer", "ingress"))


def _service(live: Manifest) -> HealthResult:
    if str_at(live, "spec", "type") != "LoadBalancer":
        return HealthResult(Health.HEALTHY)
    if _has_lb_ingress(live):
        return HealthResult(Health.HEALTHY)
    return HealthResult(Health.PROGRESSING, "Waiting for the load balancer to be assigned an address")


def _ingress(live: Manifest) -> HealthResult:
    if _has_lb_ingress(live):
        return HealthResult(Health.HEALTHY)
    return HealthResult(Health.PROGRESSING, "Waiting for the ingress controller to assign an address")


# (type, reason) pairs as gitops-engine lists them; the first condition matching either set decides.
_HPA_DEGRADED = {
    ("AbleToScale", "FailedGetScale"),
    ("AbleToScale", "FailedUpdateScale"),
    ("ScalingActive", "FailedGetResourceMetric"),
    ("ScalingActive", "InvalidSelector"),
}
_HPA_HEALTHY = {
    ("AbleToScale", "SucceededRescale"),
    ("ScalingLimited", "DesiredWithinRange"),
    ("ScalingLimited", "TooFewReplicas"),
    ("ScalingLimited", "TooManyReplicas"),
    ("ScalingActive", "ScalingDisabled"),
}
_HPA_CONDITIONS_ANNOTATION = "autoscaling.alpha.kubernetes.io/conditions"


def _hpa(live: Manifest) -> HealthResult:
    conditions = mappings_at(live, "status", "conditions")
    if not conditions:
        # autoscaling/v1 has no status.conditions; the controller keeps them in an annotation.
        raw = str_at(live, "metadata", "annotations", _HPA_CONDITIONS_ANNOTATION)
        if raw:
            try:
                parsed = json.loads(raw)
            except ValueError as exc:
                raise Malformed(f"annotation {_HPA_CONDITIONS_ANNOTATION} is not JSON") from exc
            conditions = mappings_at({"c": parsed}, "c")
    for cond in conditions:
        pair = (str_at(cond, "type"), str_at(cond, "reason"))
        if pair in _HPA_DEGRADED:
            return HealthResult(Health.DEGRADED, str_at(cond, "message") or f"{pair[0]}: {pair[1]}")
        if pair in _HPA_HEALTHY:
            return HealthResult(Health.HEALTHY, str_at(cond, "message"))
    return HealthResult(Health.PROGRESSING, "Waiting to autoscale")


def _namespace(live: Manifest) -> HealthResult:
    phase = str_at(live, "status", "phase")
    if phase == "Active":
        return HealthResult(Health.HEALTHY)
    if phase == "Terminating":
        return HealthResult(Health.PROGRESSING, "Namespace is terminating")
    return HealthResult(Health.UNKNOWN, f"Namespace phase is {phase or 'not reported'}")


def _apiservice(live: Manifest) -> HealthResult:
    available = condition(live, "Available")
    if available is None:
        return HealthResult(Health.PROGRESSING, "Waiting to be processed")
    text = condition_text(available)
    if is_true(available):
        return HealthResult(Health.HEALTHY, text)
    return HealthResult(Health.PROGRESSING, text or "APIService is not available yet")


def _crd(live: Manifest) -> HealthResult:
    conditions = mappings_at(live, "status", "conditions")
    if not conditions:
        return HealthResult(Health.PROGRESSING, "Status conditions not found")
    by_type = {str_at(c, "type"): c for c in conditions}
    terminating = by_type.get("Terminating")
    names = by_type.get("NamesAccepted")
    established = by_type.get("Established")
    non_structural = by_type.get("NonStructuralSchema")
    # Same precedence as gitops-engine: deletion first, then why it cannot be served.
    if is_true(terminating):
        return HealthResult(Health.PROGRESSING, f"CRD is being terminated: {str_at(terminating, 'message')}")
    if names is not None and names.get("status") == "False":
        return HealthResult(Health.DEGRADED, f"CRD names have not been accepted: {str_at(names, 'message')}")
    if not is_true(established):
        why = str_at(established, "message") if established is not None else "no Established condition"
        return HealthResult(Health.DEGRADED, f"CRD is not established: {why}")
    if is_true(non_structural):
        return HealthResult(Health.DEGRADED, f"Schema violations found: {str_at(non_structural, 'message')}")
    return HealthResult(Health.HEALTHY, "CRD is established")


def _generic(live: Manifest) -> HealthResult:
    """Kinds without a rule of their own: kstatus' generic rules, then a Ready condition.

    As kstatus (sigs.k8s.io/cli-utils): a generation the controller has not observed yet is
    in progress, Reconciling=True is in progress, Stalled=True has failed; nothing said is
    current. A Ready condition, which kstatus leaves to per-kind readers, is read after those.
    """
    # Lenient about shape: a custom resource's status follows its own schema, which we do not know.
    found = live.get("status")
    status: dict[str, Any] = found if isinstance(found, dict) else {}
    generation = field_at(live, "metadata", "generation")
    observed = status.get("observedGeneration")
    if _is_int(generation) and _is_int(observed) and observed != generation:
        return HealthResult(
            Health.PROGRESSING,
            f"{live.get('kind')} generation is {generation}, but latest observed generation is {observed}",
        )
    conditions = status.get("conditions")
    by_type: dict[str, dict[str, Any]] = {}
    if isinstance(conditions, list):
        by_type = {str(c.get("type")): c for c in conditions if isinstance(c, dict)}
    for kind, health in (("Reconciling", Health.PROGRESSING), ("Stalled", Health.DEGRADED)):
        cond = by_type.get(kind)
        if cond is not None and cond.get("status") == "True":
            return HealthResult(health, condition_text(cond) or f"{kind} condition is True")
    ready = by_type.get("Ready")
    if ready is None:
        return HealthResult(Health.HEALTHY)  # kstatus: "current"; nothing worth saying beside ♥
    text = condition_text(ready)
    if ready.get("status") == "True":
        return HealthResult(Health.HEALTHY, text)
    if ready.get("status") == "False":
        return HealthResult(Health.DEGRADED, text or "Ready condition is False")
    if ready.get("status") == "Unknown":
        return HealthResult(Health.PROGRESSING, text or "Ready condition is Unknown")
    raise Malformed(f"Ready condition status should be True, False or Unknown, got {ready.get('status')!r}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_CHECKS: dict[tuple[str, str], Callable[[Manifest], HealthResult]] = {
    ("apps", "Deployment"): _deployment,
    ("apps", "StatefulSet"): _statefulset,
    ("apps", "DaemonSet"): _daemonset,
    ("apps", "ReplicaSet"): _replicaset,
    ("", "Pod"): _pod,
    ("", "PersistentVolumeClaim"): _pvc,
    ("", "Service"): _service,
    ("", "Namespace"): _namespace,
    ("batch", "Job"): _job,
    ("batch", "CronJob"): _cronjob,
    ("networking.k8s.io", "Ingress"): _ingress,
    ("extensions", "Ingress"): _ingress,
    ("autoscaling", "HorizontalPodAutoscaler"): _hpa,
    ("apiregistration.k8s.io", "APIService"): _apiservice,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): _crd,
    **CUSTOM_RESOURCE_CHECKS,
}
