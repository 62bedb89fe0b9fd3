"""Fields of a live object read safely, as Go's typed structs read them: a missing field reads
as None, empty or 0; one present with the wrong type raises Malformed (health reads it as
Unknown, saying what was wrong), so one odd object cannot stop the engine."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeGuard

from sandbox.model import Manifest


class Malformed(Exception):
    """A field of the wrong type."""


def field_at(obj: Any, *path: str) -> Any:
    node = obj
    walked: list[str] = []
    for part in path:
        if node is None:
            return None
        if not isinstance(node, dict):
            where = ".".join(walked) or "object"
            raise Malformed(f"{where} should be a mapping, got {type(node).__name__}")
        node = node.get(part)
        walked.append(part)
    return node


def mapping_at(obj: Any, *path: str) -> dict[str, Any]:
    value = field_at(obj, *path)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Malformed(f"{'.'.join(path)} should be a mapping, got {type(value).__name__}")
    return value


def list_at(obj: Any, *path: str) -> list[Any]:
    value = field_at(obj, *path)
    if value is None:
        return []
    if not isinstance(value, list):
        raise Malformed(f"{'.'.join(path)} should be a list, got {type(value).__name__}")
    return value


def mappings_at(obj: Any, *path: str) -> list[dict[str, Any]]:
    items = list_at(obj, *path)
    for item in items:
        if not isinstance(item, dict):
            raise Malformed(f"{'.'.join(path)} should hold mappings, got {type(item).__name__}")
    return items


def opt_int_at(obj: Any, *path: str) -> int | None:
    value = field_at(obj, *path)
    # bool is an int subclass in Python; `replicas: true` is a broken object, not 1.
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise Malformed(f"{'.'.join(path)} should be an integer, got {value!r}")


def int_at(obj: Any, *path: str) -> int:
    value = opt_int_at(obj, *path)
    return 0 if value is None else value


def str_at(obj: Any, *path: str) -> str:
    value = field_at(obj, *path)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Malformed(f"{'.'.join(path)} should be a string, got {value!r}")
    return value


def condition(obj: Manifest, cond_type: str) -> dict[str, Any] | None:
    for cond in mappings_at(obj, "status", "conditions"):
        if cond.get("type") == cond_type:
            return cond
    return None


def is_true(cond: dict[str, Any] | None) -> TypeGuard[dict[str, Any]]:
    return cond is not None and cond.get("status") == "True"


def condition_text(cond: dict[str, Any]) -> str:
    reason, message = str_at(cond, "reason"), str_at(cond, "message")
    return f"{reason}: {message}" if reason and message else reason or message


def time_at(obj: Any, *path: str) -> datetime | None:
    raw = str_at(obj, *path)
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw)
    except ValueError as exc:
        raise Malformed(f"{'.'.join(path)} is not a timestamp: {raw!r}") from exc


def group_of(live: Manifest) -> str:
    api_version = str_at(live, "apiVersion")
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def generation_observed(live: Manifest) -> bool:
    return int_at(live, "metadata", "generation") <= int_at(live, "status", "observedGeneration")
