"""A hand edit for learning: scale a workload as `kubectl scale` would, behind Git's back."""

from __future__ import annotations

from sandbox.apply.livecache import LiveCache
from sandbox.kube.client import Kube, KubeError
from sandbox.model import ObjectKey


def hand_scale(kube: Kube, cache: LiveCache, key: ObjectKey, replicas: int) -> str:
    """Patch the object's scale subresource with kubectl's field manager; returns what was
    done, in kubectl terms. With self-heal on, the agent sees the drift and undoes it."""
    live = cache.get(key)
    if live is None:
        raise KubeError(404, "NotFound", f"{key} is not in the cluster")
    resource = kube.resource_for(live["apiVersion"], key.kind)
    if resource is None or "replicas" not in (live.get("spec") or {}):
        raise KubeError(400, "BadRequest", f"{key} cannot be scaled")
    kube.request(
        "PATCH", resource.path(key.namespace, key.name) + "/scale",
        body={"spec": {"replicas": replicas}}, params={"fieldManager": "kubectl-scale"},
        content_type="application/merge-patch+json",
    )  # fmt: skip
    return f"kubectl scale {key.kind.lower()}/{key.name} -n {key.namespace} --replicas={replicas}"
