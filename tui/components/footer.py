"""The footer: Textual's, rebuilt only when the keys it shows change (the command palette is off)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

from tui.redraw import redraw_now

ShownKeys = tuple[tuple[object, ...], ...]


class SandboxFooter(Footer):
    """Textual's Footer rebuilds all its key widgets whenever the bindings may have changed,
    which is every focus change: tab from Apps to History cost about 100 ms here for a footer
    showing the same keys. This one rebuilds only when what it shows differs, and when it only
    shows fewer of the keys it was built with (tab out of the trees drops "enter YAML"), it
    hides those instead: mounting a row of key widgets costs a tab key 30-40 ms."""

    def __init__(self) -> None:
        super().__init__()
        self._shown: ShownKeys | None = None
        self._built: ShownKeys = ()

    def on_mount(self) -> None:
        # Footer's own subscription (it stays) is called after the frame that moved the focus,
        # so the keys changed a frame later than the panel borders; this one is called at once
        # and does what needs no rebuild. A rebuild is left to the deferred call: it composes
        # in the footer's own context (Footer.compose's data_bind fails in the screen's).
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed_now, immediate=True)

    def compose(self) -> ComposeResult:
        # What Footer.compose reads now is what the key widgets will show.
        if self._bindings_ready:
            self._shown = self._built = self._shown_keys(self.screen)
        yield from super().compose()

    def _showing(self, screen: Screen[object]) -> bool:
        """Footer would redraw for this screen now (its own conditions in bindings_changed)."""
        return bool(screen.app.app_focus and self.is_attached and screen is self.screen)

    def _bindings_changed_now(self, screen: Screen[object]) -> None:
        if self._showing(screen):
            self._update_in_place(self._shown_keys(screen))

    def bindings_changed(self, screen: Screen[object]) -> None:
        if self._showing(screen) and self._update_in_place(self._shown_keys(screen)):
            return
        super().bindings_changed(screen)  # a rebuild (compose above records what it shows)

    def _update_in_place(self, shown: ShownKeys) -> bool:
        """Show these keys without a rebuild if they are the keys shown or some of them."""
        if shown == self._shown:
            return True
        if self._is_subsequence_of_built(shown):
            self._show_only(shown)
            self._shown = shown
            return True
        return False

    def _is_subsequence_of_built(self, shown: ShownKeys) -> bool:
        wanted = set(shown)
        return bool(self._built) and [k for k in self._built if k in wanted] == list(shown)

    def _show_only(self, shown: ShownKeys) -> None:
        keep = {(k[0], k[1]) for k in shown}
        for key in self.query(FooterKey):
            display = (key.key, key.action) in keep
            if key.display != display:
                key.display = display
                redraw_now(key)

    def _shown_keys(self, screen: Screen[object]) -> ShownKeys:
        """Everything of the active bindings that Footer.compose reads."""
        return tuple(
            (binding.key, binding.action, binding.description, binding.group, binding.tooltip, enabled, tip)
            for (_node, binding, enabled, tip) in screen.active_bindings.values()
            if binding.show
        )
