"""The typed fields of an Application's spec, as the Application and ApplicationSet CRDs' schemas
type them. The API server refuses an object whose field has another type: a string where a
boolean goes (``prune: "false"``, ``limit: "{{ .retryLimit }}"`` in an ApplicationSet's
template, which Argo CD fills only after the set is stored). Read leniently, ``"false"`` would
turn prune on; the sandbox refuses it as the API server does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

# Paths below an Application's spec (a source's fields under each of source and sources[]).
_BOOLEANS = (
    "syncPolicy.automated.prune", "syncPolicy.automated.selfHeal", "syncPolicy.automated.allowEmpty",
    "syncPolicy.automated.enabled",
)  # fmt: skip
_INTEGERS = ("syncPolicy.retry.limit", "syncPolicy.retry.backoff.factor", "revisionHistoryLimit")
_SOURCE_BOOLEANS = (
    "directory.recurse", "helm.skipCrds", "helm.ignoreMissingValueFiles", "helm.passCredentials",
    "helm.skipSchemaValidation", "helm.skipTests", "kustomize.forceCommonLabels",
    "kustomize.forceCommonAnnotations",
)  # fmt: skip


def type_problems(spec: dict[str, Any], prefix: str = "spec") -> list[str]:
    """Each field of ``spec`` whose value is not of the type the schema gives it."""
    found = []
    for path, wanted, value in _typed(spec):
        if wanted == "boolean" and not isinstance(value, bool):
            found.append((path, wanted, value))
        elif wanted == "integer" and (isinstance(value, bool) or not isinstance(value, int)):
            found.append((path, wanted, value))
    return [
        f"{prefix}.{path} is {_shown(value)} where the schema wants {'an' if wanted == 'integer' else 'a'} {wanted}: "
        "the API server refuses it"
        for path, wanted, value in found
    ]


def _typed(spec: dict[str, Any]) -> Iterator[tuple[str, str, Any]]:
    for path in _BOOLEANS:
        if (value := _at(spec, path)) is not None:
            yield path, "boolean", value
    for path in _INTEGERS:
        if (value := _at(spec, path)) is not None:
            yield path, "integer", value
    given = spec.get("sources")
    listed: list[Any] = given if isinstance(given, list) else []
    sources = [("source", spec.get("source")), *((f"sources[{i}]", s) for i, s in enumerate(listed))]
    for where, source in sources:
        if not isinstance(source, dict):
            continue
        for path in _SOURCE_BOOLEANS:
            if (value := _at(source, path)) is not None:
                yield f"{where}.{path}", "boolean", value


def _at(obj: Any, path: str) -> Any:
    for key in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _shown(value: Any) -> str:
    return f"the string {value!r}" if isinstance(value, str) else f"{type(value).__name__} {value!r}"
