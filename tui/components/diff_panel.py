"""The Diff panel: what a sync would change in the selected object, as a coloured unified diff.

The diff needs a server-side dry-run, so it is computed in a worker thread; moving the
cursor quickly only computes the diff of the row it stops on.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.timer import Timer
from textual.widgets import Static

from sandbox.model import SyncStatus
from tui import glyphs, keys
from tui.rows import Row
from tui.source import SnapshotSource
from tui.threads import hand_over

COMPACT = 3
FULL = 1_000_000  # "all of it": difflib takes any context length
SETTLE = 0.12  # seconds the cursor rests on a row before its diff is computed
STATUS_LINES = 2  # the status line's min-height in sandbox.tcss


def colour_diff(text: str) -> Text:
    """Unified diff with + green, - red, hunk headers cyan: colour on top of the +/- that carry the meaning."""
    out = Text()
    for line in text.splitlines():
        if line.startswith(("+++", "---")):
            style = "bold"
        elif line.startswith("@@"):
            style = "cyan"
        elif line.startswith("+"):
            style = "green"
        elif line.startswith("-"):
            style = "red"
        elif line.startswith("#"):
            style = "yellow"
        else:
            style = ""
        out.append(line + "\n", style=style)
    return out


class DiffPanel(VerticalScroll):
    """Focusable (number key 4) so long diffs scroll with j/k and the arrows."""

    BINDINGS: ClassVar[list[BindingType]] = keys.bindings(keys.DIFF)

    def __init__(self, ascii: bool = False, *, id: str | None = None) -> None:
        super().__init__(id=id, can_focus=True)
        self.ascii = ascii
        self.status = Static("", id="diff-status", markup=False)
        self.body = Static("", id="diff-body", markup=False)
        self.context = COMPACT
        self.text = ""
        self._wanted: tuple[object, ...] = ()
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield self.status
        yield self.body

    def on_mount(self) -> None:
        self.border_title = "4 Diff"
        self._subtitle()

    def _subtitle(self) -> None:
        self.border_subtitle = "compact (3 lines)" if self.context == COMPACT else "full context"

    def toggle_context(self, source: SnapshotSource, row: Row | None) -> None:
        self.context = FULL if self.context == COMPACT else COMPACT
        self._subtitle()
        self.show_row(source, row, force=True)

    def show_row(self, source: SnapshotSource, row: Row | None, force: bool = False) -> None:
        """Show the diff of a row, recomputing only when the row or its state changed."""
        live_version = ""
        if row is not None and row.state is not None and row.state.live is not None:
            live_version = str(row.state.live.get("metadata", {}).get("resourceVersion", ""))
        wanted = (row.id if row else None, row.signature if row else None, live_version, self.context)
        if wanted == self._wanted and not force:
            return
        self._wanted = wanted
        self.border_title = f"4 Diff: {row.state.key}" if row is not None and row.state else "4 Diff"
        self._set_status(self._status_line(row))
        # The body follows once the cursor rests on a row, whatever the row: a new body re-lays
        # out the panel, which cost every j/k onto a Pod or an app row two more frames.
        if self._timer is not None:
            self._timer.stop()
        note = self._note(row)
        if note is not None:
            self._timer = self.set_timer(SETTLE, lambda: self._put_if_current(wanted, note))
        else:
            assert row is not None
            self._timer = self.set_timer(SETTLE, lambda: self._compute(source, row, wanted))

    def _note(self, row: Row | None) -> str | None:
        """What the body says for a row that has no diff to compute (None: it has one)."""
        if row is None:
            return "Select an object to see what a sync would change."
        if row.state is None:
            app = row.app_state
            lines = [f"# {p}" for p in app.problems]
            if app.rollback_note:
                lines.append(f"# {app.rollback_note}")
            lines += [f"# note: {n}" for n in app.notices]  # what its render left out, and why
            lines.append("Select an object of the app to see its diff.")
            return "\n".join(lines)
        if row.is_child:
            return "Made by a controller, not by Git: nothing to diff. enter shows its live YAML."
        return None

    def _set_status(self, line: Text) -> None:
        # Static.update re-lays out the whole screen by default, which costs the cursor two
        # more frames; a status line that wraps to as many lines as the one before needs none.
        status = self.status
        status.update(line, layout=False)
        width = status.content_size.width
        height = status.get_content_height(self.size, self.app.size, width) if width else -1
        if max(height, STATUS_LINES) != status.content_size.height:
            status.refresh(layout=True)

    def _status_line(self, row: Row | None) -> Text:
        """What the trees cut short: the full status, health message and source of the row."""
        if row is None:
            return Text()
        app = row.app_state
        if row.state is None:
            line = Text()
            line.append_text(glyphs.sync_glyph(app.sync, self.ascii))
            line.append(" ")
            line.append_text(glyphs.health_glyph(app.health, self.ascii))
            line.append(f" app {app.shown_name or app.name}", style="bold")
            line.append(f": {app.sync}, {app.health}; {app.said or app.last_result or 'not synced yet'}")
            return line
        state = row.state
        line = Text()
        if row.is_child:
            line.append(glyphs.OWNED.text(self.ascii), style=glyphs.OWNED.style)
        else:
            line.append_text(glyphs.sync_glyph(state.sync, self.ascii))
        line.append(" ")
        line.append_text(glyphs.health_glyph(state.health, self.ascii))
        line.append(f" {state.key.kind} ", style="bold")
        line.append(glyphs.object_name(state.key, app.namespace))
        words = ["owned by a controller" if row.is_child else str(state.sync)]
        if str(state.health) not in words:
            words.append(str(state.health))
        line.append(f": {', '.join(words)}")
        if state.health_message:
            line.append(f": {state.health_message}")
        if state.source:
            line.append(f"  ({state.source})", style="dim")
        return line

    @work(thread=True, exclusive=True, group="diff", description="diff one object")
    def _compute(self, source: SnapshotSource, row: Row, wanted: tuple[object, ...]) -> None:
        assert row.state is not None
        try:
            text = source.diff_object(row.app, row.state.key, context=int(str(wanted[-1])))
        except Exception as exc:  # shown in the panel: a diff that fails must not end the app
            text = f"# diff failed: {type(exc).__name__}: {exc}"
        if not text.strip():
            text = (
                "No difference: the live object matches Git."
                if row.state.sync == SyncStatus.SYNCED
                else f"No textual difference ({row.state.sync})."
            )
        hand_over(self.app, self._put_if_current, wanted, text)

    def _put_if_current(self, wanted: tuple[object, ...], text: str) -> None:
        # A slower, older diff must not overwrite the one for what is selected now.
        if wanted == self._wanted:
            self._put(text)

    def _put(self, text: str) -> None:
        if text == self.text:
            return  # from one Pod to the next: the same words, no redraw and no re-layout
        self.text = text
        self.body.update(colour_diff(text))
