"""Flux's post-build substitution (kustomize-controller's fork of drone/envsubst): ``${var}``
and the bash-like forms its README lists, defaults that hold ``${...}`` of their own included
(``${VOLSYNC_CLAIM:=${APP}}``, ``${X:=${APP}-data}``).

Only the braced form is read: a bare ``$var`` is text, as Flux leaves it. ``$${var}`` is
written as ``${var}``. An unset variable without a default becomes empty (Flux without strict
substitution); an expression it cannot read is left as written.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OFFSET = re.compile(r"^:(\d+)(?::(\d+))?$")


def substitute(text: str, variables: Mapping[str, str]) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        start = text.find("$", i)
        if start < 0:
            out.append(text[i:])
            break
        out.append(text[i:start])
        if text.startswith("$${", start):  # escaped: the text ${...} stays, unread
            out.append("${")
            i = start + 3
            continue
        if not text.startswith("${", start):
            out.append("$")
            i = start + 1
            continue
        end = _closing(text, start + 2)
        if end < 0:
            out.append(text[start:])
            break
        value = _expression(text[start + 2 : end], variables)
        out.append(text[start : end + 1] if value is None else value)
        i = end + 1
    return "".join(out)


def _closing(text: str, at: int) -> int:
    """The index of the ``}`` that closes an expression opened before ``at`` (-1 if none)."""
    depth = 1
    i = at
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _expression(body: str, variables: Mapping[str, str]) -> str | None:
    """The value of one ``${...}``'s inside, or None when it is not an expression Flux reads."""
    if body.startswith("#") and _NAME.fullmatch(body[1:]):
        return str(len(variables.get(body[1:], "")))
    name = _NAME.match(body)
    if name is None:
        return None
    var, rest = name.group(0), body[name.end() :]
    value = variables.get(var)
    if not rest:
        return value or ""
    for op, unset_only in ((":=", False), (":-", False), ("=", True), ("-", True)):
        if rest.startswith(op):
            missing = value is None if unset_only else not value
            return substitute(rest[len(op) :], variables) if missing else value or ""
    if rest.startswith(":"):
        offset = _OFFSET.match(rest)
        if offset is None:
            return None
        begin = int(offset.group(1))
        length = int(offset.group(2)) if offset.group(2) is not None else None
        text = value or ""
        return text[begin:] if length is None else text[begin : begin + length]
    return _function(value or "", rest, variables)


def _function(value: str, rest: str, variables: Mapping[str, str]) -> str | None:
    case: dict[str, Callable[[str], str]] = {
        "^^": str.upper,
        ",,": str.lower,
        "^": lambda v: v[:1].upper() + v[1:],
        ",": lambda v: v[:1].lower() + v[1:],
    }
    if rest in case:
        return case[rest](value)
    for op, trim in (("##", _trim_longest_prefix), ("#", _trim_shortest_prefix),
                     ("%%", _trim_longest_suffix), ("%", _trim_shortest_suffix)):  # fmt: skip
        if rest.startswith(op):
            return trim(value, substitute(rest[len(op) :], variables))
    for op in ("//", "/#", "/%", "/"):
        if rest.startswith(op):
            pattern, _, replacement = rest[len(op) :].partition("/")
            return _replace(value, op, substitute(pattern, variables), substitute(replacement, variables))
    return None


def _trim_shortest_prefix(value: str, pattern: str) -> str:
    cut = next((i for i in range(len(value) + 1) if fnmatch.fnmatchcase(value[:i], pattern)), 0)
    return value[cut:]


def _trim_longest_prefix(value: str, pattern: str) -> str:
    cut = next((i for i in range(len(value), -1, -1) if fnmatch.fnmatchcase(value[:i], pattern)), 0)
    return value[cut:]


def _trim_shortest_suffix(value: str, pattern: str) -> str:
    cut = next((i for i in range(len(value), -1, -1) if fnmatch.fnmatchcase(value[i:], pattern)), len(value))
    return value[:cut]


def _trim_longest_suffix(value: str, pattern: str) -> str:
    cut = next((i for i in range(len(value) + 1) if fnmatch.fnmatchcase(value[i:], pattern)), len(value))
    return value[:cut]


def _replace(value: str, op: str, pattern: str, replacement: str) -> str:
    if not pattern:
        return value
    if op == "//":
        return value.replace(pattern, replacement)
    if op == "/#":
        return replacement + value[len(pattern) :] if value.startswith(pattern) else value
    if op == "/%":
        return value[: -len(pattern)] + replacement if value.endswith(pattern) else value
    return value.replace(pattern, replacement, 1)
