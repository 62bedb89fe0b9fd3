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


def test_a_wait_for_a_lock_another_holds_is_said_before_it_blocks(tmp_path: Path) -> None:
    import fcntl
    import threading

    from sandbox import locks

    path = tmp_path / "build.lock"
    said: list[str] = []
    got = threading.Event()
    with open(path, "w") as other:
        fcntl.flock(other, fcntl.LOCK_EX)  # another process's build

        def wait() -> None:
            with locks.held(path, lambda: said.append("waiting")):
                got.set()

        waiter = threading.Thread(target=wait)
        waiter.start()
        assert not got.wait(0.5), "it waits while the other holds the lock"
        assert said == ["waiting"], "and says so first"
        fcntl.flock(other, fcntl.LOCK_UN)
    waiter.join(5)
    assert got.is_set()
    with locks.held(path, lambda: said.append("again")):
        pass
    assert said == ["waiting"], "a lock nobody holds is taken without a word"
