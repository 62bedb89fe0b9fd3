"""Helm chart version constraints, as a HelmRelease's ``chart.spec.version`` gives them.

Flux reads them with Masterminds/semver (``1.2.3``, ``>=1.0.0``, ``6.x``, ``^6.1``, ``~6.2``,
ranges joined by spaces or commas, alternatives by ``||``); npm's range syntax is the same
language, so ``semantic_version.NpmSpec`` reads them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import semantic_version


class ConstraintError(ValueError):
    """A version constraint that does not read."""


def _spec(constraint: str) -> semantic_version.NpmSpec:
    text = re.sub(r"(<=|>=|<|>|=|!=|~|\^)\s+", r"\1", constraint.strip())  # `>= 1.2` is `>=1.2`
    text = re.sub(r"\s*,\s*|\s+", " ", text) or "*"
    text = re.sub(r"(?<![\w.])v(?=\d)", "", text)  # Masterminds takes v1.2.3
    try:
        return semantic_version.NpmSpec(text)
    except ValueError as err:
        raise ConstraintError(f"version {constraint!r} is not a semver constraint: {err}") from None


def _version(text: str) -> semantic_version.Version | None:
    try:
        return semantic_version.Version.coerce(text.strip().lstrip("v"))
    except ValueError:
        return None


def satisfies(version: str, constraint: str) -> bool:
    """Whether the chart version ``version`` meets ``constraint`` (empty: any version)."""
    found = _version(version)
    return found is not None and found in _spec(constraint)


def newest(versions: Iterable[str], constraint: str) -> str | None:
    """The highest of ``versions`` that meets ``constraint``, as Flux picks from an index."""
    spec = _spec(constraint)
    by_version = {v: text for text in versions if (v := _version(text)) is not None}
    chosen = spec.select(by_version)
    return by_version[chosen] if chosen is not None else None
