"""The TUI without a cluster: SVG snapshots, key remapping and big trees, from fixed Snapshots.

Every screen here is built from a ``StaticSnapshotSource`` holding a Snapshot constructed in
this file, so the SVGs are byte-stable (fixed times, UTC, no colour settings from the
environment). Tests that need the API server or git are in test_tui.py.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from framekit import FramedSandboxApp, VisibleScreen
from textual.pilot import Pilot
from textual.widgets._footer import FooterKey

from sandbox.agent.commands import ManualSync, Rollback
from sandbox.agent.history import SyncRecord
from sandbox.agent.snapshot import AppState, Event, ObjectState, RevertTarget, Snapshot
from sandbox.model import Health, ObjectKey, SyncStatus
from sandbox.source.envrepo import CommitInfo
from tui.app import SandboxApp
from tui.components.diff_panel import DiffPanel
from tui.components.footer import SandboxFooter
from tui.components.help_screen import HelpScreen
from tui.components.object_tree import ObjectTree
from tui.components.object_trees import ObjectTrees, rid_of
from tui.components.yaml_screen import YamlScreen
from tui.rows import RowId, app_row_id, object_row_id
from tui.source import RuntimeInfo, StaticSnapshotSource

SIZE = (160, 48)
T0 = 1_700_000_000.0
SHAS = [c * 40 for c in "abcdef"]
NS = "guestbook"


def run_async(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run a coroutine test in a fresh event loop (the suite has no asyncio plugin)."""

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return wrapper


@pytest.fixture(autouse=True)
def _stable_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Times print in UTC and nothing from the developer's terminal or config leaks in."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    for var in ("NO_COLOR", "GITOPS_SANDBOX_ASCII"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    yield
    monkeypatch.undo()
    time.tzset()


def manifest(kind: str, name: str, group: str = "", **spec: Any) -> dict[str, Any]:
    found: dict[str, Any] = {
        "apiVersion": f"{group}/v1" if group else "v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": NS, "resourceVersion": "4242", "managedFields": [{"x": 1}]},
    }
    if spec:
        found["spec"] = spec
    return found


def obj(
    kind: str,
    name: str,
    sync: SyncStatus = SyncStatus.SYNCED,
    health: Health = Health.HEALTHY,
    group: str = "",
    message: str = "",
    children: tuple[ObjectState, ...] = (),
    live: bool = True,
    desired: bool = True,
    source: str = "guestbook/app.yaml",
    **spec: Any,
) -> ObjectState:
    body = manifest(kind, name, group, **spec)
    return ObjectState(
        ObjectKey(group, kind, NS, name), sync, health, message, source if desired else "",
        body if desired else None, body if live else None, children,
    )  # fmt: skip


def guestbook_snapshot(seq: int = 7) -> Snapshot:
    """One app showing every status: out of sync, missing, orphaned, synced with owned children."""
    pods = tuple(obj("Pod", f"guestbook-ui-7c9d-{s}", desired=False) for s in ("abcde", "fghij"))
    rs = obj("ReplicaSet", "guestbook-ui-7c9d", group="apps", desired=False, children=pods)
    objects = (
        obj("Deployment", "redis", SyncStatus.OUT_OF_SYNC, Health.PROGRESSING, "apps",
            "Waiting for rollout: 0 of 1 updated replicas are available", replicas=3),
        obj("ConfigMap", "feature-flags", SyncStatus.MISSING, Health.MISSING, live=False),
        obj("Secret", "old-token", SyncStatus.ORPHANED, desired=False),
        obj("ConfigMap", "guestbook-config"),
        obj("Deployment", "guestbook-ui", group="apps", children=(rs,), replicas=2),
        obj("Service", "guestbook-ui"),
    )  # fmt: skip
    app = AppState(
        "guestbook", "guestbook", NS, "plain", SyncStatus.OUT_OF_SYNC, Health.PROGRESSING,
        git_revision=SHAS[0], target_revision=SHAS[0], deployed_revision=SHAS[1], auto_sync=True,
        self_heal=True, prune=True, last_sync=T0 + 60, last_result="Succeeded",
        message="1 configured, 2 unchanged", objects=objects,
    )  # fmt: skip
    events = (
        Event(T0, "info", "guestbook", "synced bbbbbbb (startup) in 0.08s: 3 created"),
        Event(T0 + 50, "info", "", "new commit aaaaaaa by dev: add redis"),
        Event(T0 + 55, "warning", "guestbook", "drift: Deployment.apps guestbook/redis differs from Git"),
        Event(T0 + 60, "error", "guestbook", "guestbook/flags.yaml ConfigMap guestbook/feature-flags: "
              "data.enabled: must be a string"),
    )  # fmt: skip
    return Snapshot(seq, "/home/dev/env-repo", "main", SHAS[0], (app,), events, taken=T0 + 61)


