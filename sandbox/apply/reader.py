"""The cluster through a door that opens one way: reads, watches and server-side dry-runs.

Observers (status, diff, history, the TUI's diff panel) hold a ClusterReader and nothing
else, so they have no path that writes: there is no apply or delete method to call, by
mistake or otherwise. A dry-run is a PATCH the API server validates and never persists.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sandbox.kube.client import FIELD_MANAGER, Kube, Resource
from sandbox.model import Manifest


class ClusterReader:
    """Read-only access to one cluster, sharing a Kube client's connections."""

    def __init__(self, kube: Kube) -> None:
        self._kube = kube

    @property
    def host(self) -> str:
        return self._kube.host

    def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        return self._kube.get(path, params)

    def cluster_uid(self) -> str:
        return self._kube.cluster_uid()

    def ping(self, timeout: float) -> None:
        self._kube.ping(timeout)

    def read(self, resource: Resource, namespace: str, name: str) -> Manifest | None:
        return self._kube.read(resource, namespace, name)

    def stream(self, path: str, params: dict[str, str], timeout: float) -> Iterator[dict[str, Any]]:
        return self._kube.stream(path, params, timeout)

    def close_streams(self) -> None:
        self._kube.close_streams()

    def resources(self, refresh: bool = False) -> dict[tuple[str, str], Resource]:
        return self._kube.resources(refresh)

    def resource_for(self, api_version: str, kind: str) -> Resource | None:
        return self._kube.resource_for(api_version, kind)

    def is_namespaced(self, group: str, kind: str) -> bool | None:
        return self._kube.is_namespaced(group, kind)

    def dry_run(self, manifest: Manifest, field_manager: str = FIELD_MANAGER) -> Manifest:
        """The object as the API server would have it after a server-side apply (not stored)."""
        return self._kube.dry_run(manifest, field_manager=field_manager)
