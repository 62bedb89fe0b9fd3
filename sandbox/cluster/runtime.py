"""The one small interface every cluster runtime implements, and what they report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

Progress = Callable[[str], None]

CLUSTER_NAME = "gitops-sandbox"


class ClusterError(RuntimeError):
    """A runtime could not do what was asked; the message is one clear line for the user."""


@dataclass(frozen=True)
class Node:
    name: str
    ready: bool


@dataclass(frozen=True)
class ClusterStatus:
    """What a runtime knows of its cluster right now."""

    runtime: str
    name: str
    state: str  # "running" | "degraded" (some component down) | "stopped" | "absent" | "unreachable"
    kubeconfig: Path | None = None
    context: str | None = None
    server: str | None = None
    version: str | None = None
    nodes: tuple[Node, ...] = field(default_factory=tuple)
    detail: str = ""
    simulated: str = ""  # what the runtime plays instead of real parts, said wherever it shows

    @property
    def running(self) -> bool:
        return self.state == "running"

    def to_json(self) -> dict[str, object]:
        return {
            "runtime": self.runtime,
            "name": self.name,
            "state": self.state,
            "kubeconfig": str(self.kubeconfig) if self.kubeconfig else None,
            "context": self.context,
            "server": self.server,
            "version": self.version,
            "nodes": [{"name": n.name, "ready": n.ready} for n in self.nodes],
            "detail": self.detail,
            "simulated": self.simulated,
        }


class Runtime(Protocol):
    """Brings up, reports on and removes one cluster, through its own kubeconfig only."""

    name: str

    @property
    def kubeconfig_path(self) -> Path: ...

    @property
    def context(self) -> str | None: ...

    def up(self, progress: Progress) -> ClusterStatus:
        """Create the cluster, or reuse it when it is already running (idempotent)."""
        ...

    def status(self) -> ClusterStatus: ...

    def down(self, progress: Progress) -> None:
        """Remove every process and all state this runtime created."""
        ...


@dataclass(frozen=True)
class Check:
    """One thing `doctor` looks at: there or not, and the exact fix."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True  # False: only some runtimes need it

    def to_json(self) -> dict[str, object]:
        return asdict(self)
