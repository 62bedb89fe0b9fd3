"""Argo CD's ignoreDifferences: fields of chosen objects left out when desired and live are
compared, so a field another controller owns (an HPA's replicas, a webhook's caBundle) does
not make the app OutOfSync or send self-heal fighting it.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from sandbox.model import Manifest, ObjectKey

_JQ_PATH = re.compile(r"^(\.[A-Za-z_][\w-]*|\.\[\d+\]|\[\d+\]|\[\"[^\"]+\"\]|\.\"[^\"]+\")+$")


@dataclass(frozen=True)
class IgnoreRule:
    """One ``ignoreDifferences`` entry: which objects ("" or "*": any), and which fields."""

    group: str = ""
    kind: str = ""
    name: str = ""
    namespace: str = ""
    pointers: tuple[str, ...] = ()  # JSON pointers (RFC 6901)

    def matches(self, key: ObjectKey) -> bool:
        return (
            self.group in ("*", key.group)
            and self.kind in ("*", key.kind)
            and self.name in ("", key.name)
            and self.namespace in ("", key.namespace)
        )


def jq_pointer(expression: str) -> str | None:
    """A jq path such as ``.spec.replicas`` or ``.data["tls.crt"]`` as a JSON pointer; None
    for anything else (filters, pipes, functions)."""
    text = expression.strip()
    if not _JQ_PATH.match(text):
        return None
    parts = re.findall(r"\.([A-Za-z_][\w-]*)|\[(\d+)\]|\[\"([^\"]+)\"\]|\.\"([^\"]+)\"", text)
    return "".join("/" + next(p for p in part if p).replace("~", "~0").replace("/", "~1") for part in parts)


def pointers_for(key: ObjectKey, rules: tuple[IgnoreRule, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(p for rule in rules if rule.matches(key) for p in rule.pointers))


def without(manifest: Manifest | None, pointers: tuple[str, ...]) -> Manifest | None:
    """A copy of ``manifest`` with the fields at ``pointers`` removed (those absent ignored)."""
    if manifest is None or not pointers:
        return manifest
    out = copy.deepcopy(manifest)
    for pointer in pointers:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
        if not parts:
            continue
        node: Any = out
        for part in parts[:-1]:
            node = node.get(part) if isinstance(node, dict) else _index(node, part)
            if node is None:
                break
        if isinstance(node, dict):
            node.pop(parts[-1], None)
        elif isinstance(node, list) and parts[-1].isdigit() and int(parts[-1]) < len(node):
            node.pop(int(parts[-1]))
    return out


def _index(node: Any, part: str) -> Any:
    if isinstance(node, list) and part.isdigit() and int(part) < len(node):
        return node[int(part)]
    return None
