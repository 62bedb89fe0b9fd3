"""Health assessment of live objects, kind by kind, as Argo CD's gitops-engine judges them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.apply.health import HealthResult, app_health, assess
from sandbox.model import Health, Manifest


def _meta(name: str, generation: int = 1, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": "shop", "uid": f"uid-{name}", "generation": generation, **extra}


# ---------------------------------------------------------------------------------------------
# Whole-object rules and app health


def test_absent_object_is_missing_with_a_reason() -> None:
    result = assess(None)
    assert result.status is Health.MISSING
    assert result.message


def test_object_pending_deletion_is_progressing_even_if_its_status_looks_healthy() -> None:
    result = assess(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "old", "deletionTimestamp": "2024-05-01T10:00:00Z"},
            "status": {"phase": "Active"},
        }
    )
    assert result.status is Health.PROGRESSING
    assert "deletion" in result.message.lower()


def test_app_health_is_the_worst_of_its_objects() -> None:
    results = [
        HealthResult(Health.HEALTHY),
        HealthResult(Health.SUSPENDED, "paused"),
        HealthResult(Health.DEGRADED, "crash"),
        HealthResult(Health.PROGRESSING, "rolling"),
    ]
    assert app_health(results) is Health.DEGRADED
    assert (
        app_health(iter([HealthResult(Health.HEALTHY), HealthResult(Health.SUSPENDED)])) is Health.SUSPENDED
    )
    assert app_health([HealthResult(Health.PROGRESSING), HealthResult(Health.MISSING)]) is Health.MISSING


def test_app_health_accepts_a_generator_and_an_app_without_objects_is_healthy() -> None:
    assert app_health(assess(obj) for obj in [None]) is Health.MISSING
    assert app_health([]) is Health.HEALTHY


MALFORMED: list[tuple[str, Any]] = [
    ("object is not a mapping", ["Deployment"]),
    (
        "status is a list",
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta("web"), "status": []},
    ),
    (
        "replica count is a string",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _meta("web"),
            "spec": {"replicas": "three"},
            "status": {"observedGeneration": 1, "updatedReplicas": 3},
        },
    ),
    (
        "replica count is a boolean",
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": _meta("db"),
            "spec": {"replicas": True},
            "status": {"observedGeneration": 1},
        },
    ),
    (
        "containerStatuses is a string",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": _meta("web-1"),
            "spec": {"restartPolicy": "Always"},
            "status": {"phase": "Running", "containerStatuses": "ready"},
        },
    ),
    (
        "a condition is not a mapping",
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": _meta("migrate"),
            "status": {"conditions": ["Complete"]},
        },
    ),
    (
        "lastScheduleTime is not a timestamp",
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": _meta("nightly"),
            "spec": {"schedule": "0 3 * * *"},
            "status": {"lastScheduleTime": "yesterday"},
        },
    ),
    (
        "v1 HPA conditions annotation is not JSON",
        {
            "apiVersion": "autoscaling/v1",
            "kind": "HorizontalPodAutoscaler",
            "metadata": _meta("web", annotations={"autoscaling.alpha.kubernetes.io/conditions": "[{oops"}),
            "status": {"currentReplicas": 1},
        },
    ),
    (
        "Ready condition has an impossible status",
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": _meta("tls"),
            "status": {"conditions": [{"type": "Ready", "status": "Maybe"}]},
        },
    ),
]


@pytest.mark.parametrize("live", [case[1] for case in MALFORMED], ids=[case[0] for case in MALFORMED])
def test_status_of_the_wrong_shape_is_unknown_with_a_reason_instead_of_raising(live: Any) -> None:
    result = assess(live)
    assert result.status is Health.UNKNOWN
    assert result.message


BARE: list[tuple[str, str, Health]] = [
    # Fresh objects the controllers have not looked at yet: no status at all.
    ("apps/v1", "Deployment", Health.PROGRESSING),
    ("apps/v1", "StatefulSet", Health.PROGRESSING),
    ("apps/v1", "DaemonSet", Health.PROGRESSING),
    ("apps/v1", "ReplicaSet", Health.PROGRESSING),
    ("v1", "Pod", Health.UNKNOWN),
    ("batch/v1", "Job", Health.PROGRESSING),
    ("batch/v1", "CronJob", Health.PROGRESSING),
    ("v1", "PersistentVolumeClaim", Health.UNKNOWN),
    ("v1", "Service", Health.HEALTHY),
    ("networking.k8s.io/v1", "Ingress", Health.PROGRESSING),
    ("autoscaling/v2", "HorizontalPodAutoscaler", Health.PROGRESSING),
    ("v1", "Namespace", Health.UNKNOWN),
    ("apiregistration.k8s.io/v1", "APIService", Health.PROGRESSING),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition", Health.PROGRESSING),
    ("v1", "ConfigMap", Health.HEALTHY),
]


@pytest.mark.parametrize(("api_version", "kind", "expected"), BARE, ids=[case[1] for case in BARE])
def test_object_without_status_gets_a_sensible_health_and_never_raises(
    api_version: str, kind: str, expected: Health
) -> None:
    result = assess({"apiVersion": api_version, "kind": kind, "metadata": _meta("fresh")})
    assert result.status is expected
    if expected is not Health.HEALTHY:
        assert result.message


# ---------------------------------------------------------------------------------------------
# Deployment


def _deployment(
    *, replicas: int = 3, generation: int = 2, observed: int = 2, paused: bool = False, **status: Any
) -> Manifest:
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": {"app": "web"}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web"}]}},
    }
    if paused:
        spec["paused"] = True
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta("web", generation),
        "spec": spec,
        "status": {
            "observedGeneration": observed,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
            ],
            **status,
        },
    }


def test_deployment_with_all_replicas_updated_and_available_is_healthy() -> None:
    live = _deployment(replicas=3, updatedReplicas=3, readyReplicas=3, availableReplicas=3)
    live["status"]["replicas"] = 3
    assert assess(live).status is Health.HEALTHY


def test_paused_deployment_is_suspended_even_mid_rollout() -> None:
    result = assess(_deployment(paused=True, replicas=3, updatedReplicas=1, availableReplicas=1))
    assert result.status is Health.SUSPENDED
    assert "paused" in result.message


def test_deployment_whose_new_generation_is_not_yet_observed_is_progressing() -> None:
    live = _deployment(generation=3, observed=2, replicas=3, updatedReplicas=3, availableReplicas=3)
    result = assess(live)
    assert result.status is Health.PROGRESSING
    assert "generation" in result.message


def test_deployment_past_its_progress_deadline_is_degraded() -> None:
    live = _deployment(replicas=3, updatedReplicas=1, availableReplicas=0)
    live["status"]["conditions"][1] = {
        "type": "Progressing",
        "status": "False",
        "reason": "ProgressDeadlineExceeded",
        "message": 'ReplicaSet "web-5d4f8c7b9" has timed out progressing.',
    }
    result = assess(live)
    assert result.status is Health.DEGRADED
    assert "progress deadline" in result.message
    assert "timed out" in result.message


def test_deployment_with_replicas_not_yet_updated_is_progressing() -> None:
    result = assess(_deployment(replicas=3, updatedReplicas=1, availableReplicas=3))
    assert result.status is Health.PROGRESSING
    assert "1 of 3" in result.message


def test_deployment_with_old_replicas_pending_termination_is_progressing() -> None:
    live = _deployment(replicas=3, updatedReplicas=3, availableReplicas=3)
    live["status"]["replicas"] = 4
    result = assess(live)
    assert result.status is Health.PROGRESSING
    assert "1 old replicas" in result.message


def test_deployment_with_unavailable_replicas_is_progressing() -> None:
    live = _deployment(replicas=3, updatedReplicas=3, availableReplicas=1, unavailableReplicas=2)
    live["status"]["replicas"] = 3
    result = assess(live)
    assert result.status is Health.PROGRESSING
    assert result.message == "Waiting for rollout: 1 of 3 updated replicas are available"


# ---------------------------------------------------------------------------------------------
# StatefulSet


def _statefulset(
    *, replicas: int = 3, strategy: dict[str, Any] | None = None, observed: int = 1, **status: Any
) -> Manifest:
    if strategy is None:
        strategy = {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _meta("db"),
        "spec": {"replicas": replicas, "serviceName": "db", "updateStrategy": strategy},
        "status": {"observedGeneration": observed, "replicas": replicas, **status},
    }


def test_statefulset_with_all_pods_ready_and_updated_is_healthy() -> None:
    live = _statefulset(readyReplicas=3, updatedReplicas=3, currentReplicas=3)
    assert assess(live).status is Health.HEALTHY


def test_statefulset_with_pods_not_ready_is_progressing() -> None:
    result = assess(_statefulset(readyReplicas=1, updatedReplicas=3))
    assert result.status is Health.PROGRESSING
    assert "2 pods" in result.message


def test_statefulset_never_observed_by_its_controller_is_progressing() -> None:
    result = assess(_statefulset(observed=0, readyReplicas=3, updatedReplicas=3))
    assert result.status is Health.PROGRESSING
    assert result.message


def test_partitioned_statefulset_is_healthy_once_pods_above_the_partition_are_updated() -> None:
    # partition 2 of 3: only ordinal 2 is meant to move to the new revision.
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}
    live = _statefulset(
        strategy=strategy, readyReplicas=3, updatedReplicas=1, currentRevision="db-1", updateRevision="db-2"
    )
    assert assess(live).status is Health.HEALTHY


def test_partitioned_statefulset_is_progressing_until_pods_above_the_partition_are_updated() -> None:
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}
    live = _statefulset(
        strategy=strategy, readyReplicas=3, updatedReplicas=1, currentRevision="db-1", updateRevision="db-2"
    )
    result = assess(live)
    assert result.status is Health.PROGRESSING
    assert "1 of 2" in result.message


def test_ondelete_statefulset_with_outdated_pods_is_healthy() -> None:
    live = _statefulset(
        strategy={"type": "OnDelete"},
        readyReplicas=3,
        updatedReplicas=0,
        currentRevision="db-1",
        updateRevision="db-2",
    )
    result = assess(live)
    assert result.status is Health.HEALTHY
    assert "3 ready" in result.message


def test_statefulset_rolling_update_without_partition_is_progressing_until_revisions_match() -> None:
    live = _statefulset(
        strategy={"type": "RollingUpdate"},
        readyReplicas=3,
        updatedReplicas=1,
        currentRevision="db-1",
        updateRevision="db-2",
    )
    result = assess(live)
    assert result.status is Health.PROGRESSING
    assert "db-2" in result.message


# ---------------------------------------------------------------------------------------------
# DaemonSet


def _daemonset(
    *, strategy: str = "RollingUpdate", generation: int = 1, observed: int = 1, **status: Any
) -> Manifest:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": _meta("node-agent", generation),
        "spec": {"updateStrategy": {"type": strategy}},
        "status": {"observedGeneration": observed, "currentNumberScheduled": 3, **status},
    }


def test_daemonset_updated_and_available_on_every_node_is_healthy() -> None:
    live = _daemonset(desiredNumberScheduled=3, updatedNumberScheduled=3, numberAvailable=3, numberReady=3)
    assert assess(live).status is Health.HEALTHY


def test_daemonset_with_pods_not_yet_updated_is_progressing() -> None:
    result = assess(_daemonset(desiredNumberScheduled=3, updatedNumberScheduled=1, numberAvailable=3))
    assert result.status is Health.PROGRESSING
    assert "1 of 3" in result.message


def test_daemonset_with_unavailable_pods_is_progressing() -> None:
    result = assess(_daemonset(desiredNumberScheduled=3, updatedNumberScheduled=3, numberAvailable=2))
    assert result.status is Health.PROGRESSING
    assert "2 of 3" in result.message


def test_daemonset_with_unobserved_generation_is_progressing() -> None:
    live = _daemonset(
        generation=4, observed=3, desiredNumberScheduled=3, updatedNumberScheduled=3, numberAvailable=3
    )
    result = assess(live)
    assert result.status is Health.PROGRESSING
    assert result.message


def test_ondelete_daemonset_with_outdated_pods_is_healthy() -> None:
    live = _daemonset(
        strategy="OnDelete", desiredNumberScheduled=3, updatedNumberScheduled=0, numberAvailable=3
    )
    assert assess(live).status is Health.HEALTHY


# ---------------------------------------------------------------------------------------------
# ReplicaSet


def _replicaset(replicas: int = 2, **status: Any) -> Manifest:
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": _meta("web-5d4f8c7b9"),
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}},
        "status": {"observedGeneration": 1, **status},
    }


def test_replicaset_with_all_replicas_available_is_healthy() -> None:
    assert assess(_replicaset(replicas=2, availableReplicas=2)).status is Health.HEALTHY


def test_replicaset_that_cannot_create_pods_is_degraded() -> None:
    failure = {
        "type": "ReplicaFailure",
        "status": "True",
        "reason": "FailedCreate",
        "message": 'pods "web-5d4f8c7b9-x" is forbidden: exceeded quota: compute',
    }
    result = assess(_replicaset(availableReplicas=0, conditions=[failure]))
    assert result.status is Health.DEGRADED
    assert "exceeded quota" in result.message


def test_replicaset_with_unavailable_replicas_is_progressing() -> None:
    result = assess(_replicaset(replicas=2, availableReplicas=1))
    assert result.status is Health.PROGRESSING
    assert "1 of 2" in result.message


# ---------------------------------------------------------------------------------------------
# Pod


def _pod(
    phase: str,
    containers: list[dict[str, Any]] | None = None,
    *,
    restart_policy: str = "Always",
    ready: bool | None = None,
    init: list[dict[str, Any]] | None = None,
    **status: Any,
) -> Manifest:
    conditions = [{"type": "PodScheduled", "status": "True"}]
    if ready is not None:
        conditions.append({"type": "Ready", "status": "True" if ready else "False"})
    body: dict[str, Any] = {"phase": phase, "conditions": conditions, **status}
    if containers is not None:
        body["containerStatuses"] = containers
    if init is not None:
        body["initContainerStatuses"] = init
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": _meta("web-5d4f8c7b9-abcde"),
        "spec": {"restartPolicy": restart_policy, "containers": [{"name": "web", "image": "shop/web:1.4"}]},
        "status": body,
    }


def _ctr(name: str = "web", *, ready: bool = False, restarts: int = 0, **state: Any) -> dict[str, Any]:
    return {"name": name, "image": "shop/web:1.4", "ready": ready, "restartCount": restarts, **state}


def test_running_pod_with_all_containers_ready_is_healthy() -> None:
    live = _pod(
        "Running", [_ctr(ready=True, state={"running": {"startedAt": "2024-05-01T10:00:00Z"}})], ready=True
    )
    assert assess(live).status is Health.HEALTHY


def test_crashlooping_pod_is_degraded_and_says_which_container() -> None:
    waiting = {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container=web"}
    ctr = _ctr(
        restarts=7,
        state={"waiting": waiting},
        lastState={"terminated": {"exitCode": 1, "reason": "Error"}},
    )
    result = assess(_pod("Running", [ctr], ready=False))
    assert result.status is Health.DEGRADED
    assert "CrashLoopBackOff" in result.message
    assert "web" in result.message


@pytest.mark.parametrize("reason", ["ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError"])
def test_pod_whose_container_cannot_start_is_degraded(reason: str) -> None:
    waiting = {"reason": reason, "message": f"{reason} for shop/web:1.4"}
    result = assess(_pod("Pending", [_ctr(state={"waiting": waiting})], ready=False))
    assert result.status is Health.DEGRADED
    assert reason in result.message


def test_pod_whose_init_container_crashloops_is_degraded_not_pending_forever() -> None:
    init = [_ctr("migrate", restarts=4, state={"waiting": {"reason": "CrashLoopBackOff"}})]
    app = [_ctr(state={"waiting": {"reason": "PodInitializing"}})]
    result = assess(_pod("Pending", app, init=init, ready=False))
    assert result.status is Health.DEGRADED
    assert "migrate" in result.message


def test_pod_creating_its_containers_is_progressing() -> None:
    result = assess(_pod("Pending", [_ctr(state={"waiting": {"reason": "ContainerCreating"}})], ready=False))
    assert result.status is Health.PROGRESSING
    assert result.message


def test_unschedulable_pod_is_progressing_with_the_schedulers_reason() -> None:
    live = _pod("Pending")
    live["status"]["conditions"] = [
        {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": "0/1 nodes are available: 1 Insufficient cpu.",
        }
    ]
    result = assess(live)
    assert result.status is Health.PROGRESSING
    assert "Insufficient cpu" in result.message


def test_hook_pod_with_restart_policy_never_stays_progressing_while_its_image_pulls_back_off() -> None:
    waiting = {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}
    result = assess(_pod("Pending", [_ctr(state={"waiting": waiting})], restart_policy="Never"))
    assert result.status is Health.PROGRESSING


def test_succeeded_pod_is_healthy() -> None:
    ctr = _ctr(state={"terminated": {"exitCode": 0, "reason": "Completed"}})
    assert assess(_pod("Succeeded", [ctr], restart_policy="Never", ready=False)).status is Health.HEALTHY


def test_failed_pod_is_degraded_and_reports_oomkilled() -> None:
    ctr = _ctr(state={"terminated": {"exitCode": 137, "reason": "OOMKilled"}})
    result = assess(_pod("Failed", [ctr], restart_policy="Never", ready=False))
    assert result.status is Health.DEGRADED
    assert "OOMKilled" in result.message


def test_failed_pod_is_degraded_and_reports_the_exit_code() -> None:
    ctr = _ctr(state={"terminated": {"exitCode": 2, "reason": "Error"}})
    result = assess(_pod("Failed", [ctr], restart_policy="OnFailure", ready=False))
    assert result.status is Health.DEGRADED
    assert "exit code 2" in result.message


def test_evicted_pod_is_degraded_with_the_kubelets_message() -> None:
    live = _pod("Failed", [], ready=False, reason="Evicted", message="The node was low on resource: memory.")
    result = assess(live)
    assert result.status is Health.DEGRADED
    assert "low on resource" in result.message


def test_running_pod_not_ready_after_a_container_restart_is_degraded() -> None:
    ctr = _ctr(
        restarts=1,
        state={"running": {"startedAt": "2024-05-01T10:05:00Z"}},
        lastState={"terminated": {"exitCode": 137, "reason": "OOMKilled"}},
    )
    result = assess(_pod("Running", [ctr], ready=False))
    assert result.status is Health.DEGRADED
    assert "OOMKilled" in result.message


def test_running_pod_not_yet_ready_without_restarts_is_progressing() -> None:
    ctr = _ctr(state={"running": {"startedAt": "2024-05-01T10:05:00Z"}})
    result = assess(_pod("Running", [ctr], ready=False))
    assert result.status is Health.PROGRESSING
    assert result.message


def test_running_pod_with_restart_policy_never_is_progressing_until_it_completes() -> None:
    ctr = _ctr(ready=True, state={"running": {"startedAt": "2024-05-01T10:05:00Z"}})
    result = assess(_pod("Running", [ctr], restart_policy="Never", ready=True))
    assert result.status is Health.PROGRESSING


def test_pod_in_unknown_phase_is_unknown() -> None:
    result = assess(_pod("Unknown", [], ready=False))
    assert result.status is Health.UNKNOWN
    assert result.message


# ---------------------------------------------------------------------------------------------
# Job


def _job(*, suspend: bool = False, conditions: list[dict[str, Any]] | None = None, **status: Any) -> Manifest:
    body: dict[str, Any] = {"startTime": "2024-05-01T10:00:00Z", **status}
    if conditions is not None:
        body["conditions"] = conditions
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _meta("migrate"),
        "spec": {"backoffLimit": 2, "suspend": suspend, "template": {"spec": {"restartPolicy": "Never"}}},
        "status": body,
    }


def test_completed_job_is_healthy() -> None:
    complete = [
        {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached"},
        {"type": "Complete", "status": "True", "reason": "CompletionsReached"},
    ]
    assert assess(_job(conditions=complete, succeeded=1)).status is Health.HEALTHY


def test_failed_job_is_degraded_with_the_reason() -> None:
    failed = [
        {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded"},
        {
            "type": "Failed",
            "status": "True",
            "reason": "BackoffLimitExceeded",
            "message": "Job has reached the specified backoff limit",
        },
    ]
    result = assess(_job(conditions=failed, failed=3))
    assert result.status is Health.DEGRADED
    assert "backoff limit" in result.message


def test_running_job_is_progressing() -> None:
    result = assess(_job(active=1))
    assert result.status is Health.PROGRESSING
    assert "1 active" in result.message


def test_suspended_job_is_suspended() -> None:
    cond = [{"type": "Suspended", "status": "True", "reason": "JobSuspended", "message": "Job suspended"}]
    result = assess(_job(suspend=True, conditions=cond))
    assert result.status is Health.SUSPENDED
    assert result.message


def test_resumed_job_is_progressing_not_suspended_or_healthy() -> None:
    cond = [{"type": "Suspended", "status": "False", "reason": "JobResumed", "message": "Job resumed"}]
    result = assess(_job(suspend=False, conditions=cond, active=1))
    assert result.status is Health.PROGRESSING


# ---------------------------------------------------------------------------------------------
# CronJob


def _cronjob(*, suspend: bool = False, **status: Any) -> Manifest:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": _meta("nightly-report"),
        "spec": {"schedule": "0 3 * * *", "suspend": suspend, "jobTemplate": {"spec": {}}},
        "status": status,
    }


def test_suspended_cronjob_is_suspended() -> None:
    result = assess(_cronjob(suspend=True, lastScheduleTime="2024-05-01T03:00:00Z"))
    assert result.status is Health.SUSPENDED
    assert "suspended" in result.message


def test_cronjob_never_scheduled_is_healthy() -> None:
    result = assess(_cronjob())
    assert result.status is Health.HEALTHY
    assert "not been scheduled" in result.message


def test_cronjob_whose_last_run_failed_is_degraded() -> None:
    live = _cronjob(lastScheduleTime="2024-05-02T03:00:00Z", lastSuccessfulTime="2024-05-01T03:04:10Z")
    result = assess(live)
    assert result.status is Health.DEGRADED
    assert "last execution" in result.message


def test_cronjob_whose_last_run_succeeded_is_healthy() -> None:
    live = _cronjob(lastScheduleTime="2024-05-02T03:00:00Z", lastSuccessfulTime="2024-05-02T03:03:51Z")
    result = assess(live)
    assert result.status is Health.HEALTHY
    assert "successfully" in result.message


def test_cronjob_running_a_job_is_healthy_even_though_the_schedule_is_newer_than_the_success() -> None:
    active = [
        {"kind": "Job", "namespace": "shop", "name": "nightly-report-28577460", "apiVersion": "batch/v1"}
    ]
    live = _cronjob(
        lastScheduleTime="2024-05-02T03:00:00Z", lastSuccessfulTime="2024-05-01T03:04:10Z", active=active
    )
    result = assess(live)
    assert result.status is Health.HEALTHY
    assert "running" in result.message


def test_cronjob_that_never_succeeded_yet_is_healthy_with_a_warning() -> None:
    result = assess(_cronjob(lastScheduleTime="2024-05-02T03:00:00Z"))
    assert result.status is Health.HEALTHY
    assert "never completed" in result.message


# ---------------------------------------------------------------------------------------------
# PersistentVolumeClaim, Service, Ingress, Namespace


@pytest.mark.parametrize(
    ("phase", "expected"),
    [("Bound", Health.HEALTHY), ("Pending", Health.PROGRESSING), ("Lost", Health.DEGRADED)],
)
def test_pvc_health_follows_its_phase(phase: str, expected: Health) -> None:
    live = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": _meta("data"),
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        "status": {"phase": phase},
    }
    result = assess(live)
    assert result.status is expected
    if expected is not Health.HEALTHY:
        assert result.message


def test_a_pending_claim_names_the_storage_class_it_waits_for() -> None:
    """A class a network chart would bring (longhorn, ceph) keeps its claims Pending: the message
    says which class, where the generic one left a user guessing."""
    live = {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": _meta("data"),
        "spec": {"storageClassName": "longhorn", "accessModes": ["ReadWriteOnce"]}, "status": {"phase": "Pending"},
    }  # fmt: skip
    result = assess(live)
    assert (result.status, result.message) == (
        Health.PROGRESSING,
        "Waiting for the claim to be bound to a volume of StorageClass longhorn: it binds once a provisioner of "
        "that class runs",
    )


def test_a_pending_claim_bound_by_name_says_the_classes_must_match() -> None:
    """A static volume (NFS) and a claim naming it, both written without a class: the claim got
    the cluster's default class when created and never binds (VolumeMismatch in its events)."""
    live = {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": _meta("data"),
        "spec": {"storageClassName": "standard", "volumeName": "static-pv"}, "status": {"phase": "Pending"},
    }  # fmt: skip
    result = assess(live)
    assert result.status is Health.PROGRESSING
    assert (
        result.message.startswith(
            "Waiting for the claim to be bound to volume static-pv: it binds only if that volume's storageClassName "
            "is standard too"
        )
        and 'storageClassName: "" binds it to a volume of no class' in result.message
    ), result.message


