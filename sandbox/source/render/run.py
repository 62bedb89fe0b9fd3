"""Running the render tools (kustomize, helm, jsonnet): bounded in time, their errors trimmed."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

TOOL_TIMEOUT_S = 120
_ERROR_LINES = 12
_ERROR_LINE_CHARS = 400


# -- running tools --------------------------------------------------------------------------------


def run_tool(
    cmd: list[str], cwd: Path, rewrite: dict[str, str], env: dict[str, str] | None = None
) -> tuple[bool, str, str]:
    """(ok, stdout, trimmed error) of a render tool, scratch paths rewritten repo-relative."""
    try:
        proc = subprocess.run(
            cmd, cwd=cwd, env=env, capture_output=True, text=True, errors="replace", timeout=TOOL_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        return False, "", f"{Path(cmd[0]).name} did not finish within {TOOL_TIMEOUT_S}s"
    except OSError as err:
        return False, "", f"cannot run {cmd[0]}: {err}"
    if proc.returncode == 0:
        return True, proc.stdout, ""
    text = proc.stderr or proc.stdout
    for scratch, repl in rewrite.items():
        text = text.replace(scratch, repl).replace(scratch.rstrip(os.sep), repl.rstrip("/") or ".")
    return False, "", _trim_error(text) or f"{Path(cmd[0]).name} exited {proc.returncode}"


def _trim_error(text: str) -> str:
    """The lines that explain a failure: no blank lines, no advice about --debug, long lines cut
    from the front (kustomize nests causes left to right, the real one is last)."""
    lines = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line.strip() or "--debug" in line or line.startswith(("WARNING", "walk.go")):
            continue
        if line.startswith("Error: "):
            line = line[len("Error: ") :]
        if len(line) > _ERROR_LINE_CHARS:
            line = "…" + _from_a_boundary(line[-_ERROR_LINE_CHARS:])
        lines.append(line)
    if len(lines) > _ERROR_LINES:
        lines = lines[:_ERROR_LINES] + [f"… ({len(lines) - _ERROR_LINES} more lines)"]
    return "\n".join(lines)


def _from_a_boundary(tail: str) -> str:
    """A cut line's tail from its first cause (after ": ") or word, never mid-word."""
    for mark in (": ", " "):
        at = tail.find(mark)
        if 0 <= at < len(tail) // 4:
            return tail[at + len(mark) :]
    return tail
