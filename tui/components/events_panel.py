"""The Events panel: what the agent did and why, and errors with the file and object they concern."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import RichLog

from sandbox.agent.snapshot import Event
from tui import glyphs

LEVEL_STYLE = {"info": "", "warning": "yellow", "error": "bold red"}
LEVEL_WORD = {"info": "info ", "warning": "warn ", "error": "ERROR"}


class EventsPanel(RichLog):
    """Append-only: each snapshot carries the agent's last events; only new ones are written."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "scroll_down", "Down", show=False, id="scroll.down"),
        Binding("k", "scroll_up", "Up", show=False, id="scroll.up"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, wrap=True, markup=False, highlight=False, max_lines=2000, min_width=20)
        self._last: Event | None = None
        self.written: list[Event] = []

    def on_mount(self) -> None:
        self.border_title = "5 Events"

    def show(self, events: Sequence[Event], shown: Mapping[str, str] | None = None) -> None:
        """Write the events not written yet; ``shown`` names apps as the Apps panel does (an id
        shared by a Kustomization and a HelmRelease reads qualified)."""
        new = self._new_events(events)
        for event in new:
            line = Text()
            line.append(glyphs.clock(event.time), style="dim")
            line.append(" ")
            line.append(LEVEL_WORD.get(event.level, event.level), style=LEVEL_STYLE.get(event.level, ""))
            line.append(" ")
            if event.app:
                line.append(f"{(shown or {}).get(event.app, event.app)}: ", style="bold")
            line.append(event.message, style=LEVEL_STYLE.get(event.level, ""))
            self.write(line)
        if new:
            self._last = new[-1]
            self.written.extend(new)
            del self.written[:-2000]

    def _new_events(self, events: Sequence[Event]) -> list[Event]:
        if self._last is None:
            return list(events)
        # Events are immutable and the agent keeps the newest ones: everything after the last
        # one written is new; if it scrolled out of the agent's window, go by time.
        for index in range(len(events) - 1, -1, -1):
            if events[index] == self._last:
                return list(events[index + 1 :])
        return [e for e in events if e.time > self._last.time]
