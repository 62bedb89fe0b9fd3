"""The Apps panel: one row per app with its sync, health, deployed revision and switches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable

from sandbox.agent.snapshot import AppState, Snapshot, app_depths, in_tree_order
from tui import glyphs

# Auto-sync and self-heal of the selected app are in the header; the panel stays narrow.
COLUMNS = (("app", "App"), ("sync", "Sync"), ("health", "Health"), ("deployed", "Deployed"))


MIN_NAME = 12  # narrower, a name says too little: the panel scrolls sideways instead


def _fit(name: str, room: int, ascii: bool) -> str:
    """``name`` within ``room`` columns: its start and its end kept (a qualified name's kind and
    app name, a long name's distinctive tail), the middle elided."""
    if room <= 0 or len(name) <= room:
        return name
    mark = "..." if ascii else "…"
    keep = max(room - len(mark), 2)
    tail = min(len(name.rsplit("/", 1)[-1]) + 1, keep - keep // 3) if "/" in name else keep // 2
    return name[: keep - tail] + mark + name[len(name) - tail :]


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
        self._room = 0  # how wide the App column may be (0: as wide as the names)

    def on_mount(self) -> None:
        self.border_title = "1 Apps"
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    def show(self, snapshot: Snapshot) -> None:
        apps = in_tree_order(snapshot.apps)  # each app right under the one that defines it
        names = [a.name for a in apps]
        self._depths = app_depths(snapshot.apps)
        self._shown = snapshot.shown_names
        self._room = self._name_room(apps)
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

    def _name_room(self, apps: Sequence[AppState]) -> int:
        """How wide the App column may be so that Sync, Health and Deployed stay in view: the
        panel's width less theirs (as wide as their widest cell) and the cell padding."""
        widths = [max((len(cell.plain) for cell in column), default=0)
                  for column in zip(*(self._cells_for(a, room=0)[1:] for a in apps), strict=False)]  # fmt: skip
        others = sum(max(w, len(label)) for w, (_key, label) in zip(widths, COLUMNS[1:], strict=False))
        return max(MIN_NAME, self.scrollable_content_region.width - others - 2 * len(COLUMNS) - 1)

    def _cells_for(self, app: AppState, room: int | None = None) -> tuple[Text, ...]:
        sync = glyphs.SYNC[app.sync]
        health = glyphs.HEALTH[app.health]
        depth = self._depths.get(app.name, 0)
        branch = ("`- " if self.ascii else "└ ") if depth else ""
        indent = "  " * (depth - 1) + branch if depth else ""
        name = _fit(self._shown.get(app.name, app.name), (self._room if room is None else room) - len(indent),
                    self.ascii)  # fmt: skip
        return (
            Text(indent + name, style="bold"),
            Text(f"{sync.text(self.ascii)} {app.sync}", style=sync.style),
            Text(f"{health.text(self.ascii)} {app.health}", style=health.style),
            self._deployed(app),
        )

    def on_resize(self) -> None:
        self._names = []  # rebuilt at the next snapshot, names fitted to the new width

    def _deployed(self, app: AppState) -> Text:
        if app.rolled_back:  # the cluster runs an older revision than Git
            glyph = glyphs.ROLLED_BACK_TO
            return Text(f"{glyph.text(self.ascii)} {glyphs.short(app.deployed_revision)}", style=glyph.style)
        return Text(glyphs.short(app.deployed_revision))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if event.row_key.value:
            self.post_message(self.AppHighlighted(str(event.row_key.value)))
