"""Helm chart version constraints, as a HelmRelease's ``chart.spec.version`` gives them.

Flux reads them with Masterminds/semver (``1.2.3``, ``>=1.0.0``, ``6.x``, ``^6.1``, ``~6.2``,
ranges joined by spaces or commas, alternatives by ``||``). npm's range syntax is nearly the same
language, so ``semantic_version.NpmSpec`` reads them once Masterminds' own spellings (``=>``,
``=<``, ``~>``) are written as npm writes them; ``!=`` leaves a version out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import semantic_version


class ConstraintError(ValueError):
    """A version constraint that does not read."""


_MASTERMINDS_ONLY = (("=>", ">="), ("=<", "<="), ("~>", "~"))  # its spellings npm lacks


class _Constraint:
    """Alternatives (``||``), each an npm range and the versions it leaves out (``!=``)."""

    def __init__(self, constraint: str) -> None:
        text = constraint.strip()
        for theirs, ours in _MASTERMINDS_ONLY:
            text = text.replace(theirs, ours)
        text = re.sub(r"(<=|>=|<|>|!=|=|~|\^)\s+", r"\1", text)  # `>= 1.2` is `>=1.2`
        text = re.sub(r"(?<![\w.])v(?=\d)", "", text)  # Masterminds takes v1.2.3
        self.alternatives: list[tuple[semantic_version.NpmSpec, list[semantic_version.Version]]] = []
        for alternative in text.split("||"):
            terms = [t for t in re.split(r"\s*,\s*|\s+", alternative.strip()) if t]
            excluded = [t[2:] for t in terms if t.startswith("!=")]
            kept = " ".join(t for t in terms if not t.startswith("!=")) or "*"
            try:
                spec = semantic_version.NpmSpec(kept)
                out = [semantic_version.Version.coerce(v) for v in excluded]
            except ValueError as err:
                raise ConstraintError(f"version {constraint!r} is not a semver constraint: {err}") from None
            self.alternatives.append((spec, out))

    def __contains__(self, version: semantic_version.Version) -> bool:
        return any(version in spec and version not in out for spec, out in self.alternatives)


def _spec(constraint: str) -> _Constraint:
    return _Constraint(constraint)


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
    met = [v for v in by_version if v in spec]
    return by_version[max(met)] if met else None
