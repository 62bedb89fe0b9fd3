"""Running an app's hooks at one phase of a sync, as Argo CD does.

Hooks of a phase run wave by wave: each is created (after deleting the one left from an
earlier sync, the default BeforeHookCreation policy), then waited for: a Job until Complete
or Failed, a Pod until Succeeded or Failed, anything else until Healthy or Degraded. A hook
that fails stops the phase. HookSucceeded and HookFailed delete the hook when it ends so.

Hooks carry the app's hook label but no tracking annotation: they are never pruned, never in
the inventory, and never make the app OutOfSync.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sandbox.apply.health import assess
from sandbox.apply.steps import Steps, Waiting
from sandbox.kube.client import Kube, KubeError, Resource
from sandbox.manifest.waves import DeletePolicy, Hook, Phase, hook_of, wave_of
from sandbox.model import DesiredObject, Health, Manifest, ObjectKey

HOOK_LABEL = "gitops-sandbox.io/hook-of"
HOOK_TIMEOUT = 300.0
GONE_TIMEOUT = 30.0


@dataclass(frozen=True)
class HookRun:
    key: ObjectKey  # with the name the API server gave a generateName hook
    phase: Phase
    ok: bool
    message: str
    source: str


def hooks_at(hooks: tuple[DesiredObject, ...], phase: Phase) -> list[DesiredObject]:
    return [h for h in hooks if phase in _hook(h).phases]


def _hook(obj: DesiredObject) -> Hook:
    return hook_of(obj.manifest) or Hook((), ())


class HookRunner:
    def __init__(self, kube: Kube, timeout: float = HOOK_TIMEOUT) -> None:
        self.kube = kube
        self.timeout = timeout

    def run(
        self, app: str, hooks: list[DesiredObject], phase: Phase, kind_rank: Callable[[str], int]
    ) -> Steps[list[HookRun]]:
        """Every hook of ``phase``, wave by wave; stops at the first wave with a failure."""
        runs: list[HookRun] = []
        for wave in sorted({wave_of(h.manifest) for h in hooks}):
            group = sorted((h for h in hooks if wave_of(h.manifest) == wave),
                           key=lambda h: (kind_rank(h.key.kind), h.key))  # fmt: skip
            started = []
            for hook in group:
                started.append((yield from self._start(app, hook, phase)))
            for hook, created in zip(group, started, strict=True):
                runs.append(
                    (yield from self._finish(hook, phase, created)) if isinstance(created, tuple) else created
                )
            if not all(r.ok for r in runs):
                break
        return runs

    def _start(
        self, app: str, obj: DesiredObject, phase: Phase
    ) -> Steps[tuple[Resource, Manifest] | HookRun]:
        resource = self.kube.resource_for(obj.manifest["apiVersion"], obj.key.kind)
        if resource is None:
            return HookRun(obj.key, phase, False, f"the cluster does not know {obj.manifest['apiVersion']} "
                           f"{obj.key.kind}", obj.source)  # fmt: skip
        manifest = _labelled(obj.manifest, app)
        named = bool(manifest["metadata"].get("name"))
        try:
            if named and DeletePolicy.BEFORE_HOOK_CREATION in _hook(obj).policies:
                yield from self._delete_and_wait(obj.key, resource)
            created: Manifest = self.kube.request("POST", resource.path(obj.key.namespace), body=manifest)
        except KubeError as exc:
            return HookRun(obj.key, phase, False, exc.message, obj.source)
        return resource, created

    def _finish(self, obj: DesiredObject, phase: Phase, started: tuple[Resource, Manifest]) -> Steps[HookRun]:
        resource, created = started
        name = created["metadata"]["name"]
        key = ObjectKey(obj.key.group, obj.key.kind, obj.key.namespace, name)
        ok, message = yield from self._wait(resource, key, str(created["metadata"].get("uid", "")), phase)
        policies = _hook(obj).policies
        if (ok and DeletePolicy.HOOK_SUCCEEDED in policies) or (
            not ok and DeletePolicy.HOOK_FAILED in policies
        ):
            try:
                self.kube.delete(key, resource, propagation="Background")
            except KubeError as exc:
                message += f" (deleting it by its policy failed: {exc.message})"
        return HookRun(key, phase, ok, message, obj.source)

    def _wait(self, resource: Resource, key: ObjectKey, uid: str, phase: Phase) -> Steps[tuple[bool, str]]:
        deadline = time.monotonic() + self.timeout
        while True:
            live = self.kube.read(resource, key.namespace, key.name)
            done = _ended(live) if live is not None else self._gone(key, uid)
            if done is not None:
                return done
            if time.monotonic() > deadline:
                return False, f"did not finish within {self.timeout:.0f}s"
            yield Waiting(f"{phase} hook {key} to finish")

    def _delete_and_wait(self, key: ObjectKey, resource: Resource) -> Steps[None]:
        if self.kube.read(resource, key.namespace, key.name) is None:
            return
        self.kube.delete(key, resource, propagation="Foreground")
        deadline = time.monotonic() + GONE_TIMEOUT
        while self.kube.read(resource, key.namespace, key.name) is not None:
            if time.monotonic() > deadline:
                raise KubeError(
                    504, "Timeout", f"the hook left by an earlier sync was not gone after {GONE_TIMEOUT:.0f}s"
                )
            yield Waiting(f"the hook {key} an earlier sync left to be deleted")

    def _gone(self, key: ObjectKey, uid: str) -> tuple[bool, str]:
        """How a hook that is gone ended: a Job with ttlSecondsAfterFinished is deleted by the
        TTL controller as soon as it finishes (0: at once, as ingress-nginx's admission Jobs), so
        what its Job controller said of it, in its events, tells success from failure."""
        if key.kind == "Job" and uid:
            try:
                events = self.kube.get(f"/api/v1/namespaces/{key.namespace}/events",
                                       {"fieldSelector": f"involvedObject.uid={uid}"})  # fmt: skip
            except KubeError:
                events = {}
            reasons = {str(e.get("reason", "")) for e in events.get("items", [])}
            if "Completed" in reasons:
                return True, "completed (deleted when it finished: ttlSecondsAfterFinished)"
            if reasons & {"BackoffLimitExceeded", "DeadlineExceeded", "Failed"}:
                return False, "failed (" + ", ".join(
                    sorted(reasons & {"BackoffLimitExceeded", "DeadlineExceeded", "Failed"})
                ) + "), then deleted"
        return False, "deleted before it finished"


def _ended(live: Manifest | None) -> tuple[bool, str] | None:
    """(succeeded, message) once a hook has finished; None while it runs."""
    if live is None:
        return False, "deleted before it finished"
    kind = live.get("kind")
    status = live.get("status") or {}
    if kind == "Job":
        for condition in status.get("conditions") or ():
            if condition.get("status") != "True":
                continue
            if condition.get("type") in ("Complete", "SuccessCriteriaMet"):
                return True, "Job completed"
            if condition.get("type") == "Failed":
                return (
                    False,
                    f"Job failed: {condition.get('reason', '')} {condition.get('message', '')}".strip(),
                )
        return None
    if kind == "Pod":
        phase = status.get("phase")
        if phase == "Succeeded":
            return True, "Pod succeeded"
        if phase == "Failed":
            return False, f"Pod failed: {status.get('reason', '')} {status.get('message', '')}".strip()
        return None
    health = assess(live)
    if health.status == Health.HEALTHY:
        return True, "Healthy"
    if health.status == Health.DEGRADED:
        return False, f"Degraded: {health.message}"
    return None


def _labelled(manifest: Manifest, app: str) -> Manifest:
    meta = dict(manifest.get("metadata") or {})
    meta["labels"] = {**(meta.get("labels") or {}), HOOK_LABEL: app}
    return {**manifest, "metadata": meta}
