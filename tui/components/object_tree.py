"""One side of the object view: the desired tree (Git) or the live tree (the cluster).

Both sides hold exactly the same rows in the same order (``ObjectTrees`` keeps them so);
this widget only knows how to label a row for its side.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Literal

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import BindingType
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.widgets import Tree
from textual.widgets._tree import _TreeLine
from textual.widgets.tree import TreeNode

from sandbox.model import SyncStatus
from tui import glyphs, keys
from tui.redraw import redraw_now
from tui.rows import EVERY_ROW, Row, RowId, Shown, is_shown

Side = Literal["desired", "live"]
ASCII_LINES = ("  ", "| ", "`-", "|-")
# The component styles Tree._render_line draws with (partial or not), and those whose colour it checks.
LINE_STYLES = (
    ("tree--guides", True),
    ("tree--guides-hover", True),
    ("tree--guides-selected", True),
    ("tree--highlight-line", False),
    ("tree--label", True),
    ("tree--highlight", True),
    ("tree--cursor", False),
)
GUIDE_COLOURS = ("tree--guides", "tree--guides-hover", "tree--guides-selected")
DRAWN_LINES = 512  # lines each tree keeps drawn (a 160x48 screen shows about 25 a tree)


class ObjectTree(Tree[RowId]):
    """A Tree of rows whose labels depend on the side; node data is the row id."""

    BINDINGS: ClassVar[list[BindingType]] = keys.bindings(keys.TREE)

    # Class defaults: the Tree invalidates its lines from inside its own __init__.
    _held = False
    _stale = False
    shown: Shown = EVERY_ROW
    _structure = 0  # bumped by every change to which nodes exist or are expanded
    _filtering = False
    _unfiltered: tuple[int, list[_TreeLine[RowId]]] | None = None  # (structure, lines) with no filter
    # Each node a filtered line list numbered, with its number in the unfiltered list: clearing
    # the filter puts back those numbers only, not all 5,000.
    _renumbered: dict[TreeNode[RowId], int]
    on_cursor: Callable[[ObjectTree], None] | None = None  # called when the cursor line changes
    _styles: tuple[object, ...] | None = None  # what LINE_STYLES are now; None after a style change

    def __init__(self, side: Side, ascii: bool = False, *, id: str | None = None) -> None:
        self._renumbered = {}
        super().__init__("objects", id=id)
        self.side: Side = side
        self.ascii = ascii
        self.show_root = False
        self.auto_expand = False  # enter opens the YAML; space still folds
        self._drawn: LRUCache[tuple[object, ...], tuple[Text, Strip]] = LRUCache(DRAWN_LINES)
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
        if not self._filtering:
            self._structure += 1
        if self._held:
            self._stale = True
            return
        super()._invalidate()

    def show_only(self, shown: Shown) -> None:
        """Filter: lines only for the rows ``shown`` keeps; the others stay in the tree, hidden.

        Hiding costs one rebuild of the line list; removing the rows and adding them back when
        the filter clears cost thousands of node operations (a second, at 5,000 objects).
        """
        self.shown = shown
        self._filtering = True
        try:
            self._invalidate()
        finally:
            self._filtering = False
        redraw_now(self)

    def is_visible(self, node: TreeNode[RowId]) -> bool:
        return is_shown(node.data or (), self.shown)

    def _build(self) -> None:
        # Tree._build (Textual 8), plus the filter. Clearing a filter brings back the line list
        # from before it when no node was added, removed, folded or unfolded since: esc then
        # renumbers lines instead of building 5,000 of them again, in both trees.
        unfiltered = self._unfiltered
        if self.shown.ids is None and unfiltered is not None and unfiltered[0] == self._structure:
            lines = unfiltered[1]
            for node, number in self._renumbered.items():
                node._line = number
        else:
            lines = self._lines()
            if self.shown.ids is None:
                self._unfiltered = (self._structure, lines)
        if self.shown.ids is None:
            self._renumbered = {}
        self._tree_lines_cached = lines

        # The width only sets how far lines may scroll sideways, and these trees never do
        # (overflow-x: hidden): measuring every label cost half of a rebuild.
        self.virtual_size = Size(self.size.width, len(lines))
        cursor = self.cursor_node
        if self.cursor_line != -1 and cursor is not None:
            # A row the filter hides has no line: the cursor goes to the first object shown
            # (line 0 is its app), as after a fill.
            self.cursor_line = cursor._line if self.is_visible(cursor) else min(1, len(lines) - 1)
        if self.cursor_line >= len(lines):
            self.cursor_line = -1

    def _lines(self) -> list[_TreeLine[RowId]]:
        """One line per node shown: the apps and objects the filter hides get none (owned
        children go with their object). A loop, not Textual's recursive closure: that closure
        is a reference cycle holding the whole line list, so every rebuild left thousands of
        lines to the cyclic garbage collector."""
        shown = self.shown
        lines: list[_TreeLine[RowId]] = []
        stack: list[tuple[list[TreeNode[RowId]], TreeNode[RowId], bool]] = []
        push = stack.append

        def push_children(path: list[TreeNode[RowId]], children: list[TreeNode[RowId]]) -> None:
            if shown.ids is not None and len(path) <= 1:  # the app rows, and the objects under one
                children = [c for c in children if is_shown(c.data or (), shown)]
            last = len(children) - 1
            for i in range(last, -1, -1):  # reversed: the stack pops the first child first
                # Top-level rows count as last, as in Tree._build without a root line.
                push((path, children[i], not path or i == last))

        renumbered = self._renumbered if shown.ids is not None else None
        push_children([], self.root._children)
        while stack:
            path, node, last = stack.pop()
            child_path = [*path, node]
            if renumbered is not None and node not in renumbered:
                renumbered[node] = node._line
            node._line = len(lines)
            lines.append(_TreeLine(child_path, last))
            if node._expanded and node._children:
                push_children(child_path, node._children)
        return lines

    def watch_cursor_line(self, previous_line: int, line: int) -> None:
        super().watch_cursor_line(previous_line, line)
        # At once, not by the NodeHighlighted message: a message is handled after the frame
        # that moves this cursor, so the twin's cursor and the Diff's status line would come
        # a frame or two later (16-30 ms at 60 fps) than the key's first frame.
        if self.on_cursor is not None:
            self.on_cursor(self)

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
        self._updates += 1  # part of every line the Tree caches
        self._line_cache.clear()
        self._styles = None
        self.refresh()

    # Textual's own cache of drawn lines forgets them all at every style change and every new
    # line list, which is every focus change and every filter key: esc drew both trees anew
    # (8 ms at 5,000 objects), although the lines it brings back are the ones shown before `/`.
    # This cache keys a line by everything Tree._render_line (Textual 8, private: textual is
    # pinned below 9) draws it from instead, and keeps what it drew in other focus states.

    def render_lines(self, crop: Region) -> list[Strip]:
        if self._styles is None:
            self._styles = (
                *(self.get_component_rich_style(name, partial=partial) for name, partial in LINE_STYLES),
                *(self.get_component_styles(name).color for name in GUIDE_COLOURS),
            )
        return super().render_lines(crop)

    def _render_line(self, y: int, x1: int, x2: int, base_style: Style) -> Strip:
        lines = self._tree_lines
        if y >= len(lines):
            return super()._render_line(y, x1, x2, base_style)
        line = lines[y]
        key = (
            y, x1, x2, base_style, self.size.width, max(self.virtual_size.width, self.size.width), self.has_focus,
            self.cursor_line == y, self.hover_line == y, line.last, self._styles,
            tuple((n._id, n._expanded, n._allow_expand, n._hover_, n._selected_, n.is_last) for n in line.path),
        )  # fmt: skip
        label = line.path[-1]._label
        drawn = self._drawn.get(key)
        if drawn is not None and drawn[0] is label:  # the same label object: set_label replaces it
            return drawn[1]
        strip = super()._render_line(y, x1, x2, base_style)
        self._drawn[key] = (label, strip)
        return strip

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
        label.append(app.shown_name or app.name, style="bold")
        if app.sync != SyncStatus.SYNCED:
            label.append(f" {app.sync}", style=glyphs.SYNC[app.sync].style)
        return label
