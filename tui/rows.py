"""The rows both object trees show, built from a snapshot: pure data, no Textual.

Each row has a stable id so the trees can be reconciled by key: a row whose id is already
on screen only gets a new label when its signature changed; rows are added or removed only
when the set of ids changes. The desired and the live tree show the same rows, so they stay
aligned line for line; a side without the object shows a placeholder.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sandbox.agent.snapshot import AppState, ObjectState, Snapshot
from sandbox.model import ObjectKey, SyncStatus

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


def search_text(state: ObjectState) -> str:
    """What the filter looks in: kind, namespace/name, sync and health, lowercased."""
    return f"{state.key.kind} {state.key.namespace}/{state.key.name} {state.sync} {state.health}".lower()


def _child_rows(app: AppState, parent: RowId, children: Iterable[ObjectState], depth: int) -> tuple[Row, ...]:
    out = []
    for child in children:
        rid = object_row_id(app.name, child.key, parent)
        out.append(Row(rid, app.name, depth, app, child, _child_rows(app, rid, child.children, depth + 1)))
    return tuple(out)


def build_rows(snapshot: Snapshot) -> tuple[Row, ...]:
    """One app row per app, its objects under it (already sorted: attention first), then the
    apps it defines (app-of-apps) after its objects. ``depth`` stays the depth within an app."""
    names = {a.name for a in snapshot.apps}
    kids: dict[str, list[AppState]] = {}
    for app in snapshot.apps:
        if app.parent in names and app.parent != app.name:
            kids.setdefault(app.parent, []).append(app)
    placed: set[str] = set()

    def app_row(app: AppState) -> Row:
        placed.add(app.name)
        rows = []
        for obj in app.objects:
            rid = object_row_id(app.name, obj.key)
            rows.append(Row(rid, app.name, 1, app, obj, _child_rows(app, rid, obj.children, 2)))
        rows += [app_row(kid) for kid in kids.get(app.name, ()) if kid.name not in placed]
        return Row(app_row_id(app.name), app.name, 0, app, None, tuple(rows))

    top = [app_row(a) for a in snapshot.apps if a.parent not in names and a.name not in placed]
    return tuple(top + [app_row(a) for a in snapshot.apps if a.name not in placed])  # a parent cycle


def _texts(state: ObjectState) -> list[str]:
    """The search text of an object and of everything it owns, depth first."""
    out = [search_text(state)]
    for child in state.children:
        out += _texts(child)
    return out


@dataclass(frozen=True)
class Searchable:
    """An object row as the filter sees it: its id, and its and its children's search texts."""

    id: RowId
    texts: tuple[str, ...]  # one a row: the object's, then its owned children's
    joined: str  # the texts on one line each: one word is in a text if it is in this

    def matches(self, words: list[str]) -> bool:
        if len(words) == 1:  # the usual case: one search instead of one a row
            return words[0] in self.joined
        return any(all(w in text for w in words) for text in self.texts)


# (app name, the apps above it, its object rows) per app
FilterIndex = tuple[tuple[str, tuple[str, ...], tuple[Searchable, ...]], ...]


def filter_index(snapshot: Snapshot) -> FilterIndex:
    """Every object row of the snapshot, per app, with its search texts made once: a key typed
    in the filter then only looks for words (making the texts cost more than the search)."""
    parents = {a.name: a.parent for a in snapshot.apps}

    def above(name: str) -> tuple[str, ...]:
        chain: list[str] = []
        parent = parents.get(name, "")
        while parent in parents and parent not in chain and parent != name:
            chain.append(parent)
            parent = parents[parent]
        return tuple(chain)

    return tuple(
        (app.name, above(app.name), tuple(_searchable(app.name, o) for o in app.objects))
        for app in snapshot.apps
    )


def _searchable(app: str, state: ObjectState) -> Searchable:
    texts = _texts(state)
    return Searchable(object_row_id(app, state.key), tuple(texts), "\n".join(texts))


@dataclass(frozen=True)
class Shown:
    """The rows a filter keeps, by the id of their app row and object row (owned children go
    with their object: a row is shown when ``row_id[:2]`` is in ``ids``)."""

    ids: frozenset[RowId] | None  # None: no filter, every row
    rows: int  # how many rows the filter keeps, owned children included (0 with no filter)


EVERY_ROW = Shown(None, 0)


def shown_rows(index: FilterIndex, needle: str) -> Shown:
    """What the filter ``needle`` keeps: objects that match (every word, case-insensitive, in
    the text of the object or of one it owns) and their apps."""
    words = needle.lower().split()
    if not words:
        return EVERY_ROW
    ids: set[RowId] = set()
    count = 0
    for app, ancestors, objects in index:
        kept = [o for o in objects if o.matches(words)]
        if kept:
            for name in (app, *ancestors):  # an app nested in another shows under it
                if app_row_id(name) not in ids:
                    ids.add(app_row_id(name))
                    count += 1
            ids.update(o.id for o in kept)
            count += sum(len(o.texts) for o in kept)
    return Shown(frozenset(ids), count)


def is_shown(rid: RowId, shown: Shown) -> bool:
    return shown.ids is None or rid[:2] in shown.ids
