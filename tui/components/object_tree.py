"""One side of the object view: the desired tree (Git) or the live tree (the cluster).

Both sides hold exactly the same rows in the same order (``ObjectTrees`` keeps them so);
this widget only knows how to label a row for its side.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from sandbox.model import SyncStatus
from tui import glyphs
from tui.rows import Row, RowId

Side = Literal["desired", "live"]
ASCII_LINES = ("  ", "| ", "`-", "|-")


class ObjectTree(Tree[RowId]):
    """A Tree of rows whose labels depend on the side; node data is the row id."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False, id="cursor.down"),
        Binding("k", "cursor_up", "Up", show=False, id="cursor.up"),
        Binding("enter", "screen.show_yaml", "YAML", id="object.yaml"),
    ]

    def __init__(self, side: Side, ascii: bool = False, *, id: str | None = None) -> None:
        super().__init__("objects", id=id)
        self.side: Side = side
        self.ascii = ascii
        self.show_root = False
        self.auto_expand = False  # enter opens the YAML; space still folds
        if ascii:
            self.ICON_NODE = "> "
            self.ICON_NODE_EXPANDED = "v "
            self.LINES = {"default": ASCII_LINES, "bold": ASCII_LINES, "double": ASCII_LINES}

    def get_label_width(self, node: TreeNode[RowId]) -> int:
        # The default renders every label to measure it, on every rebuild of the line list:
        # with thousands of rows that dominates. A label's width is its text's width.
        label = node.label
        width = label.cell_len if isinstance(label, Text) else Text(label).cell_len
        return width + (len(self.ICON_NODE) if node.allow_expand else 0)

    def label_for(self, row: Row) -> Text:
        return self._desired_label(row) if self.side == "desired" else self._live_label(row)

    def _desired_label(self, row: Row) -> Text:
        app = row.app_state
        if row.state is None:
            label = self._app_head(row)
            label.append(f"  Git @ {glyphs.short(app.target_revision)}", style="dim")
            if app.rolled_back:
                label.append(f"  rolled back (Git HEAD {glyphs.short(app.git_revision)})", style="yellow")
            if app.problems:
                label.append(f"  {len(app.problems)} problem(s)", style="bold red")
            return label
        state = row.state
        if row.is_child:
            return glyphs.placeholder_label("", self.ascii)
        if not row.in_git:
            why = "not in Git: orphan" + (", prune removes it" if app.prune else "")
            return glyphs.placeholder_label(why, self.ascii)
        return glyphs.object_label(
            state.key, state.sync, state.health, app.namespace, self.ascii, note=state.source
        )

    def _live_label(self, row: Row) -> Text:
        app = row.app_state
        if row.state is None:
            label = self._app_head(row)
            facts = (
                f"ns {app.namespace}{glyphs.dot(self.ascii)}deployed {glyphs.short(app.deployed_revision)}"
            )
            label.append(f"  {facts}", style="dim")
            if app.operation != "Idle":
                label.append(
                    f"  {app.operation}…" if not self.ascii else f"  {app.operation}...", style="cyan"
                )
            return label
        state = row.state
        if not row.in_cluster:
            return glyphs.placeholder_label("missing: not in the cluster", self.ascii)
        sync = None if row.is_child else state.sync
        return glyphs.object_label(
            state.key, sync, state.health, app.namespace, self.ascii, message=state.health_message
        )

    def _app_head(self, row: Row) -> Text:
        app = row.app_state
        label = Text()
        label.append_text(glyphs.sync_glyph(app.sync, self.ascii))
        label.append(" ")
        label.append_text(glyphs.health_glyph(app.health, self.ascii))
        label.append(" app ", style="dim")
        label.append(app.name, style="bold")
        if app.sync != SyncStatus.SYNCED:
            label.append(f" {app.sync}", style=glyphs.SYNC[app.sync].style)
        return label
