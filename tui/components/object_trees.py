"""The desired tree beside the live tree, aligned row for row, reconciled by key.

A new snapshot never rebuilds a tree: rows whose id is on screen get a new label only when
their signature changed (``TreeNode.set_label``); nodes are added or removed only when the
set of ids changes. New rows go in at their sorted place, so out-of-sync and unhealthy
objects, which the engine sorts first, arrive first. Rows on screen keep their place, except
an object that turns OutOfSync, Degraded or Progressing: it moves up to its sorted place
(two node operations a side, not a rebuild), unless the cursor is on it. An object that
recovers stays where it is, so rows do not jump back and forth while statuses flicker.
Large changes are applied in chunks, yielding to the event loop between them, so thousands
of objects never freeze the UI; a newer snapshot cancels the fill in progress and the next
one resumes from what is on screen.

The filter never adds or removes nodes: every row of the snapshot is in both trees, and the
filter only decides which of them get a line (``ObjectTree.show_only``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from sandbox.agent.snapshot import Snapshot
from tui.components.object_tree import ObjectTree
from tui.redraw import redraw_now
from tui.rows import (
    EVERY_ROW,
    FilterIndex,
    Row,
    RowId,
    Shown,
    app_row_id,
    build_rows,
    filter_index,
    is_shown,
    shown_rows,
)

SLICE = 0.008  # seconds of tree operations between two yields to the event loop (a frame is 16 ms)
REDRAW = 0.1  # seconds between two rebuilds of the line lists while a long fill runs

Twins = tuple[TreeNode[RowId], TreeNode[RowId]]


def rank(row: Row) -> int:
    """How much a row needs attention, as the engine sorts objects: lower is more."""
    return row.state.attention if row.state is not None else 2


def rid_of(node: TreeNode[RowId]) -> RowId:
    """The row id a node shows (every node the reconciler adds carries one)."""
    return node.data or ()


class ObjectTrees(Horizontal):
    """Desired (left) and live (right): same rows, same order, same folding, same cursor, same scroll."""

    def __init__(
        self, on_row: Callable[[Row | None], None], ascii: bool = False, *, id: str | None = None
    ) -> None:
        """``on_row`` is called, at once, when the cursor moves onto another row (None: no row)."""
        super().__init__(id=id)
        self.ascii = ascii
        self.on_row = on_row
        self.desired = ObjectTree("desired", ascii, id="desired-tree")
        self.live = ObjectTree("live", ascii, id="live-tree")
        self.desired.on_cursor = self.live.on_cursor = self._mirror_cursor
        self._twins: dict[RowId, Twins] = {}
        self._signatures: dict[RowId, tuple[object, ...]] = {}
        self._rows: dict[RowId, Row] = {}
        self._ranks: dict[RowId, int] = {}  # each row's attention when last shown (see _rising)
        self._highlighted: RowId | None = None
        self._pending_select: RowId | None = None
        self.needle = ""
        self.snapshot: Snapshot | None = None
        self.filling = False
        self.operations = 0  # tree adds, removes and relabels since mount (tests read it)
        self._to_fill: tuple[Row, ...] = ()
        self._index: tuple[Snapshot | None, FilterIndex] = (None, ())  # the filter's, made at its first key

    def compose(self) -> ComposeResult:
        yield self.desired
        yield self.live

    def on_mount(self) -> None:
        self.desired.border_title = "3 Desired (Git)"
        self.live.border_title = "3 Live (cluster)"
        # Mirror scrolling so rows stay side by side whichever tree the user scrolls.
        self.watch(self.desired, "scroll_y", lambda y: self._mirror_scroll(self.live, y), init=False)
        self.watch(self.live, "scroll_y", lambda y: self._mirror_scroll(self.desired, y), init=False)

    # -- public ---------------------------------------------------------------------------

    def show(self, snapshot: Snapshot, needle: str | None = None) -> None:
        """Bring both trees to this snapshot (and filter); returns at once, the fill runs on."""
        refilter = needle is not None and needle != self.needle
        if needle is not None:
            self.needle = needle
        if snapshot is self.snapshot:
            # Already shown or being filled: only the filter can have changed.
            if refilter:
                self._show_only(self._shown())
                if not self.filling:
                    self._filled()
            return
        self.snapshot = snapshot
        self.filling = True
        shown = self._shown()
        if shown != self.live.shown:  # a status change can bring a row into the filter or out
            self._show_only(shown)
        self._to_fill = build_rows(snapshot)
        self._reconcile()

    def _shown(self) -> Shown:
        """What the filter keeps of the snapshot being shown."""
        if not self.needle or self.snapshot is None:
            return EVERY_ROW
        if self._index[0] is not self.snapshot:
            self._index = (self.snapshot, filter_index(self.snapshot))
        return shown_rows(self._index[1], self.needle)

    def _show_only(self, shown: Shown) -> None:
        self.desired.show_only(shown)
        self.live.show_only(shown)

    @property
    def row_count(self) -> int:
        """Rows shown (those the filter keeps)."""
        shown = self.live.shown
        return len(self._twins) if shown.ids is None else shown.rows

    def row(self, rid: RowId) -> Row | None:
        return self._rows.get(rid)

    @property
    def selected(self) -> Row | None:
        node = self.focused_tree.cursor_node
        return self._rows.get(node.data) if node is not None and node.data is not None else None

    @property
    def focused_tree(self) -> ObjectTree:
        return self.desired if self.desired.has_focus else self.live

    def twins(self, rid: RowId) -> Twins | None:
        return self._twins.get(rid)

    def select(self, rid: RowId) -> None:
        """Move both cursors to a row (now, or as soon as the row is on screen)."""
        if not is_shown(rid, self.live.shown):
            return  # the filter hides it
        twins = self._twins.get(rid)
        if twins is None:
            self._pending_select = rid
            return
        self._pending_select = None
        tree = self.focused_tree
        node = twins[1] if tree is self.live else twins[0]
        # Line numbers must be current before moving, on both sides (a fill may hold them).
        self.desired.sync_lines()
        self.live.sync_lines()
        tree.move_cursor(node)

    def select_app(self, app: str) -> None:
        selected = self.selected
        if selected is None or selected.app != app:
            self.select(app_row_id(app))

    # -- reconciling ----------------------------------------------------------------------

    # Every worker gets a description: Textual otherwise builds one from repr() of the
    # arguments, which for thousands of rows costs more than the fill itself.
    @work(exclusive=True, group="object-trees", description="fill the object trees")
    async def _reconcile(self) -> None:
        # The rows come by attribute, not as an argument: a finished Worker sits in a reference
        # cycle with its task, and would keep its arguments (a whole snapshot's rows) alive
        # until the next full garbage collection.
        rows, self._to_fill = self._to_fill, ()
        # Yield by time, not by count: a frame (and a key pressed meanwhile) waits at most one
        # slice. The line lists are rebuilt (a pass over every row) a few times a second while
        # the fill runs, not at every yield: those rebuilds cost more than the changes.
        done = 0
        self._hold_lines()
        drawn = sliced = time.monotonic()
        try:
            for _ in self._merge(self.desired.root, self.live.root, rows):
                done += 1
                if done % 16 == 0 and time.monotonic() - sliced >= SLICE:
                    if time.monotonic() - drawn >= REDRAW:
                        self._release_lines()
                        self._hold_lines()
                        drawn = time.monotonic()
                    await asyncio.sleep(0)
                    sliced = time.monotonic()
        finally:  # a newer snapshot cancels this fill: what is done so far is drawn
            self._release_lines()
        self.filling = False
        self._filled()

    def _filled(self) -> None:
        """The trees show the snapshot and the filter: set the cursor right and say so."""
        self._repair_cursor()
        if self._pending_select is not None:
            self.select(self._pending_select)
        subtitle = f"filter: {self.needle} · {self.row_count} rows · esc clears" if self.needle else ""
        if self.ascii:
            subtitle = subtitle.replace("·", "|")
        for tree in (self.desired, self.live):
            tree.border_subtitle = subtitle
            redraw_now(tree)
        self._report_row(force=True)

    def _hold_lines(self) -> None:
        self.desired.hold_lines()
        self.live.hold_lines()

    def _release_lines(self) -> None:
        self.desired.release_lines()
        self.live.release_lines()

    def _merge(
        self, desired: TreeNode[RowId], live: TreeNode[RowId], rows: tuple[Row, ...]
    ) -> Iterator[None]:
        wanted = {r.id for r in rows}
        for child in list(live.children):
            if rid_of(child) not in wanted:
                self._remove(rid_of(child))
                yield
        existing = [rid_of(c) for c in live.children]
        for rising in self._rising(rows, existing):
            self._remove(rising)
            yield
        existing = [rid_of(c) for c in live.children]
        present = set(existing)
        # Rows already on screen keep their order; a new (or rising) row goes right after the row
        # that precedes it in the new order (or first), which is its sorted place.
        after: dict[RowId | None, list[Row]] = {}
        anchor: RowId | None = None
        for row in rows:
            if row.id in present:
                anchor = row.id
            else:
                after.setdefault(anchor, []).append(row)
        if after:
            index = 0
            for rid in (None, *existing):
                if rid is not None:
                    index += 1
                for row in after.get(rid, ()):
                    yield from self._add(desired, live, row, index)
                    index += 1
        for row in rows:
            if row.id in present:
                self._update(row)
                yield  # thousands of unchanged rows are work too: let the caller slice them
                twin_desired, twin_live = self._twins[row.id]
                if row.children or twin_live.children:
                    yield from self._merge(twin_desired, twin_live, row.children)

    def _add(self, desired: TreeNode[RowId], live: TreeNode[RowId], row: Row, index: int) -> Iterator[None]:
        expandable = bool(row.children)
        d = desired.add(
            self.desired.label_for(row), row.id, before=index, expand=True, allow_expand=expandable
        )
        n = live.add(self.live.label_for(row), row.id, before=index, expand=True, allow_expand=expandable)
        self._twins[row.id] = (d, n)
        self._signatures[row.id] = row.signature
        self._rows[row.id] = row
        self._ranks[row.id] = rank(row)
        self.operations += 1
        yield
        for i, child in enumerate(row.children):
            yield from self._add(d, n, child, i)

    def _update(self, row: Row) -> None:
        self._rows[row.id] = row
        self._ranks[row.id] = rank(row)
        d, n = self._twins[row.id]
        if bool(row.children) != n.allow_expand:
            d.allow_expand = n.allow_expand = bool(row.children)
            d.refresh()
            n.refresh()
        signature = row.signature
        if self._signatures.get(row.id) != signature:
            self._signatures[row.id] = signature
            d.set_label(self.desired.label_for(row))
            n.set_label(self.live.label_for(row))
            self.operations += 1
            if row.id == self._highlighted:
                self._report_row(force=True)

    def _remove(self, rid: RowId) -> None:
        d, n = self._twins[rid]
        stack = [n]
        while stack:
            node = stack.pop()
            self._twins.pop(rid_of(node), None)
            self._signatures.pop(rid_of(node), None)
            self._rows.pop(rid_of(node), None)
            self._ranks.pop(rid_of(node), None)
            stack.extend(node.children)
        d.remove()
        n.remove()
        self.operations += 1

    def _rising(self, rows: tuple[Row, ...], existing: list[RowId]) -> list[RowId]:
        """Objects on screen that need more attention than when they were last shown (turned
        OutOfSync, Degraded or Progressing) and now belong above a row shown above them: they
        move up to their sorted place. The row under the cursor stays where the user is."""
        if not rows or rows[0].depth != 1:
            return []  # apps and owned children keep the engine's order
        order = {row.id: i for i, row in enumerate(rows)}
        highlighted = self._highlighted or ()
        rising = []
        latest = -1  # the furthest place in the new order of the rows shown above this one
        for rid in existing:
            place = order.get(rid)
            if place is None:
                continue
            row = rows[place]
            if (
                place < latest
                and rank(row) < self._ranks.get(rid, rank(row))
                and highlighted[: len(rid)] != rid
            ):
                rising.append(rid)
            latest = max(latest, place)
        return rising

    def _repair_cursor(self) -> None:
        """A removed row under the cursor leaves the Tree pointing at a dead node: re-point it.

        (A row the filter hides moves the cursor itself: ``ObjectTree._build``.)
        """
        for tree in (self.desired, self.live):
            tree.sync_lines()
            node = tree.cursor_node
            if node is not None and node not in self._twins.get(rid_of(node), ()):
                line = tree.cursor_line
                tree.cursor_line = -1
                last = tree.last_line
                if last >= 0:
                    tree.cursor_line = max(0, min(line, last))
        if self.live.cursor_line == -1 and self._twins:
            # Start on the first object (the one most in need of attention), not on the app row.
            line = 1 if self.live.last_line >= 1 else 0
            self.live.cursor_line = line
            self.desired.cursor_line = line

    # -- keeping the two sides together -------------------------------------------------------

    def _twin_of(self, tree: Tree[RowId]) -> ObjectTree:
        return self.live if tree is self.desired else self.desired

    def _mirror_scroll(self, tree: ObjectTree, y: float) -> None:
        if tree.scroll_y != y:
            tree.scroll_to(y=y, animate=False, immediate=True)

    def _mirror_cursor(self, source: ObjectTree) -> None:
        twin = self._twin_of(source)
        if twin.cursor_line != source.cursor_line:
            twin.cursor_line = source.cursor_line  # its watcher calls back, and finds them equal
        self._report_row()

    @on(Tree.NodeHighlighted)
    def _swallow_highlight(self, event: Tree.NodeHighlighted[RowId]) -> None:
        event.stop()  # handled at once by _mirror_cursor

    @on(Tree.NodeExpanded)
    def _mirror_expand(self, event: Tree.NodeExpanded[RowId]) -> None:
        event.stop()
        twin = self._twin_node(event.control, event.node)
        if twin is not None and not twin.is_expanded:
            twin.expand()

    @on(Tree.NodeCollapsed)
    def _mirror_collapse(self, event: Tree.NodeCollapsed[RowId]) -> None:
        event.stop()
        twin = self._twin_node(event.control, event.node)
        if twin is not None and twin.is_expanded:
            twin.collapse()

    @on(Tree.NodeSelected)
    def _swallow_select(self, event: Tree.NodeSelected[RowId]) -> None:
        event.stop()

    def _twin_node(self, tree: Tree[RowId], node: TreeNode[RowId]) -> TreeNode[RowId] | None:
        twins = self._twins.get(node.data) if node.data is not None else None
        if twins is None:
            return None
        return twins[1] if tree is self.desired else twins[0]

    def _report_row(self, force: bool = False) -> None:
        row = self.selected
        rid = row.id if row else None
        if force or rid != self._highlighted:
            self._highlighted = rid
            self.on_row(row)
