"""The TUI driven by Pilot against the real local API server and real git env repos.

Each test makes its own env repo in tmp_path with a uniquely named app (so its own
namespace), runs a real Agent under the app, presses keys, and checks the result where it
lands: in the cluster and in Git, not only on the screen.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from agentkit import cm_path, commit, configmap, deployment, git, new_repo, read, unique
from sandbox.agent.history import History
from sandbox.agent.loop import Agent
from sandbox.agent.snapshot import AppState
from sandbox.cluster.local import LocalRuntime
from sandbox.kube.client import Kube
from sandbox.model import Health, SyncStatus
from tui.app import SandboxApp
from tui.components.main_screen import MainScreen
from tui.components.yaml_screen import YamlScreen
from tui.rows import Row, object_row_id
from tui.source import RuntimeInfo

SIZE = (160, 48)


def run_async(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run a coroutine test in a fresh event loop (the suite has no asyncio plugin)."""

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return wrapper


@pytest.fixture
def kube(local_runtime: LocalRuntime) -> Any:
    client = Kube(local_runtime.kubeconfig_path, local_runtime.context)
    yield client
    client.close()


def app_files(app: str, greeting: str = "hello", replicas: int = 2) -> dict[str, str | None]:
    return {
        f"{app}/config.yaml": configmap("greeting", {"greeting": greeting}),
        f"{app}/web.yaml": deployment("web", replicas),
    }