def _service(svc_type: str, ingress: list[dict[str, str]] | None = None) -> Manifest:
    status: dict[str, Any] = {"loadBalancer": {}}
    if ingress is not None:
        status["loadBalancer"]["ingress"] = ingress
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta("web"),
        "spec": {"type": svc_type, "ports": [{"port": 80, "targetPort": 8080}], "selector": {"app": "web"}},
        "status": status,
    }


def test_clusterip_service_is_healthy_without_a_load_balancer() -> None:
    assert assess(_service("ClusterIP")).status is Health.HEALTHY


def test_load_balancer_service_waiting_for_an_address_is_progressing() -> None:
    result = assess(_service("LoadBalancer"))
    assert result.status is Health.PROGRESSING
    assert "load balancer" in result.message


def test_load_balancer_service_with_an_address_is_healthy() -> None:
    assert assess(_service("LoadBalancer", [{"ip": "172.18.255.200"}])).status is Health.HEALTHY


def _ingress(ingress: list[dict[str, str]] | None) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _meta("web"),
        "spec": {"ingressClassName": "nginx", "rules": [{"host": "shop.localtest.me"}]},
        "status": {"loadBalancer": {"ingress": ingress} if ingress is not None else {}},
    }


def test_ingress_with_an_assigned_address_is_healthy() -> None:
    assert assess(_ingress([{"hostname": "localhost"}])).status is Health.HEALTHY


