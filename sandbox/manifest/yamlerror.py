"""What a YAML parse error says, and on which line, for messages that name the file."""

from __future__ import annotations

import yaml


def yaml_error(err: yaml.YAMLError, text: str) -> tuple[str, int | None]:
    """(message, line) for a YAML error; an error found only past the last line (an unclosed
    bracket or quote) is placed where the unclosed construct starts."""
    mark = getattr(err, "problem_mark", None)
    context, context_mark = getattr(err, "context", None), getattr(err, "context_mark", None)
    detail = str(getattr(err, "problem", None) or err)
    line = mark.line + 1 if mark is not None else None
    last = text.rstrip().count("\n") + 1
    if context and context_mark is not None:
        detail += f" ({context}, line {min(context_mark.line + 1, last)})"
        if line is not None and line > last:
            line = context_mark.line + 1
    return f"invalid YAML: {detail}", min(line, last) if line is not None else None
