"""The cloud's control loops: list, then watch, each kind it acts on; act on each object seen.

Each loop is a thread that lists, then watches from the list's resourceVersion, and starts over
after an error or a closed watch (an API server restart, a 410 Gone), so the process outlives
blips of the control plane it serves.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from kubernetes import client, watch

from sandbox.cluster.cloud import addresses, kubelet, volumes
from sandbox.model import Manifest

Handler = Callable[[Manifest], None]


def _log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


class Cloud:
    def __init__(self, api: client.ApiClient, volumes_dir: Path) -> None:
        self.core = client.CoreV1Api(api)
        self.networking = client.NetworkingV1Api(api)
        self.storage = client.StorageV1Api(api)
        self.volumes_dir = volumes_dir
        self._lock = threading.Lock()
        self._service_addresses: dict[tuple[str, str], str] = {}
        self._held: dict[str, set[str]] = {}  # namespace → pods held for a missing Secret or ConfigMap

    def run(self, stop: threading.Event) -> None:
        self._ensure_storage_class()
        # The addresses Services hold already, before any is handed out: after a restart the
        # loops see Services in name order, and a new one must not take an address in use.
        raw: Any = self.core.list_service_for_all_namespaces(_preload_content=False)  # an HTTP response
        listed = json.loads(raw.data)
        for service in listed.get("items") or ():
            meta = service.get("metadata") or {}
            if found := addresses.addresses_of(service):
                self._service_addresses[(str(meta.get("namespace")), str(meta.get("name")))] = found[0]
        loops: list[tuple[str, str, Callable[..., Any], Handler]] = [
            ("PersistentVolumeClaim", "v1", self.core.list_persistent_volume_claim_for_all_namespaces, self.claim),
            ("PersistentVolume", "v1", self.core.list_persistent_volume, self.volume),
            ("Service", "v1", self.core.list_service_for_all_namespaces, self.service),
            ("Ingress", "networking.k8s.io/v1", self.networking.list_ingress_for_all_namespaces, self.ingress),
            ("Pod", "v1", self.core.list_pod_for_all_namespaces, self.pod),
            ("Secret", "v1", self.core.list_secret_for_all_namespaces, self.config),
            ("ConfigMap", "v1", self.core.list_config_map_for_all_namespaces, self.config),
        ]  # fmt: skip
        threads = [
            threading.Thread(
                target=_follow, args=(kind, version, lister, handler, stop), name=kind, daemon=True
            )
            for kind, version, lister, handler in loops
        ]
        for thread in threads:
            thread.start()
        stop.wait()

    def _ensure_storage_class(self) -> None:
        try:
            self.storage.create_storage_class(cast(Any, volumes.storage_class()))  # plain dicts serve
            _log(f"created the default StorageClass {volumes.STORAGE_CLASS}")
        except client.ApiException as err:
            if err.status != 409:
                raise

    def claim(self, claim: Manifest) -> None:
        if not volumes.wants_volume(claim):
            return
        name = volumes.volume_name(claim)
        folder = volumes.make_folder(self.volumes_dir, name)
        try:
            self.core.create_persistent_volume(cast(Any, volumes.volume_for(claim, folder)))
            meta = claim["metadata"]
            _log(f"bound claim {meta['namespace']}/{meta['name']} to {folder}")
        except client.ApiException as err:
            if err.status != 409:  # made already (a watch replays what a list showed)
                raise

    def volume(self, volume: Manifest) -> None:
        if not volumes.released(volume):
            return
        volumes.remove_folder(volume, self.volumes_dir)
        try:
            self.core.delete_persistent_volume(volume["metadata"]["name"])
            _log(f"deleted released volume {volume['metadata']['name']}")
        except client.ApiException as err:
            if err.status != 404:
                raise

    def service(self, service: Manifest) -> None:
        meta = service.get("metadata") or {}
        key = (str(meta.get("namespace")), str(meta.get("name")))
        with self._lock:
            if found := addresses.addresses_of(service):
                self._service_addresses[key] = found[0]
                return
            if not addresses.needs_address(service):
                self._service_addresses.pop(key, None)
                return
            address = self._service_addresses.get(key) or addresses.next_free(
                self._service_addresses.values()
            )
            self._service_addresses[key] = address
        self.core.patch_namespaced_service_status(key[1], key[0], addresses.status_patch(address))
        _log(f"LoadBalancer Service {key[0]}/{key[1]} has address {address}")

    def ingress(self, ingress: Manifest) -> None:
        if not addresses.needs_address(ingress):
            return
        meta = ingress["metadata"]
        self.networking.patch_namespaced_ingress_status(
            meta["name"], meta["namespace"], addresses.status_patch(addresses.INGRESS_ADDRESS)
        )
        _log(f"Ingress {meta['namespace']}/{meta['name']} has address {addresses.INGRESS_ADDRESS}")

    def pod(self, pod: Manifest) -> None:
        """Check a pending pod as a kubelet does before it starts it, and mark it checked or held."""
        meta = pod.get("metadata") or {}
        namespace, name = str(meta.get("namespace")), str(meta.get("name"))
        if not kubelet.waiting_to_start(pod):
            with self._lock:
                self._held.get(namespace, set()).discard(name)
            return
        hold = kubelet.hold_for(pod, lambda kind, ref: self._read(kind, namespace, ref))
        with self._lock:
            (
                self._held.setdefault(namespace, set()).add
                if hold
                else self._held.get(namespace, set()).discard
            )(name)
        if (patch := kubelet.annotations_patch(pod, hold)) is not None:
            self.core.patch_namespaced_pod(name, namespace, patch)
            if hold:
                _log(f"pod {namespace}/{name} waits: {hold.reason}: {hold.message}")
            elif kubelet.is_held(pod):
                _log(f"pod {namespace}/{name} may start: what it reads exists now")

    def config(self, obj: Manifest) -> None:
        """A Secret or ConfigMap came or changed: the pods held in its namespace are checked again."""
        namespace = str((obj.get("metadata") or {}).get("namespace"))
        with self._lock:
            held = sorted(self._held.get(namespace, ()))
        for name in held:
            try:
                raw: Any = self.core.read_namespaced_pod(name, namespace, _preload_content=False)
            except client.ApiException as err:
                if err.status == 404:
                    with self._lock:
                        self._held.get(namespace, set()).discard(name)
                    continue
                raise
            self.pod({"apiVersion": "v1", "kind": "Pod", **json.loads(raw.data)})

    def _read(self, kind: str, namespace: str, name: str) -> Manifest | None:
        read = self.core.read_namespaced_secret if kind == "Secret" else self.core.read_namespaced_config_map
        try:
            raw: Any = read(name, namespace, _preload_content=False)
        except client.ApiException as err:
            if err.status == 404:
                return None
            raise
        return cast(Manifest, json.loads(raw.data))


def _follow(
    kind: str, version: str, lister: Callable[..., Any], handler: Handler, stop: threading.Event
) -> None:
    while not stop.is_set():
        try:
            listed = json.loads(lister(_preload_content=False, _request_timeout=30).data)
            for item in listed.get("items") or ():
                _handle(handler, {"apiVersion": version, "kind": kind, **item})
            stream = watch.Watch().stream(
                lister, resource_version=listed["metadata"]["resourceVersion"], timeout_seconds=240,
                allow_watch_bookmarks=False,
            )  # fmt: skip
            for event in stream:
                if stop.is_set():
                    return
                if event["type"] in ("ADDED", "MODIFIED"):
                    _handle(handler, {"apiVersion": version, "kind": kind, **event["raw_object"]})
        except Exception as err:  # the API server restarting, a closed watch: list again
            _log(
                f"{kind}: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}; listing again"
            )
            stop.wait(1)


def _handle(handler: Handler, obj: Manifest) -> None:
    try:
        handler(obj)
    except client.ApiException as err:  # one object refused must not stop the loop
        meta = obj.get("metadata") or {}
        _log(f"{obj.get('kind')} {meta.get('namespace', '')}/{meta.get('name')}: {err.status} {err.reason}")
