"""Full garbage collections while the user is not pressing keys, over a frozen old heap.

CPython runs a full (generation 2) collection once enough objects have outlived the younger
ones, at whatever moment that happens, and its cost grows with everything the process holds.
With 5,000 objects the snapshots, both trees and the agent's live cache hold some 300,000
containers, and a full collection took 120-500 ms: a key pressed then waited for it.

So this runs them instead, at pauses in the user's input (keys and mouse):

- at the first pause after the app opened, a collection of the whole heap, then
  ``gc.freeze()``: what survived is old (the agent's caches, the trees, Textual) and is left out
  of the collections after it; from then on Python runs no full collection by itself. Until
  that pause, while the agent's first sync makes garbage by the megabyte, Python's own
  collections run as usual (holding them back then cost 100 MB at 5,000 objects);
- at later pauses, a collection of what is not frozen (tens of milliseconds), then freeze;
- every few minutes, at a pause, the whole heap again (``gc.unfreeze()`` first), so reference
  cycles among frozen objects that died since are returned too;
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

    whole_heap: list[float] = field(default_factory=list)  # everything, at a pause
    young_part: list[float] = field(default_factory=list)  # what is not frozen, at a pause
    overdue: list[float] = field(default_factory=list)  # what is not frozen, while keys came


class IdleCollector:
    """Takes full collections over from Python at the first input pause; ``tick`` a few times a second."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.last_input = self.last_collection = self.last_whole_heap = clock()
        self.done = Collections()
        self._started = False
        self._thresholds: tuple[int, int, int] | None = None  # Python's, once taken over

    @property
    def in_charge(self) -> bool:
        """Full collections are this collector's (Python's own are off)."""
        return self._thresholds is not None

    def start(self) -> None:
        self._started = True

    def stop(self) -> None:
        """Python's own thresholds again, and nothing left frozen."""
        self._started = False
        if self._thresholds is not None:
            gc.set_threshold(*self._thresholds)
            self._thresholds = None
            gc.unfreeze()

    def input_seen(self) -> None:
        self.last_input = self.clock()

    def pending(self) -> bool:
        """Python would consider a full collection by now (as many middle ones have run)."""
        if self._thresholds is None:
            return False
        return gc.get_count()[2] >= self._thresholds[2]

    def tick(self) -> str:
        """Run a collection if one is due: returns which ("" if none)."""
        if not self._started:
            return ""
        now = self.clock()
        idle = now - self.last_input >= IDLE
        if self._thresholds is None:
            return self._take_over() if idle else ""
        if not self.pending() or now - self.last_collection < EVERY:
            return ""
        if not idle:
            if now - self.last_collection < LATEST:
                return ""
            return self._collect("overdue", self.done.overdue, whole=False)
        if now - self.last_whole_heap >= WHOLE_HEAP:
            return self._collect("whole heap", self.done.whole_heap, whole=True)
        return self._collect("young part", self.done.young_part, whole=False)

    def _take_over(self) -> str:
        kind = self._collect("whole heap", self.done.whole_heap, whole=True)
        self._thresholds = gc.get_threshold()
        young, middle, _ = self._thresholds
        gc.set_threshold(young, middle, NEVER)
        return kind

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
