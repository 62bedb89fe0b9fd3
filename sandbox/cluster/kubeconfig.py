"""Kubeconfig isolation: every API client is built from the sandbox's own file and context.

Nothing here reads ``$KUBECONFIG`` or ``~/.kube/config``; a runtime hands over the path it
wrote (or, for the ``existing`` runtime, the path and context the user named).
"""

from __future__ import annotations

import shlex
from pathlib import Path

import yaml
from kubernetes import client, config

from sandbox.cluster.runtime import Node


def api_client(kubeconfig: Path, context: str | None = None) -> client.ApiClient:
    """An ApiClient bound to exactly this kubeconfig file and context."""
    return config.new_client_from_config(config_file=str(kubeconfig), context=context, persist_config=False)


def server_of(kubeconfig: Path, context: str | None = None) -> str | None:
    """The API server URL a kubeconfig context points at, read without contacting it."""
    try:
        data = yaml.safe_load(kubeconfig.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return None
    ctx_name = context or data.get("current-context")
    contexts = {c["name"]: c.get("context", {}) for c in data.get("contexts") or []}
    clusters = {c["name"]: c.get("cluster", {}) for c in data.get("clusters") or []}
    cluster_name = contexts.get(ctx_name, {}).get("cluster")
    return clusters.get(cluster_name, {}).get("server")


def contexts_in(kubeconfig: Path) -> list[str]:
    data = yaml.safe_load(kubeconfig.read_text()) or {}
    return [c["name"] for c in data.get("contexts") or []]


def probe(kubeconfig: Path, context: str | None = None, timeout: float = 5.0) -> tuple[str, tuple[Node, ...]]:
    """The server's version and its nodes with their Ready condition; raises when unreachable."""
    api = api_client(kubeconfig, context)
    try:
        version = client.VersionApi(api).get_code(_request_timeout=timeout).git_version
        items = client.CoreV1Api(api).list_node(_request_timeout=timeout).items
    finally:
        api.close()
    nodes = tuple(
        Node(
            n.metadata.name,
            any(c.type == "Ready" and c.status == "True" for c in (n.status.conditions or [])),
        )
        for n in items
    )
    return version, nodes


def export_line(kubeconfig: Path) -> str:
    """The line a kubectl or k9s user pastes to look at the sandbox."""
    return f"export KUBECONFIG={shlex.quote(str(kubeconfig))}"
