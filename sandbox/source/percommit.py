"""What app discovery reads of a commit, once: scans and app-of-apps renders are memoised per commit (discovery runs on every commit and every status); and how deep a walk goes."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar, cast

from sandbox.model import Rendered
from sandbox.source.appspec import AppSpec
from sandbox.source.envrepo import EnvRepo
from sandbox.source.render import render_app

MAX_DEPTH = 8  # app-of-apps nesting; deeper is almost surely an app that renders itself
_RENDERS = 64


def once(key: tuple[object, ...], make: Callable[[], _T]) -> _T:
    """A scan or render of the repo at a commit, made once per commit: discovery runs on every
    commit and every status, and reading every manifest each time would grow with the repo."""
    with _once_lock:
        if key in _made:
            _made.move_to_end(key)
            return cast(_T, _made[key])
    found = make()
    with _once_lock:
        _made[key] = found
        while len(_made) > _RENDERS:
            _made.popitem(last=False)
    return found


_T = TypeVar("_T")
_made: OrderedDict[tuple[object, ...], object] = OrderedDict()
_once_lock = threading.Lock()


def render_once(repo: EnvRepo, spec: AppSpec, sha: str) -> Rendered:
    """Render an app-of-apps once per revision (discovery runs on every commit and status)."""
    return once(("render", str(repo.path), sha, spec), lambda: render_app(repo, spec, sha))