def test_ingress_without_an_address_is_progressing() -> None:
    result = assess(_ingress(None))
    assert result.status is Health.PROGRESSING
    assert result.message


@pytest.mark.parametrize(
    ("phase", "expected"), [("Active", Health.HEALTHY), ("Terminating", Health.PROGRESSING)]
)
def test_namespace_health_follows_its_phase(phase: str, expected: Health) -> None:
    result = assess(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}, "status": {"phase": phase}}
    )
    assert result.status is expected
    if expected is Health.PROGRESSING:
        assert "terminating" in result.message


# ---------------------------------------------------------------------------------------------
# HorizontalPodAutoscaler


def _hpa(conditions: list[dict[str, str]]) -> Manifest:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta("web"),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1,
            "maxReplicas": 5,
        },
        "status": {"currentReplicas": 2, "desiredReplicas": 2, "conditions": conditions},
    }


def test_hpa_scaling_within_range_is_healthy() -> None:
    conditions = [
        {"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale"},
        {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound"},
        {
            "type": "ScalingLimited",
            "status": "False",
            "reason": "DesiredWithinRange",
            "message": "the desired count is within the acceptable range",
        },
    ]
    assert assess(_hpa(conditions)).status is Health.HEALTHY


def test_hpa_unable_to_read_metrics_is_degraded() -> None:
    conditions = [
        {"type": "AbleToScale", "status": "True", "reason": "SucceededGetScale"},
        {
            "type": "ScalingActive",
            "status": "False",
            "reason": "FailedGetResourceMetric",
            "message": "the HPA was unable to compute the replica count: unable to get metrics for cpu",
        },
    ]
    result = assess(_hpa(conditions))
    assert result.status is Health.DEGRADED
    assert "unable to get metrics" in result.message


def test_hpa_without_decisive_conditions_is_progressing() -> None:
    result = assess(_hpa([{"type": "AbleToScale", "status": "True", "reason": "SucceededGetScale"}]))
    assert result.status is Health.PROGRESSING
    assert result.message


def test_autoscaling_v1_hpa_reads_its_conditions_from_the_annotation() -> None:
    annotation = (
        '[{"type":"AbleToScale","status":"False","reason":"FailedGetScale",'
        '"message":"deployments/scale.apps \\"web\\" not found"}]'
    )
    live = {
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta("web", annotations={"autoscaling.alpha.kubernetes.io/conditions": annotation}),
        "spec": {"maxReplicas": 5, "scaleTargetRef": {"kind": "Deployment", "name": "web"}},
        "status": {"currentReplicas": 0, "desiredReplicas": 0},
    }
    result = assess(live)
    assert result.status is Health.DEGRADED
    assert "not found" in result.message


# ---------------------------------------------------------------------------------------------
# APIService and CustomResourceDefinition


def _apiservice(conditions: list[dict[str, str]]) -> Manifest:
    return {
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": "v1beta1.metrics.k8s.io"},
        "spec": {"group": "metrics.k8s.io", "version": "v1beta1", "service": {"name": "metrics-server"}},
        "status": {"conditions": conditions},
    }


def test_available_apiservice_is_healthy() -> None:
    cond = [{"type": "Available", "status": "True", "reason": "Passed", "message": "all checks passed"}]
    assert assess(_apiservice(cond)).status is Health.HEALTHY


def test_unavailable_apiservice_is_progressing_with_the_reason() -> None:
    cond = [
        {
            "type": "Available",
            "status": "False",
            "reason": "FailedDiscoveryCheck",
            "message": "failing or missing response from https://10.96.0.12:443/apis/metrics.k8s.io/v1beta1",
        }
    ]
    result = assess(_apiservice(cond))
    assert result.status is Health.PROGRESSING
    assert "FailedDiscoveryCheck" in result.message


def _crd(conditions: list[dict[str, str]]) -> Manifest:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.shop.example.com"},
        "spec": {"group": "shop.example.com", "names": {"kind": "Widget", "plural": "widgets"}},
        "status": {"conditions": conditions},
    }


