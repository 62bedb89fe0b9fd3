"""SandboxApp: the terminal UI over a running agent (or any object with its observed interface).

The agent calls subscribers on its own threads; the app turns each snapshot into a message
(thread-safe, never blocking the agent) and a flood of them into the newest one only.
"""

from __future__ import annotations

import os
from pathlib import Path

from textual import events, on
from textual.app import App
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen

from sandbox.agent.snapshot import Snapshot
from tui.components.main_screen import MainScreen
from tui.idle_gc import IdleCollector
from tui.keymap import Keymap, config_dir, load_keymap
from tui.source import RuntimeInfo, SnapshotSource

ASCII_ENV = "GITOPS_SANDBOX_ASCII"
IDLE_GC_TICK = 0.25  # seconds between two looks at whether a full garbage collection may run


def ascii_wanted() -> bool:
    """ASCII glyphs when asked for, or when the terminal cannot print UTF-8."""
    if os.environ.get(ASCII_ENV, "").strip() not in ("", "0"):
        return True
    encoding = (
        os.environ.get("LC_ALL") or os.environ.get("LC_CTYPE") or os.environ.get("LANG") or ""
    ).lower()
    return encoding in ("c", "posix")


class SandboxApp(App[None]):
    # Absolute: Textual resolves a relative CSS_PATH beside the module of whichever subclass
    # runs (the benchmark's and the tests' apps are subclasses).
    CSS_PATH = str(Path(__file__).with_name("sandbox.tcss"))
    TITLE = "gitops-sandbox"
    ENABLE_COMMAND_PALETTE = False

    class SnapshotReceived(Message):
        """A new snapshot from the agent; a newer one replaces it while it waits in the queue."""

        def __init__(self, snapshot: Snapshot) -> None:
            self.snapshot = snapshot
            super().__init__()

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, SandboxApp.SnapshotReceived)

    def __init__(
        self,
        source: SnapshotSource,
        runtime: RuntimeInfo,
        *,
        ascii: bool | None = None,
        keymap: dict[str, str] | None = None,
        keymap_dir: Path | None = None,
    ) -> None:
        super().__init__()
        self.source = source
        self.runtime = runtime
        self.ascii = ascii_wanted() if ascii is None else ascii
        folder = keymap_dir or config_dir()
        problem = ""
        if keymap is None:
            keymap, problem = load_keymap(folder)
        self.keymap = Keymap(dict(keymap), str(folder / "keys.toml"), problem)
        self.main = MainScreen(source, runtime, self.keymap, self.ascii)
        self.idle_gc = IdleCollector(busy=lambda: self.main.trees.filling)

    def get_key_display(self, binding: Binding) -> str:
        shown = super().get_key_display(binding)
        if self.ascii and not shown.isascii():
            return binding.key.split(",")[0]  # "enter", not the return-arrow glyph
        return shown

    def get_default_screen(self) -> Screen[None]:
        return self.main

    def on_mount(self) -> None:
        if self.keymap.keys:
            self.set_keymap(self.keymap.keys)
        if self.keymap.problem:
            self.notify(self.keymap.problem, title="keys", severity="warning", timeout=15)
        self.source.subscribe(self._from_agent)
        self.idle_gc.start()
        self.set_interval(IDLE_GC_TICK, self.idle_gc.tick, name="idle garbage collection")

    def on_unmount(self) -> None:
        self.idle_gc.stop()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, (events.Key, events.MouseEvent)):
            self.idle_gc.input_seen()
        await super().on_event(event)

    def _from_agent(self, snapshot: Snapshot) -> None:
        """Called on an agent thread: hand over and return at once."""
        self.post_message(self.SnapshotReceived(snapshot))

    @on(SnapshotReceived)
    def _snapshot_received(self, message: SnapshotReceived) -> None:
        if self.main.is_mounted:
            self.main.show_snapshot(message.snapshot)
