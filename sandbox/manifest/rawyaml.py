"""YAML that another tool reads, changed and written back with each scalar as it was written.

The sandbox edits some files before a tool reads them (a ``kustomization.yaml`` it adds an
Argo CD ``namePrefix`` or Flux patches to). Read with any YAML schema and dumped again, a plain
``yes`` or ``1.10`` would come back as ``true`` or ``1.1``; Kustomize (go-yaml v3) would then
read something other than what the user wrote. Here a plain scalar is kept as its text and
written back plain, so the tool reads it exactly as before; what the sandbox adds is written
by ``kubeyaml.dump``'s rules.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import Node, ScalarNode

from sandbox.manifest import kubeyaml
from sandbox.manifest.yamlguard import alias_problem


class Plain(str):
    """A plain scalar's text, unread: it means whatever the reading tool makes of it."""

    __slots__ = ()


class _RawLoader(kubeyaml.KubeLoader):
    def resolve(self, kind: type[Node], value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode and implicit[0] and kubeyaml.resolve_plain(value)[0] != kubeyaml.MERGE:
            return _PLAIN_TAG
        return super().resolve(kind, value, implicit)


_PLAIN_TAG = "tag:gitops-sandbox,2026:plain"


def _build_scalar(node: ScalarNode) -> Any:
    return Plain(node.value) if node.tag == _PLAIN_TAG else kubeyaml.scalar(node)


class _RawDumper(kubeyaml.QuotingDumper):
    def represent_plain(self, data: Plain) -> ScalarNode:
        if not data:
            return self.represent_none(None)  # type: ignore[no-any-return]
        # Tagged as a plain reading of it resolves, so it is written plain and untagged.
        return ScalarNode(self.resolve(ScalarNode, str(data), (True, False)), str(data), style=None)


_RawDumper.add_representer(Plain, _RawDumper.represent_plain)


def load(text: str | bytes) -> Any:
    """The document of ``text``, plain scalars kept as ``Plain`` text; ValueError when its
    aliases or nesting must be refused (see yamlguard)."""
    reader = _RawLoader(text)
    try:
        node = reader.get_single_node()
        if node is None:
            return None
        refused = alias_problem(node)
        if refused is not None:
            raise ValueError(refused)
        return kubeyaml.build(node, scalar=_build_scalar)
    finally:
        reader.dispose()


def dump(data: Any) -> str:
    """``data`` as YAML: ``Plain`` text written as it was read, anything else quoted where any
    reader could take it for something else."""
    return yaml.dump(data, Dumper=_RawDumper, sort_keys=False, allow_unicode=True, default_flow_style=False)
