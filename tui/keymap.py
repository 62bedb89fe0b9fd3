"""User key remapping: binding ids to keys, read from the config folder (as posting does).

``$XDG_CONFIG_HOME/gitops-sandbox/keys.toml`` (or ``keys.json``)::

    [keymap]
    "sandbox.sync" = "S"
    "sandbox.quit" = "ctrl+q,q"

A bad file never stops the app: it comes back as a message the app shows.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Keymap:
    """The user's keys as the app uses them: binding id -> keys, where they were read from,
    and what was wrong with that file ("" when nothing)."""

    keys: dict[str, str] = field(default_factory=dict)
    path: str = ""
    problem: str = ""


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "gitops-sandbox"


def load_keymap(folder: Path | None = None) -> tuple[dict[str, str], str]:
    """The keymap and a problem message ("" when none); a missing file is an empty keymap."""
    folder = folder or config_dir()
    for name in ("keys.toml", "keys.json"):
        path = folder / name
        if not path.is_file():
            continue
        try:
            raw = path.read_bytes()
            data = tomllib.loads(raw.decode()) if name.endswith(".toml") else json.loads(raw)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            return {}, f"{path}: {exc}; using the default keys"
        if not isinstance(data, dict):
            return {}, f"{path}: expected a table of binding id = key; using the default keys"
        table = data.get("keymap", data)
        if not isinstance(table, dict):
            return {}, f"{path}: [keymap] must be a table of binding id = key; using the default keys"
        bad = [k for k, v in table.items() if not isinstance(v, str) or not v.strip()]
        keymap = {str(k): str(v).replace(" ", "") for k, v in table.items() if k not in bad}
        problem = f'{path}: ignored {", ".join(bad)} (each key must be a string such as "S")' if bad else ""
        return keymap, problem
    return {}, ""