@dataclass
class Running:
    app: SandboxApp
    pilot: Pilot[Any]
    agent: Agent
    repo: Path
    name: str  # the app, and its namespace

    @property
    def main(self) -> MainScreen:
        return self.app.main

    def state(self) -> AppState | None:
        return self.agent.snapshot().app(self.name)

    async def until(self, check: Callable[[], Any], timeout: float = 20, what: str = "") -> Any:
        """Poll (letting the app run) until ``check`` returns something truthy."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = check()
            if last:
                return last
            await self.pilot.pause(0.05)
        raise AssertionError(f"timed out after {timeout}s waiting for {what or check}; last: {last!r}")

    async def settled(self, revision: str | None = None) -> AppState:
        """The app Synced and Healthy (at ``revision``), and the screen showing that snapshot."""

        def done() -> AppState | None:
            state = self.state()
            if state is None or state.sync != SyncStatus.SYNCED or state.health != Health.HEALTHY:
                return None
            if revision is not None and state.deployed_revision != revision:
                return None
            return state

        state: AppState = await self.until(done, what=f"{self.name} Synced and Healthy at {revision}")
        await self.until(
            lambda: self.main.snapshot.seq >= self.agent.snapshot().seq and not self.main.trees.filling,
            what="the screen to show the agent's snapshot",
        )
        return state

    def row(self, kind: str, name: str) -> Row | None:
        state = self.state()
        obj = (
            next((o for o in state.objects if o.key.kind == kind and o.key.name == name), None)
            if state
            else None
        )
        return self.main.trees.row(object_row_id(self.name, obj.key)) if obj else None

    async def select(self, kind: str, name: str) -> Row:
        """Put the cursor on an object with the keys a user would press: 3, then j/k."""
        await self.pilot.press("3")
        trees = self.main.trees
        for _ in range(40):
            selected = trees.selected
            if (
                selected is not None
                and selected.key
                and (selected.key.kind, selected.key.name) == (kind, name)
            ):
                return selected
            await self.pilot.press("j")
        raise AssertionError(f"could not reach {kind} {name} in the trees")

    def notifications(self) -> list[str]:
        return [str(n.message) for n in self.app._notifications]


@asynccontextmanager
async def running_app(tmp_path: Path, kube: Kube, files: Callable[[str], dict[str, str | None]] = app_files,
                      ) -> AsyncIterator[Running]:  # fmt: skip
    name = unique("tui")
    repo = new_repo(tmp_path / "env", files(name))
    history = History(tmp_path / "h.sqlite")
    agent = Agent(repo, kube, history=history, settings_path=tmp_path / "s.json")
    agent.start(watch_repo=True)
    runtime = RuntimeInfo("local", "running")
    app = SandboxApp(agent, runtime, ascii=False, keymap={})
    try:
        async with app.run_test(size=SIZE) as pilot:
            yield Running(app, pilot, agent, repo, name)
    finally:
        agent.stop()
        history.close()


def greeting(kube: Kube, namespace: str) -> str | None:
    found = read(kube, cm_path(namespace, "greeting"))
    return found["data"]["greeting"] if found else None


def replicas(kube: Kube, namespace: str) -> tuple[int, int]:
    found = read(kube, f"/apis/apps/v1/namespaces/{namespace}/deployments/web")
    assert found is not None
    return int(found["spec"]["replicas"]), int(found["metadata"]["generation"])


# -- what the screen shows ---------------------------------------------------------------------


@run_async
async def test_trees_show_git_beside_the_cluster_with_owned_children_on_the_live_side(
    tmp_path: Path, kube: Kube
) -> None:
    async with running_app(tmp_path, kube) as run:
        state = await run.settled()
        trees = run.main.trees
        await run.until(
            lambda: any(rid[-1].startswith("/Pod/") for rid in trees._twins), what="Pods in the tree"
        )
        lines = trees.live.last_line + 1
        assert lines == trees.desired.last_line + 1
        for i in range(lines):
            live, desired = trees.live.get_node_at_line(i), trees.desired.get_node_at_line(i)
            assert live is not None and desired is not None and live.data == desired.data  # aligned per row
        web = run.row("Deployment", "web")
        assert web is not None
        replica_set = next(c for c in web.children if c.key and c.key.kind == "ReplicaSet")
        assert {c.key.kind for c in replica_set.children if c.key} == {"Pod"}
        twins = trees.twins(replica_set.id)
        assert twins is not None
        assert str(twins[0].label).startswith("╌")  # nothing in Git for a controller's child
        assert "ReplicaSet" in str(twins[1].label)
        header = str(run.main.header_bar.render_text(run.main.snapshot, run.name))
        assert (
            f"HEAD {state.git_revision[:7]}" in header and f"deployed {state.deployed_revision[:7]}" in header
        )


@run_async
async def test_a_commit_made_while_the_app_runs_appears_in_both_trees_and_is_deployed(
    tmp_path: Path, kube: Kube
) -> None:
    async with running_app(tmp_path, kube) as run:
        await run.settled()
        sha = commit(
            run.repo, "add extra settings", {f"{run.name}/extra.yaml": configmap("extra", {"k": "v"})}
        )
        await run.settled(sha)
        row = await run.until(lambda: run.row("ConfigMap", "extra"), what="the new row")
        twins = run.main.trees.twins(row.id)
        assert twins is not None
        assert "ConfigMap extra" in str(twins[0].label) and "extra.yaml" in str(twins[0].label)
        assert str(twins[1].label).startswith("✓ ♥ ConfigMap extra")
        assert read(kube, cm_path(run.name, "extra")) is not None
        await run.until(
            lambda: run.main.history.commits and run.main.history.commits[0].sha == sha, what="log"
        )
        assert run.main.history.marks is not None and run.main.history.marks.deployed == sha


# -- keys that change the cluster or the repo -------------------------------------------------------


@run_async
async def test_s_syncs_now_what_auto_sync_off_only_showed(tmp_path: Path, kube: Kube) -> None:
    async with running_app(tmp_path, kube) as run:
        first = await run.settled()
        await run.pilot.press("a")
        await run.until(lambda: run.state() and not run.state().auto_sync, what="auto-sync off")
        sha = commit(run.repo, "say hola", app_files(run.name, "hola"))
        await run.until(
            lambda: run.state().git_revision == sha and run.state().sync == SyncStatus.OUT_OF_SYNC,
            what="the new commit shown as OutOfSync",
        )
        assert greeting(kube, run.name) == "hello"  # shown, not applied
        assert run.state().deployed_revision == first.deployed_revision
        await run.pilot.press("s")
        await run.until(lambda: greeting(kube, run.name) == "hola", what="the sync to apply Git")
        await run.until(lambda: run.state().deployed_revision == sha, what="deployed revision")
        assert any("Sync " in n and "server-side apply" in n for n in run.notifications())


@run_async
async def test_a_switches_auto_sync_off_and_on_in_the_agent(tmp_path: Path, kube: Kube) -> None:
    async with running_app(tmp_path, kube) as run:
        await run.settled()
        await run.pilot.press("a")
        await run.until(lambda: not run.state().auto_sync, what="auto-sync off")
        assert '"autoSync": false' in (tmp_path / "s.json").read_text()
        await run.pilot.press("a")
        await run.until(lambda: run.state().auto_sync, what="auto-sync on")
        assert any("Auto-sync off" in n for n in run.notifications())


@run_async
async def test_h_turns_self_heal_off_so_a_hand_scale_stays_until_h_heals_it(
    tmp_path: Path, kube: Kube
) -> None:
    async with running_app(tmp_path, kube) as run:
        await run.settled()
        await run.pilot.press("h")
        await run.until(lambda: not run.state().self_heal, what="self-heal off")
        await run.select("Deployment", "web")
        await run.pilot.press("x")
        await run.until(lambda: replicas(kube, run.name)[0] == 3, what="the hand scale")
        await run.until(
            lambda: run.row("Deployment", "web").state.sync == SyncStatus.OUT_OF_SYNC, what="drift"
        )
        twins = run.main.trees.twins(run.row("Deployment", "web").id)  # type: ignore[union-attr]
        await run.until(lambda: "OutOfSync" in str(twins[1].label), what="the label to say OutOfSync")  # type: ignore[index]
        await run.pilot.pause(0.5)
        assert replicas(kube, run.name)[0] == 3  # nobody undid it
        await run.until(lambda: "+  replicas: 2" in run.main.diff.text, what="the drift in the diff")
        await run.pilot.press("h")
        await run.until(lambda: replicas(kube, run.name)[0] == 2, what="self-heal to restore Git's 2")
        assert run.state().self_heal


@run_async
async def test_x_scales_the_deployment_up_and_self_heal_puts_gits_replicas_back(
    tmp_path: Path, kube: Kube
) -> None:
    async with running_app(tmp_path, kube) as run:
        await run.settled()
        count, generation = replicas(kube, run.name)
        assert count == 2
        await run.select("Deployment", "web")
        await run.pilot.press("x")
        # Up then back: two spec changes (the scale, then the re-apply) and Git's count again.
        await run.until(lambda: replicas(kube, run.name) == (2, generation + 2), what="scaled and healed")
        said = await run.until(
            lambda: [n for n in run.notifications() if "kubectl scale" in n], what="notify"
        )
        assert f"kubectl scale deployment/web -n {run.name} --replicas=3" in said[0]
        drift = await run.until(
            lambda: [r for r in run.agent.history.records(run.name) if r.trigger == "drift"],
            what="heal record",
        )
        assert "self-heal re-applied" in drift[0].message


@run_async
async def test_r_rolls_back_to_the_previous_healthy_revision_and_pauses_auto_sync(
    tmp_path: Path, kube: Kube
) -> None:
    async with running_app(tmp_path, kube) as run:
        first = await run.settled()
        sha = commit(run.repo, "say hola", app_files(run.name, "hola"))
        await run.settled(sha)
        assert greeting(kube, run.name) == "hola"
        await run.pilot.press("r")
        await run.until(lambda: greeting(kube, run.name) == "hello", what="the old value in the cluster")
        state = await run.until(lambda: run.state() if run.state().rolled_back else None, what="rolled back")
        assert state.deployed_revision == first.deployed_revision and not state.auto_sync
        assert git(run.repo, "rev-parse", "HEAD") == sha  # Git untouched
        said = await run.until(lambda: [n for n in run.notifications() if "Rolled back" in n], what="notify")
        assert "press a to resume auto-sync" in said[0]
        await run.pilot.press("a")  # the undo the notification names
        await run.until(lambda: greeting(kube, run.name) == "hola", what="back to Git HEAD")
        await run.until(lambda: not run.state().rolled_back and run.state().auto_sync, what="resumed")


@run_async
async def test_r_on_a_selected_history_commit_rolls_back_to_that_commit(tmp_path: Path, kube: Kube) -> None:
    async with running_app(tmp_path, kube) as run:
        first = await run.settled()
        second = commit(run.repo, "say hola", app_files(run.name, "hola"))
        await run.settled(second)
        third = commit(run.repo, "say ciao", app_files(run.name, "ciao"))
        await run.settled(third)
        history = run.main.history
        await run.until(lambda: [c.sha for c in history.commits][:1] == [third], what="the log")
        await run.pilot.press("2", "j", "j")
        assert history.selected is not None and history.selected.sha == first.deployed_revision
        await run.pilot.press("r")
        await run.until(lambda: greeting(kube, run.name) == "hello", what="the first commit's value")
        await run.until(lambda: run.state().deployed_revision == first.deployed_revision, what="deployed")
        await run.until(lambda: history.marks and first.deployed_revision in history.marks.rolled_back_to,
                        what="the rolled-back-to marker")  # fmt: skip


@run_async
async def test_v_reverts_the_deployed_commit_in_git_and_the_cluster_follows(
    tmp_path: Path, kube: Kube
) -> None:
    async with running_app(tmp_path, kube) as run:
        await run.settled()
        sha = commit(run.repo, "say hola", app_files(run.name, "hola"))
        await run.settled(sha)
        await run.pilot.press("v")
        asked = await run.until(lambda: [n for n in run.notifications() if "Press v again" in n], what="ask")
        assert f'Revert {sha[:7]} "say hola" (deployed)' in asked[0]
        assert git(run.repo, "rev-parse", "HEAD") == sha, "the first press only says what it would do"
        await run.pilot.press("v")
        await run.until(lambda: git(run.repo, "log", "-1", "--format=%s") == 'Revert "say hola"', what="git")
        head = git(run.repo, "rev-parse", "HEAD")
        await run.until(lambda: greeting(kube, run.name) == "hello", what="the cluster to follow")
        await run.settled(head)
        said = await run.until(lambda: [n for n in run.notifications() if "git revert" in n], what="notify")
        assert f"git revert {sha[:7]}" in said[0] and "git revert" in said[0].split("now;")[-1]


@run_async
async def test_v_on_a_selected_history_commit_reverts_that_commit_only(tmp_path: Path, kube: Kube) -> None:
    async with running_app(tmp_path, kube) as run:
        await run.settled()
        added = commit(run.repo, "add extra", {f"{run.name}/extra.yaml": configmap("extra", {"k": "v"})})
        await run.settled(added)
        latest = commit(run.repo, "say hola", app_files(run.name, "hola"))
        await run.settled(latest)
        history = run.main.history
        await run.until(lambda: [c.sha for c in history.commits][:1] == [latest], what="the log")
        await run.pilot.press("2", "j")
        assert history.selected is not None and history.selected.sha == added
        await run.pilot.press("v", "v")
        await run.until(lambda: git(run.repo, "log", "-1", "--format=%s") == 'Revert "add extra"', what="git")
        await run.until(
            lambda: read(kube, cm_path(run.name, "extra")) is None, what="the revert to prune extra"
        )
        assert greeting(kube, run.name) == "hola"  # the later commit stays


# -- keys that look ---------------------------------------------------------------------------------


@run_async
async def test_enter_opens_the_live_yaml_and_esc_returns(tmp_path: Path, kube: Kube) -> None:
    async with running_app(tmp_path, kube) as run:
        await run.settled()
        row = await run.select("ConfigMap", "greeting")
        await run.pilot.press("enter")
        await run.until(lambda: isinstance(run.app.screen, YamlScreen), what="the YAML screen")
        screen = run.app.screen
        assert isinstance(screen, YamlScreen)
        assert screen.text.startswith("apiVersion: v1\nkind: ConfigMap\n")
        assert "greeting: hello" in screen.text and "resourceVersion" in screen.text
        assert "managedFields" not in screen.text
        assert row.state is not None and row.state.live is not None
        assert row.state.live["metadata"]["uid"] in screen.text  # the live object, not Git's
        await run.pilot.press("escape")
        await run.until(lambda: isinstance(run.app.screen, MainScreen), what="back on the main screen")


@run_async
async def test_diff_shows_a_hand_edit_and_d_switches_to_full_context(tmp_path: Path, kube: Kube) -> None:
    async with running_app(tmp_path, kube) as run:
        await run.settled()
        await run.pilot.press("h")
        await run.until(lambda: not run.state().self_heal, what="self-heal off")
        kube.request(
            "PATCH", cm_path(run.name, "greeting"), body={"data": {"greeting": "edited by hand"}},
            content_type="application/merge-patch+json",
        )  # fmt: skip
        await run.until(
            lambda: run.row("ConfigMap", "greeting").state.sync == SyncStatus.OUT_OF_SYNC, what="drift"
        )
        await run.select("ConfigMap", "greeting")
        diff = run.main.diff
        await run.until(lambda: "+  greeting: hello" in diff.text, what="the diff")
        assert "-  greeting: edited by hand" in diff.text
        compact = diff.text.count("\n")
        await run.pilot.press("d")
        # the full diff is computed in a worker: wait for it, not for text the compact one has too
        await run.until(
            lambda: diff.border_subtitle == "full context" and diff.text.count("\n") > compact,
            what="the full-context diff",
        )
        assert "resourceVersion" not in diff.text and "-  greeting: edited by hand" in diff.text
        await run.pilot.press("d")
        await run.until(lambda: diff.text.count("\n") == compact, what="compact again")


@run_async
async def test_slash_filters_both_trees_and_esc_clears_the_filter(tmp_path: Path, kube: Kube) -> None:
    async with running_app(tmp_path, kube) as run:
        await run.settled()
        trees = run.main.trees
        everything = trees.row_count
        await run.pilot.press("slash", *"configmap", "enter")
        await run.until(lambda: not trees.filling and trees.row_count == 2, what="app row + the ConfigMap")
        assert trees.desired.last_line == trees.live.last_line == 1
        await run.pilot.press("escape")
        await run.until(lambda: not trees.filling and trees.row_count >= everything, what="every row back")


@run_async
async def test_number_keys_tab_and_jk_move_between_and_within_panels(tmp_path: Path, kube: Kube) -> None:
    async with running_app(tmp_path, kube) as run:
        await run.settled()
        main = run.main
        for key, widget in (("1", main.apps), ("2", main.history), ("4", main.diff), ("5", main.events),
                            ("3", main.trees.live)):  # fmt: skip
            await run.pilot.press(key)
            assert widget.has_focus, key
        line = main.trees.live.cursor_line
        await run.pilot.press("j")
        assert (
            main.trees.live.cursor_line == line + 1 == main.trees.desired.cursor_line
        )  # twins move together
        await run.pilot.press("k", "down", "up")
        assert main.trees.live.cursor_line == line == main.trees.desired.cursor_line
        await run.pilot.press("tab")
        assert main.diff.has_focus
        await run.pilot.press("shift+tab", "shift+tab")
        assert main.trees.desired.has_focus
        await run.pilot.press("question_mark")
        await run.until(lambda: run.app.screen is not main, what="help")
        await run.pilot.press("escape")
        await run.until(lambda: run.app.screen is main, what="back from help")


@run_async
async def test_q_quits_and_leaves_the_agent_to_its_owner(tmp_path: Path, kube: Kube) -> None:
    async with running_app(tmp_path, kube) as run:
        await run.settled()
        await run.pilot.press("q")
        await run.until(lambda: not run.app.is_running, what="the app to exit")
        assert run.agent.snapshot().app(run.name) is not None


# -- the command line ----------------------------------------------------------------------------


def test_no_subcommand_opens_the_tui_on_the_repo_given_or_the_current_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sandbox import cli

    opened: list[Any] = []
    monkeypatch.setattr(cli, "cmd_tui", lambda args: opened.append(args) or 0)
    assert cli.main([]) == 0
    assert cli.main(["/srv/env"]) == 0
    assert cli.main(["--runtime", "local", "--ascii", "../env"]) == 0
    assert cli.main(["tui", "--branch", "dev"]) == 0
    assert [a.repo for a in opened] == [".", "/srv/env", "../env", "."]
    assert opened[2].runtime == "local" and opened[2].ascii and opened[3].branch == "dev"


def test_the_engine_and_its_cli_never_import_textual() -> None:
    import subprocess
    import sys

    code = (
        "import sys, sandbox.cli, sandbox.agent.loop, sandbox.cli.headless\n"
        "loaded = [m for m in sys.modules if m == 'textual' or m.startswith(('textual.', 'tui'))]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent.parent)


def test_history_marks_only_the_commit_the_cluster_is_rolled_back_to_now() -> None:
    from sandbox.agent.history import SyncRecord
    from sandbox.agent.snapshot import AppState
    from sandbox.model import Health, SyncStatus
    from tui.components.history_panel import marks_for

    def record(i: int, revision: str, trigger: str) -> SyncRecord:
        return SyncRecord(
            i, "web", revision, "dev", "s", trigger, float(i), float(i) + 1, "Succeeded", "Healthy", "", ()
        )

    records = [
        record(3, "c" * 40, "rollback"),
        record(2, "b" * 40, "rollback"),
        record(1, "a" * 40, "commit"),
    ]
    app = AppState(
        name="web", path="web", namespace="web", source_type="plain", sync=SyncStatus.OUT_OF_SYNC,
        health=Health.HEALTHY, git_revision="d" * 40, target_revision="c" * 40, deployed_revision="c" * 40,
        auto_sync=False, self_heal=True, prune=True, rolled_back=True,
    )  # fmt: skip
    assert marks_for(app, "d" * 40, records).rolled_back_to == {"c" * 40}
    resumed = AppState(**{**app.__dict__, "rolled_back": False, "target_revision": "d" * 40})
    assert marks_for(resumed, "d" * 40, records).rolled_back_to == frozenset()


def _alone(widget: Any) -> Any:
    """An app of the one panel, to look at it without the rest of the screen."""
    from textual.app import App, ComposeResult

    class Alone(App[None]):
        def compose(self) -> ComposeResult:
            yield widget

    return Alone()


@run_async
async def test_events_name_an_app_as_the_apps_panel_does() -> None:
    """A Kustomization and a HelmRelease both named n8n: their events read qualified, as the
    table names them, never as two bare "n8n"."""
    from sandbox.agent.snapshot import Event
    from tui.components.events_panel import EventsPanel

    app = _alone(EventsPanel(id="events"))
    async with app.run_test(size=(120, 10)) as pilot:
        panel = app.query_one(EventsPanel)
        panel.show(
            [Event(1.0, "error", "n8n", "sync of 0e1b69c failed")], {"n8n": "Kustomization/flux-system/n8n"}
        )
        await pilot.pause()
        text = "\n".join("".join(segment.text for segment in line) for line in panel.lines)
    assert "Kustomization/flux-system/n8n: sync of 0e1b69c failed" in text, text


@run_async
async def test_long_app_names_are_elided_in_the_middle_so_sync_health_and_deployed_stay_in_view() -> None:
    import dataclasses

    from sandbox.agent.snapshot import AppState, Snapshot
    from sandbox.model import Health, SyncStatus
    from tui.components.apps_panel import AppsPanel

    sha = "4f1a5b1051b469108d1bdf0ebec6c814427e3834"
    base = AppState(
        name="", path="apps", namespace="default", source_type="kustomize", sync=SyncStatus.OUT_OF_SYNC,
        health=Health.PROGRESSING, git_revision=sha, target_revision=sha, deployed_revision=sha, auto_sync=True,
        self_heal=True, prune=True,
    )  # fmt: skip
    apps = tuple(dataclasses.replace(base, name=n) for n in
                 ("observability-kube-prometheus-stack", "Kustomization/flux-system/n8n", "web"))  # fmt: skip

    app = _alone(AppsPanel(id="apps"))
    async with app.run_test(size=(52, 10)) as pilot:
        panel = app.query_one(AppsPanel)
        panel.show(Snapshot(1, "/env", "main", sha, apps))
        await pilot.pause()
        names = [str(panel.get_row_at(i)[0]) for i in range(3)]
        widths = [column.get_render_width(panel) for column in panel.columns.values()]
        room = panel.scrollable_content_region.width
    assert names[0].startswith("observ") and names[0].endswith("stack") and "…" in names[0], names
    assert names[1].startswith("Kustom") and names[1].endswith("…/n8n"), names
    assert names[2] == "web"
    assert sum(widths) <= room, ("Health and Deployed in view", widths, room)
