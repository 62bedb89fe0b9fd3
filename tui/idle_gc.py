"""Full garbage collections while the user is not pressing keys, over a frozen old heap.

CPython runs a full (generation 2) collection once enough objects have outlived the younger
ones, at whatever moment that happens, and its cost grows with everything the process holds.
With 5,000 objects the snapshots, both trees and the agent's live cache hold some 300,000
containers, and a full collection took 120-500 ms: a key pressed then waited for it.

So while the app runs, automatic full collections are off, and this runs them instead:

- once the trees show a new snapshot, ``gc.freeze()`` (no collection, no cost): the snapshot
  and the rows on screen stay until the next one, and are left out of the collections below;
- after the user has left keys and mouse alone for a moment, a collection of everything not
  frozen, then ``gc.freeze()`` again: only what is newer gets scanned, a few milliseconds;
- every few minutes, again at a pause, a collection of the whole heap (``gc.unfreeze()``
  first), so reference cycles among frozen objects that died since are returned too;
- if keys keep coming without a pause, a collection of what is not frozen after a while all
  the same, so memory stays bounded.

Young collections (a few ms) stay automatic. Headless commands keep Python's defaults: nobody
waits on a key there.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field

NEVER = 1 << 30  # a generation-2 threshold no count reaches: no automatic full collection
IDLE = 1.0  # seconds without input before a pending collection runs
EVERY = 5.0  # seconds between two collections at the least
LATEST = 30.0  # seconds: a pending collection runs by then even while keys keep coming
WHOLE_HEAP = 300.0  # seconds between two collections of the whole heap (frozen part too)


@dataclass
class Collections:
    """What the collector did: how many of each kind and how long they took (seconds)."""

    young_part: list[float] = field(default_factory=list)  # what is not frozen, at a pause
    whole_heap: list[float] = field(default_factory=list)  # everything, at a pause
    overdue: list[float] = field(default_factory=list)  # what is not frozen, while keys came


class IdleCollector:
    """Holds back full collections until input pauses; ``tick`` is called a few times a second."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.last_input = clock()
        self.last_collection = self.last_whole_heap = clock()
        self.done = Collections()
        self._thresholds: tuple[int, int, int] | None = None

    @property
    def active(self) -> bool:
        return self._thresholds is not None

    def start(self) -> None:
        if self._thresholds is None:
            self._thresholds = gc.get_threshold()
            young, middle, _ = self._thresholds
            gc.set_threshold(young, middle, NEVER)

    def stop(self) -> None:
        """Python's own thresholds again, and nothing left frozen."""
        if self._thresholds is not None:
            gc.set_threshold(*self._thresholds)
            self._thresholds = None
            gc.unfreeze()

    def freeze(self) -> None:
        """What lives now is long-lived (a snapshot just drawn): leave it out of collections."""
        if self._thresholds is not None:
            gc.freeze()

    def input_seen(self) -> None:
        self.last_input = self.clock()

    def pending(self) -> bool:
        """Python would consider a full collection by now (as many middle ones have run)."""
        if self._thresholds is None:
            return False
        return gc.get_count()[2] >= self._thresholds[2]

    def tick(self) -> str:
        """Run a collection if one is due: returns which ("" if none)."""
        now = self.clock()
        if not self.pending() or now - self.last_collection < EVERY:
            return ""
        if now - self.last_input < IDLE:
            if now - self.last_collection < LATEST:
                return ""
            return self._collect("overdue", self.done.overdue, whole=False)
        if now - self.last_whole_heap >= WHOLE_HEAP:
            return self._collect("whole heap", self.done.whole_heap, whole=True)
        return self._collect("young part", self.done.young_part, whole=False)

    def _collect(self, kind: str, record: list[float], whole: bool) -> str:
        started = time.perf_counter()
        if whole:
            gc.unfreeze()
        gc.collect()
        gc.freeze()
        record.append(time.perf_counter() - started)
        self.last_collection = self.clock()
        if whole:
            self.last_whole_heap = self.last_collection
        return kind
