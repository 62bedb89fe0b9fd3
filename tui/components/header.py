"""The header: runtime and cluster, env repo and branch, Git HEAD, and each app's deployment."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from sandbox.agent.snapshot import AppState, ReadyStatus, Snapshot
from tui import glyphs
from tui.source import RuntimeInfo

MAX_APP_LINES = 3
READY_STYLE = {ReadyStatus.TRUE: "green", ReadyStatus.FALSE: "bold red", ReadyStatus.UNKNOWN: "yellow"}


class SandboxHeader(Static):
    """Three to five lines of plain facts; what changes is redrawn, nothing is polled."""

    def __init__(self, runtime: RuntimeInfo, ascii: bool = False, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.runtime = runtime
        self.ascii = ascii
        self._current = ""
        self._snapshot: Snapshot | None = None

    def show(self, snapshot: Snapshot, current_app: str = "") -> None:
        self._snapshot = snapshot
        self._current = current_app
        self.update(self.render_text(snapshot, current_app))

    def render_text(self, snapshot: Snapshot, current_app: str = "") -> Text:
        sep = glyphs.dot(self.ascii)
        text = Text()
        text.append("gitops-sandbox", style="bold")
        text.append(f"  runtime {self.runtime.runtime}", style="")
        text.append(sep)
        text.append("cluster ")
        if snapshot.unreachable:  # the agent lost it: what the app shows is its last known state
            text.append(f"{snapshot.unreachable} (showing the last known state)", style="bold red")
        else:
            text.append(
                self.runtime.cluster, style="green" if self.runtime.cluster.startswith("running") else "red"
            )
        if self.runtime.kubeconfig:
            text.append(f"{sep}kubeconfig {self.runtime.kubeconfig}", style="dim")
        if self.runtime.simulated:  # nobody should take kwok's pods for real containers
            text.append("\n")
            text.append(f"simulated: {self.runtime.simulated}", style="dim yellow")
        text.append("\n")
        text.append("env repo ", style="dim")
        text.append(snapshot.repo, style="bold")
        text.append(" @ ")
        text.append(snapshot.branch or "-", style="bold")
        text.append(f"{sep}HEAD ")
        text.append(glyphs.short(snapshot.head), style="bold cyan")
        if snapshot.problems:
            text.append(f"{sep}{snapshot.problems[0]}", style="bold red")
        apps = list(snapshot.apps)
        if not apps:
            text.append("\n")
            text.append("no apps yet: add a folder of manifests (or sandbox.yaml) and commit", style="dim")
        # The selected app first; the rest while they fit (the Apps panel lists every one).
        apps.sort(key=lambda a: a.name != current_app)
        for app in apps[:MAX_APP_LINES]:
            text.append("\n")
            text.append_text(self._app_line(app, sep, snapshot.branch, snapshot.shown(app.name)))
        if len(apps) > MAX_APP_LINES:
            text.append(f"  (+{len(apps) - MAX_APP_LINES} more apps in the Apps panel)", style="dim")
        return text

    def _app_line(self, app: AppState, sep: str, branch: str, shown: str) -> Text:
        line = Text()
        line.append_text(glyphs.sync_glyph(app.sync, self.ascii))
        line.append(" ")
        line.append_text(glyphs.health_glyph(app.health, self.ascii))
        line.append(f" {shown}", style="bold")
        ready = app.ready
        if ready is not None:  # as `flux get` shows a Kustomization or HelmRelease
            line.append(f" Ready {ready.status}", style=READY_STYLE[ready.status])
        line.append(" deployed ")
        line.append(glyphs.short(app.deployed_revision), style="bold")
        if app.rolled_back:
            line.append(f"{sep}")
            line.append(app.rollback_note, style="bold yellow")
        else:
            line.append(f"{sep}auto-sync ")
            line.append("on" if app.auto_sync else "off", style="green" if app.auto_sync else "yellow")
        line.append(f"{sep}self-heal ")
        line.append("on" if app.self_heal else "off", style="green" if app.self_heal else "yellow")
        line.append(f"{sep}last sync {glyphs.clock(app.last_sync)}")
        if app.last_result:
            line.append(
                f" {app.last_result}", style="green" if app.last_result == "Succeeded" else "bold red"
            )
        if app.operation != "Idle":
            line.append(f"{sep}{app.operation}", style="cyan")
        return line
