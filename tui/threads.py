"""Handing results from worker threads back to the UI."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import App


def hand_over(app: App[Any], callback: Callable[..., object], *args: Any, **kwargs: Any) -> None:
    """Run ``callback`` on the UI thread; drop it if the app has quit meanwhile.

    A diff or a git log read can outlive the app (the user pressed q while it ran); its
    result then has nowhere to go, which is not an error worth a traceback.
    """
    if not app.is_running:
        return
    try:
        app.call_from_thread(callback, *args, **kwargs)
    except RuntimeError:
        pass  # the app stopped between the check and the call
