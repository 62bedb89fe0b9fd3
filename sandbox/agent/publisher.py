"""Handing snapshots to subscribers: debounced, so a flood of changes becomes one snapshot."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sandbox.agent.snapshot import Snapshot

Subscriber = Callable[[Snapshot], None]
DEBOUNCE = 0.03


class Publisher:
    def __init__(self, build: Callable[[int], Snapshot], on_error: Callable[[str], None]) -> None:
        self._build = build  # seq -> a new snapshot
        self._on_error = on_error
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()
        self._building = threading.Lock()  # one build at a time: each reads every controller
        self._timer: threading.Timer | None = None
        self._seq = 0
        self._last_build = 0.0  # seconds the last snapshot took to build
        self.snapshot: Snapshot | None = None

    def subscribe(self, subscriber: Subscriber) -> None:
        """Receive every new snapshot (called on an agent thread: hand it over, do not block)."""
        self._subscribers.append(subscriber)

    def soon(self) -> None:
        """Build and hand out a new snapshot soon; changes until then join it."""
        with self._lock:
            if self._timer is not None:
                return
            # Building a snapshot of thousands of objects costs CPU the sync needs: under load,
            # wait at least twice as long as the last build took.
            self._timer = threading.Timer(max(DEBOUNCE, 2 * self._last_build), self.now)
            self._timer.daemon = True
            self._timer.start()

    def now(self) -> Snapshot:
        """Build and hand out a snapshot at once (the CLI prints one and exits)."""
        started = time.perf_counter()
        with self._lock:
            self._timer = None
            self._seq += 1
            seq = self._seq
        with self._building:
            snapshot = self._build(seq)
        with self._lock:
            if self.snapshot is None or snapshot.seq > self.snapshot.seq:
                self.snapshot = snapshot
            self._last_build = time.perf_counter() - started
        for subscriber in list(self._subscribers):
            try:
                subscriber(snapshot)
            except Exception as exc:  # a broken subscriber must not stop the agent
                self._on_error(f"subscriber failed: {exc}")
        return snapshot

    def cancel(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
