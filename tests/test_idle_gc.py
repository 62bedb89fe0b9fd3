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
        assert gc.get_threshold() == before


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


def test_automatic_full_collections_are_off_while_the_app_runs(
    collector: tuple[IdleCollector, Clock],
) -> None:
    def allocate() -> None:
        junk = [[i] for i in range(300_000)]  # thousands of young collections' worth
        del junk

    assert full_collections_during(allocate) == 0
    assert collector[0].pending()


def test_a_pending_collection_waits_for_a_second_without_input(
    collector: tuple[IdleCollector, Clock],
) -> None:
    gc_, clock = collector
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
    assert len(gc_.done.young_part) == 1


def test_keys_that_never_pause_still_get_a_collection_after_a_while(
    collector: tuple[IdleCollector, Clock],
) -> None:
    gc_, clock = collector
    make_pending()
    for _ in range(int(idle_gc.LATEST / 0.5)):
        clock.now += 0.5
        gc_.input_seen()
        if gc_.tick():
            break
    assert gc_.done.overdue and not gc_.done.young_part
    assert clock.now - 1000.0 >= idle_gc.LATEST


def test_frozen_cycles_are_freed_by_the_whole_heap_collection(collector: tuple[IdleCollector, Clock]) -> None:
    gc_, clock = collector
    cycle = Cycle()
    ref = weakref.ref(cycle)
    gc_.freeze()  # as after the trees show a snapshot
    del cycle
    clock.now += idle_gc.IDLE + idle_gc.EVERY
    make_pending()
    assert gc_.tick() == "young part"
    assert ref() is not None  # frozen: left out of the collections at a pause
    clock.now += idle_gc.WHOLE_HEAP
    make_pending()
    assert gc_.tick() == "whole heap"
    assert ref() is None


def test_stopping_restores_pythons_thresholds_and_unfreezes() -> None:
    before = gc.get_threshold()
    gc_ = IdleCollector()
    gc_.start()
    assert gc.get_threshold()[2] == idle_gc.NEVER
    gc_.freeze()
    assert gc.get_freeze_count() > 0
    gc_.stop()
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
