"""Live objects kept current by watches: an informer-like cache.

One thread per watched resource lists once, then follows a watch from that
resourceVersion (with bookmarks), relisting only when the server says the version is gone.
Subscribers get every change as it lands, so drift is seen within the watch latency rather
than at the next poll. Owned children (ReplicaSets, Pods) are indexed by their owner's uid
to draw the live tree without listing.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from sandbox.apply.reader import ClusterReader
from sandbox.kube.client import KubeError, Resource
from sandbox.model import Manifest, ObjectKey

# What the trees show under an app's objects: kinds followed for their owner references.
CHILD_KINDS = (("apps", "ReplicaSet"), ("", "Pod"), ("batch", "Job"))

# A stopped API server (SIGSTOP, a hung host) accepts connections and answers nothing: the
# watches wait quietly, so the cache asks for the server's version this often, and says the
# cluster is lost once that many asks in a row got no answer within the timeout.
HEARTBEAT_EVERY, HEARTBEAT_TIMEOUT, HEARTBEAT_MISSES = 5.0, 5.0, 2

# (event type, key, object): the object as last known for DELETED, which may not be in the cache.
Listener = Callable[[str, ObjectKey, Manifest], None]


def key_of(obj: Manifest) -> ObjectKey:
    return ObjectKey.of(obj)


class LiveCache:
    """Watched objects by key, with an owner index; thread-safe reads."""

    def __init__(self, kube: ClusterReader, index_label: str = "") -> None:
        self.kube = kube
        self.index_label = index_label
        self._labeled: dict[str, set[ObjectKey]] = defaultdict(set)  # index_label value -> keys
        self._objects: dict[ObjectKey, Manifest] = {}
        self._children: dict[str, set[ObjectKey]] = defaultdict(set)  # owner uid -> keys
        self._lock = threading.RLock()
        self._stored = threading.Condition(self._lock)  # told each time an object is stored
        self._watches: dict[tuple[Resource, str], _Watch] = {}
        self._listeners: list[Listener] = []
        self._stopped = threading.Event()
        self._reachable = True
        self._connectivity: list[Callable[[bool, str], None]] = []
        self._heartbeat: threading.Thread | None = None

    @property
    def reachable(self) -> bool:
        """Whether the last list or watch reached the API server."""
        with self._lock:
            return self._reachable

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def on_connectivity(self, listener: Callable[[bool, str], None]) -> None:
        """Called with (False, why) when the watches lose the API server, (True, "") when a list
        succeeds again: the cluster went away and came back."""
        self._connectivity.append(listener)

    def _connection(self, reachable: bool, why: str) -> None:
        with self._lock:
            if reachable == self._reachable or self._stopped.is_set():
                return
            self._reachable = reachable
        for listener in list(self._connectivity):
            listener(reachable, why)

    def watch(self, resource: Resource, label_selector: str = "", timeout: float = 30) -> None:
        """Start following a resource (idempotent) and wait until its first list is in."""
        with self._lock:
            existing = self._watches.get((resource, label_selector))
            if existing is None:
                existing = _Watch(self, resource, label_selector)
                self._watches[(resource, label_selector)] = existing
                existing.start()
            if self._heartbeat is None:
                self._heartbeat = threading.Thread(target=self._beat, name="heartbeat", daemon=True)
                self._heartbeat.start()
        existing.synced.wait(timeout)

    def _beat(self) -> None:
        missed, said = 0, False
        while not self._stopped.wait(HEARTBEAT_EVERY):
            try:
                self.kube.ping(HEARTBEAT_TIMEOUT)
            except KubeError as exc:
                if not exc.transient:
                    continue  # it answered, with a refusal: it is there
                missed += 1
                if missed >= HEARTBEAT_MISSES and not said:
                    said = True
                    self._connection(False, f"the API server does not answer ({missed} requests in a row got "
                                            f"no answer within {HEARTBEAT_TIMEOUT:.0f} s: {exc.message})")  # fmt: skip
                continue
            missed = 0
            if said:  # only what the heartbeat said it takes back; the watches say the rest
                said = False
                self._connection(True, "")

    def watching(self, resource: Resource) -> bool:
        return any(res == resource for res, _sel in self._watches)

    def get(self, key: ObjectKey) -> Manifest | None:
        with self._lock:
            return self._objects.get(key)

    def children(self, uid: str) -> list[Manifest]:
        with self._lock:
            return [self._objects[k] for k in sorted(self._children.get(uid, ())) if k in self._objects]

    def labeled(self, value: str) -> list[Manifest]:
        """Objects whose index label has this value (for the agent: an app's objects)."""
        with self._lock:
            return [self._objects[k] for k in self._labeled.get(value, ()) if k in self._objects]

    def forget_all(self) -> None:
        """Drop every object: they were another cluster's. The watches list the new one again
        (their streams were ended when the client reconnected)."""
        with self._lock:
            self._objects.clear()
            self._labeled.clear()
            self._children.clear()

    def stop(self) -> None:
        self._stopped.set()
        self.kube.close_streams()

    # -- called by watch threads ------------------------------------------------------------

    def _replace(self, resource: Resource, selector: str, items: list[Manifest]) -> None:
        fresh = {key_of(o): o for o in items}
        with self._lock:
            stale = [
                (k, o) for k, o in self._objects.items()
                if _belongs(o, resource) and k not in fresh and self._selected(o, selector)
            ]  # fmt: skip
            for key, _obj in stale:
                self._forget(key)
        for key, obj in stale:
            self._notify("DELETED", key, obj)
        for key, obj in fresh.items():
            self._store(obj)
            self._notify("ADDED", key, obj)

    @staticmethod
    def _selected(obj: Manifest, selector: str) -> bool:
        if not selector:
            return True
        label = selector.split("=")[0]
        return label in (obj.get("metadata", {}).get("labels") or {})

    def _store(self, obj: Manifest) -> None:
        key = key_of(obj)
        with self._lock:
            previous = self._objects.get(key)
            if previous is not None:
                self._unindex(key, previous)
            self._objects[key] = obj
            if self.index_label:
                value = (obj.get("metadata", {}).get("labels") or {}).get(self.index_label)
                if value is not None:
                    self._labeled[value].add(key)
            for ref in obj.get("metadata", {}).get("ownerReferences") or []:
                self._children[ref.get("uid", "")].add(key)
            self._stored.notify_all()

    def wait_present(self, keys: set[ObjectKey], timeout: float = 5.0) -> bool:
        """Until the watches have brought every key (a sync's creations, which the API server has
        acknowledged): what is shown right after a sync is what the sync did, not the watch's
        lag. False when the time ran out."""
        deadline = time.monotonic() + timeout
        with self._stored:
            while any(k not in self._objects for k in keys):
                left = deadline - time.monotonic()
                if left <= 0 or self._stopped.is_set():
                    return False
                self._stored.wait(min(left, 0.5))
        return True

    def _forget(self, key: ObjectKey) -> Manifest | None:
        with self._lock:
            obj = self._objects.pop(key, None)
            if obj:
                self._unindex(key, obj)
            return obj

    def _unindex(self, key: ObjectKey, obj: Manifest) -> None:
        meta = obj.get("metadata", {})
        for ref in meta.get("ownerReferences") or []:
            self._children[ref.get("uid", "")].discard(key)
        if self.index_label:
            value = (meta.get("labels") or {}).get(self.index_label)
            if value is not None:
                self._labeled[value].discard(key)

    def _apply_event(self, kind: str, obj: Manifest) -> None:
        key = key_of(obj)
        if kind == "DELETED":
            self._notify(kind, key, self._forget(key) or obj)
        else:
            self._store(obj)
            self._notify(kind, key, obj)

    def _notify(self, kind: str, key: ObjectKey, obj: Manifest) -> None:
        for listener in list(self._listeners):
            listener(kind, key, obj)


def _belongs(obj: Manifest, resource: Resource) -> bool:
    api_version = obj.get("apiVersion", "")
    group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
    return group == resource.group and obj.get("kind") == resource.kind


class _Watch(threading.Thread):
    """List, then watch from the list's resourceVersion; relist on 410 Gone."""

    def __init__(self, cache: LiveCache, resource: Resource, selector: str) -> None:
        super().__init__(name=f"watch-{resource.plural}", daemon=True)
        self.cache = cache
        self.resource = resource
        self.selector = selector
        self.synced = threading.Event()

    def _list(self) -> str:
        params = {"limit": "500"}
        if self.selector:
            params["labelSelector"] = self.selector
        items: list[Manifest] = []
        while True:
            page: dict[str, Any] = self.cache.kube.get(self.resource.path(), params)
            for item in page.get("items", []):
                # Lists omit apiVersion/kind on items; watches and the tree need them.
                item.setdefault("apiVersion", self.resource.api_version)
                item.setdefault("kind", self.resource.kind)
                items.append(item)
            cont = page.get("metadata", {}).get("continue")
            if not cont:
                break
            params["continue"] = cont
        self.cache._replace(self.resource, self.selector, items)
        self.synced.set()
        self.cache._connection(True, "")
        return str(page.get("metadata", {}).get("resourceVersion", ""))

    def run(self) -> None:
        backoff = 0.2
        version = ""
        while not self.cache._stopped.is_set():
            try:
                if not version:
                    version = self._list()
                params = {
                    "watch": "1", "resourceVersion": version, "allowWatchBookmarks": "true",
                    "timeoutSeconds": "240",
                }  # fmt: skip
                if self.selector:
                    params["labelSelector"] = self.selector
                for event in self.cache.kube.stream(self.resource.path(), params, timeout=300):
                    if self.cache._stopped.is_set():
                        return
                    kind, obj = event.get("type"), event.get("object", {})
                    if kind == "ERROR":
                        if obj.get("code") == 410:
                            version = ""  # too old: relist
                        break
                    version = obj.get("metadata", {}).get("resourceVersion", version)
                    if kind == "BOOKMARK":
                        continue
                    self.cache._apply_event(str(kind), obj)
                backoff = 0.2
            except KubeError as exc:
                if exc.status == 410:
                    version = ""
                elif exc.transient:
                    version = ""  # after an outage, list again: what changed meanwhile is known then
                    self.cache._connection(False, exc.message)
                time.sleep(backoff)
                backoff = min(backoff * 2, 5)
            except Exception as exc:  # the stream dropped (the API server went away): list again
                version = ""
                self.cache._connection(False, f"{type(exc).__name__}: {exc}"[:200])
                time.sleep(backoff)
                backoff = min(backoff * 2, 5)
