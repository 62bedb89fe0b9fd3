"""The app's garbage collection policy: full collections wait for a pause in the user's input.

Real collections of the real interpreter; only the clock is the test's, so "a second without
input" needs no sleeping.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable, Iterator

import pytest

from tui import idle_gc
from tui.idle_gc import IdleCollector


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Cycle:
    """An object in a reference cycle: only the cyclic collector can free it."""

    def __init__(self) -> None:
        self.me = self


class App:
    """What the collector asks of the app: is a tree fill running."""

    def __init__(self) -> None:
        self.filling = False


@pytest.fixture
def collector() -> Iterator[tuple[IdleCollector, Clock, App]]:
    clock, app = Clock(), App()
    before = gc.get_threshold()
    found = IdleCollector(lambda: app.filling, clock)
    found.start()
    try:
        yield found, clock, app
    finally:
        found.stop()
        assert gc.get_threshold() == before and gc.get_freeze_count() == 0


Setup = tuple[IdleCollector, Clock, App]


def make_pending() -> None:
    """As many middle-generation collections as Python waits for before a full one."""
    for _ in range(gc.get_threshold()[1] + 1):
        gc.collect(1)


def first_collection(gc_: IdleCollector, clock: Clock) -> None:
    """The first pause: the whole heap is collected and what survives is frozen."""
    clock.now += idle_gc.EVERY
    make_pending()
    assert gc_.tick() == "whole heap"


def full_collections_during(action: Callable[[], object]) -> int:
    seen: list[int] = []

    def watch(phase: str, info: dict[str, int]) -> None:
        if phase == "stop":
            seen.append(info["generation"])

    gc.callbacks.append(watch)
    try:
        action()
    finally:
        gc.callbacks.remove(watch)
    return seen.count(2)


def test_python_runs_no_full_collection_by_itself_while_the_app_runs(collector: Setup) -> None:
    def allocate() -> None:
        junk = [[i] for i in range(300_000)]  # thousands of young collections' worth
        del junk

    assert full_collections_during(allocate) == 0
    assert collector[0].in_charge and collector[0].pending()


def test_the_first_pause_collects_everything_and_freezes_what_survives(collector: Setup) -> None:
    gc_, clock, _ = collector
    survivor, dead = Cycle(), Cycle()
    alive, gone = weakref.ref(survivor), weakref.ref(dead)
    del dead
    first_collection(gc_, clock)
    assert alive() is not None and gone() is None
    assert gc.get_freeze_count() > 0  # the survivor among them: old now, left out from here on
    clock.now += idle_gc.EVERY
    make_pending()
    assert gc_.tick() == "young part"


def test_a_pending_collection_waits_for_a_second_without_input(collector: Setup) -> None:
    gc_, clock, _ = collector
    first_collection(gc_, clock)
    clock.now += idle_gc.EVERY
    make_pending()
    gc_.input_seen()
    clock.now += idle_gc.IDLE / 2
    assert gc_.tick() == ""
    cycle = Cycle()
    ref = weakref.ref(cycle)
    del cycle
    clock.now += idle_gc.IDLE
    ran: list[str] = []
    assert full_collections_during(lambda: ran.append(gc_.tick())) == 1
    assert ran == ["young part"] and ref() is None


def test_no_collection_while_the_trees_fill(collector: Setup) -> None:
    gc_, clock, app = collector
    first_collection(gc_, clock)
    clock.now += idle_gc.EVERY
    make_pending()
    app.filling = True
    assert gc_.tick() == ""  # no key for seconds, but a collection now would stall the fill
    app.filling = False
    assert gc_.tick() == "young part"


def test_keys_that_never_pause_still_get_a_collection_after_a_while(collector: Setup) -> None:
    gc_, clock, _ = collector
    first_collection(gc_, clock)
    make_pending()
    started = clock.now
    for _ in range(int(idle_gc.LATEST / 0.5) + 1):
        clock.now += 0.5
        gc_.input_seen()
        if gc_.tick():
            break
    assert gc_.done.overdue and not gc_.done.young_part
    assert clock.now - started >= idle_gc.LATEST


def test_frozen_cycles_are_freed_by_the_next_whole_heap_collection(collector: Setup) -> None:
    gc_, clock, _ = collector
    cycle = Cycle()
    ref = weakref.ref(cycle)
    first_collection(gc_, clock)  # alive then: frozen
    del cycle
    clock.now += idle_gc.EVERY
    make_pending()
    assert gc_.tick() == "young part"
    assert ref() is not None  # frozen: left out of the collections at a pause
    clock.now += idle_gc.WHOLE_HEAP
    make_pending()
    assert gc_.tick() == "whole heap"
    assert ref() is None


def test_the_first_collection_does_not_wait_for_a_pause_in_the_keys(collector: Setup) -> None:
    gc_, clock, app = collector
    clock.now += idle_gc.EVERY
    make_pending()
    app.filling = True
    assert gc_.tick() == ""  # never during a fill
    app.filling = False
    gc_.input_seen()
    assert gc_.tick() == "whole heap"  # keys or not: put off, it only grows
    clock.now += idle_gc.EVERY
    make_pending()
    gc_.input_seen()
    assert gc_.tick() == ""  # the ones after it wait for a pause
