"""Whether a runtime's API server answers: its version and nodes, as a runtime's status."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from sandbox.cluster.runtime import ClusterStatus, Node
from sandbox.kube.client import Kube
from sandbox.kube.kubeconfig import server_of


def probe(kubeconfig: Path, context: str | None = None, timeout: float = 5.0) -> tuple[str, tuple[Node, ...]]:
    """The server's version and its nodes with their Ready condition; raises when unreachable."""
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
