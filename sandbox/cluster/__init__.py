"""Cluster runtimes behind one small interface (see ``runtime.Runtime``)."""

from __future__ import annotations

import json
from pathlib import Path

from sandbox.cluster.existing import ExistingRuntime
from sandbox.cluster.kind import KindRuntime, docker_answers
from sandbox.cluster.local import LocalRuntime
from sandbox.cluster.runtime import ClusterError, ClusterStatus, Runtime
from sandbox.paths import private_dir, state_dir

RUNTIMES = ("auto", "kind", "local", "existing")

__all__ = [
    "ClusterError",
    "ClusterStatus",
    "Runtime",
    "RUNTIMES",
    "active_runtime",
    "choose_runtime",
    "forget_active",
    "remember_active",
    "runtime_for",
]


def choose_runtime() -> str:
    """What ``--runtime auto`` means here: kind when Docker answers, else local."""
    ok, _why = docker_answers()
    return "kind" if ok else "local"


def _active_file() -> Path:
    return state_dir() / "active-runtime.json"


def remember_active(runtime: Runtime) -> None:
    """Record which runtime ``up`` used, so a later ``auto`` finds the same cluster."""
    private_dir(_active_file().parent)
    _active_file().write_text(json.dumps({"runtime": runtime.name}))


def forget_active() -> None:
    _active_file().unlink(missing_ok=True)


def active_runtime() -> str | None:
    try:
        name = json.loads(_active_file().read_text()).get("runtime")
    except (OSError, ValueError):
        return None
    return name if name in RUNTIMES else None


def runtime_for(name: str, context: str | None = None, kubeconfig: Path | None = None) -> Runtime:
    """The runtime called ``name`` (``auto`` resolved); ``existing`` needs a named context."""
    if name == "auto":
        name = "existing" if context else (active_runtime() or choose_runtime())
    if name == "kind":
        return KindRuntime()
    if name == "local":
        return LocalRuntime()
    if name == "existing":
        return ExistingRuntime(context=context, kubeconfig=kubeconfig)
    raise ClusterError(f"unknown runtime {name!r}: choose one of {', '.join(RUNTIMES)}")
