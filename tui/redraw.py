"""Ask for a widget's repaint at once, from the handler of the key at work."""

from __future__ import annotations

from textual.widget import Widget


def redraw_now(widget: Widget) -> None:
    """Send the widget's pending repaint (and layout) request to the screen now.

    On its own a widget sends it once its message queue is idle, which comes after the frame
    that shows the key's first effects: the filtered rows came a frame (20-30 ms) after the
    typed character, the filter bar 50 ms after `/`. Sent from the key's handler, it lands in
    that first frame. (``Widget._check_refresh``, Textual 8: textual is pinned below 9.)
    """
    widget._check_refresh()
