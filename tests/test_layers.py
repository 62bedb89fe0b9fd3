"""The engine's layers import one way (see DESIGN.md), read from the source itself: the base
(kube, tools, manifest, model, paths, locks) imports nothing above it; cluster, source and
apply are siblings that never import one another; agent sits above them; session, doctor, cli
and the TUI on top. No module imports itself round a circle, and nothing under sandbox/ imports
Textual at module level."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BASE = ("sandbox", "sandbox.model", "sandbox.paths", "sandbox.locks", "sandbox.kube", "sandbox.tools",
        "sandbox.manifest")  # fmt: skip
SIBLINGS = ("sandbox.cluster", "sandbox.source", "sandbox.apply")
RANKS = {**dict.fromkeys(BASE, 0), **dict.fromkeys(SIBLINGS, 1), "sandbox.agent": 2}  # else the top: 3


def _modules() -> dict[str, Path]:
    found = {}
    for package in ("sandbox", "tui"):
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> Iterator[tuple[str, int, bool]]:
    """(module imported, line, at module level) for each import of ours, a submodule named in
    ``from package import submodule`` counted as that submodule."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    top = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES]
            targets = subs + ([base] if len(subs) < len(node.names) else [])
        else:
            continue
        for target in targets:
            if target.split(".")[0] in ("sandbox", "tui", "textual") and target != name:
                yield target, node.lineno, id(node) in top


def _layer(module: str) -> str:
    """The package of BASE, SIBLINGS or agent a module is in ("top" for the rest)."""
    head = ".".join(module.split(".")[:2])
    return head if head in RANKS else "top"


def _rank(module: str) -> int:
    return RANKS.get(_layer(module), 3)


GRAPH = {name: list(_imports(name, path)) for name, path in MODULES.items()}


@pytest.mark.parametrize("name", sorted(n for n in MODULES if _rank(n) < 3))
def test_a_module_below_the_top_imports_only_its_own_layer_or_those_below(name: str) -> None:
    mine = _layer(name)
    wrong = [
        f"{MODULES[name].relative_to(ROOT)}:{line} imports {target}"
        for target, line, _top in GRAPH[name]
        if target.startswith("textual")
        or target.startswith("tui")
        or _rank(target) > _rank(name)
        or (_rank(target) == _rank(name) == 1 and _layer(target) != mine)  # siblings stay apart
    ]
    assert wrong == []


def test_nothing_under_sandbox_imports_textual_or_the_tui_at_module_level() -> None:
    wrong = [
        f"{MODULES[name].relative_to(ROOT)}:{line} imports {target}"
        for name in MODULES
        if name.startswith("sandbox")
        for target, line, top in GRAPH[name]
        if top and target.split(".")[0] in ("textual", "tui")
    ]
    assert wrong == []


def test_no_module_imports_itself_round_a_circle() -> None:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(name: str) -> None:  # Tarjan's strongly connected components
        index[name] = low[name] = len(index)
        stack.append(name)
        for target, _line, _top in GRAPH.get(name, ()):
            if target not in MODULES:
                continue
            if target not in index:
                visit(target)
                low[name] = min(low[name], low[target])
            elif target in stack:
                low[name] = min(low[name], index[target])
        if low[name] == index[name]:
            found = []
            while True:
                member = stack.pop()
                found.append(member)
                if member == name:
                    break
            if len(found) > 1:
                circles.append(sorted(found))

    for name in MODULES:
        if name not in index:
            visit(name)
    assert circles == []


def test_the_layer_rule_sees_a_wrong_import() -> None:
    """The rule is not vacuous: the graph holds imports, and a sideways one would be caught."""
    assert any(t.startswith("sandbox.source") for t, _l, _top in GRAPH["sandbox.agent.loop"])
    assert _layer("sandbox.source.render") == "sandbox.source" and _rank("sandbox.apply.sync") == 1
    assert _layer("sandbox.kube.client") == "sandbox.kube" and _rank("sandbox.kube.client") == 0
    assert _rank("sandbox.cli.headless") == 3 and _rank("tui.app") == 3
