"""Waiting on the cluster between the steps of a sync: Namespaces Active and CRDs Established
before what needs them, and a wave healthy before the next (as Argo CD waits). Each is a
generator of steps (``steps.py``): it yields while the cluster is not there yet."""

from __future__ import annotations

import time

from sandbox.apply.health import assess
from sandbox.apply.livecache import LiveCache
from sandbox.apply.outcome import Action, ObjectResult
from sandbox.apply.steps import Steps, Waiting
from sandbox.kube.client import Kube, KubeError
from sandbox.model import DesiredObject, Health, Manifest

ESTABLISH_TIMEOUT = 30.0
WAVE_TIMEOUT = 300.0


def until_healthy(kube: Kube, cache: LiveCache, objects: list[DesiredObject], wave: int) -> Steps[str]:
    """Until a wave's objects are healthy, as Argo CD waits before the next wave; returns ""
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
        more = f" and {len(pending) - 1} more" if len(pending) > 1 else ""
        yield Waiting(f"wave {wave} to become healthy before the next: {pending[0]}{more}")


def until_established(kube: Kube, objects: list[DesiredObject], results: list[ObjectResult]) -> Steps[None]:
    """Namespaces Active and CRDs Established before anything that needs them is applied."""
    failed = [r for r in results if r.action == Action.FAILED]
    if failed:
        raise KubeError(422, "Invalid", "; ".join(f"{r.key} ({r.source}): {r.message}" for r in failed))
    ok = {r.key for r in results}
    deadline = time.monotonic() + ESTABLISH_TIMEOUT
    pending = [o for o in objects if o.key in ok]
    while True:
        pending = [o for o in pending if not _established(_read(kube, o))]
        if not pending:
            return
        names = ", ".join(str(o.key) for o in pending)
        if time.monotonic() > deadline:
            raise KubeError(504, "Timeout", f"not established after {ESTABLISH_TIMEOUT:.0f}s: {names}")
        yield Waiting(f"{names} to be established")


def _read(kube: Kube, obj: DesiredObject) -> Manifest | None:
    resource = kube.resource_for(obj.manifest["apiVersion"], obj.key.kind)
    return kube.read(resource, "", obj.key.name) if resource else None


def _established(live: Manifest | None) -> bool:
    if live is None:
        return False
    if live.get("kind") == "Namespace":
        return (live.get("status") or {}).get("phase") == "Active"
    conditions = (live.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)
