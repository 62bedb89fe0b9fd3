"""Refusing YAML that would blow up once read: alias bombs and aliases that refer to themselves.

A "billion laughs" document is a few hundred bytes whose aliases nest nine deep, nine wide:
read naively it becomes 387 million nodes, and anything that walks it (JSON encoding, a
hash, a diff) takes gigabytes and minutes. The guard counts what the aliases would expand to
on the composed node graph, where each node is visited once, before anything is built from
it; file size says nothing about this, so real multi-MiB CRD bundles stay welcome.
"""

from __future__ import annotations

import re

import yaml

# Nodes that aliases may add to one document beyond those written out. Real manifests use a
# handful of aliases; go-yaml (kubectl's reader) refuses "excessive aliasing" far below this.
MAX_ALIAS_NODES = 1_000_000


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def alias_problem(root: yaml.Node, limit: int = MAX_ALIAS_NODES) -> str | None:
    """Why ``root`` must be refused (a message), or None when its aliases are harmless."""
    expanded: dict[int, int] = {}
    visiting: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            visiting.discard(key)
            size = 1 + sum(expanded[id(child)] for child in _children(node))
            if size - len(expanded) > limit:
                return (
                    f"YAML aliases expand this document to more than {limit:,} extra nodes "
                    "(a YAML bomb?); refused"
                )
            expanded[key] = size
            continue
        if key in expanded:
            continue
        visiting.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in visiting:
                return "a YAML alias refers to the node that contains it (a recursive alias); refused"
            if id(child) not in expanded:
                stack.append((child, False))
    return None


# What JSON (and so the API server) can carry: YAML's other types have no manifest meaning.
_PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "map", "seq", "merge")
)
_NOT_A_NUMBER = re.compile(r"^[-+]?\.(nan|NaN|NAN|inf|Inf|INF)$")


def manifest_problem(root: yaml.Node) -> tuple[str, int] | None:
    """(message, line) for what kubectl refuses in a manifest, or None: a key given twice in one
    mapping, a value of a type JSON cannot carry (``!!binary``, ``!!set``, ``!!timestamp``...),
    or ``.nan`` / ``.inf``. Walks each node once (aliases are checked where they are defined)."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        line = node.start_mark.line + 1
        if node.tag not in _PLAIN_TAGS:
            return (
                f"a {node.tag.rsplit(':', 1)[-1]!r} value ({node.tag}) cannot be sent to the API server",
                line,
            )
        if (
            isinstance(node, yaml.ScalarNode)
            and node.tag.endswith(":float")
            and _NOT_A_NUMBER.match(node.value)
        ):
            return f"{node.value} is not a number JSON can carry", line
        if isinstance(node, yaml.MappingNode):
            keys: dict[object, int] = {}
            for key, _value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag.endswith(":merge"):
                    continue
                name = key.value if isinstance(key, yaml.ScalarNode) else id(key)
                if name in keys:
                    return f"key {name!r} appears twice in one mapping (first at line {keys[name]})", (
                        key.start_mark.line + 1
                    )
                keys[name] = key.start_mark.line + 1
        stack.extend(_children(node))
    return None