REDIS = ObjectKey("apps", "Deployment", NS, "redis")
COMPACT_DIFF = """--- live/Deployment.apps guestbook/redis
+++ desired/Deployment.apps guestbook/redis
@@ -9,7 +9,7 @@
   namespace: guestbook
 spec:
   progressDeadlineSeconds: 600
-  replicas: 3
+  replicas: 1
   revisionHistoryLimit: 10
   selector:
     matchLabels:
"""
FULL_DIFF = """--- live/Deployment.apps guestbook/redis
+++ desired/Deployment.apps guestbook/redis
@@ -1,14 +1,14 @@
 apiVersion: apps/v1
 kind: Deployment
 metadata:
   labels:
     app.kubernetes.io/managed-by: gitops-sandbox
   name: redis
   namespace: guestbook
 spec:
   progressDeadlineSeconds: 600
-  replicas: 3
+  replicas: 1
   revisionHistoryLimit: 10
   selector:
     matchLabels:
       app: redis
"""


def with_revert_target(snapshot: Snapshot, target: RevertTarget) -> Snapshot:
    return replace(snapshot, apps=tuple(replace(a, revert_target=target) for a in snapshot.apps))


def guestbook_source(snapshot: Snapshot | None = None) -> StaticSnapshotSource:
    subjects = ["add redis", "scale ui to 2", "break config", "first version"]
    commits = [
        CommitInfo(SHAS[i], SHAS[i][:7], "dev", s, int(T0) - i * 600, (SHAS[i + 1],) if i < 3 else ())
        for i, s in enumerate(subjects)
    ]
    records = [
        SyncRecord(1, "guestbook", SHAS[3], "dev", subjects[3], "startup", T0 - 2000, T0 - 1999,
                   "Succeeded", "Healthy", "", ()),
        SyncRecord(2, "guestbook", SHAS[2], "dev", subjects[2], "commit", T0 - 1500, T0 - 1499,
                   "Failed", "Degraded", "", ()),
        SyncRecord(3, "guestbook", SHAS[3], "dev", subjects[3], "rollback", T0 - 1400, T0 - 1399,
                   "Succeeded", "Healthy", "", ()),
        SyncRecord(4, "guestbook", SHAS[1], "dev", subjects[1], "commit", T0 - 1000, T0 - 999,
                   "Succeeded", "Healthy", "", ()),
    ]  # fmt: skip
    return StaticSnapshotSource(
        snapshot or guestbook_snapshot(), commits, records, {REDIS: COMPACT_DIFF}, {REDIS: FULL_DIFF}
    )


def static_app(
    source: StaticSnapshotSource | None = None,
    ascii: bool = False,
    app_class: type[SandboxApp] = SandboxApp,
    **kwargs: Any,
) -> SandboxApp:
    runtime = RuntimeInfo(
        "local", "running (gitops-sandbox, 1 node, v1.36.3)", "/home/dev/.gitops/kubeconfig"
    )
    kwargs.setdefault("keymap", {})
    return app_class(source or guestbook_source(), runtime, ascii=ascii, **kwargs)


