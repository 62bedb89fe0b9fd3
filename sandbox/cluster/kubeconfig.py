"""Kubeconfig isolation: every API client is built from the sandbox's own file and context.

Nothing here reads ``$KUBECONFIG`` or ``~/.kube/config``; a runtime hands over the path it
wrote (or, for the ``existing`` runtime, the path and context the user named).
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import replace
from pathlib import Path

import yaml
from kubernetes import client, config

from sandbox.cluster.runtime import ClusterStatus, Node


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


def probe(kubeconfig: Path, context: str | None = None, timeout: float = 5.0) -> tuple[str, tuple[Node, ...]]:
    """The server's version and its nodes with their Ready condition; raises when unreachable."""
    from sandbox.apply.kube import Kube  # here: the client imports this module

    # Plain JSON: the typed CoreV1Api costs two seconds of imports (its models), paid by every
    # command that only asks "is it up?".
    kube = Kube(kubeconfig, context, retries=0)
    try:
        version = kube.request("GET", "/version", timeout=timeout).get("gitVersion", "")
        items = kube.request("GET", "/api/v1/nodes", timeout=timeout).get("items") or []
    finally:
        kube.close()
    nodes = tuple(
        Node(
            str((n.get("metadata") or {}).get("name") or ""),
            any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in (n.get("status") or {}).get("conditions") or []
            ),
        )
        for n in items
    )
    return str(version), nodes


def probed_status(
    runtime: str,
    name: str,
    kubeconfig: Path,
    context: str | None,
    down_state: str = "stopped",
    timeout: float = 3,
) -> ClusterStatus:
    """A runtime's status as its API server answers: running with version and nodes, or
    ``down_state`` with the reason when it does not answer."""
    base = ClusterStatus(
        runtime,
        name,
        down_state,
        kubeconfig=kubeconfig,
        context=context,
        server=server_of(kubeconfig, context),
    )
    if not kubeconfig.exists():
        return replace(base, detail=f"kubeconfig {kubeconfig} missing")
    try:
        version, nodes = probe(kubeconfig, context, timeout=timeout)
    except Exception as exc:  # any transport or auth failure: report it, never raise
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        return replace(base, detail=reason)
    return replace(base, state="running", version=version, nodes=nodes)


def export_line(kubeconfig: Path) -> str:
    """The line a kubectl or k9s user pastes to look at the sandbox."""
    return f"export KUBECONFIG={shlex.quote(str(kubeconfig))}"
