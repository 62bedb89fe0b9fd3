"""`gitops-sandbox doctor`: each thing the sandbox needs, present or not, and the exact fix."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from sandbox.cluster.runtime import Check
from sandbox.cluster.runtimes import DOCTOR_CHECKS
from sandbox.paths import cache_dir, state_dir
from sandbox.tools import toolchain


def _go_version() -> str | None:
    go = toolchain.go_binary()
    if go is None:
        return None
    out = subprocess.run([go, "version"], capture_output=True, text=True, check=False)
    return out.stdout.strip() or None


def _writable(path_str: str) -> tuple[bool, str]:
    from pathlib import Path

    path = Path(path_str)
    probe = path
    while not probe.exists():
        probe = probe.parent
    ok = os.access(probe, os.W_OK)
    return ok, str(path)


def checks() -> list[Check]:
    results: list[Check] = [found for runtime_checks in DOCTOR_CHECKS.values() for found in runtime_checks()]
    git = shutil.which("git")
    results.append(
        Check(
            "git",
            git is not None,
            git or "not on PATH",
            "" if git else "install git (Debian: apt-get install git)",
        )
    )
    go = _go_version()
    results.append(
        Check(
            "go",
            go is not None,
            go or "not on PATH",
            "" if go else toolchain.GO_INSTALL_HINT + " (needed only to build missing binaries)",
            required=False,
        )
    )
    for group in toolchain.GROUPS:
        for tool in group.packages:
            found = toolchain.find(tool)
            needed_by_local = tool in toolchain.LOCAL_RUNTIME_TOOLS or tool in ("helm",)
            if found:
                version = toolchain.version_of(found.path) or "version unknown"
                detail = f"{version} ({found.source}: {found.path})"
                results.append(Check(tool, True, detail, required=needed_by_local))
            else:
                fix = (
                    f"`gitops-sandbox toolchain build {tool}` builds {group.version} into "
                    f"{group.cache_path} (also done automatically when first needed), "
                    f"or put {tool} on PATH, or set {toolchain.env_var(tool)}"
                )
                if go is None:
                    fix = f"{toolchain.GO_INSTALL_HINT}, then " + fix
                results.append(Check(tool, False, "missing", fix, required=needed_by_local))
    for label, path in (("state dir", str(state_dir())), ("cache dir", str(cache_dir()))):
        ok, shown = _writable(path)
        results.append(
            Check(
                label,
                ok,
                shown,
                "" if ok else f"make {shown} writable or set GITOPS_SANDBOX_{label.split()[0].upper()}_DIR",
            )
        )
    results.append(
        Check(
            "python",
            sys.version_info >= (3, 11),
            sys.version.split()[0],
            "" if sys.version_info >= (3, 11) else "Python 3.11 or newer",
        )
    )
    return results


def blocking(results: list[Check]) -> list[Check]:
    """Failures that stop the default (local) runtime: a missing tool that Go cannot build."""
    go_ok = any(c.name == "go" and c.ok for c in results)
    return [
        c for c in results
        if not c.ok and c.required and (c.name not in toolchain.TOOL_GROUP or not go_ok)
    ]  # fmt: skip


def render(results: list[Check], color: bool) -> str:
    def mark(ok: bool) -> str:
        glyph = "ok " if ok else "MISSING"
        if not color:
            return glyph
        return f"\033[32m{glyph}\033[0m" if ok else f"\033[31m{glyph}\033[0m"

    width = max(len(c.name) for c in results)
    lines = []
    for c in results:
        lines.append(f"{mark(c.ok):>7}  {c.name:<{width}}  {c.detail}")
        if c.fix:
            lines.append(f"{'':>7}  {'':<{width}}  fix: {c.fix}")
    return "\n".join(lines)


def color_wanted(stream: object = sys.stdout) -> bool:
    return "NO_COLOR" not in os.environ and bool(getattr(stream, "isatty", lambda: False)())
