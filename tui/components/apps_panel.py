"""The Apps panel: one row per app with its sync, health, deployed revision and switches."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable

from sandbox.agent.snapshot import AppState, Snapshot, app_depths, in_tree_order
from tui import glyphs

# Auto-sync and self-heal of the selected app are in the header; the panel stays narrow.
COLUMNS = (("app", "App"), ("sync", "Sync"), ("health", "Health"), ("deployed", "Deployed"))


class AppsPanel(DataTable[Text]):
    """Cells are updated in place; rows are rebuilt only when the set of apps changes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False, id="cursor.down"),
        Binding("k", "cursor_up", "Up", show=False, id="cursor.up"),
    ]

    class AppHighlighted(Message):
        def __init__(self, app: str) -> None:
            self.app = app
            super().__init__()

    def __init__(self, ascii: bool = False, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.ascii = ascii
        self._names: list[str] = []
        self._cells: dict[str, tuple[Text, ...]] = {}
        self._depths: dict[str, int] = {}  # apps an app-of-apps defines sit under it
        self._shown: dict[str, str] = {}  # app id -> its short name, or qualified where not unique

    def on_mount(self) -> None:
        self.border_title = "1 Apps"
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    def show(self, snapshot: Snapshot) -> None:
        apps = in_tree_order(snapshot.apps)  # each app right under the one that defines it
        names = [a.name for a in apps]
        self._depths = app_depths(snapshot.apps)
        self._shown = snapshot.shown_names
        if names != self._names:
            current = self.current
            self.clear()
            self._cells.clear()
            for app in apps:
                cells = self._cells_for(app)
                self._cells[app.name] = cells
                self.add_row(*cells, key=app.name)
            self._names = names
            if current in names:
                self.move_cursor(row=names.index(current))
            return
        for app in apps:
            cells = self._cells_for(app)
            old = self._cells.get(app.name, ())
            for (column, _label), new, was in zip(COLUMNS, cells, old or (None,) * len(cells), strict=True):
                if was is None or new.plain != was.plain or new.style != was.style:
                    self.update_cell(app.name, column, new, update_width=True)
            self._cells[app.name] = cells

    @property
    def current(self) -> str:
        if not self._names or self.cursor_row < 0 or self.cursor_row >= len(self._names):
            return ""
        return self._names[self.cursor_row]

    def select(self, app: str) -> None:
        if app in self._names and self.current != app:
            self.move_cursor(row=self._names.index(app))

    def _cells_for(self, app: AppState) -> tuple[Text, ...]:
        sync = glyphs.SYNC[app.sync]
        health = glyphs.HEALTH[app.health]
        depth = self._depths.get(app.name, 0)
        branch = ("`- " if self.ascii else "└ ") if depth else ""
        name = self._shown.get(app.name, app.name)
        return (
            Text("  " * (depth - 1) + branch + name if depth else name, style="bold"),
            Text(f"{sync.text(self.ascii)} {app.sync}", style=sync.style),
            Text(f"{health.text(self.ascii)} {app.health}", style=health.style),
            self._deployed(app),
        )

    def _deployed(self, app: AppState) -> Text:
        if app.rolled_back:  # the cluster runs an older revision than Git
            glyph = glyphs.ROLLED_BACK_TO
            return Text(f"{glyph.text(self.ascii)} {glyphs.short(app.deployed_revision)}", style=glyph.style)
        return Text(glyphs.short(app.deployed_revision))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if event.row_key.value:
            self.post_message(self.AppHighlighted(str(event.row_key.value)))
