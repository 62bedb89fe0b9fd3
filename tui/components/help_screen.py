"""`?`: every key of the main screen as it is bound now (after the user's keymap), and the glyphs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui import glyphs


@dataclass(frozen=True)
class KeyHelp:
    keys: str  # as displayed, e.g. "s" or "tab"
    description: str
    binding_id: str  # what to write in keys.toml to remap it


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", id="screen.back"),
        Binding("question_mark", "app.pop_screen", "Back", show=False, id="help.close"),
        Binding("q", "app.pop_screen", "Back", show=False, id="help.quit"),
        Binding("j", "scroll_down", "Down", show=False, id="scroll.down"),
        Binding("k", "scroll_up", "Up", show=False, id="scroll.up"),
    ]

    def __init__(self, keys: list[KeyHelp], ascii: bool, keymap_file: str, keymap_note: str = "") -> None:
        super().__init__()
        self.keys = keys
        self.ascii = ascii
        self.keymap_file = keymap_file
        self.keymap_note = keymap_note
        if ascii:
            self.add_class("-ascii")

    def compose(self) -> ComposeResult:
        scroll = VerticalScroll(id="help-scroll", can_focus=True)
        scroll.border_title = "Keys (as bound now) and glyphs"
        scroll.border_subtitle = "esc back"
        with scroll:
            yield Static(self._keys_table(), id="help-keys")
            yield Static(self._legend_table(), id="help-legend")
            note = Text()
            note.append("Remap any key by its id in ", style="dim")
            note.append(self.keymap_file, style="bold")
            note.append(', e.g. [keymap] "sandbox.sync" = "S"', style="dim")
            if self.keymap_note:
                note.append(f"\n{self.keymap_note}", style="yellow")
            yield Static(note, id="help-note")

    def on_mount(self) -> None:
        self.query_one("#help-scroll").focus()

    def _keys_table(self) -> Table:
        table = Table(box=None, show_header=True, header_style="bold", pad_edge=False, expand=False)
        table.add_column("key", style="bold cyan", no_wrap=True)
        table.add_column("does")
        table.add_column("id (for keys.toml)", style="dim", no_wrap=True)
        for item in self.keys:
            table.add_row(item.keys, item.description, item.binding_id)
        return table

    def _legend_table(self) -> Table:
        table = Table(box=None, show_header=True, header_style="bold", pad_edge=False, title_justify="left")
        table.add_column("glyph", no_wrap=True)
        table.add_column("means")
        for glyph, meaning in glyphs.legend(self.ascii):
            table.add_row(glyph, meaning)
        return table

    def action_scroll_down(self) -> None:
        self.query_one("#help-scroll", VerticalScroll).scroll_down()

    def action_scroll_up(self) -> None:
        self.query_one("#help-scroll", VerticalScroll).scroll_up()
