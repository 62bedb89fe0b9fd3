"""Reading rendered output and manifest files: YAML as Kubernetes reads it, JSON, each document with its file and line."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from sandbox.manifest import kubeyaml
from sandbox.manifest.yamlerror import yaml_error
from sandbox.manifest.yamlguard import alias_problem, duplicate_keys
from sandbox.model import Problem
from sandbox.source.treeread import SUBMODULE


@dataclass
class Doc:
    """One parsed document before validation, with where it came from. One whose ``data`` is
    None stands only for what its notices say of a file (skipped, and why)."""

    data: Any
    file: str
    line: int | None
    notices: tuple[Problem, ...] = ()  # read, but not as written: a key given twice

    @classmethod
    def skipped(cls, file: str, why: str) -> Doc:
        return cls(None, file, None, (Problem(why, file=file),))


def submodules_apart(problems: list[Problem], flux: bool) -> tuple[list[Problem], list[Doc]]:
    """(problems, files said as skipped): to Flux a submodule is an empty folder (a GitRepository
    reads none unless it sets recurseSubmodules), so a Flux app goes on without it; to Argo CD,
    which checks submodules out, its files are missing, and the app cannot be rendered whole."""
    if not flux:
        return problems, []
    said = [Doc.skipped(p.file, "git submodule: Flux reads no submodule unless the GitRepository sets "
                                "recurseSubmodules: true, so this folder is empty to it; skipped")
            for p in problems if p.reason == SUBMODULE]  # fmt: skip
    return [p for p in problems if p.reason != SUBMODULE], said


def outermost(paths: list[str]) -> list[str]:
    """Folders without those inside another of them (each exported once)."""
    unique = list(dict.fromkeys(paths))
    return [w for w in unique if not any(o != w and (o == "." or w.startswith(o + "/")) for o in unique)]


# -- parsing --------------------------------------------------------------------------------------


def parse_yaml(
    text: str, source_at: Callable[[int], str], *, keep_lines: bool
) -> tuple[list[Doc], Problem | None]:
    """Every document of a YAML stream; on a syntax error, those before it and a Problem."""
    docs: list[Doc] = []
    loader = kubeyaml.loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            line = node.start_mark.line + 1
            refused = alias_problem(node)
            if refused is not None:
                return docs, Problem(refused, file=source_at(line), line=line if keep_lines else None)
            data = loader.construct_document(node)
            if data is None:
                continue
            made = _expand(data, node, source_at(line), line if keep_lines else None)
            if made:
                made[0].notices = tuple(
                    Problem(
                        twice.notice(), file=source_at(twice.line), line=twice.line if keep_lines else None
                    )
                    for twice in duplicate_keys(node)
                )
            docs += made
    except yaml.YAMLError as err:
        message, line = yaml_error(err, text)
        return docs, Problem(message, file=source_at(line or 1), line=line if keep_lines else None,
                             object=_object_around(text, line or 1))  # fmt: skip
    finally:
        loader.dispose()
    return docs, None


_DOCUMENT_START = re.compile(r"^---(\s|$)")
_KIND = re.compile(r"^kind:\s*[\"']?([A-Za-z0-9.]+)")
_NAME = re.compile(r"^\s+name:\s*[\"']?([A-Za-z0-9.$_{}-]+)")


def _object_around(text: str, line: int) -> str:
    """The object a document that does not parse is about, read from its text as written
    (``Deployment web``: its top-level kind, its metadata's name), or "" when it does not say."""
    lines = text.splitlines()
    start = max((i for i in range(min(line, len(lines))) if _DOCUMENT_START.match(lines[i])), default=-1) + 1
    end = next((i for i in range(start, len(lines)) if _DOCUMENT_START.match(lines[i])), len(lines))
    kind = name = ""
    in_metadata = False
    for raw in lines[start:end]:
        if (found := _KIND.match(raw)) and not kind:
            kind = found.group(1)
        if raw.startswith("metadata:"):
            in_metadata = True
        elif raw[:1] not in (" ", "") and not raw.startswith("#"):
            in_metadata = False
        elif in_metadata and (found := _NAME.match(raw)) and not name:
            name = found.group(1)
    return f"{kind} {name}" if kind and name else ""


class _JsonRefused(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _JsonRefused(f"{name} is not a number JSON can carry")


def parse_json(text: str, file: str) -> tuple[list[Doc], Problem | None]:
    """As kubectl reads a JSON file: no NaN or Infinity; a key given twice keeps the last value
    (said in a notice); a number as the API server holds it (see kubeyaml.number)."""
    twice: list[str] = []

    def last_wins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for key, value in pairs:
            if key in found:
                twice.append(key)
            found[key] = value
        return found

    try:
        data = json.loads(
            text, parse_constant=_no_constant, object_pairs_hook=last_wins,
            parse_int=lambda t: kubeyaml.number(int(t)), parse_float=lambda t: kubeyaml.number(float(t)),
        )  # fmt: skip
    except json.JSONDecodeError as err:
        return [], Problem(f"invalid JSON: {err.msg} (column {err.colno})", file=file, line=err.lineno)
    except _JsonRefused as err:
        return [], Problem(f"invalid JSON: {err}", file=file)
    items = data if isinstance(data, list) else [data]
    docs = [doc for item in items for doc in _expand(item, None, file, 1)]
    if docs and twice:
        docs[0].notices = tuple(
            Problem(
                f"key {key!r} appears twice in one object: the last one is used, as kubectl does", file=file
            )
            for key in dict.fromkeys(twice)
        )
    return docs, None


def _expand(data: Any, node: yaml.Node | None, file: str, line: int | None) -> list[Doc]:
    """A document, or the items of a ``kind: List`` (any ``*List`` kind with ``items``)."""
    if not (
        isinstance(data, dict)
        and str(data.get("kind", "")).endswith("List")
        and isinstance(data.get("items"), list)
    ):
        return [Doc(data, file, line)]
    item_nodes: list[yaml.Node] = []
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if key_node.value == "items" and isinstance(value_node, yaml.SequenceNode):
                item_nodes = value_node.value
    docs = []
    for index, item in enumerate(data["items"]):
        item_node = item_nodes[index] if index < len(item_nodes) else None
        item_line = item_node.start_mark.line + 1 if item_node is not None and line is not None else line
        docs += _expand(item, item_node, file, item_line)
    return docs


def always_at(source: str) -> Callable[[int], str]:
    """A source_at for text that came from one file, whatever the line."""
    return lambda _line: source


def join(app_path: str, rel: str) -> str:
    return rel if app_path in ("", ".") else f"{app_path}/{rel}"


def inside(file: str, folder: str) -> bool:
    return folder in ("", ".") or file == folder or file.startswith(folder.rstrip("/") + "/")


def place_of(doc: Doc) -> str:
    return f"{doc.file}:{doc.line}" if doc.line else doc.file
