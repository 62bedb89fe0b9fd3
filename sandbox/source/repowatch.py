"""Noticing new commits: watchdog on the git directory's refs, debounced, plus a slow poll.

A commit, merge, reset or fetch ends by rewriting a ref file, HEAD or packed-refs. The
watcher fires on those, waits a short quiet period (git writes several files per commit),
then reads the branch head; the callback runs only when the head actually moved. The poll
is the safety net for filesystems where inotify misses events.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

DEBOUNCE = 0.02
POLL = 5.0
INTERESTING = ("HEAD", "packed-refs", "ORIG_HEAD")
WRITES = ("created", "modified", "moved", "deleted", "closed")  # "closed": closed after writing


class RepoWatcher:
    """Calls ``on_change(old_head, new_head)`` when ``read_head()`` returns something new."""

    def __init__(
        self,
        git_dir: Path,
        read_head: Callable[[], str | None],
        on_change: Callable[[str | None, str], None],
        debounce: float = DEBOUNCE,
        poll: float = POLL,
    ) -> None:
        self.git_dir = git_dir
        self.read_head = read_head
        self.on_change = on_change
        self.debounce = debounce
        self.poll = poll
        self._head = read_head()
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._observer = Observer()
        self._poller = threading.Thread(target=self._poll_loop, name="repo-poll", daemon=True)

    def start(self) -> None:
        handler = _RefHandler(self._poke)
        if not self.git_dir.is_dir():
            self._poller.start()  # not a repository (yet): the poll notices when it becomes one
            return
        self._observer.schedule(handler, str(self.git_dir), recursive=False)
        refs = self.git_dir / "refs"
        if refs.is_dir():
            self._observer.schedule(handler, str(refs), recursive=True)
        self._observer.daemon = True
        self._observer.start()
        self._poller.start()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            if self._timer:
                self._timer.cancel()
        self._observer.stop()

    def _poke(self) -> None:
        with self._lock:
            if self._timer:
                self._timer.cancel()
            self._timer = threading.Timer(self.debounce, self.check)
            self._timer.daemon = True
            self._timer.start()

    def _poll_loop(self) -> None:
        while not self._stop.wait(self.poll):
            self.check()

    def mark_seen(self, head: str) -> None:
        """A head the caller handles itself (its own revert commit): do not report it."""
        with self._lock:
            self._head = head

    def check(self) -> None:
        """Compare the head with the last one seen and report a move (safe from any thread)."""
        try:
            head = self.read_head()
        except Exception:  # mid-write ref or a repo being rewritten: the next event retries
            return
        with self._lock:
            old = self._head
            if head is None or head == old:
                return
            self._head = head
        self.on_change(old, head)


class _RefHandler(FileSystemEventHandler):
    def __init__(self, poke: Callable[[], None]) -> None:
        self.poke = poke

    def on_any_event(self, event: FileSystemEvent) -> None:
        # Reads (ours included: rev-parse opens HEAD) must not count, or one read feeds the next.
        if event.event_type not in WRITES:
            return
        path = str(event.dest_path or event.src_path) if hasattr(event, "dest_path") else str(event.src_path)
        name = Path(path).name
        if "/refs/" in path or name in INTERESTING:
            if not name.endswith(".lock"):
                self.poke()
            elif event.event_type in ("moved", "deleted"):
                self.poke()  # git renames foo.lock to foo: the ref is written
