"""What an app waits for before it syncs: the apps it depends on, and its parent."""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.agent.ready import DEPENDENCY_FAILED, PARENT_FAILED, WAITING, WAITING_PARENT


@dataclass(frozen=True)
class Waiting:
    """What an app waits for before it syncs: the apps it depends on (and the apps they define)
    that are not Ready yet, those that failed for good, and its parent's first sync."""

    pending: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    parent_pending: str = ""  # "parent (why)": a Flux app exists once its parent applied it
    parent_failed: str = ""

    def __bool__(self) -> bool:
        return bool(self.pending or self.failed or self.parent_pending or self.parent_failed)

    @property
    def for_good(self) -> bool:
        """Nothing to wait for: something it needs failed (a new commit may mend it)."""
        return bool(self.failed or self.parent_failed)

    def waiting_message(self) -> str:
        if self.pending or self.failed:
            return f"{WAITING}{', '.join((*self.failed, *self.pending))}"
        return f"{WAITING_PARENT}{self.parent_pending or self.parent_failed}"

    def failed_message(self) -> str:
        if self.failed:
            waits = f"; it waits for {', '.join(self.pending)} too" if self.pending else ""
            return f"{DEPENDENCY_FAILED}{', '.join(self.failed)}{waits}"
        return f"{PARENT_FAILED}{self.parent_failed}"