def test_established_crd_is_healthy() -> None:
    conditions = [
        {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
        {"type": "Established", "status": "True", "reason": "InitialNamesAccepted"},
    ]
    assert assess(_crd(conditions)).status is Health.HEALTHY


def test_crd_with_conflicting_names_is_degraded() -> None:
    conditions = [
        {
            "type": "NamesAccepted",
            "status": "False",
            "reason": "ListKindConflict",
            "message": '"WidgetList" is taken',
        },
        {"type": "Established", "status": "False", "reason": "NotAccepted"},
    ]
    result = assess(_crd(conditions))
    assert result.status is Health.DEGRADED
    assert "WidgetList" in result.message


def test_crd_not_yet_established_is_degraded() -> None:
    conditions = [
        {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
        {
            "type": "Established",
            "status": "False",
            "reason": "Installing",
            "message": "the CRD is being installed",
        },
    ]
    result = assess(_crd(conditions))
    assert result.status is Health.DEGRADED
    assert "not established" in result.message


def test_terminating_crd_is_progressing() -> None:
    conditions = [
        {"type": "Established", "status": "True"},
        {
            "type": "Terminating",
            "status": "True",
            "reason": "InstanceDeletionInProgress",
            "message": "deleting 3",
        },
    ]
    result = assess(_crd(conditions))
    assert result.status is Health.PROGRESSING
    assert "terminated" in result.message


# ---------------------------------------------------------------------------------------------
# Kinds without a rule


def _certificate(ready: str | None) -> Manifest:
    conditions = []
    if ready is not None:
        conditions.append(
            {"type": "Ready", "status": ready, "reason": "Issuing", "message": f"ready={ready}"}
        )
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": _meta("tls"),
        "spec": {"secretName": "tls", "dnsNames": ["shop.localtest.me"]},
        "status": {"conditions": conditions},
    }


@pytest.mark.parametrize(
    ("ready", "expected"),
    [("True", Health.HEALTHY), ("False", Health.DEGRADED), ("Unknown", Health.PROGRESSING)],
)
def test_unknown_kind_follows_its_ready_condition(ready: str, expected: Health) -> None:
    result = assess(_certificate(ready))
    assert result.status is expected
    assert f"ready={ready}" in result.message


def test_unknown_kind_without_a_ready_condition_is_healthy() -> None:
    assert assess(_certificate(None)).status is Health.HEALTHY


def test_unknown_kind_with_a_status_of_its_own_shape_is_healthy_not_unknown() -> None:
    live = {
        "apiVersion": "shop.example.com/v1",
        "kind": "Widget",
        "metadata": _meta("blue"),
        "status": {"conditions": {"Ready": True}, "phase": "Whatever"},
    }
    assert assess(live).status is Health.HEALTHY


def test_core_kind_without_a_rule_is_healthy() -> None:
    live = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta("settings"),
        "data": {"LOG_LEVEL": "info"},
    }
    assert assess(live).status is Health.HEALTHY


