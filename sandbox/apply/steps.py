"""A sync as steps: the work between two waits on the cluster.

A wait is a generator: each look that finds the cluster not there yet yields a ``Waiting``
saying what it waits for, and the generator returns once the wait is over; a sync built of
them (``yield from``) is one generator too. Whoever runs it decides what a yield means:
a one-shot command sleeps and looks again; the agent puts the sync aside and goes on with
other apps, so one app's slow wave or hook holds up no other.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import TypeVar

POLL = 0.2  # how soon a wait looks again


@dataclass(frozen=True)
class Waiting:
    """What a sync waits for now, as people read it."""

    what: str


T = TypeVar("T")
Steps = Generator[Waiting, None, T]
