"""What is made of a repository's commits, made once: a commit never changes, so a scan or a
render of one is kept. Each EnvRepo holds its own (see EnvRepo.memo), so the cache lives and
dies with whoever reads the repo (the agent, one status), never in a module."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar, cast

_T = TypeVar("_T")
SIZE = 1024  # a large repo's Kustomizations, each rendered once per commit


class CommitMemo:
    """The newest ``size`` results, by key (which names the commit they were made of)."""

    def __init__(self, size: int = SIZE) -> None:
        self._size = size
        self._made: OrderedDict[tuple[object, ...], object] = OrderedDict()
        self._lock = threading.Lock()

    def once(self, key: tuple[object, ...], make: Callable[[], _T]) -> _T:
        with self._lock:
            if key in self._made:
                self._made.move_to_end(key)
                return cast(_T, self._made[key])
        found = make()  # outside the lock: a render takes seconds, and others may read meanwhile
        with self._lock:
            self._made[key] = found
            while len(self._made) > self._size:
                self._made.popitem(last=False)
        return found
