"""The footer: Textual's, rebuilt only when the keys it shows change (the command palette is off)."""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer

ShownKeys = tuple[tuple[object, ...], ...]


class SandboxFooter(Footer):
    """Textual's Footer rebuilds all its key widgets whenever the bindings may have changed,
    which is every focus change: tab from Apps to History cost about 100 ms here for a footer
    showing the same keys. This one rebuilds only when what it shows differs."""

    def __init__(self) -> None:
        super().__init__()
        self._shown: ShownKeys | None = None

    def bindings_changed(self, screen: Screen[object]) -> None:
        shown = self._shown_keys(screen)
        # Only count it as shown when Footer will really rebuild for it (same conditions).
        will_rebuild = screen.app.app_focus and self.is_attached and screen is self.screen
        if will_rebuild and shown == self._shown:
            return
        super().bindings_changed(screen)
        if will_rebuild:
            self._shown = shown

    def _shown_keys(self, screen: Screen[object]) -> ShownKeys:
        """Everything of the active bindings that Footer.compose reads."""
        return tuple(
            (binding.key, binding.action, binding.description, binding.group, binding.tooltip, enabled, tip)
            for (_node, binding, enabled, tip) in screen.active_bindings.values()
            if binding.show
        )
