"""One side of the object view: the desired tree (Git) or the live tree (the cluster).

Both sides hold exactly the same rows in the same order (``ObjectTrees`` keeps them so);
this widget only knows how to label a row for its side.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from rich.text import Text
from textual import events
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

    # Class defaults: the Tree invalidates its lines from inside its own __init__.
    _held = False
    _stale = False

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

    # Textual's Tree keeps one line per visible node and rebuilds that whole list (measuring
    # every label) after any add, remove, fold, resize or style change. With thousands of rows
    # the rebuilds, not the drawing, are what a key waits for; the overrides below keep them
    # to the changes that really move lines.

    def hold_lines(self) -> None:
        """Until ``release_lines``, adds and removes do not rebuild the line list.

        Every add or remove invalidates the Tree's lines and the next idle or draw rebuilds all
        of them: a fill of thousands of nodes in chunks paid one full rebuild per chunk. Held,
        the tree keeps drawing the lines it had (nodes already removed included, harmlessly)
        until the caller releases it.
        """
        self._held = True

    def release_lines(self) -> None:
        self._held = False
        if self._stale:
            self._stale = False
            self._invalidate()

    def sync_lines(self) -> None:
        """Bring the line list up to date now, held or not: moving the cursor to a node needs it."""
        if self._stale:
            self._stale = False
            super()._invalidate()
        self.get_node_at_line(0)  # rebuilds the lines if they were invalidated

    def _invalidate(self) -> None:
        if self._held:
            self._stale = True
            return
        super()._invalidate()

    def get_label_width(self, node: TreeNode[RowId]) -> int:
        # Measured for every line on every rebuild; the width only sets how far a line may scroll
        # sideways, and these trees never do (overflow-x: hidden). Characters, not cells: the
        # same for kinds, names and glyphs (a wide character in a health message aside), and
        # cell_len over thousands of labels cost more than the rest of a rebuild.
        return len(node.label) + (len(self.ICON_NODE) if node.allow_expand else 0)

    def process_label(self, label: str | Text) -> Text:
        # The Tree calls this twice per added node and copies the label to keep its first line;
        # labels built here are one line already.
        if isinstance(label, Text) and "\n" not in label.plain:
            return label
        return super().process_label(label)

    def notify_style_update(self) -> None:
        # Focus moving in or out restyles the tree; the Tree then rebuilds every line, but
        # which node is on which line does not depend on styles: redraw, do not rebuild.
        super(Tree, self).notify_style_update()
        self._updates += 1  # part of every cached line's key
        self._line_cache.clear()
        self.refresh()

    def _on_resize(self, event: events.Resize) -> None:
        # The filter bar opening or closing resizes the trees; lines stay the same, only the
        # visible ones are drawn again. prevent_default: Tree's handler would rebuild them all.
        event.prevent_default()
        self._line_cache.grow(event.size.height)
        self.refresh()

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
