"""The `/` filter: narrows both object trees to rows whose kind, name, namespace or status match."""

from __future__ import annotations

from collections.abc import Callable

from textual.widgets import Input


class FilterInput(Input):
    """Hidden until `/`; enter keeps the filter, esc clears it (the screen handles both)."""

    def __init__(self, on_change: Callable[[str], None], *, id: str | None = None) -> None:
        super().__init__(
            placeholder="filter: kind, name, namespace or status (e.g. outofsync, degraded)", id=id
        )
        self.on_change = on_change
        # A steady cursor: a blinking one repaints the bar twice a second, and a key landing
        # just after such a repaint was asked for had its first frame drawn half-done (esc
        # showed the cleared bar one frame before the rows came back).
        self.cursor_blink = False

    def watch_value(self, value: str) -> None:
        # At once, not by the Input.Changed message: handled after the frame that shows the
        # typed character, the trees would follow a frame later.
        self.on_change(value)
