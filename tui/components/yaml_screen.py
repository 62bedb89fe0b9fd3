"""The full live YAML of one object (`enter`); `esc` goes back."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.syntax import Syntax
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from sandbox.manifest import kubeyaml
from tui.rows import Row


def manifest_yaml(manifest: dict[str, Any]) -> str:
    """As `kubectl get -o yaml` prints it: managedFields left out (they are bookkeeping, not state)."""
    # apiVersion and kind first, as kubectl prints them (the live cache adds them to listed
    # objects after the fact, so they may come last in the dict).
    first = ("apiVersion", "kind", "metadata", "spec")
    shown = {k: manifest[k] for k in first if k in manifest}
    shown.update((k, v) for k, v in manifest.items() if k not in first)
    metadata = dict(shown.get("metadata") or {})
    metadata.pop("managedFields", None)
    shown["metadata"] = metadata
    return kubeyaml.dump(shown)


class YamlScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", id="screen.back"),
        Binding("j", "scroll_down", "Down", show=False, id="scroll.down"),
        Binding("k", "scroll_up", "Up", show=False, id="scroll.up"),
        Binding("q", "app.pop_screen", "Back", show=False, id="yaml.close"),
    ]

    def __init__(self, row: Row, ascii: bool = False) -> None:
        super().__init__()
        self.row = row
        if ascii:
            self.add_class("-ascii")
        state = row.state
        assert state is not None
        if state.live is not None:
            self.title_text = f"Live YAML: {state.key} (resourceVersion {state.live.get('metadata', {}).get('resourceVersion', '?')}; managedFields hidden)"
            self.text = manifest_yaml(state.live)
        elif state.desired is not None:
            self.title_text = f"{state.key} is not in the cluster; desired YAML from Git ({state.source})"
            self.text = manifest_yaml(state.desired)
        else:
            self.title_text = f"{state.key}: no YAML on either side"
            self.text = ""

    def compose(self) -> ComposeResult:
        scroll = VerticalScroll(id="yaml-scroll", can_focus=True)
        scroll.border_title = self.title_text
        scroll.border_subtitle = "esc back"
        with scroll:
            yield Static(
                Syntax(self.text, "yaml", theme="ansi_dark", background_color="default", word_wrap=False),
                id="yaml-body",
            )
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#yaml-scroll").focus()

    def action_scroll_down(self) -> None:
        self.query_one("#yaml-scroll", VerticalScroll).scroll_down()

    def action_scroll_up(self) -> None:
        self.query_one("#yaml-scroll", VerticalScroll).scroll_up()
