"""Kubeconfig isolation: every API client is built from the sandbox's own file and context.

Nothing here reads ``$KUBECONFIG`` or ``~/.kube/config``; a runtime hands over the path it
wrote (or, for the ``existing`` runtime, the path and context the user named).
"""

from __future__ import annotations

import hashlib
import shlex
from pathlib import Path

import yaml
from kubernetes import client, config


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


def identity_of(kubeconfig: Path, context: str | None = None) -> str:
    """What tells one cluster from the cluster that replaced it at the same kubeconfig: the
    server's URL and its CA (a new cluster has a new one), as a digest; "" when unreadable."""
    try:
        data = yaml.safe_load(kubeconfig.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return ""
    ctx_name = context or data.get("current-context")
    contexts = {c["name"]: c.get("context", {}) for c in data.get("contexts") or []}
    clusters = {c["name"]: c.get("cluster", {}) for c in data.get("clusters") or []}
    cluster = clusters.get(contexts.get(ctx_name, {}).get("cluster"), {})
    ca = str(cluster.get("certificate-authority-data") or "")
    if not ca and cluster.get("certificate-authority"):
        try:
            ca = Path(str(cluster["certificate-authority"])).read_text()
        except OSError:
            ca = ""
    return hashlib.sha256(f"{cluster.get('server', '')}\n{ca}".encode()).hexdigest()


def contexts_in(kubeconfig: Path) -> list[str]:
    data = yaml.safe_load(kubeconfig.read_text()) or {}
    return [c["name"] for c in data.get("contexts") or []]


def export_line(kubeconfig: Path) -> str:
    """The line a kubectl or k9s user pastes to look at the sandbox."""
    return f"export KUBECONFIG={shlex.quote(str(kubeconfig))}"
