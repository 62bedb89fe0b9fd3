"""ApplicationSet Go templates rendered as Argo CD renders them: by the sandbox's own small Go
command (sandbox/tools/modules/gotemplate), text/template with Sprig's functions and Argo CD's
own, so every function and pipeline means what it means to the ApplicationSet controller."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

from sandbox.tools import toolchain

TIMEOUT = 60  # seconds for one ApplicationSet's templates


class TemplateError(ValueError):
    """A template that does not parse or run, or a renderer that cannot be had; says which."""


def render(params: Mapping[str, Any], templates: Sequence[str], options: Sequence[str] = ()) -> list[str]:
    """Each template executed against ``params`` (Argo CD's ``goTemplateOptions``: ``options``)."""
    if not templates:
        return []
    try:
        command = toolchain.ensure("gotemplate")
    except toolchain.ToolchainError as err:
        raise TemplateError(f"cannot render Go templates: {err}") from None
    request = {"options": list(options), "jobs": [{"params": params, "templates": list(templates)}]}
    try:
        done = subprocess.run(
            [str(command)], input=json.dumps(request), capture_output=True, text=True, timeout=TIMEOUT,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise TemplateError(f"the Go templates took over {TIMEOUT}s to render") from None
    if done.returncode != 0:
        raise TemplateError(f"the Go template renderer failed: {done.stderr.strip()}")
    (result,) = json.loads(done.stdout)["results"]
    if result.get("error"):
        raise TemplateError(str(result["error"]))
    return list(result.get("values") or [])