# ---------------------------------------------------------------------------------------------
# Kinds without a rule follow kstatus' generic rules (fixtures in tests/health/)

HEALTH_FIXTURES = Path(__file__).parent / "health"


@pytest.mark.parametrize(
    ("fixture", "expected", "said"),
    [
        ("cr-generation-behind.yaml", Health.PROGRESSING, "latest observed generation is -1"),
        ("cr-ready-after-generation.yaml", Health.PROGRESSING, "generation is 5"),
        ("cr-reconciling.yaml", Health.PROGRESSING, "rolling out 2 of 3"),
        ("cr-stalled.yaml", Health.DEGRADED, "spec.size must be positive"),
        ("cr-current.yaml", Health.HEALTHY, ""),
    ],
)
def test_a_custom_resource_follows_kstatus_generic_rules(fixture: str, expected: Health, said: str) -> None:
    live = yaml.safe_load((HEALTH_FIXTURES / fixture).read_text())
    result = assess(live)
    assert (result.status, said in result.message) == (expected, True), result


def _cr(api: str, kind: str, status: dict[str, Any] | None = None, **spec: Any) -> Manifest:
    found: Manifest = {
        "apiVersion": api,
        "kind": kind,
        "metadata": {**_meta("x"), "generation": 1},
        "spec": spec,
    }
    if status is not None:
        found["status"] = status
    return found


