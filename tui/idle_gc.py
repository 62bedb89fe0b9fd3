"""Full garbage collections while the user is not pressing keys, over a frozen old heap.

CPython runs a full (generation 2) collection once enough objects have outlived the younger
ones, at whatever moment that happens, and its cost grows with everything the process holds.
With 5,000 objects the snapshots, both trees and the agent's live cache hold some 300,000
containers, and a full collection took 120-500 ms: a key pressed then waited for it.

So while the app runs, Python runs no full collection by itself, and this runs them instead,
at pauses: a second without keys or mouse, with no tree fill in progress (a fill is the app's
own work, sliced so keys get through; a collection in it stalls it all at once):

- first, once the trees are filled and a few seconds have passed (keys or not: it only grows
  if put off), a collection of the whole heap, then ``gc.freeze()``: what survived is old (the
  agent's caches, the trees, Textual) and is left out of the collections after it;
- at later pauses, a collection of what is not frozen (tens of milliseconds), then freeze
  (only after a collection: freezing garbage would keep it, 100 MB at 5,000 objects);
- every few minutes, at a pause, the whole heap again (``gc.unfreeze()`` first), so reference
  cycles among frozen objects that died since are returned too;
- if keys or fills keep coming without a pause, a collection after a while all the same, so
  memory stays bounded.

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
LATEST = 30.0  # seconds: a pending collection runs by then even while keys or fills keep coming
WHOLE_HEAP = 300.0  # seconds between two collections of the whole heap (frozen part too)


@dataclass
class Collections:
    """What the collector did: how many of each kind and how long they took (seconds)."""

    whole_heap: list[float] = field(default_factory=list)  # everything, at a pause
    young_part: list[float] = field(default_factory=list)  # what is not frozen, at a pause
    overdue: list[float] = field(default_factory=list)  # what is not frozen, while keys came


class IdleCollector:
    """Runs the full collections, at pauses; ``tick`` is called a few times a second."""

    def __init__(
        self, busy: Callable[[], bool] = lambda: False, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.busy = busy  # the app is doing work a collection would stall (a tree fill)
        self.clock = clock
        self.last_input = self.last_collection = self.last_whole_heap = clock()
        self.done = Collections()
        self._whole_heap_due = True  # nothing frozen yet: the first collection is of everything
        self._thresholds: tuple[int, int, int] | None = None  # Python's, while this is in charge

    @property
    def in_charge(self) -> bool:
        """Full collections are this collector's (Python's own are off)."""
        return self._thresholds is not None

    def start(self) -> None:
        if self._thresholds is None:
            self._thresholds = gc.get_threshold()
            young, middle, _ = self._thresholds
            gc.set_threshold(young, middle, NEVER)
            self._whole_heap_due = True

    def stop(self) -> None:
        """Python's own thresholds again, and nothing left frozen."""
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
        now = self.clock()
        if not self.pending() or now - self.last_collection < EVERY:
            return ""
        # The first one (the whole heap, nothing frozen yet) does not wait for a pause in the keys:
        # put off, it only grows (a minute of keys made it take a second instead of 0.2 s).
        if self.busy() or (now - self.last_input < IDLE and not self._whole_heap_due):
            if now - self.last_collection < LATEST:
                return ""
            return self._collect("overdue", self.done.overdue, whole=self._whole_heap_due)
        if self._whole_heap_due or now - self.last_whole_heap >= WHOLE_HEAP:
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
            self._whole_heap_due = False
        return kind
