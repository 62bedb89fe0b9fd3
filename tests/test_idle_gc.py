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


@pytest.fixture
def collector() -> Iterator[tuple[IdleCollector, Clock]]:
    clock = Clock()
    before = gc.get_threshold()
    found = IdleCollector(clock)
    found.start()
    try:
        yield found, clock
    finally:
        found.stop()
        assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def take_over(gc_: IdleCollector, clock: Clock) -> None:
    clock.now += idle_gc.IDLE
    assert gc_.tick() == "whole heap"
    assert gc_.in_charge


def make_pending() -> None:
    """As many middle-generation collections as Python waits for before a full one."""
    for _ in range(gc.get_threshold()[1] + 1):
        gc.collect(1)


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


def test_python_keeps_its_own_collections_until_the_first_pause(
    collector: tuple[IdleCollector, Clock],
) -> None:
    gc_, clock = collector
    thresholds = gc.get_threshold()
    for _ in range(10):  # the user keeps typing: no pause, nothing taken over
        clock.now += 0.5
        gc_.input_seen()
        assert gc_.tick() == ""
    assert not gc_.in_charge and gc.get_threshold() == thresholds and gc.get_freeze_count() == 0
    cycle = Cycle()
    survivor = weakref.ref(cycle)
    take_over(gc_, clock)  # the first pause: the whole heap, then what lives is frozen
    assert gc.get_threshold()[2] == idle_gc.NEVER
    assert survivor() is not None and gc.get_freeze_count() > 0


def test_then_automatic_full_collections_are_off(collector: tuple[IdleCollector, Clock]) -> None:
    take_over(*collector)

    def allocate() -> None:
        junk = [[i] for i in range(300_000)]  # thousands of young collections' worth
        del junk

    assert full_collections_during(allocate) == 0
    assert collector[0].pending()


def test_a_pending_collection_waits_for_a_second_without_input(
    collector: tuple[IdleCollector, Clock],
) -> None:
    gc_, clock = collector
    take_over(gc_, clock)
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


def test_keys_that_never_pause_still_get_a_collection_after_a_while(
    collector: tuple[IdleCollector, Clock],
) -> None:
    gc_, clock = collector
    take_over(gc_, clock)
    make_pending()
    started = clock.now
    for _ in range(int(idle_gc.LATEST / 0.5) + 1):
        clock.now += 0.5
        gc_.input_seen()
        if gc_.tick():
            break
    assert gc_.done.overdue and not gc_.done.young_part
    assert clock.now - started >= idle_gc.LATEST


def test_frozen_cycles_are_freed_by_the_next_whole_heap_collection(
    collector: tuple[IdleCollector, Clock],
) -> None:
    gc_, clock = collector
    cycle = Cycle()
    ref = weakref.ref(cycle)
    take_over(gc_, clock)  # alive then: frozen
    del cycle
    clock.now += idle_gc.EVERY
    make_pending()
    assert gc_.tick() == "young part"
    assert ref() is not None  # frozen: left out of the collections at a pause
    clock.now += idle_gc.WHOLE_HEAP
    make_pending()
    assert gc_.tick() == "whole heap"
    assert ref() is None
