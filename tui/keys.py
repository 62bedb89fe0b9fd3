"""Every key of the app in one table: its id (what a keymap remaps), default key, the action it
runs (a screen action, or a command sent to the engine through that action), the word the
footer shows, and the sentence the help screen shows. The screens take their bindings from
here, and the help is built from the bindings as remapped, so the three never disagree."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding, BindingType


@dataclass(frozen=True)
class Key:
    id: str
    key: str
    action: str
    footer: str
    help: str
    show: bool = True  # in the footer


MAIN: tuple[Key, ...] = (
    Key("sandbox.sync", "s", "sync", "Sync", "sync now: apply the current app's target revision to the cluster"),
    Key("sandbox.rollback", "r", "rollback", "Rollback", "roll back: sync the commit selected in History, else the "
        "last healthy one before the deployed one; Git is unchanged and auto-sync pauses"),
    Key("sandbox.revert", "v", "revert", "Revert", "revert: say which commit a new git commit would undo (the one "
        "selected in History, else the one that broke the app, else the deployed one); press again to do it"),
    Key("sandbox.auto_sync", "a", "toggle_auto_sync", "Auto-sync",
        "auto-sync on/off for the current app (on again ends a rollback)"),
    Key("sandbox.self_heal", "h", "toggle_self_heal", "Self-heal", "self-heal on/off: undo drift from Git, or only "
        "show it"),
    Key("sandbox.hand_scale", "x", "hand_scale", "Scale+1 (drift)", "learning: scale the selected Deployment/"
        "StatefulSet by hand (+1 replica) behind Git's back, to watch self-heal"),
    Key("sandbox.diff_context", "d", "toggle_diff_context", "Diff context",
        "diff: compact (3 lines of context) or the full object"),
    Key("sandbox.filter", "slash", "filter", "Filter", "filter the trees by kind, name, namespace or status"),
    Key("sandbox.help", "question_mark", "help", "Help", "this help"),
    Key("sandbox.quit", "q", "app.quit", "Quit", "quit (the cluster keeps running)"),
    Key("sandbox.back", "escape", "back", "Back", "back: clear the filter, return to the trees", show=False),
    Key("focus.next", "tab", "app.focus_next", "Next panel", "next panel", show=False),
    Key("focus.previous", "shift+tab", "app.focus_previous", "Previous panel", "previous panel", show=False),
    Key("focus.apps", "1", "focus_panel('apps')", "Apps panel", "Apps panel", show=False),
    Key("focus.history", "2", "focus_panel('history')", "History panel", "History panel", show=False),
    Key("focus.objects", "3", "focus_panel('objects')", "Object trees", "desired and live trees", show=False),
    Key("focus.diff", "4", "focus_panel('diff')", "Diff panel", "Diff panel", show=False),
    Key("focus.events", "5", "focus_panel('events')", "Events panel", "Events panel", show=False),
)  # fmt: skip

TREE: tuple[Key, ...] = (
    Key("cursor.down", "j", "cursor_down", "Down", "trees, Apps, History: down", show=False),
    Key("cursor.up", "k", "cursor_up", "Up", "trees, Apps, History: up", show=False),
    Key(
        "object.yaml", "enter", "screen.show_yaml", "YAML", "trees: the full live YAML of the selected object"
    ),
)

DIFF: tuple[Key, ...] = (
    Key("scroll.down", "j", "scroll_down", "Down", "Diff, Events: scroll down", show=False),
    Key("scroll.up", "k", "scroll_up", "Up", "Diff, Events: scroll up", show=False),
)

HELP: dict[str, str] = {k.id: k.help for k in (*MAIN, *TREE, *DIFF)}


def bindings(keys: tuple[Key, ...]) -> list[BindingType]:
    """Textual bindings of a table's keys (remappable by id)."""
    return [Binding(k.key, k.action, k.footer, show=k.show, id=k.id) for k in keys]
