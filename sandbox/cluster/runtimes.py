"""The runtimes by name: which one ``auto`` means here, and which one ``up`` used last."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from sandbox.cluster.existing import ExistingRuntime
from sandbox.cluster.kind import KindRuntime, doctor_checks, kind_can_work
from sandbox.cluster.local import LocalRuntime
from sandbox.cluster.runtime import Check, ClusterError, Progress, Runtime
from sandbox.paths import private_dir, state_dir

RUNTIMES = ("auto", "kind", "local", "existing")

# What `doctor` asks of each runtime that needs more than the toolchain (kind: Docker).
DOCTOR_CHECKS: dict[str, Callable[[], list[Check]]] = {"kind": doctor_checks}

# What each name makes; ``existing`` is handed the context and kubeconfig the user named.
_FACTORIES: dict[str, Callable[[str | None, Path | None], Runtime]] = {
    "kind": lambda _context, _kubeconfig: KindRuntime(),
    "local": lambda _context, _kubeconfig: LocalRuntime(),
    "existing": lambda context, kubeconfig: ExistingRuntime(context=context, kubeconfig=kubeconfig),
}


def choose_runtime(progress: Progress = lambda _m: None) -> str:
    """What ``--runtime auto`` means here: kind when it can work (Docker answers and has, or can
    pull, the node image), else local, saying why in one line when Docker is there."""
    ok, why = kind_can_work()
    if why:
        progress(why)
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


def runtime_for(
    name: str,
    context: str | None = None,
    kubeconfig: Path | None = None,
    progress: Progress = lambda _m: None,
) -> Runtime:
    """The runtime called ``name`` (``auto`` resolved); ``existing`` needs a named context."""
    if name == "auto":
        name = "existing" if context else (active_runtime() or choose_runtime(progress))
    factory = _FACTORIES.get(name)
    if factory is None:
        raise ClusterError(f"unknown runtime {name!r}: choose one of {', '.join(RUNTIMES)}")
    return factory(context, kubeconfig)
