"""The order objects appeared in: real watch events from the API server, not logs."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from sandbox.kube.client import Kube

# kind -> cluster-wide list path
PATHS = {
    "ConfigMap": "/api/v1/configmaps",
    "Service": "/api/v1/services",
    "Pod": "/api/v1/pods",
    "Deployment": "/apis/apps/v1/deployments",
    "Job": "/apis/batch/v1/jobs",
}


def available(obj: dict[str, Any]) -> bool:
    """A Deployment with all its replicas available."""
    return bool((obj.get("status") or {}).get("availableReplicas") == (obj.get("spec") or {}).get("replicas"))


@dataclass(frozen=True)
class Seen:
    at: float
    type: str  # ADDED, MODIFIED, DELETED
    kind: str
    name: str
    object: dict[str, Any]


def _order(seen: Seen) -> int:
    return int((seen.object.get("metadata") or {}).get("resourceVersion") or 0)


class EventLog:
    """Every watch event for the given kinds in one namespace, from the moment it starts."""

    def __init__(self, kube: Kube, namespace: str, kinds: tuple[str, ...]) -> None:
        self.kube = kube
        self.namespace = namespace
        self.events: list[Seen] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._open = {k: threading.Event() for k in kinds}
        self._threads = [threading.Thread(target=self._watch, args=(k,), daemon=True) for k in kinds]

    def __enter__(self) -> EventLog:
        for thread in self._threads:
            thread.start()
        for kind, opened in self._open.items():
            # The server says so: the bookmark that ends a watch's initial events (watch-list).
            assert opened.wait(timeout=20), f"the {kind} watch did not open"
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self.kube.close_streams()

    def _watch(self, kind: str) -> None:
        params = {"watch": "true", "fieldSelector": f"metadata.namespace={self.namespace}",
                  "timeoutSeconds": "300", "sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan",
                  "allowWatchBookmarks": "true"}  # fmt: skip
        while not self._stop.is_set():
            try:
                for event in self.kube.stream(PATHS[kind], params, timeout=300):
                    obj = event.get("object") or {}
                    if event.get("type") == "BOOKMARK":
                        annotations = (obj.get("metadata") or {}).get("annotations") or {}
                        if annotations.get("k8s.io/initial-events-end") == "true":
                            self._open[kind].set()
                        continue
                    seen = Seen(time.monotonic(), str(event.get("type")), kind,
                                str((obj.get("metadata") or {}).get("name", "")), obj)  # fmt: skip
                    with self._lock:
                        self.events.append(seen)
            except Exception:  # closed by __exit__, or the server ended the stream: watch again
                if not self._stop.is_set():
                    time.sleep(0.1)

    def first(self, kind: str, name_prefix: str, type_: str = "ADDED") -> Seen | None:
        with self._lock:
            return next(
                (
                    e
                    for e in self.events
                    if e.kind == kind and e.name.startswith(name_prefix) and e.type == type_
                ),
                None,
            )

    def when(self, kind: str, name_prefix: str, type_: str = "ADDED") -> int:
        """When the change happened, as an order: the resourceVersion the API server gave it
        (etcd's revision here, one count across kinds). The arrival times of separate watch
        streams are no order: a loaded machine delivers one stream's event after another's."""
        found = self.first(kind, name_prefix, type_)
        assert found is not None, f"no {type_} event for {kind} {name_prefix}* in {self.summary()}"
        return _order(found)

    def first_where(self, kind: str, name: str, test: Any) -> int:
        """When (as ``when`` orders it) the object first passed ``test``."""
        with self._lock:
            found = next(
                (e for e in self.events if e.kind == kind and e.name == name and test(e.object)), None
            )
        assert found is not None, f"no event for {kind} {name} that passes the test in {self.summary()}"
        return _order(found)

    def summary(self) -> list[str]:
        with self._lock:
            return [f"{e.type} {e.kind}/{e.name}" for e in self.events]
