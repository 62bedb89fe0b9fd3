"""The rows both object trees show, built from a snapshot: pure data, no Textual.

Each row has a stable id so the trees can be reconciled by key: a row whose id is already
on screen only gets a new label when its signature changed; rows are added or removed only
when the set of ids changes. The desired and the live tree show the same rows, so they stay
aligned line for line; a side without the object shows a placeholder.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sandbox.model import ObjectKey, SyncStatus
from sandbox.state import AppState, ObjectState, Snapshot

RowId = tuple[str, ...]


def app_row_id(app: str) -> RowId:
    return ("app", app)


@dataclass(frozen=True)
class Row:
    id: RowId
    app: str
    depth: int  # 0 app, 1 object of the app, 2+ owned children
    app_state: AppState
    state: ObjectState | None = None  # None for the app row
    children: tuple[Row, ...] = ()

    @property
    def key(self) -> ObjectKey | None:
        return self.state.key if self.state else None

    @property
    def is_app(self) -> bool:
        return self.state is None

    @property
    def is_child(self) -> bool:
        return self.depth >= 2

    @property
    def in_git(self) -> bool:
        """The desired side has this object (children never: controllers make them)."""
        if self.state is None:
            return True
        return not self.is_child and self.state.sync != SyncStatus.ORPHANED

    @property
    def in_cluster(self) -> bool:
        if self.state is None:
            return True
        return self.state.live is not None

    @property
    def signature(self) -> tuple[object, ...]:
        """Everything a label shows: a label is redrawn only when this changes."""
        if self.state is None:
            a = self.app_state
            return (
                a.sync, a.health, a.target_revision, a.git_revision, a.deployed_revision,
                a.operation, a.rolled_back, a.namespace, len(a.problems),
            )  # fmt: skip
        s = self.state
        return (s.sync, s.health, s.health_message, s.source, s.live is not None, self.in_git)


def object_row_id(app: str, key: ObjectKey, parent: RowId | None = None) -> RowId:
    base = parent if parent is not None else (app,)
    return (*base, f"{key.group}/{key.kind}/{key.namespace}/{key.name}")


def matches(state: ObjectState, needle: str) -> bool:
    """Filter: a case-insensitive substring of kind, name, namespace, sync or health."""
    if not needle:
        return True
    haystack = f"{state.key.kind} {state.key.namespace}/{state.key.name} {state.sync} {state.health}".lower()
    return all(word in haystack for word in needle.lower().split())


def _child_rows(app: AppState, parent: RowId, children: Iterable[ObjectState], depth: int) -> tuple[Row, ...]:
    out = []
    for child in children:
        rid = object_row_id(app.name, child.key, parent)
        out.append(Row(rid, app.name, depth, app, child, _child_rows(app, rid, child.children, depth + 1)))
    return tuple(out)


def _any_match(state: ObjectState, needle: str) -> bool:
    return matches(state, needle) or any(_any_match(c, needle) for c in state.children)


def build_rows(snapshot: Snapshot, needle: str = "") -> tuple[Row, ...]:
    """One app row per app, its objects under it (already sorted: attention first)."""
    rows = []
    for app in snapshot.apps:
        objects = []
        for obj in app.objects:
            if needle and not _any_match(obj, needle):
                continue
            rid = object_row_id(app.name, obj.key)
            objects.append(Row(rid, app.name, 1, app, obj, _child_rows(app, rid, obj.children, 2)))
        if needle and not objects:
            continue
        rows.append(Row(app_row_id(app.name), app.name, 0, app, None, tuple(objects)))
    return tuple(rows)


def count_rows(rows: Iterable[Row]) -> int:
    return sum(1 + count_rows(r.children) for r in rows)
