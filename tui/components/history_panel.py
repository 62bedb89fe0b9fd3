"""The History panel: the env repo's commit log with what the sync history says about each commit.

Markers: deployed now, a sync of it failed, rolled back to, and Git HEAD. The log and the
records come in the agent's snapshot: the panel reads no git and no SQLite of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from sandbox.agent.history import SyncRecord
from sandbox.agent.snapshot import AppState, Snapshot
from sandbox.source.envrepo import CommitInfo
from tui import glyphs

COMMIT_LIMIT = 200


@dataclass(frozen=True)
class Marks:
    deployed: str | None
    head: str
    failed: frozenset[str]
    rolled_back_to: frozenset[str]


def marks_for(app: AppState | None, head: str, records: Sequence[SyncRecord]) -> Marks:
    failed = frozenset(r.revision for r in records if r.result == "Failed")
    # One mark: the commit the cluster is rolled back to now (an earlier rollback's target is history).
    rolled = frozenset({app.target_revision} if app is not None and app.rolled_back else ())
    return Marks(app.deployed_revision if app else None, head, failed, rolled)


class HistoryPanel(DataTable[Text]):
    """Newest commit first (Git HEAD in bold); new commits do not move a chosen cursor."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False, id="cursor.down"),
        Binding("k", "cursor_up", "Up", show=False, id="cursor.up"),
    ]

    def __init__(self, ascii: bool = False, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.ascii = ascii
        self.commits: list[CommitInfo] = []
        self.marks: Marks | None = None
        self._wanted: tuple[object, ...] = ()

    def on_mount(self) -> None:
        self.border_title = "2 History"
        self.border_subtitle = self._legend()
        self.add_column(" ", key="mark")
        self.add_column("Commit", key="sha")
        self.add_column("When", key="when")
        self.add_column("Subject", key="subject")
        self.add_column("Author", key="author")

    def _legend(self) -> str:
        return "  ".join(
            f"{g.text(self.ascii)} {word}"
            for g, word in (
                (glyphs.DEPLOYED, "deployed"),
                (glyphs.FAILED, "failed"),
                (glyphs.ROLLED_BACK_TO, "rolled back to"),
            )
        )

    @property
    def selected(self) -> CommitInfo | None:
        if 0 <= self.cursor_row < len(self.commits):
            return self.commits[self.cursor_row]
        return None

    def refresh_for(self, snapshot: Snapshot, app: AppState | None) -> None:
        """Redraw when something the panel shows changed (a commit, a sync, the app)."""
        wanted = (
            snapshot.head, tuple(c.sha for c in snapshot.commits[:1]), len(snapshot.commits),
            app.name if app else "", app.deployed_revision if app else None,
            app.syncs[0].id if app and app.syncs else None, app.syncs[0].result if app and app.syncs else "",
            app.rolled_back if app else False,
        )  # fmt: skip
        if wanted == self._wanted:
            return
        self._wanted = wanted
        records = app.syncs if app is not None else ()
        self._fill(list(snapshot.commits[:COMMIT_LIMIT]), marks_for(app, snapshot.head, records))

    def _fill(self, commits: list[CommitInfo], marks: Marks) -> None:
        shas = [c.sha for c in commits]
        if shas == [c.sha for c in self.commits]:
            if marks != self.marks:
                for commit in commits:
                    self.update_cell(commit.sha, "mark", self._mark(commit.sha, marks))
        else:
            # On the newest commit the cursor follows new ones (as a log view does); anywhere
            # else it stays on the commit the user chose.
            selected = self.selected if self.cursor_row > 0 else None
            self.clear()
            for commit in commits:
                self.add_row(
                    self._mark(commit.sha, marks),
                    Text(commit.short, style="bold cyan" if commit.sha == marks.head else ""),
                    Text(glyphs.when(commit.timestamp), style="dim"),
                    Text(commit.subject),
                    Text(commit.author, style="dim"),
                    key=commit.sha,
                )
            if selected is not None and selected.sha in shas:
                self.move_cursor(row=shas.index(selected.sha))
        self.commits = commits
        self.marks = marks
        self.border_subtitle = self._legend()

    def _mark(self, sha: str, marks: Marks) -> Text:
        text = Text()
        for present, glyph in (
            (sha == marks.deployed, glyphs.DEPLOYED),
            (sha in marks.rolled_back_to, glyphs.ROLLED_BACK_TO),
            (sha in marks.failed, glyphs.FAILED),
        ):
            if present:
                text.append(glyph.text(self.ascii), style=glyph.style)
        return text
