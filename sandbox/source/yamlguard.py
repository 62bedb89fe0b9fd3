"""Refusing YAML that would blow up once read: alias bombs and aliases that refer to themselves.

A "billion laughs" document is a few hundred bytes whose aliases nest nine deep, nine wide:
read naively it becomes 387 million nodes, and anything that walks it (JSON encoding, a
hash, a diff) takes gigabytes and minutes. The guard counts what the aliases would expand to
on the composed node graph, where each node is visited once, before anything is built from
it; file size says nothing about this, so real multi-MiB CRD bundles stay welcome.
"""

from __future__ import annotations

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