@pytest.mark.parametrize(
    ("live", "expected", "message"),
    [
        (_cr("argoproj.io/v1alpha1", "Rollout"), Health.PROGRESSING, "Waiting for rollout spec update to be observed"),
        (_cr("argoproj.io/v1alpha1", "Rollout", {"observedGeneration": "1", "phase": "Healthy"}), Health.HEALTHY, ""),
        (_cr("argoproj.io/v1alpha1", "Rollout", {"observedGeneration": "1", "conditions": [
            {"type": "InvalidSpec", "status": "True", "message": "no selector"}]}), Health.DEGRADED, "no selector"),
        (_cr("argoproj.io/v1alpha1", "Rollout", {"observedGeneration": "1", "phase": "Progressing"}, paused=True),
         Health.SUSPENDED, "Rollout is paused"),
        (_cr("monitoring.coreos.com/v1", "Prometheus"), Health.PROGRESSING, "Waiting for initialization"),
        (_cr("monitoring.coreos.com/v1", "Alertmanager", {"conditions": [
            {"type": "Available", "status": "True"}]}), Health.HEALTHY, "All instances are available"),
        (_cr("monitoring.coreos.com/v1", "Prometheus", {"conditions": [
            {"type": "Available", "status": "False", "reason": "SomePodsNotReady", "message": "1/2 ready"}]}),
         Health.PROGRESSING, "1/2 ready"),
        (_cr("monitoring.coreos.com/v1", "Prometheus", {"conditions": [
            {"type": "Available", "status": "False", "reason": "NoPodReady"}]}), Health.DEGRADED, "NoPodReady"),
    ],
    ids=["rollout-unobserved", "rollout-healthy", "rollout-invalid", "rollout-paused", "prometheus-new",
         "alertmanager-available", "prometheus-some-pods", "prometheus-none-ready"],
)  # fmt: skip
def test_custom_resources_argo_cd_has_rules_for_read_as_its_rules_read_them(
    live: Manifest, expected: Health, message: str
) -> None:
    """A Rollout no Argo Rollouts controller acted on, or a Prometheus no operator did, read
    Healthy by the generic rule (no status is current): Argo CD's own rules say Progressing."""
    result = assess(live)
    assert (result.status, result.message) == (expected, message)
