"""Where the sandbox keeps its state and its cache.

State (kubeconfigs, cluster data, history) is per sandbox and can be moved with
``GITOPS_SANDBOX_STATE_DIR``; the binary cache is per user and shared by every clone,
test run and CI job, so it lives under ``$XDG_CACHE_HOME``.
"""

from __future__ import annotations

import os
from pathlib import Path

APP = "gitops-sandbox"


def state_dir() -> Path:
    """The sandbox's own state directory (never ``~/.kube``)."""
    explicit = os.environ.get("GITOPS_SANDBOX_STATE_DIR")
    if explicit:
        return Path(explicit).expanduser().resolve()
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base).expanduser().resolve() / APP


def private_dir(path: Path) -> Path:
    """``path`` made (with its parents) for this user only: mode 0700. The state directory holds
    kubeconfigs, keys and the sync history."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    for folder in (path, *(p for p in path.parents if p == state_dir() or state_dir() in p.parents)):
        if folder.stat().st_mode & 0o077:
            folder.chmod(0o700)
    return path


def cache_dir() -> Path:
    """The per-user cache for built binaries, keyed by version below it."""
    explicit = os.environ.get("GITOPS_SANDBOX_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser().resolve() / APP
