"""Glyphs and labels for sync status and health: colour plus a glyph, so they read without colour.

Pure Rich text, no Textual: the widgets and the tests share it. Every glyph has an ASCII twin
for terminals (or fonts) without the Unicode ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rich.text import Text

from sandbox.model import Health, ObjectKey, SyncStatus


@dataclass(frozen=True)
class Glyph:
    unicode: str
    ascii: str
    style: str

    def text(self, ascii: bool) -> str:
        return self.ascii if ascii else self.unicode


SYNC: dict[SyncStatus, Glyph] = {
    SyncStatus.SYNCED: Glyph("✓", "=", "green"),
    SyncStatus.OUT_OF_SYNC: Glyph("≠", "~", "bold yellow"),
    SyncStatus.MISSING: Glyph("∅", "-", "bold red"),
    SyncStatus.ORPHANED: Glyph("⊘", "x", "bold magenta"),
    SyncStatus.UNKNOWN: Glyph("?", "?", "dim"),
}
# Children (ReplicaSets, Pods) are made by controllers, not by Git: they have no sync status.
OWNED = Glyph("·", ".", "dim")

HEALTH: dict[Health, Glyph] = {
    Health.HEALTHY: Glyph("♥", "+", "green"),
    Health.PROGRESSING: Glyph("◐", "*", "cyan"),
    Health.DEGRADED: Glyph("✗", "!", "bold red"),
    Health.SUSPENDED: Glyph("‖", "z", "blue"),
    Health.MISSING: Glyph("○", "0", "yellow"),
    Health.UNKNOWN: Glyph("?", "?", "dim"),
}

# History markers: what the sync history says about a commit.
DEPLOYED = Glyph("●", "*", "bold green")
FAILED = Glyph("✗", "!", "bold red")
ROLLED_BACK_TO = Glyph("↺", "<", "bold yellow")

PLACEHOLDER_STYLE = "dim italic"


def sync_glyph(sync: SyncStatus, ascii: bool) -> Text:
    glyph = SYNC.get(sync, SYNC[SyncStatus.UNKNOWN])
    return Text(glyph.text(ascii), style=glyph.style)


def health_glyph(health: Health, ascii: bool) -> Text:
    glyph = HEALTH.get(health, HEALTH[Health.UNKNOWN])
    return Text(glyph.text(ascii), style=glyph.style)


def dot(ascii: bool) -> str:
    """The separator between facts on one line."""
    return " | " if ascii else " · "


def status_words(sync: SyncStatus | None, health: Health, message: str = "", ascii: bool = False) -> Text:
    """The words beside the glyphs, only when something needs attention (Synced+Healthy is quiet)."""
    words: list[tuple[str, str]] = []
    if sync is not None and sync != SyncStatus.SYNCED:
        words.append((str(sync), SYNC.get(sync, SYNC[SyncStatus.UNKNOWN]).style))
    if health != Health.HEALTHY and str(health) != str(sync):
        words.append((str(health), HEALTH.get(health, HEALTH[Health.UNKNOWN]).style))
    text = Text()
    for i, (word, style) in enumerate(words):
        text.append(dot(ascii) if i else "  ")
        text.append(word, style=style)
    if message and health != Health.HEALTHY:
        text.append(f": {message}", style="dim")
    return text


def object_name(key: ObjectKey, app_namespace: str) -> str:
    """The name, with the namespace only when it is not the app's own (the usual case is quiet)."""
    if key.namespace and key.namespace != app_namespace:
        return f"{key.namespace}/{key.name}"
    return key.name


def object_label(
    key: ObjectKey,
    sync: SyncStatus | None,
    health: Health,
    app_namespace: str,
    ascii: bool,
    message: str = "",
    note: str = "",
) -> Text:
    """``✓ ♥ Deployment guestbook-ui  OutOfSync: note``; ``sync`` None marks an owned child."""
    label = Text()
    label.append_text(sync_glyph(sync, ascii) if sync is not None else Text(OWNED.text(ascii), OWNED.style))
    label.append(" ")
    label.append_text(health_glyph(health, ascii))
    label.append(" ")
    label.append(key.kind, style="bold")
    label.append(" ")
    label.append(object_name(key, app_namespace))
    label.append_text(status_words(sync, health, message, ascii))
    if note:
        label.append(f"  {note}", style="dim")
    return label


def placeholder_label(text: str, ascii: bool) -> Text:
    """The empty side of an aligned row: the object exists on the other side only."""
    dash = "_" if ascii else "╌"
    return Text(f"{dash} {text}" if text else dash, style=PLACEHOLDER_STYLE)


def short(sha: str | None) -> str:
    return sha[:7] if sha else "-"


def clock(timestamp: float | None) -> str:
    """Wall-clock time of day (local time zone), or '-'."""
    if not timestamp:
        return "-"
    return datetime.fromtimestamp(timestamp).strftime("%H:%M:%S")


def when(timestamp: float | None) -> str:
    """Month-day and time: absolute, so a screenshot taken later says the same thing."""
    if not timestamp:
        return "-"
    return datetime.fromtimestamp(timestamp).strftime("%m-%d %H:%M")


def legend(ascii: bool) -> list[tuple[Text, str]]:
    """Every glyph with its meaning, for the help screen."""
    out: list[tuple[Text, str]] = []
    for sync, glyph in SYNC.items():
        out.append((Text(glyph.text(ascii), glyph.style), f"sync {sync}"))
    out.append((Text(OWNED.text(ascii), OWNED.style), "owned by a controller (not in Git)"))
    for health, glyph in HEALTH.items():
        out.append((Text(glyph.text(ascii), glyph.style), f"health {health}"))
    for glyph, meaning in (
        (DEPLOYED, "commit deployed now"),
        (FAILED, "a sync of this commit failed"),
        (ROLLED_BACK_TO, "commit rolled back to"),
    ):
        out.append((Text(glyph.text(ascii), glyph.style), meaning))
    return out
