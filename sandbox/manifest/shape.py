"""Reading YAML of unknown shape: a missing field, or one of the wrong type, reads as empty.

Argo CD and Flux objects come from users' repos; a field that is not a mapping where one is
expected is left to the schema checks that name it, so the readers never crash on it.
"""

from __future__ import annotations

from typing import Any


def mapping(value: Any) -> dict[str, Any]:
    """`value` when it is a mapping, else an empty one."""
    return value if isinstance(value, dict) else {}


def annotations_of(manifest: Any) -> dict[str, Any]:
    """An object's `metadata.annotations`, empty when absent or malformed."""
    return mapping(mapping(mapping(manifest).get("metadata")).get("annotations"))
