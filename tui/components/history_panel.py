"""The History panel: the env repo's commit log with what the sync history says about each commit.

Markers: deployed now, a sync of it failed, rolled back to, and Git HEAD. The log and the
records are read in a worker thread (git and SQLite); the table only receives the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from sandbox.agent.history import SyncRecord
from sandbox.agent.snapshot import AppState
from sandbox.source.envrepo import CommitInfo
from tui import glyphs
from tui.source import SnapshotSource
from tui.threads import hand_over

COMMIT_LIMIT = 200
RECORD_LIMIT = 1000


@dataclass(frozen=True)
class Marks:
    deployed: str | None
    head: str
    failed: frozenset[str]
    rolled_back_to: frozenset[str]


def marks_for(app: AppState | None, head: str, records: Sequence[SyncRecord]) -> Marks:
    failed = frozenset(r.revision for r in records if r.result == "Failed")
    rolled = frozenset(r.revision for r in records if r.trigger == "rollback" and r.result == "Succeeded")
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

    def refresh_for(self, source: SnapshotSource, app: AppState | None, head: str) -> None:
        """Reload when something the panel shows may have changed (a commit, a sync, the app)."""
        wanted = (
            head, app.name if app else "", app.deployed_revision if app else None,
            app.last_sync if app else None, app.rolled_back if app else False,
        )  # fmt: skip
        if wanted == self._wanted:
            return
        self._wanted = wanted
        self._load(source, app, head)

    @work(thread=True, exclusive=True, group="history", description="read git log and sync history")
    def _load(self, source: SnapshotSource, app: AppState | None, head: str) -> None:
        try:
            commits = source.repo.commits(limit=COMMIT_LIMIT) if source.repo is not None else []
            records = source.history.records(app.name, limit=RECORD_LIMIT) if app is not None else []
        except Exception as exc:  # a repo rewritten under us or a locked history: say so, keep running
            hand_over(self.app, self._failed, f"{type(exc).__name__}: {exc}")
            return
        hand_over(self.app, self._fill, commits, marks_for(app, head, records))

    def _failed(self, message: str) -> None:
        self._wanted = ()  # the next snapshot retries
        self.border_subtitle = f"cannot read the log: {message}"[:80]

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
