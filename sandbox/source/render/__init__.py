"""Rendering: one app at one revision into desired objects, or into Problems that say why not.

Plain folders are parsed in memory straight from git objects. Kustomize and Helm need files
on disk, so the app (and, for kustomize, the folders its kustomizations point at) is exported
into a scratch folder first; the user's working tree is never read or written.

A render with any Problem is not ``ok``: the agent must neither apply nor prune from it,
since a half-rendered app would look like deleted objects.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from sandbox.manifest import waves
from sandbox.model import DesiredObject, ObjectKey, Problem, Rendered
from sandbox.source import flux, leftout
from sandbox.source.appspec import AppSpec, Source
from sandbox.source.envrepo import EnvRepo, EnvRepoError
from sandbox.source.render import helm, kustomization, kustomize
from sandbox.source.render.objects import IsNamespaced, desired_objects, encrypted, set_common_metadata
from sandbox.source.render.parse import Doc
from sandbox.source.render.plain import plain_docs
from sandbox.tools import toolchain

Renderer = Callable[[EnvRepo, AppSpec, str, toolchain.Progress], tuple[list[Doc], list[Problem]]]
Detect = Callable[[EnvRepo, str, str], bool]  # (repo, revision, folder): is the folder this source?


@dataclass(frozen=True)
class SourceType:
    detect: Detect
    render: Renderer


# One row per source type: what makes a folder that source, and what turns an app's files at a
# commit into documents. A new source type is a module with both and a row here. Detection
# takes the first row that claims a folder: plain claims every folder, so it comes last.
SOURCE_TYPES: dict[Source, SourceType] = {
    "helm": SourceType(helm.detect, helm.helm_docs),
    "kustomize": SourceType(kustomization.has_kustomization, kustomize.kustomize_docs),
    "plain": SourceType(lambda _repo, _revision, _path: True, plain_docs),
}


def detect_source(repo: EnvRepo, revision: str, path: str) -> Source:
    """The source type of the folder ``path`` at ``revision`` (helm with a Chart.yaml,
    kustomize with a kustomization file, plain otherwise)."""
    return next(name for name, source in SOURCE_TYPES.items() if source.detect(repo, revision, path))


def render_app(
    repo: EnvRepo,
    app: AppSpec,
    revision: str,
    *,
    is_namespaced: IsNamespaced | None = None,
    progress: toolchain.Progress = lambda _msg: None,
) -> Rendered:
    """Render ``app`` for the env repo's ``revision``. Never raises for bad input: see
    ``Rendered.problems``. The files come from where the spec says: the env repo at
    ``revision``, or another local repo (at its HEAD), or a pinned ref; the result carries the
    env repo's revision either way, since that commit is what defines the app.

    ``is_namespaced(group, kind)`` answers from the cluster's discovery when there is one;
    None (or no function) falls back to CRDs in the app itself, then to ``CLUSTER_SCOPED``.
    """
    try:
        return _render_app(repo, app, revision, is_namespaced, progress)
    except Exception as exc:  # noqa: BLE001 - input nothing foresaw fails its app, never the agent
        said = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, (BrokenPipeError, ConnectionResetError)):  # a tool cut short (the agent stopping)
            message = (f"the render was cut short ({said}), as when the agent stops while a tool runs; nothing "
                       "applied or pruned, and the next sync renders it again")  # fmt: skip
        else:
            message = (f"the sandbox could not render this app ({said}); nothing applied or pruned. This is a bug "
                       "in the sandbox: please report it with the file")  # fmt: skip
        return Rendered(
            app.name, revision, problems=(Problem(message, file=app.defined_in or app.path, object=app.name),)
        )


def _render_app(
    repo: EnvRepo,
    app: AppSpec,
    revision: str,
    is_namespaced: IsNamespaced | None,
    progress: toolchain.Progress,
) -> Rendered:
    if app.invalid:  # its Application / Kustomization / HelmRelease says what it cannot do
        return Rendered(app.name, revision, problems=app.invalid)
    if app.also:  # a multi-source Application: each source rendered, applied as one app
        return _together([_render_app(repo, one, revision, is_namespaced, progress)
                          for one in (dataclasses.replace(app, also=()), *app.also)])  # fmt: skip
    if not app.repo and not app.revision:
        return _render(repo, app, revision, is_namespaced, progress)
    try:
        env_sha = repo.resolve(revision)
        source = repo.other(app.repo) if app.repo else repo
        sha, read = source.resolve_pinned(app.revision or "HEAD")
    except EnvRepoError as err:
        where = f"{app.repo or repo.path} at {app.revision or 'HEAD'}"
        problem = Problem(f"cannot read {where}: {err}", file=app.defined_in, object=app.name)
        return Rendered(app.name, revision, problems=(problem,))
    made = dataclasses.replace(_render(source, app, sha, is_namespaced, progress), revision=env_sha)
    if read != (app.revision or "HEAD"):
        said = Problem(f"read {read} at {sha[:7]}: there is no local branch {app.revision} (a fresh clone has only "
                       "the remote-tracking one)", file=app.defined_in, object=app.name)  # fmt: skip
        made = dataclasses.replace(made, notices=(said, *made.notices))
    return made


def _together(made: list[Rendered]) -> Rendered:
    """The renders of an app's sources as one: an object two sources make is applied as the last
    one makes it, and said (Argo CD's RepeatedResourceWarning)."""
    objects: dict[ObjectKey, DesiredObject] = {}
    notices: list[Problem] = []
    for rendered in made:
        for obj in rendered.objects:
            if obj.key in objects:
                notices.append(Problem(f"{obj.key} is made by two of its sources ({objects[obj.key].source} and "
                                       f"{obj.source}): the last is applied, as Argo CD keeps the last",
                                       file=obj.source, object=str(obj.key)))  # fmt: skip
            objects[obj.key] = obj
    first = made[0]
    return Rendered(
        first.app, first.revision, tuple(objects.values()), tuple(p for r in made for p in r.problems),
        tuple(h for r in made for h in r.hooks), tuple(c for r in made for c in r.children),
        tuple(dict.fromkeys((*(n for r in made for n in r.notices), *notices))), tuple(k for r in made for k in r.plays),
    )  # fmt: skip


def _render(
    repo: EnvRepo,
    app: AppSpec,
    revision: str,
    is_namespaced: IsNamespaced | None,
    progress: toolchain.Progress,
) -> Rendered:
    try:
        sha = repo.resolve(revision)
    except EnvRepoError as err:
        return Rendered(app.name, revision, problems=(Problem(str(err), file=app.path, object=app.name),))
    docs, problems = SOURCE_TYPES.get(app.source, SOURCE_TYPES["plain"]).render(repo, app, sha, progress)
    objects = desired_objects(docs, app, is_namespaced, problems)
    set_common_metadata(objects, app.options.common_metadata)
    problems += encrypted(objects, app)
    found = leftout.sort_out(objects)
    kept, children = found.kept, found.children
    for obj in [o for o in kept if o.key.group == flux.OPERATOR_GROUP]:
        problems.append(Problem(
            f"the Flux Operator's {obj.key.kind} is not supported by the sandbox yet (it would make objects "
            "from its inputs, as the operator does); nothing of this app is applied", file=obj.source,
            object=str(obj.key),
        ))  # fmt: skip
        kept.remove(obj)
    hooks = []
    for obj in kept:
        try:
            hook = waves.hook_of(obj.manifest)
            waves.wave_of(obj.manifest)
        except waves.OrderError as err:
            problems.append(Problem(str(err), file=obj.source, object=str(obj.key)))
            continue
        if hook is not None:
            hooks.append(obj)
    kept = [o for o in kept if o not in hooks]
    skipped = [
        h for h in hooks if waves.Phase.SKIP in (waves.hook_of(h.manifest) or waves.Hook((), ())).phases
    ]
    found.left_out += [(h, "a hook marked Skip, which Argo CD never applies") for h in skipped]
    hooks = [h for h in hooks if h not in skipped]
    unnamed = [o for o in kept if not o.manifest["metadata"].get("name")]
    for obj in unnamed:
        problems.append(Problem("metadata.generateName is only for hooks (an object kept in step with Git needs "
                                "a metadata.name)", file=obj.source, object=str(obj.key)))  # fmt: skip
    empty: list[Problem] = []
    if not objects and not problems:
        (empty if app.kind else problems).append(_nothing_rendered(app))
    notices = tuple(dict.fromkeys((*app.notices, *(n for doc in docs for n in doc.notices), *found.notices(),
                                   *found.read_notices(), *empty)))  # fmt: skip
    plays = tuple(o.key for o in found.plays)
    return Rendered(
        app.name, sha, tuple(kept), tuple(problems), tuple(hooks), tuple(children), notices, plays
    )


def _nothing_rendered(app: AppSpec) -> Problem:
    """An app that renders no object. Flux and Argo CD deploy it as empty and call it in sync (a
    chart whose default values switch everything off): a notice for their apps. An app of
    sandbox.yaml or one per folder is a folder the user named, so an empty one is a problem."""
    if not app.kind:
        return Problem(f"app {app.name} has no manifests at path {app.path}", file=app.path)
    what = "its chart makes no object with the values given" if app.source == "helm" else "it holds no object"
    return Problem(f"{app.path} renders nothing ({what}); {app.kind} deploys it as empty, as the sandbox does",
                   file=app.path)  # fmt: skip