async def until(pilot: Pilot[Any], check: Callable[[], object], timeout: float = 10, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")
        await pilot.pause(0.02)


async def settled(pilot: Pilot[Any]) -> None:
    """Trees filled, history loaded, the first object's diff shown: nothing left in flight."""
    app = pilot.app
    assert isinstance(app, SandboxApp)
    main = app.main
    await until(pilot, lambda: not main.trees.filling and main.trees.row_count > 0, what="trees filled")
    await until(pilot, lambda: bool(main.history.commits), what="history loaded")
    await until(pilot, lambda: bool(main.diff.text), what="diff shown")
    await pilot.pause(0.1)


# -- SVG snapshots ------------------------------------------------------------------------------


def test_main_screen_snapshot(snap_compare: Any) -> None:
    assert snap_compare(static_app(), terminal_size=SIZE, run_before=settled)


def test_main_screen_ascii_snapshot(snap_compare: Any) -> None:
    assert snap_compare(static_app(ascii=True), terminal_size=SIZE, run_before=settled)


def after_keys(
    keys: tuple[str, ...], ready: Callable[[SandboxApp], object], what: str
) -> Callable[[Pilot[Any]], Coroutine[Any, Any, None]]:
    """A snapshot's ``run_before``: the settled app, these keys, then wait until ``ready``."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await settled(pilot)
        await pilot.press(*keys)
        app = pilot.app
        assert isinstance(app, SandboxApp)
        await until(pilot, lambda: ready(app), what=what)

    return run_before


def test_diff_panel_full_context_snapshot(snap_compare: Any) -> None:
    full_context = after_keys(
        ("4", "d"), lambda app: "apiVersion: apps/v1" in app.main.diff.text, "full diff"
    )
    assert snap_compare(static_app(), terminal_size=SIZE, run_before=full_context)


def test_help_screen_snapshot(snap_compare: Any) -> None:
    help_open = after_keys(("question_mark",), lambda app: isinstance(app.screen, HelpScreen), "help screen")
    assert snap_compare(static_app(), terminal_size=SIZE, run_before=help_open)


def test_live_yaml_screen_snapshot(snap_compare: Any) -> None:
    yaml_open = after_keys(("enter",), lambda app: isinstance(app.screen, YamlScreen), "YAML screen")
    assert snap_compare(static_app(), terminal_size=SIZE, run_before=yaml_open)


# -- behaviour without a cluster -----------------------------------------------------------------


@run_async
async def test_trees_align_every_row_and_show_placeholders_on_the_missing_side() -> None:
    app = static_app()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        trees = app.main.trees
        desired_lines = [trees.desired.get_node_at_line(i) for i in range(trees.desired.last_line + 1)]
        live_lines = [trees.live.get_node_at_line(i) for i in range(trees.live.last_line + 1)]
        assert [n.data for n in desired_lines] == [n.data for n in live_lines]  # type: ignore[union-attr]
        pairs = [(str(d.label), str(n.label)) for d, n in zip(desired_lines, live_lines, strict=True)]  # type: ignore[union-attr]
        missing = next(n for d, n in pairs if d.startswith("∅ ○ ConfigMap feature-flags  Missing"))
        assert missing.startswith("╌ missing: not in the cluster")
        orphan = next(n for d, n in pairs if d.startswith("╌ not in Git"))
        assert orphan.startswith("⊘ ♥ Secret old-token")
        assert ("╌", "· ♥ Pod guestbook-ui-7c9d-abcde") in pairs
        # Attention first: the out-of-sync Deployment is the first object row.
        assert str(live_lines[1].label).startswith("≠ ◐ Deployment redis")  # type: ignore[union-attr]


@run_async
async def test_ascii_mode_uses_no_unicode_glyphs_in_trees() -> None:
    app = static_app(ascii=True)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        trees = app.main.trees
        labels = [str(trees.live.get_node_at_line(i).label) for i in range(trees.live.last_line + 1)]  # type: ignore[union-attr]
        labels += [str(trees.desired.get_node_at_line(i).label) for i in range(trees.desired.last_line + 1)]  # type: ignore[union-attr]
        assert all(label.isascii() for label in labels), [x for x in labels if not x.isascii()]
        assert "~ * Deployment redis  OutOfSync | Progressing" in labels[1]


@run_async
async def test_keymap_file_remaps_keys_and_help_shows_the_new_keys(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    folder.mkdir()
    (folder / "keys.toml").write_text('[keymap]\n"sandbox.sync" = "S"\n"sandbox.help" = "f1"\n')
    source = guestbook_source()
    app = static_app(source, keymap=None, keymap_dir=folder)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        await pilot.press("s")
        await pilot.pause(0.2)
        assert ManualSync("guestbook") not in source.calls
        await pilot.press("S")
        await until(pilot, lambda: ManualSync("guestbook") in source.calls, what="S to sync")
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), what="help on f1")
        keys = {k.binding_id: k.keys for k in app.main.help_keys()}
        assert keys["sandbox.sync"] == "S"
        assert keys["sandbox.help"] == "f1"
        assert keys["sandbox.rollback"] == "r"


@run_async
async def test_a_bad_keymap_file_is_reported_and_the_default_keys_stay(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    folder.mkdir()
    (folder / "keys.toml").write_text("[keymap\n")
    source = guestbook_source()
    app = static_app(source, keymap=None, keymap_dir=folder)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        assert any("keys.toml" in str(n.message) for n in app._notifications)
        await pilot.press("s")
        await until(pilot, lambda: ManualSync("guestbook") in source.calls, what="s still syncs")


@run_async
async def test_rollback_and_revert_use_the_selected_history_commit() -> None:
    source = guestbook_source()
    app = static_app(source)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        await pilot.press("2", "j", "j", "r")
        await until(pilot, lambda: Rollback("guestbook", SHAS[2]) in source.calls, what="rollback")
        await pilot.press("v", "v")
        await until(pilot, lambda: ("revert", SHAS[2], "guestbook") in source.calls, what="revert")
        # From the trees the defaults apply: the last healthy revision, the deployed commit.
        await pilot.press("3", "r", "v", "v")
        await until(pilot, lambda: Rollback("guestbook", SHAS[1]) in source.calls, what="default rollback")
        await until(pilot, lambda: ("revert", SHAS[1], "guestbook") in source.calls, what="default revert")


@run_async
async def test_v_says_which_commit_it_reverts_and_why_before_it_does() -> None:
    broken = with_revert_target(guestbook_snapshot(), RevertTarget(SHAS[0], "add redis", "its sync failed"))
    source = guestbook_source(broken)
    app = static_app(source)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        await pilot.press("v")
        await until(
            pilot, lambda: any("Press v again" in str(n.message) for n in app._notifications), what="ask"
        )
        said = [str(n.message) for n in app._notifications if "Press v again" in str(n.message)]
        assert f'Revert {SHAS[0][:7]} "add redis" (its sync failed)' in said[0]
        assert "git revert" in said[0]
        assert not [c for c in source.calls if isinstance(c, tuple) and c[0] == "revert"], (
            "the first press reverts nothing"
        )
        await pilot.press("escape", "v")
        await pilot.pause(0.1)
        assert not [c for c in source.calls if isinstance(c, tuple) and c[0] == "revert"], (
            "esc cancels the pending revert"
        )
        await pilot.press("v")
        await until(pilot, lambda: ("revert", SHAS[0], "guestbook") in source.calls, what="revert")


@run_async
async def test_filter_narrows_both_trees_and_esc_brings_every_row_back() -> None:
    app = static_app()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        trees = app.main.trees
        everything = trees.row_count
        await pilot.press("slash", *"configmap", "enter")
        await until(pilot, lambda: not trees.filling and trees.row_count == 3, what="filtered rows")
        assert trees.live.has_focus
        await pilot.press("escape")
        await until(pilot, lambda: not trees.filling and trees.row_count == everything, what="all rows back")


def shown_lines(tree: ObjectTree) -> list[RowId]:
    lines = [tree.get_node_at_line(i) for i in range(tree.last_line + 1)]
    return [node.data for node in lines if node is not None and node.data is not None]


def every_row(tree: ObjectTree) -> list[RowId]:
    """The rows of the tree's nodes in order, depth first (every node is unfolded here)."""
    out: list[RowId] = []
    stack = list(reversed(tree.root.children))
    while stack:
        node = stack.pop()
        out.append(node.data or ())
        stack.extend(reversed(node.children))
    return out


@run_async
async def test_the_filter_hides_rows_and_keeps_every_tree_node() -> None:
    app = static_app()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        trees = app.main.trees
        nodes = {rid: trees.twins(rid) for rid in list(trees._twins)}
        operations = trees.operations
        ui = object_row_id("guestbook", ObjectKey("apps", "Deployment", NS, "guestbook-ui"))
        trees.select(ui)
        await pilot.press("slash", *"service", "enter")
        await until(pilot, lambda: trees.row_count == 2, what="the app row and the Service")
        service = object_row_id("guestbook", ObjectKey("", "Service", NS, "guestbook-ui"))
        assert shown_lines(trees.live) == shown_lines(trees.desired) == [app_row_id("guestbook"), service]
        # The cursor was on a row the filter hides: it goes to the first object shown.
        assert trees.selected is not None and trees.selected.id == service
        await pilot.press("escape")
        await until(pilot, lambda: trees.row_count == len(nodes), what="every row back")
        assert len(shown_lines(trees.live)) == len(nodes)
        # Every node knows its line again ("s", "se", ... each renumbered the rows they kept).
        for tree in (trees.live, trees.desired):
            lines = [tree.get_node_at_line(i) for i in range(tree.last_line + 1)]
            assert [node.line if node else None for node in lines] == list(range(len(nodes)))
        assert trees.selected is not None and trees.selected.id == service
        # Not one node was added, removed or relabelled: the filter only chose lines.
        assert {rid: trees.twins(rid) for rid in list(trees._twins)} == nodes
        assert trees.operations == operations


@run_async
async def test_a_new_snapshot_under_a_filter_shows_what_matches_now() -> None:
    source = guestbook_source()
    app = static_app(source)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        trees = app.main.trees
        await pilot.press("slash", *"degraded", "enter")
        await until(pilot, lambda: trees.row_count == 0, what="nothing is Degraded yet")
        assert trees.live.last_line == -1
        before = guestbook_snapshot()
        app_state = before.apps[0]
        degraded = (
            replace(o, health=Health.DEGRADED, health_message="0 of 1 endpoints ready")
            if o.key.kind == "Service"
            else o
            for o in app_state.objects
        )
        objects = (*degraded, obj("ConfigMap", "added-while-filtered"))
        source.publish(replace(before, seq=8, apps=(replace(app_state, objects=objects),)))
        await until(pilot, lambda: trees.row_count == 2 and not trees.filling, what="the Degraded Service")
        service = object_row_id("guestbook", ObjectKey("", "Service", NS, "guestbook-ui"))
        assert shown_lines(trees.live) == [app_row_id("guestbook"), service]
        assert "filter: degraded · 2 rows" in str(trees.live.border_subtitle)
        # A row came while the filter hid it: clearing the filter shows it with all the others.
        added = object_row_id("guestbook", ObjectKey("", "ConfigMap", NS, "added-while-filtered"))
        await pilot.press("escape")
        await until(pilot, lambda: trees.row_count == len(trees._twins), what="every row back")
        everything = every_row(trees.live)
        assert shown_lines(trees.live) == everything and len(everything) == len(trees._twins)
        assert shown_lines(trees.desired) == every_row(trees.desired)
        assert added in everything


@run_async
async def test_tab_out_of_the_trees_hides_the_yaml_key_without_rebuilding_the_footer() -> None:
    app = static_app()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        footer = app.query_one(SandboxFooter)
        keys = list(footer.query(FooterKey))
        enter = next(k for k in keys if k.key == "enter")
        assert enter.display and app.main.trees.live.has_focus
        await pilot.press("1")  # the Apps panel: enter selects an app there, it opens no YAML
        await until(pilot, lambda: not enter.display, what="the YAML key hidden")
        await pilot.press("3")
        await until(pilot, lambda: enter.display, what="the YAML key back")
        assert list(footer.query(FooterKey)) == keys  # the same widgets: nothing was rebuilt


# -- what the first frame after a key shows ------------------------------------------------------


async def first_change(pilot: Pilot[Any], app: FramedSandboxApp, terminal: VisibleScreen) -> None:
    """Replay the frames since the key up to the first that changes the screen."""
    await until(
        pilot, lambda: app.replay_into(terminal, until_a_change=True), what="a frame that changes the screen"
    )


def framed_app(source: StaticSnapshotSource | None = None) -> FramedSandboxApp:
    app = static_app(source, app_class=FramedSandboxApp)
    assert isinstance(app, FramedSandboxApp)
    return app


async def drawn_and_quiet(pilot: Pilot[Any], app: FramedSandboxApp, terminal: VisibleScreen) -> None:
    """Replay every frame until none comes for 0.3 s (the Diff follows the cursor 0.12 s late):
    the next frame that changes the screen is then the next key's."""
    while True:
        await pilot.pause(0.3)
        if not app.frames:
            return
        app.replay_into(terminal)


async def framed_and_settled(pilot: Pilot[Any], app: FramedSandboxApp) -> VisibleScreen:
    await settled(pilot)
    terminal = VisibleScreen(*SIZE)
    await drawn_and_quiet(pilot, app, terminal)
    return terminal


def footer_line(terminal: VisibleScreen) -> str:
    return terminal.line(SIZE[1] - 1)


@run_async
async def test_tab_moves_the_focus_border_and_the_footer_keys_in_the_same_frame() -> None:
    app = framed_app()
    async with app.run_test(size=SIZE) as pilot:
        terminal = await framed_and_settled(pilot, app)
        live, diff = app.main.trees.live.region, app.main.diff.region
        focused, plain = terminal.border_colour(live), terminal.border_colour(diff)
        assert focused != plain and "YAML" in footer_line(terminal)
        await pilot.press("tab")  # the live tree to the Diff panel, which opens no YAML
        await first_change(pilot, app, terminal)
        assert (terminal.border_colour(live), terminal.border_colour(diff)) == (plain, focused)
        assert "YAML" not in footer_line(terminal)


@run_async
async def test_esc_brings_back_the_rows_the_focus_border_and_the_footer_keys_in_the_same_frame() -> None:
    app = framed_app()
    async with app.run_test(size=SIZE) as pilot:
        terminal = await framed_and_settled(pilot, app)
        trees = app.main.trees
        live = trees.live.region
        focused, everything, footer = terminal.border_colour(live), trees.row_count, footer_line(terminal)
        top_rows = [terminal.line(y) for y in range(live.y + 1, live.y + 4)]
        await pilot.press("slash", *"configmap")
        await until(pilot, lambda: trees.row_count == 3 and not trees.filling, what="filtered rows")
        await drawn_and_quiet(pilot, app, terminal)
        assert terminal.border_colour(live) != focused and footer_line(terminal) != footer
        await pilot.press("escape")
        await first_change(pilot, app, terminal)
        assert trees.row_count == everything
        assert [terminal.line(y) for y in range(live.y + 1, live.y + 4)] == top_rows
        assert terminal.border_colour(live) == focused and footer_line(terminal) == footer


@run_async
async def test_esc_draws_a_row_relabelled_under_the_filter_with_its_new_label() -> None:
    source = guestbook_source()
    app = framed_app(source)
    async with app.run_test(size=SIZE) as pilot:
        terminal = await framed_and_settled(pilot, app)
        trees = app.main.trees
        service = object_row_id("guestbook", ObjectKey("", "Service", NS, "guestbook-ui"))
        twins = trees.twins(service)
        assert twins is not None
        y = trees.live.region.y + 1 + twins[1].line  # below the border, not scrolled
        assert "Service guestbook-ui" in terminal.line(y) and "Degraded" not in terminal.line(y)
        await pilot.press("slash", *"configmap")
        await until(pilot, lambda: trees.row_count == 3 and not trees.filling, what="filtered rows")
        before = guestbook_snapshot()
        app_state = before.apps[0]
        degraded = tuple(
            replace(o, health=Health.DEGRADED, health_message="0 of 1 endpoints ready")
            if o.key.kind == "Service"
            else o
            for o in app_state.objects
        )
        source.publish(replace(before, seq=8, apps=(replace(app_state, objects=degraded),)))
        await until(pilot, lambda: "endpoints" in str(twins[1].label), what="the Service relabelled")
        await pilot.press("escape")
        await until(pilot, lambda: trees.row_count == len(trees._twins), what="every row back")
        await drawn_and_quiet(pilot, app, terminal)
        assert "Service guestbook-ui  Degraded: 0 of 1" in terminal.line(y)  # the live side


# -- many objects ---------------------------------------------------------------------------------


def big_snapshot(count: int, seq: int = 1, out_of_sync: frozenset[int] = frozenset()) -> Snapshot:
    """``count`` objects, every fifth a Deployment owning a ReplicaSet with two Pods."""
    objects = []
    for i in range(count):
        sync = SyncStatus.OUT_OF_SYNC if i in out_of_sync else SyncStatus.SYNCED
        if i % 5 == 0:
            pods = tuple(obj("Pod", f"web-{i}-rs-{p}", desired=False) for p in range(2))
            rs = obj("ReplicaSet", f"web-{i}-rs", group="apps", desired=False, children=pods)
            objects.append(obj("Deployment", f"web-{i:05d}", sync, group="apps", children=(rs,), replicas=2))
        else:
            objects.append(obj("ConfigMap", f"cm-{i:05d}", sync))
    app = AppState(
        "big", "big", NS, "plain", SyncStatus.SYNCED, Health.HEALTHY, SHAS[0], SHAS[0], SHAS[0],
        True, True, True, objects=tuple(objects),
    )  # fmt: skip
    return Snapshot(seq, "/repo", "main", SHAS[0], (app,), taken=T0)


@run_async
async def test_five_thousand_objects_fill_in_chunks_without_freezing_the_ui() -> None:
    count = 5000
    source = StaticSnapshotSource(big_snapshot(count))
    app = static_app(source)
    async with app.run_test(size=SIZE) as pilot:
        trees = app.main.trees
        gaps: list[float] = []
        last = time.perf_counter()

        def tick() -> None:
            nonlocal last
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

        timer = app.set_interval(0.01, tick)
        started = time.perf_counter()
        await until(pilot, lambda: not trees.filling and trees.row_count > 0, timeout=60, what="fill")
        filled = time.perf_counter() - started
        timer.stop()
        rows = count + (count // 5) * 3 + 1
        assert trees.row_count == rows
        assert trees.live.last_line + 1 == rows == trees.desired.last_line + 1
        # The loop kept running between chunks: no single stall as long as the whole fill.
        assert len(gaps) > 3 and max(gaps) < max(0.5, filled / 2), (filled, max(gaps))
        # A key is handled promptly once filled (in-app: from the key to the refresh it causes).
        before = trees.live.cursor_line
        key_started = time.perf_counter()
        await pilot.press("j")
        await until(pilot, lambda: trees.live.cursor_line == before + 1, what="cursor moved")
        assert time.perf_counter() - key_started < 1.0


@run_async
async def test_a_status_change_relabels_rows_in_place_and_never_rebuilds_the_trees() -> None:
    count = 5000
    source = StaticSnapshotSource(big_snapshot(count))
    app = static_app(source)
    async with app.run_test(size=SIZE) as pilot:
        trees = app.main.trees
        await until(pilot, lambda: not trees.filling and trees.row_count > 0, timeout=60, what="fill")
        nodes_before = {rid: trees.twins(rid) for rid in list(trees._twins)}
        operations = trees.operations
        changed = frozenset({3, 10, 4321})
        started = time.perf_counter()
        source.publish(big_snapshot(count, seq=2, out_of_sync=changed))
        await until(pilot, lambda: trees.operations > operations and not trees.filling, what="relabel")
        took = time.perf_counter() - started
        assert trees.operations - operations == len(changed)  # three set_label pairs, nothing else
        assert {rid: trees.twins(rid) for rid in list(trees._twins)} == nodes_before  # the same TreeNodes
        relabelled = trees.twins(next(rid for rid in nodes_before if rid[-1].endswith("cm-04321")))
        assert relabelled is not None and str(relabelled[1].label).startswith("≠ ♥ ConfigMap cm-04321")
        assert took < 2.0, took


def with_health(snapshot: Snapshot, seq: int, health: dict[str, Health]) -> Snapshot:
    """The guestbook with these objects (by name and kind) in this health, sorted as the engine
    sorts (attention first, then kind, namespace, name)."""
    app = snapshot.apps[0]
    objects = [replace(o, health=health.get(f"{o.key.kind}/{o.key.name}", o.health)) for o in app.objects]
    objects.sort(key=lambda o: (o.attention, o.key.kind, o.key.namespace, o.key.name))
    return replace(snapshot, seq=seq, apps=(replace(app, objects=tuple(objects)),))


def object_order(tree: ObjectTree) -> list[str]:
    """The app's objects as the tree shows them, top to bottom: kind/name."""
    return [
        rid_of(node)[-1].split("/", 1)[1].replace(f"/{NS}/", "/") for node in tree.root.children[0].children
    ]


@run_async
async def test_an_object_that_turns_degraded_moves_up_to_its_sorted_place_unless_the_cursor_is_on_it() -> (
    None
):
    source = guestbook_source()
    app = static_app(source)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        trees = app.main.trees
        redis = object_row_id("guestbook", REDIS)
        assert trees.selected is not None and trees.selected.id == redis
        before = object_order(trees.live)
        assert before[-1] == "Service/guestbook-ui"
        nodes = {rid: trees.twins(rid) for rid in list(trees._twins)}
        service = object_row_id("guestbook", ObjectKey("", "Service", NS, "guestbook-ui"))

        source.publish(with_health(guestbook_snapshot(), 8, {"Service/guestbook-ui": Health.DEGRADED}))
        await until(
            pilot, lambda: not trees.filling and trees.snapshot and trees.snapshot.seq == 8, what="seq 8"
        )
        # Right after the last object above it that still sorts before it (Secret old-token).
        moved = ["Deployment/redis", "ConfigMap/feature-flags", "Secret/old-token", "Service/guestbook-ui",
                 "ConfigMap/guestbook-config", "Deployment/guestbook-ui"]  # fmt: skip
        assert object_order(trees.live) == object_order(trees.desired) == moved
        assert {r: trees.twins(r) for r in trees._twins if r != service} == {
            r: n for r, n in nodes.items() if r != service
        }
        assert trees.selected is not None and trees.selected.id == redis  # the cursor stayed on its row

        # Healthy again: it stays where it is (rows do not jump back and forth with a flickering status).
        source.publish(with_health(guestbook_snapshot(), 9, {}))
        await until(
            pilot, lambda: not trees.filling and trees.snapshot and trees.snapshot.seq == 9, what="seq 9"
        )
        assert object_order(trees.live) == moved

        # The row under the cursor stays put too, whatever its status.
        config = object_row_id("guestbook", ObjectKey("", "ConfigMap", NS, "guestbook-config"))
        trees.select(config)
        source.publish(with_health(guestbook_snapshot(), 10, {"ConfigMap/guestbook-config": Health.DEGRADED}))
        await until(
            pilot, lambda: not trees.filling and trees.snapshot and trees.snapshot.seq == 10, what="seq 10"
        )
        assert object_order(trees.live) == moved
        assert trees.selected is not None and trees.selected.id == config


@run_async
async def test_new_objects_are_added_and_gone_ones_removed_keeping_the_others() -> None:
    source = guestbook_source()
    app = static_app(source)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        trees = app.main.trees
        first = guestbook_snapshot()
        app_state = first.apps[0]
        kept = [o for o in app_state.objects if o.key.name != "old-token"]
        added = obj("ConfigMap", "new-settings")
        second = replace(first, seq=8, apps=(replace(app_state, objects=(*kept, added)),))
        before = {rid: trees.twins(rid) for rid in list(trees._twins) if "old-token" not in rid[-1]}
        source.publish(second)
        await until(pilot, lambda: any("new-settings" in rid[-1] for rid in trees._twins), what="added row")
        assert not any("old-token" in rid[-1] for rid in trees._twins)
        assert all(trees.twins(rid) == twins for rid, twins in before.items())
        names = [str(trees.live.get_node_at_line(i).label) for i in range(trees.live.last_line + 1)]  # type: ignore[union-attr]
        assert any("ConfigMap new-settings" in n for n in names)


@run_async
async def test_snapshots_from_agent_threads_are_merged_to_the_newest() -> None:
    source = guestbook_source()
    app = static_app(source)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        base = guestbook_snapshot()
        shown: list[int] = []
        original = app.main.show_snapshot

        def record(snapshot: Snapshot) -> None:
            shown.append(snapshot.seq)
            original(snapshot)

        app.main.show_snapshot = record  # type: ignore[method-assign]

        def flood() -> None:
            for seq in range(100, 300):
                source.publish(replace(base, seq=seq))

        await asyncio.get_running_loop().run_in_executor(None, flood)
        await until(pilot, lambda: bool(shown) and shown[-1] == 299, what="newest snapshot shown")
        assert len(shown) < 200  # merged while they waited, not replayed one by one


def test_diff_colouring_marks_lines_by_their_prefix() -> None:
    from tui.components.diff_panel import colour_diff

    text = colour_diff(COMPACT_DIFF)
    styles = {line.plain: str(line.spans[0].style) if line.spans else "" for line in text.split("\n")}
    assert styles["-  replicas: 3"] == "red"
    assert styles["+  replicas: 1"] == "green"
    assert styles["@@ -9,7 +9,7 @@"] == "cyan"
    assert DiffPanel  # the panel renders this text
    assert ObjectTrees


def nested_snapshot(seq: int = 1) -> Snapshot:
    """An app-of-apps: root (no objects of its own) defines web, which holds one ConfigMap."""

    def app(name: str, parent: str, objects: tuple[ObjectState, ...]) -> AppState:
        return AppState(
            name, name, NS, "plain", SyncStatus.SYNCED, Health.HEALTHY, SHAS[0], SHAS[0], SHAS[0],
            True, True, True, objects=objects, parent=parent,
        )  # fmt: skip

    apps = (app("root", "", ()), app("web", "root", (obj("ConfigMap", "web-settings"),)))
    return Snapshot(seq, "/repo", "main", SHAS[0], apps, taken=T0)


@run_async
async def test_apps_an_app_of_apps_defines_sit_under_it_in_both_trees_and_the_filter_keeps_the_way_there() -> (
    None
):
    app = static_app(StaticSnapshotSource(nested_snapshot()))
    async with app.run_test(size=SIZE) as pilot:
        trees = app.main.trees
        await until(pilot, lambda: not trees.filling and trees.row_count == 3, what="three rows")
        for tree in (trees.desired, trees.live):
            assert [rid_of(n) for n in tree.root.children] == [app_row_id("root")]
            assert every_row(tree) == [
                app_row_id("root"), app_row_id("web"),
                object_row_id("web", ObjectKey("", "ConfigMap", NS, "web-settings")),
            ]  # fmt: skip
        await pilot.press("slash", *"web-settings", "enter")
        await until(pilot, lambda: not trees.filling and trees.row_count == 3, what="filtered rows")
        assert shown_lines(trees.live) == every_row(trees.live), "the parent stays shown above its child"
