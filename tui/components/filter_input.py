"""The `/` filter: narrows both object trees to rows whose kind, name, namespace or status match."""

from __future__ import annotations

from textual.widgets import Input


class FilterInput(Input):
    """Hidden until `/`; enter keeps the filter, esc clears it (the screen handles both)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(
            placeholder="filter: kind, name, namespace or status (e.g. outofsync, degraded)", id=id
        )
