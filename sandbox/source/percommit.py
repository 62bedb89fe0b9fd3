"""What app discovery reads of a commit, once: scans and app-of-apps renders are memoised per commit by the repo read (discovery runs on every commit and every status); and how deep a walk goes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sandbox.model import Rendered
from sandbox.source.appspec import AppSpec
from sandbox.source.envrepo import EnvRepo, EnvRepoError
from sandbox.source.render import render_app
from sandbox.source.render.objects import IsNamespaced

MAX_DEPTH = 8  # app-of-apps nesting; deeper is almost surely an app that renders itself
# A render is mostly a tool's process (kustomize, helm): a few at once keep two cores busy
# while each waits on its process, without crowding a small machine.
RENDER_WORKERS = 4


@dataclass(frozen=True)
class ClusterFacts:
    """What the cluster tells discovery: the revision it runs of each app (see defining_render),
    and which kinds are namespaced (the renders discovery makes are then the ones status shows)."""

    deployed: Mapping[str, str] = field(default_factory=dict)
    is_namespaced: IsNamespaced | None = None


NO_CLUSTER = ClusterFacts()


def render_once(repo: EnvRepo, spec: AppSpec, sha: str, cluster: ClusterFacts = NO_CLUSTER) -> Rendered:
    """Render an app once per revision (discovery runs on every commit and status, and status
    shows what discovery rendered)."""
    namespaced = cluster.is_namespaced
    return repo.memo.once(
        ("render", sha, spec, namespaced),
        lambda: render_app(repo, spec, sha, is_namespaced=namespaced),
    )


def defining_render(repo: EnvRepo, spec: AppSpec, sha: str, cluster: ClusterFacts) -> tuple[Rendered, str]:
    """What ``spec`` renders where the apps it defines come from, and the revision it came from.

    That is ``sha``, unless the cluster runs an earlier revision of the app (``deployed``) and
    the app is suspended or does not render at ``sha``: the app objects a controller applied
    stay as it applied them until it applies again (a suspended Kustomization applies nothing,
    one whose build fails keeps its last applied revision, an Application that fails to
    render leaves its child Applications as last synced)."""
    earlier = cluster.deployed.get(spec.name, "")
    if earlier and earlier != sha and spec.suspended:
        frozen = _earlier(repo, spec, earlier, cluster)
        if frozen is not None:
            return frozen, earlier
    rendered = render_once(repo, spec, sha, cluster)
    if rendered.ok or not earlier or earlier == sha:
        return rendered, sha
    last_good = _earlier(repo, spec, earlier, cluster)
    return (last_good, earlier) if last_good is not None else (rendered, sha)


def defining_renders(
    repo: EnvRepo, specs: Sequence[AppSpec], sha: str, cluster: ClusterFacts
) -> list[tuple[Rendered, str]]:
    """defining_render of each of ``specs`` (one level of a walk), a few at once, in order."""
    if len(specs) < 2:
        return [defining_render(repo, spec, sha, cluster) for spec in specs]
    with ThreadPoolExecutor(min(RENDER_WORKERS, len(specs)), thread_name_prefix="render") as pool:
        return list(pool.map(lambda spec: defining_render(repo, spec, sha, cluster), specs))


def _earlier(repo: EnvRepo, spec: AppSpec, revision: str, cluster: ClusterFacts) -> Rendered | None:
    """The app's render at an earlier revision, when that revision is still in the repo (a
    force-push may have dropped it) and renders."""
    try:
        rendered = render_once(repo, spec, repo.resolve(revision), cluster)
    except EnvRepoError:
        return None
    return rendered if rendered.ok else None
