"""File locks between processes: waiting ones for work done once, non-blocking ones for owners.

flock locks die with their process, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


def _private(path: str, flags: int) -> int:
    """Lock files are the user's alone (an owner's names its process and repo), as the state is."""
    return os.open(path, flags, 0o600)


@contextmanager
def held(path: Path, waiting: Callable[[], None] | None = None) -> Iterator[None]:
    """Wait for the lock at ``path`` and hold it for the block (e.g. one build at a time);
    ``waiting`` is called first when another process holds it (a wait must not look like a hang)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(path, "w", opener=_private) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting is not None:
                waiting()
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def try_own(path: Path, owner: str) -> tuple[IO[str] | None, str]:
    """Take the lock at ``path`` without waiting, writing who holds it into the file.

    Returns the open handle (keep it: closing it releases the lock) and "", or None and
    the description the current holder wrote.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    handle = open(path, "a+", opener=_private)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        return None, holder
    handle.seek(0)
    handle.truncate()
    handle.write(owner)
    handle.flush()
    return handle, ""
