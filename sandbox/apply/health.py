"""Health of live Kubernetes objects, assessed the way Argo CD's gitops-engine `pkg/health` does.

One small function per kind, looked up by (API group, kind). Each reads the object as the API
server returns it (a plain dict with `status`) and never raises: a status of the wrong shape
gives Unknown with a message saying what was wrong, so one odd object cannot stop the engine.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeGuard

from sandbox.model import Health, Manifest, worst_health


@dataclass(frozen=True)
class HealthResult:
    status: Health
    message: str = ""  # short human reason, e.g. "Waiting for rollout: 1 of 3 updated replicas are available"


def assess(live: Manifest | None) -> HealthResult:
    """The health of one live object; None (not in the cluster) is Missing."""
    if live is None:
        return HealthResult(Health.MISSING, "Object does not exist in the cluster")
    try:
        if not isinstance(live, dict):
            raise _Malformed(f"expected an object, got {type(live).__name__}")
        # Argo checks this before any kind: whatever the status says, the object is going away.
        if _get(live, "metadata", "deletionTimestamp"):
            return HealthResult(Health.PROGRESSING, "Pending deletion")
        check = _CHECKS.get((_group(live), _str(live, "kind")), _generic)
        return check(live)
    except _Malformed as exc:
        return HealthResult(Health.UNKNOWN, f"Malformed object: {exc}")
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        # Last line of defence: a shape no accessor anticipated must still not crash the caller.
        return HealthResult(Health.UNKNOWN, f"Cannot assess health: {type(exc).__name__}: {exc}")


def app_health(results: Iterable[HealthResult]) -> Health:
    """An app's health: the worst of its objects' (Healthy when it has none)."""
    return worst_health(tuple(result.status for result in results))


# ---------------------------------------------------------------------------------------------
# Safe accessors. Missing fields read as None / empty / 0 (as Go's typed structs see them);
# fields present with the wrong type raise _Malformed, which assess() turns into Unknown.


class _Malformed(Exception):
    pass


def _get(obj: Any, *path: str) -> Any:
    node = obj
    walked: list[str] = []
    for part in path:
        if node is None:
            return None
        if not isinstance(node, dict):
            where = ".".join(walked) or "object"
            raise _Malformed(f"{where} should be a mapping, got {type(node).__name__}")
        node = node.get(part)
        walked.append(part)
    return node


def _map(obj: Any, *path: str) -> dict[str, Any]:
    value = _get(obj, *path)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Malformed(f"{'.'.join(path)} should be a mapping, got {type(value).__name__}")
    return value


def _list(obj: Any, *path: str) -> list[Any]:
    value = _get(obj, *path)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Malformed(f"{'.'.join(path)} should be a list, got {type(value).__name__}")
    return value


def _maps(obj: Any, *path: str) -> list[dict[str, Any]]:
    items = _list(obj, *path)
    for item in items:
        if not isinstance(item, dict):
            raise _Malformed(f"{'.'.join(path)} should hold mappings, got {type(item).__name__}")
    return items


def _opt_int(obj: Any, *path: str) -> int | None:
    value = _get(obj, *path)
    # bool is an int subclass in Python; `replicas: true` is a broken object, not 1.
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise _Malformed(f"{'.'.join(path)} should be an integer, got {value!r}")


def _int(obj: Any, *path: str) -> int:
    value = _opt_int(obj, *path)
    return 0 if value is None else value


def _str(obj: Any, *path: str) -> str:
    value = _get(obj, *path)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Malformed(f"{'.'.join(path)} should be a string, got {value!r}")
    return value


def _condition(obj: Manifest, cond_type: str) -> dict[str, Any] | None:
    for cond in _maps(obj, "status", "conditions"):
        if cond.get("type") == cond_type:
            return cond
    return None


def _is_true(cond: dict[str, Any] | None) -> TypeGuard[dict[str, Any]]:
    return cond is not None and cond.get("status") == "True"


def _cond_text(cond: dict[str, Any]) -> str:
    reason, message = _str(cond, "reason"), _str(cond, "message")
    return f"{reason}: {message}" if reason and message else reason or message


def _time(obj: Any, *path: str) -> datetime | None:
    raw = _str(obj, *path)
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw)
    except ValueError as exc:
        raise _Malformed(f"{'.'.join(path)} is not a timestamp: {raw!r}") from exc


def _group(live: Manifest) -> str:
    api_version = _str(live, "apiVersion")
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def _generation_observed(live: Manifest) -> bool:
    return _int(live, "metadata", "generation") <= _int(live, "status", "observedGeneration")


# ---------------------------------------------------------------------------------------------
# Workloads


def _deployment(live: Manifest) -> HealthResult:
    if _get(live, "spec", "paused") is True:
        return HealthResult(Health.SUSPENDED, "Deployment is paused")
    if not _generation_observed(live):
        return HealthResult(
            Health.PROGRESSING, "Waiting for rollout: observed generation is behind the desired generation"
        )
    progressing = _condition(live, "Progressing")
    if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        detail = _str(progressing, "message")
        return HealthResult(
            Health.DEGRADED, "Deployment exceeded its progress deadline" + (f": {detail}" if detail else "")
        )
    desired = _opt_int(live, "spec", "replicas")
    replicas = _int(live, "status", "replicas")
    updated = _int(live, "status", "updatedReplicas")
    available = _int(live, "status", "availableReplicas")
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
    observed = _int(live, "status", "observedGeneration")
    # Unlike Deployments, 0 counts as unobserved: the controller has not looked at it at all yet.
    if observed == 0 or _int(live, "metadata", "generation") > observed:
        return HealthResult(Health.PROGRESSING, "Waiting for statefulset spec update to be observed")
    desired = _opt_int(live, "spec", "replicas")
    ready = _int(live, "status", "readyReplicas")
    updated = _int(live, "status", "updatedReplicas")
    if desired is not None and ready < desired:
        return HealthResult(Health.PROGRESSING, f"Waiting for {desired - ready} pods to be ready")
    strategy = _map(live, "spec", "updateStrategy")
    strategy_type = _str(strategy, "type")
    if strategy_type == "RollingUpdate" and _get(strategy, "rollingUpdate") is not None:
        # With a partition only ordinals >= partition are meant to update, so fewer updated pods is done.
        partition = _opt_int(strategy, "rollingUpdate", "partition")
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
    update_rev = _str(live, "status", "updateRevision")
    if update_rev != _str(live, "status", "currentRevision"):
        return HealthResult(
            Health.PROGRESSING,
            f"Waiting for rolling update to complete: {updated} pods at revision {update_rev}",
        )
    current = _int(live, "status", "currentReplicas")
    return HealthResult(Health.HEALTHY, f"Rolling update complete: {current} pods at revision {update_rev}")


def _daemonset(live: Manifest) -> HealthResult:
    if not _generation_observed(live):
        return HealthResult(
            Health.PROGRESSING, "Waiting for rollout: observed generation is behind the desired generation"
        )
    desired = _int(live, "status", "desiredNumberScheduled")
    updated = _int(live, "status", "updatedNumberScheduled")
    available = _int(live, "status", "numberAvailable")
    if _str(live, "spec", "updateStrategy", "type") == "OnDelete":
        return HealthResult(Health.HEALTHY, f"{updated} of {desired} pods have been updated (OnDelete)")
    if updated < desired:
        msg = f"Waiting for rollout: {updated} of {desired} pods have been updated"
        return HealthResult(Health.PROGRESSING, msg)
    if available < desired:
        msg = f"Waiting for rollout: {available} of {desired} pods are available"
        return HealthResult(Health.PROGRESSING, msg)
    return HealthResult(Health.HEALTHY)


def _replicaset(live: Manifest) -> HealthResult:
    if not _generation_observed(live):
        return HealthResult(
            Health.PROGRESSING, "Waiting for rollout: observed generation is behind the desired generation"
        )
    failure = _condition(live, "ReplicaFailure")
    if _is_true(failure):
        return HealthResult(Health.DEGRADED, _cond_text(failure) or "ReplicaSet failed to create pods")
    desired = _opt_int(live, "spec", "replicas")
    available = _int(live, "status", "availableReplicas")
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
    message = _str(terminated, "message")
    if message:
        return message
    reason = _str(terminated, "reason")
    if reason == "OOMKilled":
        return f"container {name!r} was OOMKilled"
    code = _int(terminated, "exitCode")
    if code != 0:
        return f"container {name!r} failed with exit code {code}"
    return ""


def _pod(live: Manifest) -> HealthResult:
    # The API server defaults restartPolicy to Always, so absent means Always, not "finite".
    restart_policy = _str(live, "spec", "restartPolicy") or "Always"
    init_statuses = _maps(live, "status", "initContainerStatuses")
    statuses = _maps(live, "status", "containerStatuses")
    pod_message = _str(live, "status", "message")

    # Only long-running pods: a hook pod (Never/OnFailure) stuck pulling its image must stay
    # Progressing, or Argo would fail the hook before the image shows up (as gitops-engine notes).
    # Init containers are included (Argo looks only at app containers) because an init container
    # in CrashLoopBackOff otherwise leaves the pod Pending, i.e. Progressing, forever.
    if restart_policy == "Always":
        problems = []
        for ctr in init_statuses + statuses:
            waiting = _map(ctr, "state", "waiting")
            reason = _str(waiting, "reason")
            if waiting and _is_error_reason(reason):
                detail = _str(waiting, "message")
                name = _str(ctr, "name")
                problems.append(f"container {name!r}: {reason}" + (f": {detail}" if detail else ""))
        if problems:
            return HealthResult(Health.DEGRADED, "; ".join(problems))

    phase = _str(live, "status", "phase")
    if phase == "Pending":
        scheduled = _condition(live, "PodScheduled")
        if scheduled is not None and scheduled.get("status") == "False":
            return HealthResult(Health.PROGRESSING, _cond_text(scheduled) or "Waiting to be scheduled")
        return HealthResult(Health.PROGRESSING, pod_message or "Pod is pending")
    if phase == "Succeeded":
        return HealthResult(Health.HEALTHY, pod_message)
    if phase == "Failed":
        if pod_message:
            return HealthResult(Health.DEGRADED, pod_message)
        for ctr in init_statuses + statuses:
            terminated = _map(ctr, "state", "terminated")
            reason = _terminated_reason(_str(ctr, "name"), terminated) if terminated else ""
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
            last = _map(ctr, "lastState", "terminated")
            if last:
                name = _str(ctr, "name")
                why = _terminated_reason(name, last) or f"container {name!r} restarted"
                return HealthResult(Health.DEGRADED, pod_message or f"Not ready: {why}")
        return HealthResult(Health.PROGRESSING, pod_message or "Waiting for containers to become ready")
    return HealthResult(Health.UNKNOWN, pod_message or f"Pod phase is {phase or 'not reported'}")


def _pod_ready(live: Manifest, statuses: list[dict[str, Any]]) -> bool:
    ready = _condition(live, "Ready")
    if ready is not None:
        return _is_true(ready)
    # Without a Ready condition (partial objects), fall back to every container reporting ready.
    return bool(statuses) and all(ctr.get("ready") is True for ctr in statuses)


# ---------------------------------------------------------------------------------------------
# Batch


def _job(live: Manifest) -> HealthResult:
    # Conditions count only when True: a resumed Job keeps a Suspended=False condition while it
    # runs again, which Argo's check (type only) would report as Healthy.
    failed = _condition(live, "Failed")
    if _is_true(failed):
        return HealthResult(Health.DEGRADED, _cond_text(failed) or "Job failed")
    complete = _condition(live, "Complete")
    if _is_true(complete):
        return HealthResult(Health.HEALTHY, _str(complete, "message") or "Job completed")
    if _is_true(_condition(live, "Suspended")) or _get(live, "spec", "suspend") is True:
        return HealthResult(Health.SUSPENDED, "Job is suspended")
    active, succeeded = _int(live, "status", "active"), _int(live, "status", "succeeded")
    return HealthResult(Health.PROGRESSING, f"Job is running: {active} active, {succeeded} succeeded")


def _cronjob(live: Manifest) -> HealthResult:
    # Argo's rules (resource_customizations/batch/CronJob/health.lua): an active run or a run that
    # never succeeded yet is Healthy, because the status cannot tell "not yet" from "never will".
    if _get(live, "spec", "suspend") is True:
        return HealthResult(Health.SUSPENDED, "CronJob is suspended")
    if _get(live, "status") is None:
        return HealthResult(Health.PROGRESSING, "Waiting for CronJob")
    last_schedule = _time(live, "status", "lastScheduleTime")
    if last_schedule is None:
        return HealthResult(Health.HEALTHY, "CronJob has not been scheduled yet")
    last_success = _time(live, "status", "lastSuccessfulTime")
    if last_success is None:
        return HealthResult(Health.HEALTHY, "CronJob has never completed successfully; it may not be healthy")
    if _list(live, "status", "active"):
        return HealthResult(Health.HEALTHY, "A job is running; the last execution may not have succeeded")
    if last_success < last_schedule:
        return HealthResult(Health.DEGRADED, "CronJob has not completed its last execution successfully")
    return HealthResult(Health.HEALTHY, "CronJob has completed its last execution successfully")


# ---------------------------------------------------------------------------------------------
# Core, networking, autoscaling, API machinery


def _pvc(live: Manifest) -> HealthResult:
    phase = _str(live, "status", "phase")
    if phase == "Bound":
        return HealthResult(Health.HEALTHY)
    if phase == "Pending":
        return HealthResult(Health.PROGRESSING, "Waiting for the claim to be bound to a volume")
    if phase == "Lost":
        return HealthResult(Health.DEGRADED, "The claim lost its underlying volume")
    return HealthResult(Health.UNKNOWN, f"Claim phase is {phase or 'not reported'}")


def _has_lb_ingress(live: Manifest) -> bool:
    return bool(_list(live, "status", "loadBalancer", "ingress"))


def _service(live: Manifest) -> HealthResult:
    if _str(live, "spec", "type") != "LoadBalancer":
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
    conditions = _maps(live, "status", "conditions")
    if not conditions:
        # autoscaling/v1 has no status.conditions; the controller keeps them in an annotation.
        raw = _str(live, "metadata", "annotations", _HPA_CONDITIONS_ANNOTATION)
        if raw:
            try:
                parsed = json.loads(raw)
            except ValueError as exc:
                raise _Malformed(f"annotation {_HPA_CONDITIONS_ANNOTATION} is not JSON") from exc
            conditions = _maps({"c": parsed}, "c")
    for cond in conditions:
        pair = (_str(cond, "type"), _str(cond, "reason"))
        if pair in _HPA_DEGRADED:
            return HealthResult(Health.DEGRADED, _str(cond, "message") or f"{pair[0]}: {pair[1]}")
        if pair in _HPA_HEALTHY:
            return HealthResult(Health.HEALTHY, _str(cond, "message"))
    return HealthResult(Health.PROGRESSING, "Waiting to autoscale")


def _namespace(live: Manifest) -> HealthResult:
    phase = _str(live, "status", "phase")
    if phase == "Active":
        return HealthResult(Health.HEALTHY)
    if phase == "Terminating":
        return HealthResult(Health.PROGRESSING, "Namespace is terminating")
    return HealthResult(Health.UNKNOWN, f"Namespace phase is {phase or 'not reported'}")


def _apiservice(live: Manifest) -> HealthResult:
    available = _condition(live, "Available")
    if available is None:
        return HealthResult(Health.PROGRESSING, "Waiting to be processed")
    text = _cond_text(available)
    if _is_true(available):
        return HealthResult(Health.HEALTHY, text)
    return HealthResult(Health.PROGRESSING, text or "APIService is not available yet")


def _crd(live: Manifest) -> HealthResult:
    conditions = _maps(live, "status", "conditions")
    if not conditions:
        return HealthResult(Health.PROGRESSING, "Status conditions not found")
    by_type = {_str(c, "type"): c for c in conditions}
    terminating = by_type.get("Terminating")
    names = by_type.get("NamesAccepted")
    established = by_type.get("Established")
    non_structural = by_type.get("NonStructuralSchema")
    # Same precedence as gitops-engine: deletion first, then why it cannot be served.
    if _is_true(terminating):
        return HealthResult(Health.PROGRESSING, f"CRD is being terminated: {_str(terminating, 'message')}")
    if names is not None and names.get("status") == "False":
        return HealthResult(Health.DEGRADED, f"CRD names have not been accepted: {_str(names, 'message')}")
    if not _is_true(established):
        why = _str(established, "message") if established is not None else "no Established condition"
        return HealthResult(Health.DEGRADED, f"CRD is not established: {why}")
    if _is_true(non_structural):
        return HealthResult(Health.DEGRADED, f"Schema violations found: {_str(non_structural, 'message')}")
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
    generation = _get(live, "metadata", "generation")
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
            return HealthResult(health, _cond_text(cond) or f"{kind} condition is True")
    ready = by_type.get("Ready")
    if ready is None:
        return HealthResult(Health.HEALTHY)  # kstatus: "current"; nothing worth saying beside ♥
    text = _cond_text(ready)
    if ready.get("status") == "True":
        return HealthResult(Health.HEALTHY, text)
    if ready.get("status") == "False":
        return HealthResult(Health.DEGRADED, text or "Ready condition is False")
    if ready.get("status") == "Unknown":
        return HealthResult(Health.PROGRESSING, text or "Ready condition is Unknown")
    raise _Malformed(f"Ready condition status should be True, False or Unknown, got {ready.get('status')!r}")


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
}
