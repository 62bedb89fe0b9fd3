"""A failed sync as the agent keeps it: its attempts, its backoff, and how it is said.

A failed sync is retried with backoff (5 s doubling to 5 min, as Argo CD's self-heal
backoff), or at a Flux Kustomization's spec.retryInterval; a failure that repeats as it was is one more attempt of it, said in a few words.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sandbox.agent.history import SyncRecord

BACKOFF_FIRST = 5.0
BACKOFF_MAX = 300.0


@dataclass
class Failure:
    revision: str
    message: str
    record_id: int
    attempts: int = 1
    backoff: float = BACKOFF_FIRST
    retry_at: float | None = None  # wall clock

    @classmethod
    def resumed(cls, last: SyncRecord) -> Failure:
        """What an earlier run left: its backoff goes on from its attempts, as its count does."""
        backoff = min(BACKOFF_FIRST * 2 ** min(last.attempts, 16), BACKOFF_MAX)
        return cls(last.revision, last.message, last.id, last.attempts, backoff)

    def schedule_retry(self, interval: float = 0.0) -> float:
        """Set when it is tried again; the delay, before the next one doubles. ``interval``: a
        fixed one instead (Flux's spec.retryInterval)."""
        delay = interval or self.backoff
        self.retry_at = time.time() + delay
        self.backoff = min(self.backoff * 2, BACKOFF_MAX)
        return delay


def failure_words(
    failure: Failure, trigger: str, said: tuple[str, str] | None, retry_in: float | None
) -> str:
    """The event that says a sync failed. Said whole once by this agent (``said``: the
    revision and message it said last): a retry that ends alike says only that, and a new
    commit that mends nothing of it says which did the same (an earlier process's attempts
    count, but its words were not this one's to see)."""
    revision, message = failure.revision, failure.message
    when = f"; retrying in {retry_in:.0f}s" if retry_in is not None else ""
    if failure.attempts > 1 and said == (revision, message):
        return f"sync of {revision[:7]} failed again ({trigger}, attempt {failure.attempts}), as before{when}"
    if said is not None and said[1] == message:
        return f"sync of {revision[:7]} failed ({trigger}) as {said[0][:7]} did{when}"
    # Not said by this agent yet: its earlier attempts were an earlier run's (a restarted watch).
    earlier = ", counting an earlier run's" if said is None else ""
    again = f", attempt {failure.attempts}{earlier}" if failure.attempts > 1 else ""
    return f"sync of {revision[:7]} failed ({trigger}{again}): {message}{when}"
