"""When a Flux app is Ready, as its controller decides: kustomize-controller checks health only
with spec.wait or spec.healthChecks, helm-controller waits for the release's resources, and
either gives up after spec.timeout."""

from __future__ import annotations

import re
from typing import Any

from sandbox.manifest.shape import mapping


def waits(kind: str, spec: dict[str, Any]) -> bool:
    """Whether being applied is not yet Ready: kustomize-controller checks health only with
    spec.wait (or healthChecks, see _health_checks); helm-controller waits for the release's
    resources unless told not to."""
    if kind == "HelmRelease":
        return not mapping(spec.get("install")).get("disableWait")
    return bool(spec.get("wait"))


def timeout(kind: str, spec: dict[str, Any]) -> float:
    """How long a health check waits: spec.timeout, else (a Kustomization) its interval, else
    (a HelmRelease) helm's five minutes, as the controllers default it."""
    for given in (spec.get("timeout"), spec.get("interval") if kind == "Kustomization" else None):
        seconds = go_duration(str(given)) if given else None
        if seconds:
            return seconds
    return 300.0 if kind == "HelmRelease" else 0.0


def retry_interval(kind: str, spec: dict[str, Any]) -> float:
    """A Kustomization's spec.retryInterval in seconds (0 when it sets none): kustomize-controller
    tries a failed reconciliation again after it, not on a backoff."""
    given = spec.get("retryInterval") if kind == "Kustomization" else None
    return (go_duration(str(given)) or 0.0) if given else 0.0


def go_duration(text: str) -> float | None:
    """A Go duration ("1m30s", "2h", "500ms") in seconds; None when it is not one."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)", text.strip())
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        return None
    unit = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    return sum(float(n) * unit[u] for n, u in parts)


def health_checks(spec: dict[str, Any], namespace: str) -> tuple[str, ...]:
    """spec.healthChecks as "Kind/namespace/name" (an object without a namespace is looked
    for in the Kustomization's own, as kustomize-controller does)."""
    checks = []
    for item in spec.get("healthChecks") or ():
        check = mapping(item)
        if check.get("kind") and check.get("name"):
            checks.append(f"{check['kind']}/{check.get('namespace') or namespace}/{check['name']}")
    return tuple(checks)
