"""What a kubelet checks before it starts a pod's containers: that the Secrets and ConfigMaps
they read exist, with the keys they name.

kwok starts every pod it is given. Here each pending pod waits for this check (kwok's stage
"gitops-sandbox-kubelet-check" holds pods the check has not marked); a pod that reads what does
not exist is marked held, and the stage "gitops-sandbox-kubelet-holds" shows it waiting as a
kubelet leaves it: CreateContainerConfigError for an environment variable, ContainerCreating
for a volume (the kubelet's FailedMount). Without this, an app whose Secret is missing (SOPS
with no key, an ExternalSecret with no store) reads Healthy where every real cluster fails it.
The kubelet's own wording is kept (pkg/kubelet/kubelet_pods.go, the volume plugins).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sandbox.model import Manifest

CHECKED = "gitops-sandbox.io/kubelet-checked"
HELD_REASON = "gitops-sandbox.io/held-reason"
HELD_MESSAGE = "gitops-sandbox.io/held-message"
# kwok's own pod-ready stage loses to the holding stage only when its weight is 0.
POD_READY_WEIGHT = "pod-ready.stage.kwok.x-k8s.io/weight"

# (kind, name) in the pod's namespace → the object, or None when there is none.
Lookup = Callable[[str, str], Manifest | None]


@dataclass(frozen=True)
class Hold:
    reason: str  # CreateContainerConfigError | ContainerCreating
    message: str


def waiting_to_start(pod: Manifest) -> bool:
    """A pod whose containers a kubelet has not started: only such a pod can be held."""
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    if meta.get("deletionTimestamp") or status.get("phase", "Pending") != "Pending":
        return False
    return not any(
        ((s.get("state") or {}).get("running") or (s.get("state") or {}).get("terminated"))
        for s in status.get("containerStatuses") or ()
    )


def hold_for(pod: Manifest, lookup: Lookup) -> Hold | None:
    """Why a kubelet would not start this pod's containers, if it would not: the first
    environment problem (the kubelet stops at it), else the first volume it cannot mount."""
    spec = pod.get("spec") or {}
    containers = [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]
    for container in containers:
        if problem := next(_env_problems(container, lookup), None):
            return Hold("CreateContainerConfigError", problem)
    for volume in spec.get("volumes") or ():
        if problem := next(_volume_problems(volume, lookup), None):
            name = volume.get("name", "")
            return Hold("ContainerCreating", f'MountVolume.SetUp failed for volume "{name}" : {problem}')
    return None


def annotations_patch(pod: Manifest, hold: Hold | None) -> dict[str, Any] | None:
    """The metadata patch that marks the pod checked, held or released; None if it says so
    already."""
    now = (pod.get("metadata") or {}).get("annotations") or {}
    want: dict[str, str | None] = {
        CHECKED: "true",
        HELD_REASON: None,
        HELD_MESSAGE: None,
        POD_READY_WEIGHT: None,
    }
    if hold is not None:
        want.update({HELD_REASON: hold.reason, HELD_MESSAGE: hold.message, POD_READY_WEIGHT: "0"})
    changed = {k: v for k, v in want.items() if now.get(k) != v}
    return {"metadata": {"annotations": changed}} if changed else None


def is_held(pod: Manifest) -> bool:
    return HELD_REASON in ((pod.get("metadata") or {}).get("annotations") or {})


def _env_problems(container: Manifest, lookup: Lookup) -> Iterator[str]:
    for source in container.get("envFrom") or ():
        for field, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
            ref = source.get(field)
            if ref and not ref.get("optional") and lookup(kind, str(ref.get("name", ""))) is None:
                yield _not_found(kind, str(ref.get("name", "")))
    for env in container.get("env") or ():
        value_from = env.get("valueFrom") or {}
        for field, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
            ref = value_from.get(field)
            if not ref or ref.get("optional"):
                continue
            name, key = str(ref.get("name", "")), str(ref.get("key", ""))
            found = lookup(kind, name)
            if found is None:
                yield _not_found(kind, name)
            elif not _has_key(found, key):
                namespace = (found.get("metadata") or {}).get("namespace", "")
                yield f"couldn't find key {key} in {kind} {namespace}/{name}"


def _volume_problems(volume: Manifest, lookup: Lookup) -> Iterator[str]:
    sources: list[tuple[str, Manifest]] = []
    if secret := volume.get("secret"):
        sources.append(("Secret", {**secret, "name": secret.get("secretName", "")}))
    if config_map := volume.get("configMap"):
        sources.append(("ConfigMap", config_map))
    for projection in (volume.get("projected") or {}).get("sources") or ():
        sources.extend((kind, projection[field]) for field, kind in (("secret", "Secret"), ("configMap", "ConfigMap"))
                       if projection.get(field))  # fmt: skip
    for kind, ref in sources:
        if ref.get("optional"):
            continue
        name = str(ref.get("name", ""))
        found = lookup(kind, name)
        if found is None:
            yield _not_found(kind, name)
            continue
        for item in ref.get("items") or ():
            if not _has_key(found, str(item.get("key", ""))):
                yield f"{_MISSING_ITEM[kind]}: {item.get('key')}"


# The volume plugins' words for an item whose key the object lacks.
_MISSING_ITEM = {
    "Secret": "references non-existent secret key",
    "ConfigMap": "configmap references non-existent config key",
}


def _not_found(kind: str, name: str) -> str:
    return f'{kind.lower()} "{name}" not found'


def _has_key(obj: Manifest, key: str) -> bool:
    return (
        key in (obj.get("data") or {})
        or key in (obj.get("binaryData") or {})
        or key in (obj.get("stringData") or {})
    )
