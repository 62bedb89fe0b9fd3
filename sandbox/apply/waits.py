"""Waiting on the cluster between the steps of a sync: Namespaces Active and CRDs Established
before what needs them, and a wave healthy before the next (as Argo CD waits)."""

from __future__ import annotations

import time

from sandbox.apply.health import assess
from sandbox.apply.livecache import LiveCache
from sandbox.apply.outcome import Action, ObjectResult
from sandbox.kube.client import Kube, KubeError
from sandbox.model import DesiredObject, Health, Manifest

ESTABLISH_TIMEOUT = 30.0
WAVE_TIMEOUT = 300.0


def wait_healthy(kube: Kube, cache: LiveCache, objects: list[DesiredObject]) -> str:
    """Wait until a wave's objects are healthy, as Argo CD does before the next wave; ""
    when they are, else what is not (a Degraded object ends the wait at once)."""
    deadline = time.monotonic() + WAVE_TIMEOUT
    while True:
        pending = []
        for obj in objects:
            resource = kube.resource_for(obj.manifest["apiVersion"], obj.key.kind)
            # The watch cache follows every kind the sync applies; the API server only for a lag.
            live = cache.get(obj.key) or (
                kube.read(resource, obj.key.namespace, obj.key.name) if resource else None
            )
            health = assess(live)
            if health.status == Health.DEGRADED:
                return f"{obj.key} ({obj.source}) is Degraded: {health.message}"
            if health.status not in (Health.HEALTHY, Health.SUSPENDED):
                pending.append(
                    f"{obj.key} is {health.status}" + (f": {health.message}" if health.message else "")
                )
        if not pending:
            return ""
        if time.monotonic() > deadline:
            return f"after {WAVE_TIMEOUT:.0f}s " + "; ".join(pending[:3])
        time.sleep(0.2)


def wait_established(kube: Kube, objects: list[DesiredObject], results: list[ObjectResult]) -> None:
    """Namespaces Active and CRDs Established before anything that needs them is applied."""
    ok = {r.key for r in results if r.action != Action.FAILED}
    failed = [r for r in results if r.action == Action.FAILED]
    if failed:
        raise KubeError(422, "Invalid", "; ".join(f"{r.key} ({r.source}): {r.message}" for r in failed))
    deadline = time.monotonic() + ESTABLISH_TIMEOUT
    pending = [o for o in objects if o.key in ok]
    while pending and time.monotonic() < deadline:
        still = []
        for obj in pending:
            resource = kube.resource_for(obj.manifest["apiVersion"], obj.key.kind)
            live = kube.read(resource, "", obj.key.name) if resource else None
            if not _established(live):
                still.append(obj)
        pending = still
        if pending:
            time.sleep(0.1)
    if pending:
        names = ", ".join(str(o.key) for o in pending)
        raise KubeError(504, "Timeout", f"not established after {ESTABLISH_TIMEOUT:.0f}s: {names}")


def _established(live: Manifest | None) -> bool:
    if live is None:
        return False
    if live.get("kind") == "Namespace":
        return (live.get("status") or {}).get("phase") == "Active"
    conditions = (live.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)
