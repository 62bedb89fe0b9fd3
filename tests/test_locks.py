"""File locks between processes: the lock files (an owner's names its process) are the user's alone."""

from __future__ import annotations

import os
from pathlib import Path

from sandbox import locks


def test_lock_files_and_their_new_folders_are_the_users_alone_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a usual umask: files 0644, folders 0755 unless asked otherwise
    try:
        handle, holder = locks.try_own(tmp_path / "agent" / "app-web.lock", "pid 1 watching /env")
        assert handle is not None and holder == ""
        with locks.held(tmp_path / "builds" / ".kwok.lock"):
            pass
    finally:
        os.umask(old)
    handle.close()
    for path in (tmp_path / "agent" / "app-web.lock", tmp_path / "builds" / ".kwok.lock"):
        assert path.stat().st_mode & 0o777 == 0o600, oct(path.stat().st_mode)
        assert path.parent.stat().st_mode & 0o777 == 0o700, oct(path.parent.stat().st_mode)
