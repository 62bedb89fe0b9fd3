"""What app discovery reads of a commit, once: scans and app-of-apps renders are memoised per commit (discovery runs on every commit and every status); and how deep a walk goes."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TypeVar, cast

from sandbox.model import Rendered
from sandbox.source.appspec import AppSpec
from sandbox.source.envrepo import EnvRepo, EnvRepoError
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


def defining_render(
    repo: EnvRepo, spec: AppSpec, sha: str, deployed: Mapping[str, str]
) -> tuple[Rendered, str]:
    """What ``spec`` renders where the apps it defines come from, and the revision it came from.

    That is ``sha``, unless the cluster runs an earlier revision of the app (``deployed``) and
    the app is suspended or does not render at ``sha``: the app objects a controller applied
    stay as it applied them until it applies again (a suspended Kustomization applies nothing,
    one whose build fails keeps its last applied revision, an Application that fails to
    render leaves its child Applications as last synced)."""
    earlier = deployed.get(spec.name, "")
    if earlier and earlier != sha and spec.suspended:
        frozen = _earlier(repo, spec, earlier)
        if frozen is not None:
            return frozen, earlier
    rendered = render_once(repo, spec, sha)
    if rendered.ok or not earlier or earlier == sha:
        return rendered, sha
    last_good = _earlier(repo, spec, earlier)
    return (last_good, earlier) if last_good is not None else (rendered, sha)


def _earlier(repo: EnvRepo, spec: AppSpec, revision: str) -> Rendered | None:
    """The app's render at an earlier revision, when that revision is still in the repo (a
    force-push may have dropped it) and renders."""
    try:
        rendered = render_once(repo, spec, repo.resolve(revision))
    except EnvRepoError:
        return None
    return rendered if rendered.ok else None
