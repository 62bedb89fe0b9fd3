"""What a terminal shows of the app, frame by frame: the bytes each frame writes, replayed in a
terminal emulator (pyte). For the frame tests and for benchmarks/bench_tui.py."""

from __future__ import annotations

from typing import Any

import pyte
from rich.console import RenderableType
from textual._compositor import CompositorUpdate
from textual.app import App
from textual.geometry import Region
from textual.screen import Screen

from tui.app import SandboxApp


def frame_bytes(app: App[Any], renderable: RenderableType) -> str:
    """What this frame writes to the terminal. Headless, Textual computes the frame but does not
    turn it into terminal bytes; this is the call its driver would make."""
    if isinstance(renderable, CompositorUpdate):
        return renderable.render_segments(app.console)
    return app.console._render_buffer(app.console.render(renderable))


class VisibleScreen:
    """What a terminal shows, replayed from the bytes the app writes: tells a frame that changes
    the screen from one that redraws it as it was (Textual repaints a widget again after a focus
    or style change even when not one cell differs)."""

    def __init__(self, width: int, height: int) -> None:
        self.screen = pyte.Screen(width, height)
        self.stream = pyte.Stream(self.screen)

    def changes(self, output: str) -> bool:
        screen = self.screen
        before = {y: dict(line) for y, line in screen.buffer.items()}
        screen.dirty.clear()
        self.stream.feed(output)
        return any(dict(screen.buffer[y]) != before.get(y, {}) for y in screen.dirty)

    def line(self, y: int) -> str:
        return self.screen.display[y]

    def colour_at(self, x: int, y: int) -> str:
        return str(self.screen.buffer[y][x].fg)

    def border_colour(self, region: Region) -> str:
        """The colour of a panel's top-left border corner."""
        return self.colour_at(region.x, region.y)


class FramedSandboxApp(SandboxApp):
    """SandboxApp that keeps what every frame writes; nothing else differs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.frames: list[str] = []

    def _display(self, screen: Screen[Any], renderable: RenderableType | None) -> None:
        super()._display(screen, renderable)
        if renderable is not None and not self._batch_count:
            self.frames.append(frame_bytes(self, renderable))

    def replay_into(self, terminal: VisibleScreen, until_a_change: bool = False) -> bool:
        """Feed the frames written so far to the terminal, or only up to the first that changes
        it; True if one did. The frames fed are dropped."""
        changed = False
        while self.frames and not (changed and until_a_change):
            changed = terminal.changes(self.frames.pop(0)) or changed
        return changed
