"""Per-app settings the user changes at run time, kept across restarts of the agent.

auto-sync and self-heal start from the app's definition (``sandbox.yaml``, an Application's
``syncPolicy``, a Flux object's ``suspend``) and can be switched in the app until the
definition changes in Git; a rollback pauses auto-sync at a target revision until resumed or
reverted. They live in a
small JSON file per env repo in the state directory, never in the env repo.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from sandbox.paths import private_dir, state_dir


@dataclass(frozen=True)
class AppSettings:
    auto_sync: bool = True
    self_heal: bool = True
    paused_at: str | None = None  # rolled back to this revision: auto-sync waits until resumed
    # What the app's definition said (auto-sync, self-heal) when these were kept: a definition
    # that says otherwise now was changed in Git since, and Git is followed again.
    defined: tuple[bool, bool] | None = None

    @property
    def paused(self) -> bool:
        return self.paused_at is not None


def path_for_repo(repo_path: Path) -> Path:
    key = hashlib.sha256(str(Path(repo_path).resolve()).encode()).hexdigest()[:12]
    return state_dir() / "agent" / f"{key}.json"


def load(path: Path) -> dict[str, AppSettings]:
    """The saved settings by app; a missing or unreadable file is no settings (defaults)."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    found = {}
    for name, values in raw.items():
        if not isinstance(values, dict):
            continue
        paused = values.get("pausedAt", values.get("target") if values.get("paused") else None)
        defined = values.get("defined")
        found[str(name)] = AppSettings(
            auto_sync=bool(values.get("autoSync", True)),
            self_heal=bool(values.get("selfHeal", True)),
            paused_at=str(paused) if paused else None,
            defined=(bool(defined[0]), bool(defined[1]))
            if isinstance(defined, list) and len(defined) == 2
            else None,
        )
    return found


def save(path: Path, settings: dict[str, AppSettings]) -> None:
    """Write all settings at once, atomically (a crash leaves the old file or the new one)."""
    data = {
        name: {
            "autoSync": s.auto_sync,
            "selfHeal": s.self_heal,
            "pausedAt": s.paused_at,
            "defined": list(s.defined) if s.defined else None,
        }
        for name, s in sorted(settings.items())
    }
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".settings-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(data, out, indent=2)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def as_json(settings: AppSettings) -> dict[str, object]:
    return asdict(settings)
