"""The health of custom resources Argo CD assesses with rules of its own (its built-in
resource_customizations), where the generic reading (kstatus: no status is current) would call
an object Healthy that nothing has acted on: a Rollout with no Argo Rollouts controller, a
Prometheus with no operator. Each rule follows Argo CD's health.lua for the kind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.model import Health, HealthResult, Manifest

# Argo Rollouts' phases as Argo CD maps them (Paused reads Suspended).
_ROLLOUT_PHASES = {
    "Healthy": Health.HEALTHY,
    "Progressing": Health.PROGRESSING,
    "Degraded": Health.DEGRADED,
    "Paused": Health.SUSPENDED,
}
_ROLLOUT_FAILED = ("RolloutAborted", "ProgressDeadlineExceeded")


def _status(live: Manifest) -> dict[str, Any]:
    found = live.get("status")
    return found if isinstance(found, dict) else {}


def _conditions(live: Manifest) -> list[dict[str, Any]]:
    found = _status(live).get("conditions")
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def _rollout(live: Manifest) -> HealthResult:
    status = _status(live)
    observed = status.get("observedGeneration")
    generation = (live.get("metadata") or {}).get("generation")
    # A numeric observedGeneration behind the spec (or none at all): the controller has not
    # acted on it yet, which is all a Rollout with no Argo Rollouts controller ever says.
    if not status or (
        str(observed).isdigit() and generation is not None and int(str(observed)) != generation
    ):
        return HealthResult(Health.PROGRESSING, "Waiting for rollout spec update to be observed")
    for cond in _conditions(live):
        if cond.get("type") == "InvalidSpec" or (
            cond.get("type") == "Progressing" and cond.get("reason") in _ROLLOUT_FAILED
        ):
            return HealthResult(Health.DEGRADED, str(cond.get("message") or cond.get("reason") or ""))
    if (live.get("spec") or {}).get("paused"):
        return HealthResult(Health.SUSPENDED, "Rollout is paused")
    phase = str(status.get("phase") or "")
    if phase in _ROLLOUT_PHASES:  # the controller (1.0 and later) works its phase out itself
        return HealthResult(_ROLLOUT_PHASES[phase], str(status.get("message") or ""))
    return HealthResult(Health.PROGRESSING, "Waiting for the rollout to report its phase")


def _operator_instance(live: Manifest) -> HealthResult:
    """Prometheus and Alertmanager: healthy once the operator says they are Available."""
    result = HealthResult(Health.PROGRESSING, "Waiting for initialization")
    for cond in _conditions(live):
        if cond.get("type") != "Available":
            continue
        if cond.get("status") == "True":
            return HealthResult(Health.HEALTHY, "All instances are available")
        why = str(cond.get("message") or cond.get("reason") or "")
        some = cond.get("reason") == "SomePodsNotReady"
        result = HealthResult(Health.PROGRESSING if some else Health.DEGRADED, why)
    return result


CUSTOM_RESOURCE_CHECKS: dict[tuple[str, str], Callable[[Manifest], HealthResult]] = {
    ("argoproj.io", "Rollout"): _rollout,
    ("monitoring.coreos.com", "Prometheus"): _operator_instance,
    ("monitoring.coreos.com", "Alertmanager"): _operator_instance,
}
