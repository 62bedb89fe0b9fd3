"""Who may drive what: one agent per env repo, and one env repo per app on a cluster.

Two agents changing the same apps would undo each other for ever (one's rollback is the
other's drift), so an agent that writes holds the env repo's lock, and a machine-wide lock
per (cluster, app). Agents that only look take none.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import IO

from sandbox import locks
from sandbox.paths import cache_dir


class AgentBusy(RuntimeError):
    """Another agent already drives this env repo."""


class AgentLocks:
    def __init__(self, repo_path: Path, cluster: str) -> None:
        self.repo_path = repo_path
        self.cluster = cluster  # the API server's address: app names repeat across clusters
        self._repo: IO[str] | None = None
        self._apps: dict[str, IO[str]] = {}
        self.exclusive = False

    def take_repo(self, lock_path: Path) -> None:
        """Hold the env repo's agent lock, or raise AgentBusy naming who holds it."""
        handle, holder = locks.try_own(lock_path, f"pid {os.getpid()}")
        if handle is None:
            raise AgentBusy(
                f"an agent is already running for {self.repo_path} ({holder}): use that one, or stop it first"
            )
        self._repo = handle
        self.exclusive = True

    def claim_app(self, name: str) -> str | None:
        """Hold the lock on (cluster, app): None when ours (or when only looking), else who holds it."""
        if name in self._apps or not self.exclusive:
            return None
        key = hashlib.sha256(f"{self.cluster}|{name}".encode()).hexdigest()[:16]
        owner = f"pid {os.getpid()}, env repo {self.repo_path}"
        handle, holder = locks.try_own(cache_dir() / "locks" / f"app-{key}.lock", owner)
        if handle is None:
            return holder
        self._apps[name] = handle
        return None

    def release(self) -> None:
        for handle in (self._repo, *self._apps.values()):
            if handle is not None:
                handle.close()
        self._repo = None
        self._apps.clear()
