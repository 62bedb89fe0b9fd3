"""Which apps exist after a commit, and what became of the ones that no longer do.

An app can leave the env repo in ways that look alike and mean opposite things:

- its entry was **removed** from a valid ``sandbox.yaml``: the user said so. Its objects are
  pruned when the app had prune on (as deleting an Argo CD Application with its finalizer
  does), else they stay and are listed as Orphaned;
- its folder **vanished** or holds no manifests any more, with apps found one per folder: an
  accident does this as easily as intent, so nothing is pruned and the app fails, as Argo CD
  refuses an empty sync unless allowEmpty is set;
- its entry is **broken** (invalid, or the whole file is): its last good state is kept, with
  the problem shown; pruning on a typo would delete a running app;
- its definition is still in Git but **elsewhere**: not reached from the apps of this run
  (another ``--entry`` runs it). It is left as it is, said, and is none of this run's apps.

This module decides which is which from plain values; the agent acts on the answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from sandbox.apply.inventory import Inventory
from sandbox.model import Problem
from sandbox.source.appconfig import CONFIG_FILE, AppSpec, Source
from sandbox.source.envrepo import EnvRepo, EnvRepoError


@dataclass(frozen=True)
class AppChanges:
    specs: tuple[AppSpec, ...]  # the apps to run, in the env repo's order
    broken: dict[str, tuple[Problem, ...]] = field(default_factory=dict)  # known apps with an invalid entry
    vanished: dict[str, Problem] = field(default_factory=dict)  # folder apps whose folder is gone or empty
    removed: tuple[str, ...] = ()  # gone from a valid sandbox.yaml, or no longer made by the file read
    # Defined still, but not reached from this run's apps (another --entry's).
    elsewhere: dict[str, Problem] = field(default_factory=dict)
    why_removed: dict[str, str] = field(default_factory=dict)  # where it is known better than gone() reads it


def changes(
    specs: list[AppSpec],
    problems: list[Problem],
    configured: bool,
    known: Mapping[str, AppSpec],
    revision: str,
    is_folder: Callable[[str], bool] = lambda _path: False,
    still_defined: Callable[[AppSpec], bool] = lambda _spec: False,
    unrendered: frozenset[str] = frozenset(),
    read_files: frozenset[str] = frozenset(),
) -> AppChanges:
    """``known`` holds every app this env repo ran before (in memory, or from its inventory);
    ``is_folder`` says whether a path is a folder at ``revision`` (read at the commit compared);
    ``unrendered``, the apps that do not render there: what they define is unknown, and kept;
    ``read_files``, the files whose definitions were read there: one no longer makes the app."""
    listed = {s.name for s in specs}
    current = {s.name: s for s in specs}
    whole_file = configured and any(not p.object for p in problems)
    named = {p.object for p in problems if p.object}
    # Files an ApplicationSet in them fails to generate from: what it made is unknown there.
    troubled = {p.file for p in problems if p.file} | {
        s.defined_in for s in specs if s.invalid and s.kind == "ApplicationSet"
    }
    broken: dict[str, tuple[Problem, ...]] = {}
    vanished: dict[str, Problem] = {}
    elsewhere: dict[str, Problem] = {}
    removed: list[str] = []
    why: dict[str, str] = {}
    # A root that does not render: what it defines is unknown, so no known app counts as removed.
    unread_root = next((s.name for s in specs if not s.parent and s.name in unrendered), None)
    for name, spec in known.items():
        if name in listed:
            continue
        # A root that does not render hides what it defines, but not an app another, rendering
        # app or a file read this run defines (an ApplicationSet beside it stops generating it).
        known_definer = (
            spec.parent in current and spec.parent not in unrendered
        ) or spec.defined_in in read_files
        if (
            above := _unrendered_ancestor(spec, known, unrendered) or (None if known_definer else unread_root)
        ) is not None:
            broken[name] = (Problem(f"{above} does not render at {revision[:7]}, so app {name}, which it defines, "
                                    "is kept as it is", object=name),)  # fmt: skip
        elif whole_file or name in named:
            broken[name] = tuple(p for p in problems if p.object in ("", name))
        elif configured and spec.defined_in in troubled:
            # An ApplicationSet that fails to generate deletes none of the Applications it made.
            broken[name] = (Problem(f"{spec.defined_in}, which made app {name}, fails at {revision[:7]}: the app is "
                                    "kept as it is", file=spec.defined_in, object=name),)  # fmt: skip
        elif configured and spec.generated and spec.defined_in in read_files:
            # The ApplicationSet controller deletes what its set no longer generates, whatever
            # the app that applies the set prunes.
            removed.append(name)
        elif configured and (parent := _still_reading(spec, current, known, unrendered)) is not None:
            # Its parent rendered as before and no longer makes it (its line taken out of the
            # parent's kustomization): the parent prunes it, as Flux and Argo CD do, or, not
            # pruning, leaves its definition in the cluster.
            if parent.prune:
                removed.append(name)
                why[name] = (
                    f"app {spec.names.short} is gone: {parent.names.short} no longer defines it at {revision[:7]}"
                )
            else:
                elsewhere[name] = Problem(
                    f"app {name} is no longer among the apps {parent.name} defines at {revision[:7]}, and "
                    f"{parent.name} does not prune: its definition stays in the cluster as last applied, and so "
                    "do its objects (nothing applied or pruned)", file=spec.defined_in,
                )  # fmt: skip
        elif configured and spec.defined_in in read_files:
            # Its file was read and no longer makes it (an ApplicationSet stopped generating it, or
            # its object left a file of several): gone, as the controller that made it has it.
            removed.append(name)
        elif (
            configured
            and spec.kind
            and spec.defined_in == spec.path
            and not spec.parent
            and still_defined(spec)
        ):
            # The root app an Argo CD --entry folder makes: no file defines it, the entry does.
            elsewhere[name] = Problem(
                f"app {name} is the root app of the entry {spec.path}, not of this run's: left as it is, nothing "
                f"applied or pruned (--entry {spec.path} runs it; `gitops-sandbox cluster down` removes every app)",
                file=spec.defined_in,
            )  # fmt: skip
        elif configured and still_defined(spec):
            # Not reached from where the apps come from now (another --entry), yet still in Git:
            # only deleting the definition removes an app and prunes its objects.
            elsewhere[name] = Problem(
                f"app {name} is still defined in {spec.defined_in}, but not reached from the apps at {revision[:7]} "
                "(another --entry runs it?): left as it is, nothing applied or pruned. To remove it and its "
                "objects, delete its definition", file=spec.defined_in,
            )  # fmt: skip
        elif configured:
            removed.append(name)
        else:
            state = "holds no manifests" if is_folder(spec.path) else "is gone"
            vanished[name] = Problem(
                f"folder {spec.path} {state} at {revision[:7]}: nothing applied or pruned. To remove the app "
                f"and its objects, list the apps to keep in {CONFIG_FILE}",
                file=spec.path, object=name,
            )  # fmt: skip
    return AppChanges(tuple(specs), broken, vanished, tuple(sorted(removed)), elsewhere, why)


def _still_reading(
    spec: AppSpec, current: Mapping[str, AppSpec], known: Mapping[str, AppSpec], unrendered: frozenset[str]
) -> AppSpec | None:
    """The app's parent, when it is among the apps now, renders, and reads what it read before
    (its path and repo unchanged: another --entry's root of the same name reads another folder)."""
    parent, was = current.get(spec.parent), known.get(spec.parent)
    if parent is None or parent.name in unrendered or parent.invalid:
        return None
    if was is not None and (was.path, was.repo) != (parent.path, parent.repo):
        return None
    return parent


def _unrendered_ancestor(
    spec: AppSpec, known: Mapping[str, AppSpec], unrendered: frozenset[str]
) -> str | None:
    seen: set[str] = set()
    parent = spec.parent
    while parent and parent not in seen:
        if parent in unrendered:
            return parent
        seen.add(parent)
        parent = known[parent].parent if parent in known else ""
    return None


def still_defined(spec: AppSpec, repo: EnvRepo, head: str) -> bool:
    """Whether the file (or entry folder) that defined an app still defines it at ``head``."""
    where = spec.defined_in
    if not where or where == CONFIG_FILE:
        return False
    if repo.is_dir(head, where):
        return True
    raw = repo.read_file(head, where)
    # An ApplicationSet's Applications are named by its template ("apps-{{ path.basename }}"):
    # while the file still holds the set, whether it makes the app cannot be told by name.
    return raw is not None and ((spec.object_name or spec.name).encode() in raw or b"ApplicationSet" in raw)


def untouched_by(repo: EnvRepo, spec: AppSpec, before: str, head: str) -> bool:
    """Whether the commits from ``before`` to ``head`` leave a plain app's manifests as they were.

    Only plain apps qualify: a Kustomize base or a Helm values file may live outside the
    app's folder. Equal git tree ids with no symlinks inside mean identical manifests.
    """
    if spec.source != "plain" or spec.also:  # another source's folder may have changed
        return False
    try:
        return (
            repo.tree_id(before, spec.path) == repo.tree_id(head, spec.path) is not None
            and repo.tree_id(before, CONFIG_FILE) == repo.tree_id(head, CONFIG_FILE)
            and not repo.has_symlinks(head, spec.path)
        )
    except EnvRepoError:
        return False


def gone(spec: AppSpec, repo: EnvRepo, head: str, entry_note: str) -> str:
    """Why an app that ran is no longer among the apps at ``head``, as "app X …" (said when it
    is pruned or left Orphaned): its entry left sandbox.yaml, its file or object left the repo,
    or the apps now come from elsewhere (another ``--entry``) that does not reach it."""
    where = spec.defined_in
    now = f" (the apps now come from {entry_note.split(' from ', 1)[-1]})" if " from " in entry_note else ""
    if not where or where == CONFIG_FILE:
        if spec.kind or repo.read_file(head, CONFIG_FILE) is None:
            what = (
                "a folder app" if not spec.kind else f"{'an' if spec.kind[0] in 'AEIOU' else 'a'} {spec.kind}"
            )
            return f"app {spec.name} ({what}) is no longer among the apps at {head[:7]}{now}"
        return f"app {spec.name} was removed from {CONFIG_FILE}"
    raw = repo.read_file(head, where)
    if raw is None and not repo.is_dir(head, where):
        return f"app {spec.name} is gone: {where}, which defined it, is gone at {head[:7]}"
    name = spec.object_name or spec.name
    if raw is not None and b"ApplicationSet" in raw and spec.kind == "Application":
        return f"app {spec.name} is gone: the ApplicationSet in {where} no longer generates it at {head[:7]}"
    if raw is not None and name.encode() not in raw:
        return f"app {spec.name} is gone: its {spec.kind or 'definition'} was removed from {where}"
    return f"app {spec.name} ({where}) is no longer reached from the apps at {head[:7]}{now}"


def known_from(inventories: list[Inventory], repo_path: Path, git_dir: str = "") -> dict[str, AppSpec]:
    """The apps an env repo ran before, as the inventories it wrote in the cluster say (from
    this checkout or another worktree of the same repository)."""
    known = {}
    for inventory in _ours(inventories, repo_path, git_dir):
        extra = inventory.extra
        source = extra.get("source", "plain")
        try:
            values = tuple(str(v) for v in json.loads(extra.get("values", "[]")))
        except ValueError:
            values = ()
        known[inventory.app] = AppSpec(
            inventory.app, extra.get("path", inventory.app), extra.get("namespace", inventory.app),
            cast(Source, source if source in ("plain", "kustomize", "helm") else "plain"), values=values,
            release_name=extra.get("releaseName", ""), prune=extra.get("prune", "true") == "true",
            cascade=extra.get("cascade", "true") == "true",
            defined_in=extra.get("definedIn", ""), parent=extra.get("parent", ""), kind=extra.get("kind", ""),
            home=extra.get("home", ""), object_name=extra.get("objectName", ""),
            auto_sync=extra.get("autoSync", "true") == "true", self_heal=extra.get("selfHeal", "true") == "true",
            generated=extra.get("generated") == "true",
        )  # fmt: skip
    return known


def inventory_extra(spec: AppSpec, repo_path: Path, git_dir: str) -> dict[str, str]:
    """What an app's inventory keeps of its entry, to know the app after it left the repo (read
    back by known_from)."""
    return {
        "repo": str(repo_path), "gitDir": git_dir, "path": spec.path, "namespace": spec.namespace, "source": spec.source,
        "values": json.dumps(list(spec.values)), "releaseName": spec.release_name,
        "prune": "true" if spec.prune else "false", "cascade": "true" if spec.cascade else "false",
        "definedIn": spec.defined_in, "parent": spec.parent,
        "kind": spec.kind, "home": spec.home, "objectName": spec.object_name,
        "autoSync": "true" if spec.auto_sync else "false", "selfHeal": "true" if spec.self_heal else "false",
        "generated": "true" if spec.generated else "false",
    }  # fmt: skip


def deployed_from(inventories: list[Inventory], repo_path: Path, git_dir: str = "") -> dict[str, str]:
    """The revision the cluster runs of each app this env repo deployed, as its inventory says."""
    return {i.app: i.revision for i in _ours(inventories, repo_path, git_dir) if i.revision}


def _ours(inventories: list[Inventory], repo_path: Path, git_dir: str) -> list[Inventory]:
    """The inventories written from this checkout or another worktree of the same repository."""
    return [i for i in inventories
            if i.extra.get("repo") == str(repo_path) or (git_dir and i.extra.get("gitDir") == git_dir)]  # fmt: skip
