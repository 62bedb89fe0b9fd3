"""Refusing YAML that would blow up once read: alias bombs, aliases that refer to themselves,
and nesting deeper than the engine walks.

A "billion laughs" document is a few hundred bytes whose aliases nest nine deep, nine wide:
read naively it becomes 387 million nodes, and anything that walks it (JSON encoding, a
hash, a diff) takes gigabytes and minutes. The guard counts what the aliases would expand to
on the composed node graph, where each node is visited once, before anything is built from
it; file size says nothing about this, so real multi-MiB CRD bundles stay welcome.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from sandbox.manifest.kubeyaml import MAX_NESTING, MERGE

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
    """Why ``root`` must be refused (a message), or None when its aliases and nesting are harmless."""
    expanded: dict[int, int] = {}
    depth: dict[int, int] = {}
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
            depth[key] = 1 + max((depth[id(child)] for child in _children(node)), default=0)
            if depth[key] > MAX_NESTING:
                return (
                    f"nested more than {MAX_NESTING} levels deep; refused (the sandbox reads at most "
                    f"{MAX_NESTING}, kubectl 10,000)"
                )
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


@dataclass(frozen=True)
class DuplicateKey:
    """A key given twice in one mapping: where, and where it was first given."""

    key: str
    line: int
    first: int

    def notice(self) -> str:
        """kubectl keeps the last value and says nothing; the sandbox does the same and says so."""
        return f"key {self.key!r} appears twice in one mapping (first at line {self.first}): the last one is used, as kubectl does"


def duplicate_keys(root: yaml.Node) -> list[DuplicateKey]:
    """Each key given twice in one mapping of the document."""
    found = []
    for node in _nodes(root):
        if not isinstance(node, yaml.MappingNode):
            continue
        first: dict[str, int] = {}
        for key, _value in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == MERGE:
                continue
            line = key.start_mark.line + 1
            if key.value in first:
                found.append(DuplicateKey(key.value, line, first[key.value]))
            first.setdefault(key.value, line)
    return found


def _nodes(root: yaml.Node) -> list[yaml.Node]:
    seen: set[int] = set()
    stack, out = [root], []
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        out.append(node)
        stack.extend(_children(node))
    return out
