"""The main screen: header, Apps and History, the desired and live trees, Diff and Events.

Every key that changes the cluster or the repo acts at once and says, in a notification,
exactly what it did (the git or API action) and how to undo it. Anything that touches the
API server, git or the disk runs in a worker thread; the event loop only draws.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.reactive import Reactive
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable, Input

from sandbox.agent.commands import ManualSync, Rollback, SetAutoSync, SetSelfHeal
from sandbox.agent.snapshot import AppState, RevertTarget, Snapshot
from tui import glyphs, keys
from tui.components.apps_panel import AppsPanel
from tui.components.diff_panel import DiffPanel
from tui.components.events_panel import EventsPanel
from tui.components.filter_input import FilterInput
from tui.components.footer import SandboxFooter
from tui.components.header import SandboxHeader
from tui.components.help_screen import HelpScreen, KeyHelp
from tui.components.history_panel import HistoryPanel
from tui.components.object_tree import ObjectTree
from tui.components.object_trees import ObjectTrees
from tui.components.yaml_screen import YamlScreen
from tui.keymap import Keymap
from tui.redraw import redraw_now
from tui.rows import Row
from tui.source import RuntimeInfo, SnapshotSource
from tui.threads import hand_over

SCALABLE = ("Deployment", "StatefulSet")  # a ReplicaSet belongs to its Deployment, not to Git
REVERT_CONFIRM_S = 10.0  # how long the second press of the revert key confirms the first

EMPTY = Snapshot(0, "", "", "")


class MainScreen(Screen[None]):
    # Textual repaints the whole screen when the focus moves (Screen.focused repaints), and the
    # panels gaining and losing focus restyle only later, in their own Focus and Blur handlers:
    # esc painted all 160x48 cells, and tab showed the new footer a frame before the new focus
    # border. Here only those two panels are redrawn, restyled already, in the key's own frame.
    focused: Reactive[Widget | None] = Reactive(None, repaint=False)

    def set_focus(
        self, widget: Widget | None, scroll_visible: bool = True, from_app_focus: bool = False
    ) -> None:
        blurred = self.focused
        super().set_focus(widget, scroll_visible, from_app_focus)
        if self.focused is blurred:
            return
        for panel, has_focus in ((blurred, False), (self.focused, True)):
            if panel is not None:
                panel.has_focus = has_focus  # what its Focus or Blur handler sets, a frame later
                redraw_now(panel)

    BINDINGS: ClassVar[list[BindingType]] = keys.bindings(keys.MAIN)

    def __init__(
        self, source: SnapshotSource, runtime: RuntimeInfo, keymap: Keymap, ascii: bool = False
    ) -> None:
        super().__init__()
        self.source = source
        self.keymap = keymap
        self.ascii = ascii
        self.snapshot = EMPTY
        self.current_app = ""
        self.header_bar = SandboxHeader(runtime, ascii, id="header")
        self.apps = AppsPanel(ascii, id="apps")
        self.history = HistoryPanel(ascii, id="history")
        self.trees = ObjectTrees(self._row_highlighted, ascii, id="trees")
        self.diff = DiffPanel(ascii, id="diff")
        self.events = EventsPanel(id="events")
        self.filter_input = FilterInput(self._filter_typed, id="filter")
        self._pending_revert: tuple[str, str, float] | None = None  # (app, sha, until) said, not done
        if ascii:
            self.add_class("-ascii")

    def compose(self) -> ComposeResult:
        yield self.header_bar
        with Horizontal(id="middle"):
            with Vertical(id="left"):
                yield self.apps
                yield self.history
            yield self.trees
        with Horizontal(id="bottom"):
            yield self.diff
            yield self.events
        yield self.filter_input
        yield SandboxFooter()

    def on_mount(self) -> None:
        self.show_snapshot(self.source.snapshot())
        self.trees.live.focus()

    # -- snapshots ----------------------------------------------------------------------------

    def show_snapshot(self, snapshot: Snapshot) -> None:
        if snapshot.seq < self.snapshot.seq:
            return  # a late delivery of an older snapshot
        self.snapshot = snapshot
        names = [a.name for a in snapshot.apps]
        if self.current_app not in names:
            self.current_app = names[0] if names else ""
        self.header_bar.show(snapshot, self.current_app)
        self.apps.show(snapshot)
        self.trees.show(snapshot)
        self.events.show(snapshot.events, snapshot.shown_names)
        self.history.refresh_for(snapshot, snapshot.app(self.current_app))

    def _set_current_app(self, name: str) -> None:
        if name == self.current_app or not name:
            return
        self.current_app = name
        self.header_bar.show(self.snapshot, name)
        self.history.refresh_for(self.snapshot, self.snapshot.app(name))

    @on(AppsPanel.AppHighlighted)
    def _app_highlighted(self, event: AppsPanel.AppHighlighted) -> None:
        self._set_current_app(event.app)
        if self.apps.has_focus:
            self.trees.select_app(event.app)

    @on(DataTable.RowSelected, "#apps")
    def _app_selected(self, event: DataTable.RowSelected) -> None:
        self.trees.focused_tree.focus()  # enter on an app: go to its objects

    def _row_highlighted(self, row: Row | None) -> None:
        if row is not None:
            self._set_current_app(row.app)
            self.apps.select(row.app)
        self.diff.show_row(self.source, row)

    # -- helpers --------------------------------------------------------------------------------

    def key_for(self, binding_id: str, default: str) -> str:
        """The key the user has for a binding now (their keymap wins), for messages."""
        bound = self.keymap.keys.get(binding_id, default)
        return self.app.get_key_display(Binding(bound.split(",")[0], ""))

    def _app_state(self) -> AppState | None:
        app = self.snapshot.app(self.current_app)
        if app is None:
            self.notify("No app yet: commit a folder of manifests to the env repo.", severity="warning")
        return app

    def _say(self, message: str, title: str = "", severity: str = "information", timeout: float = 8) -> None:
        """Notify from a worker thread (Textual's notify is not thread-safe)."""
        hand_over(self.app, self.notify, message, title=title, severity=severity, timeout=timeout)

    @work(thread=True, group="commands", description="command")
    def _run(self, command: Callable[[], None], message: str, title: str) -> None:
        """Commands only enqueue work, but some write the settings file: keep even that off the loop."""
        try:
            command()
        except Exception as exc:
            self._say(f"{type(exc).__name__}: {exc}", title=f"{title} failed", severity="error")
            return
        self._say(message, title=title)

    def _commit_subject(self, sha: str) -> str:
        found = next((c for c in self.history.commits if c.sha == sha), None)
        return f' "{found.subject}"' if found else ""

    # -- actions ----------------------------------------------------------------------------

    def action_sync(self) -> None:
        app = self._app_state()
        if app is None:
            return
        target = app.target_revision or app.git_revision
        message = (
            f"Sync {app.name} queued: server-side apply of the manifests at {glyphs.short(target)}"
            f"{self._commit_subject(target)} into namespace {app.namespace}"
            f"{', pruning what Git no longer has' if app.prune else ''}."
        )
        if app.rolled_back:
            message += (
                f" It stays rolled back (target {glyphs.short(target)});"
                f" press {self.key_for('sandbox.auto_sync', 'a')} to follow Git again."
            )
        self._run(lambda: self.source.send(ManualSync(app.name)), message, "sync")

    def action_rollback(self) -> None:
        app = self._app_state()
        if app is None:
            return
        chosen = self.history.selected if self.history.has_focus else None
        self._rollback(app, chosen.sha if chosen else None)

    @work(thread=True, group="commands", description="rollback")
    def _rollback(self, app: AppState, revision: str | None) -> None:
        try:
            target = revision or self.source.default_rollback_target(app.name)
        except Exception as exc:
            self._say(f"{type(exc).__name__}: {exc}", title="rollback failed", severity="error")
            return
        if not target:
            self._say(
                f"{app.name} has no earlier healthy revision to roll back to. Select a commit in "
                f"History ({self.key_for('focus.history', '2')}) and press {self.key_for('sandbox.rollback', 'r')}.",
                title="rollback: nothing to do", severity="warning",
            )  # fmt: skip
            return
        self.source.send(Rollback(app.name, target))
        resume = self.key_for("sandbox.auto_sync", "a")
        self._say(
            f"Rolled back {app.name}: syncing {glyphs.short(target)}{self._commit_subject(target)} to the cluster "
            f"(server-side apply of that revision). Git is unchanged at {glyphs.short(app.git_revision)}; "
            f"auto-sync is paused for {app.name}. Undo: press {resume} to resume auto-sync (back to Git HEAD).",
            title="rollback",
            timeout=12,
        )

    def action_revert(self) -> None:
        """First press: say which commit a revert would undo and what it does. Second: do it."""
        app = self._app_state()
        if app is None:
            return
        chosen = self.history.selected if self.history.has_focus else None
        target: RevertTarget | None
        if chosen is not None:
            target = RevertTarget(chosen.sha, chosen.subject, "selected in History")
        else:
            target = app.revert_target or (
                RevertTarget(app.deployed_revision, "", "deployed") if app.deployed_revision else None
            )
        if target is None:
            self.notify(f"{app.name} has nothing to revert yet: no commit is deployed.", severity="warning")
            return
        pending = self._pending_revert
        if pending is not None and pending[:2] == (app.name, target.sha) and time.monotonic() < pending[2]:
            self._pending_revert = None
            self._revert(app, target.sha)
            return
        self._pending_revert = (app.name, target.sha, time.monotonic() + REVERT_CONFIRM_S)
        key = self.key_for("sandbox.revert", "v")
        subject = target.subject or self._commit_subject(target.sha).strip().strip('"')
        self.notify(
            f'Revert {glyphs.short(target.sha)} "{subject}" ({target.why})? This makes a new commit on '
            f"{self.snapshot.branch or 'the branch'} that undoes it (git revert {glyphs.short(target.sha)}), "
            f"and the agent deploys it. Press {key} again to revert; any other commit, or waiting, cancels.",
            title="revert: confirm",
            timeout=REVERT_CONFIRM_S,
        )

    @work(thread=True, group="commands", description="revert")
    def _revert(self, app: AppState, sha: str) -> None:
        from sandbox.agent.revert import RevertError
        from sandbox.source.envrepo import EnvRepoError

        try:
            result = self.source.revert(sha, app.name)
        except (RevertError, EnvRepoError) as exc:
            self._say(str(exc), title="revert refused", severity="error", timeout=15)
            return
        except Exception as exc:
            self._say(f"{type(exc).__name__}: {exc}", title="revert failed", severity="error", timeout=15)
            return
        subject = result.message.splitlines()[0] if result.message else ""
        self._say(
            f"git revert {glyphs.short(result.reverted_sha)}: new commit {glyphs.short(result.new_sha)} "
            f'"{subject}" on {self.snapshot.branch or "the branch"}; the agent deploys it now; '
            f"{result.undo_hint}",
            title="revert",
            timeout=12,
        )

    def action_toggle_auto_sync(self) -> None:
        app = self._app_state()
        if app is None:
            return
        key = self.key_for("sandbox.auto_sync", "a")
        if app.auto_sync and not app.rolled_back:
            message = (
                f"Auto-sync off for {app.name}: new commits show in the trees as OutOfSync, "
                f"nothing is applied. Undo: press {key}."
            )
            self._run(lambda: self.source.send(SetAutoSync(app.name, False)), message, "auto-sync")
        else:
            ended = " The rollback ends." if app.rolled_back else ""
            message = (
                f"Auto-sync on for {app.name}: syncing Git HEAD {glyphs.short(app.git_revision)} now and every "
                f"new commit after it.{ended} Undo: press {key}."
            )
            self._run(lambda: self.source.send(SetAutoSync(app.name, True)), message, "auto-sync")

    def action_toggle_self_heal(self) -> None:
        app = self._app_state()
        if app is None:
            return
        key = self.key_for("sandbox.self_heal", "h")
        if app.self_heal:
            message = (
                f"Self-heal off for {app.name}: drift is shown as OutOfSync, not undone. Undo: press {key}."
            )
        else:
            drift = f" Re-applying Git to {len(app.drift)} drifted object(s) now." if app.drift else ""
            message = f"Self-heal on for {app.name}: drift is undone from Git.{drift} Undo: press {key}."
        on = not app.self_heal
        self._run(lambda: self.source.send(SetSelfHeal(app.name, on)), message, "self-heal")

    def action_hand_scale(self) -> None:
        row = self.trees.selected
        state = row.state if row else None
        live = state.live if state else None
        if row is None or state is None or state.key.kind not in SCALABLE or live is None:
            self.notify(
                f"Select a Deployment or StatefulSet in the trees ({self.key_for('focus.objects', '3')}) first: "
                "this key scales it by hand, behind Git's back, so you can watch self-heal.",
                severity="warning",
            )
            return
        replicas = int((live.get("spec") or {}).get("replicas") or 0)
        wanted = ((state.desired or {}).get("spec") or {}).get("replicas")
        self._hand_scale(row, replicas + 1, wanted)

    @work(thread=True, group="commands", description="hand scale")
    def _hand_scale(self, row: Row, replicas: int, wanted: int | None) -> None:
        assert row.state is not None
        try:
            done = self.source.hand_scale(row.state.key, replicas)
        except Exception as exc:
            self._say(f"{type(exc).__name__}: {exc}", title="scale failed", severity="error")
            return
        app = self.snapshot.app(row.app) or row.app_state
        git = f"Git says {wanted}" if wanted is not None else "Git sets no replica count"
        if app.self_heal and app.auto_sync:
            after = "Self-heal is on: watch the agent put it back from Git."
            undo = "nothing to undo, self-heal does it"
        else:
            after = (
                f"Self-heal is off: it stays drifted (OutOfSync). Press {self.key_for('sandbox.self_heal', 'h')} "
                f"to heal or {self.key_for('sandbox.sync', 's')} to sync."
            )
            undo = f"kubectl scale ... --replicas={replicas - 1}, or sync"
        self._say(f"{done} (a hand edit; {git}). {after} Undo: {undo}.", title="hand edit", timeout=10)

    def action_toggle_diff_context(self) -> None:
        self.diff.toggle_context(self.source, self.trees.selected)

    def action_show_yaml(self) -> None:
        row = self.trees.selected
        if row is None or row.state is None:
            if row is not None:
                node = self.trees.focused_tree.cursor_node
                if node is not None:
                    node.toggle()
            return
        self.app.push_screen(YamlScreen(row, self.ascii))

    def action_filter(self) -> None:
        self.filter_input.add_class("-visible")
        self.filter_input.focus()
        redraw_now(self.filter_input)

    def _filter_typed(self, value: str) -> None:
        needle = value.strip()
        if needle != self.trees.needle:
            self.trees.show(self.snapshot, needle)

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self.filter_input.remove_class("-visible")
        self.trees.live.focus()

    def action_back(self) -> None:
        self._pending_revert = None
        if self.filter_input.has_class("-visible") or self.trees.needle:
            self.filter_input.value = ""  # its watcher clears the trees' filter
            self.filter_input.remove_class("-visible")
        self.trees.live.focus()

    def action_focus_panel(self, name: str) -> None:
        target: Widget = {
            "apps": self.apps,
            "history": self.history,
            "objects": self.trees.focused_tree,
            "diff": self.diff,
            "events": self.events,
        }[name]
        target.focus()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.help_keys(), self.ascii, self.keymap.path, self.keymap.problem))

    def help_keys(self) -> list[KeyHelp]:
        """Every key of this screen and its panels as bound now, after the user's keymap."""
        keymap = self.keymap.keys
        seen: dict[str, KeyHelp] = {}
        for binding in [*self.BINDINGS, *ObjectTree.BINDINGS, *DiffPanel.BINDINGS]:
            if not isinstance(binding, Binding) or not binding.id or binding.id in seen:
                continue
            bound = keymap.get(binding.id, binding.key)
            shown = ", ".join(self.app.get_key_display(Binding(k, "")) for k in bound.split(","))
            seen[binding.id] = KeyHelp(shown, keys.HELP.get(binding.id, binding.description), binding.id)
        seen["tree.fold"] = KeyHelp("space", "trees: fold or unfold a row", "(Textual Tree)")
        return list(seen.values())
