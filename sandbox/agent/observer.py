"""The observer: a read-only view of Git and the cluster, for status, diff and history.

It holds a ClusterReader (reads, watches, dry-runs) and a HistoryReader (a read-only SQLite
connection), and nothing that can write: no apply, no delete, no settings file, no inventory
write, no history row. What it shows is built by the same functions the agent uses, so
``status`` and the running app agree.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from sandbox.agent import appchanges, appview, settings
from sandbox.agent.appview import AppFacts, app_health, app_state
from sandbox.agent.history import HistoryReader
from sandbox.agent.revert import choose_target
from sandbox.agent.snapshot import AppState, ObjectState, Snapshot
from sandbox.apply import diff
from sandbox.apply.desired import DesiredSet
from sandbox.apply.dryrun import Comparison, DryRun, Verdict, Verified
from sandbox.apply.inventory import (
    APP_LABEL,
    Claim,
    Entry,
    Inventory,
    InventoryReader,
    claim_of,
    owning_repo,
    unmarked,
)
from sandbox.apply.livecache import CHILD_KINDS, LiveCache
from sandbox.apply.reader import ClusterReader
from sandbox.kube.client import KubeError
from sandbox.model import Health, Manifest, ObjectKey, Problem, SyncStatus
from sandbox.source.appconfig import AppSpec, uncommitted_config
from sandbox.source.argocd import RESOURCES_FINALIZER
from sandbox.source.discovery import discover
from sandbox.source.envrepo import EnvRepo
from sandbox.source.percommit import ClusterFacts, render_once


@dataclass(frozen=True)
class ObjectDiff:
    app: str
    object: ObjectState
    text: str  # a unified diff from live to what a sync would make it


APP_WORKERS = 4


class Observer:
    """Looks at one env repo and the cluster; every method only reads."""

    def __init__(
        self,
        repo_path: Path,
        reader: ClusterReader,
        history: HistoryReader,
        settings_path: Path | None = None,
        branch: str | None = None,
        entry: str | None = None,
    ) -> None:
        self.repo_path = Path(repo_path).resolve()
        self.entry = entry
        self.reader = reader
        self.history = history
        self.settings_path = settings_path or settings.path_for_repo(self.repo_path)
        self.branch = branch
        self.dry = DryRun(reader, Verified())
        self.cache = LiveCache(reader, index_label=APP_LABEL)
        self._pool = ThreadPoolExecutor(16, thread_name_prefix="observe")
        # Apps are judged a few at once (each renders, reads and dry-runs): a repo of hundreds of
        # apps must not take one round trip after another. Apart from _pool, which each app's
        # judging waits on.
        self._apps = ThreadPoolExecutor(APP_WORKERS, thread_name_prefix="observe-app")
        self._comparisons: dict[str, dict[ObjectKey, Comparison]] = {}

    def close(self) -> None:
        self.cache.stop()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._apps.shutdown(wait=False, cancel_futures=True)

    def snapshot(self, ref: str | None = None) -> Snapshot:
        """Each app at Git's head (or at ``ref``: what syncing it would do) beside the cluster.

        Raises EnvRepoError when the repo or the ref cannot be read.
        """
        # The history's last word on an app is this cluster's, never one another cluster had.
        self.history.cluster = self.history.cluster or self.reader.cluster_uid()
        with EnvRepo(self.repo_path, self.branch) as repo:
            head = repo.resolve(ref) if ref else repo.head()
            inventories = {
                i.app: i for i in InventoryReader(self.reader).all()
            }  # one list, not one read an app
            deployed = appchanges.deployed_from(list(inventories.values()), self.repo_path, repo.git_dir)
            found = discover(repo, head, self.entry, ClusterFacts(deployed, self._is_namespaced))
            specs, problems, configured = found.apps, found.problems, found.configured
            known = appchanges.known_from(list(inventories.values()), self.repo_path, repo.git_dir)
            changed = appchanges.changes(specs, problems, configured, known, head, lambda path: repo.is_dir(head, path),
                               lambda spec: appchanges.still_defined(spec, repo, head), found.unrendered,
                               found.read_files)  # fmt: skip
            self._watch_children()
            saved = {} if ref else settings.load(self.settings_path)
            judged: list[tuple[AppSpec, tuple[Problem, ...]]] = [
                *((spec, ()) for spec in changed.specs),
                *((known[n], p) for n, p in changed.broken.items()),
                *((known[n], (p,)) for n, p in changed.vanished.items()),
            ]
            apps = list(self._apps.map(
                lambda job: self._app(repo, job[0], head, saved.get(job[0].name), job[1], inventories.get(job[0].name)),
                judged,
            ))  # fmt: skip
            apps += [
                self._removed(
                    known[n],
                    head,
                    changed.why_removed.get(n) or appchanges.gone(known[n], repo, head, found.note),
                )
                for n in changed.removed
            ]
            # What an app that never deployed would define is unknown while it does not render.
            unread = found.unrendered - set(found.read_at) - {n for n in changed.broken}
            apps = list(appview.finished(tuple(apps), ref or repo.branch or "HEAD", found.read_at, unread))
            note = uncommitted_config(self.repo_path, repo, head) if not ref else None
            notices = tuple(
                n for n in (found.note, note, *found.notices, *map(str, changed.elsewhere.values())) if n
            )
            return Snapshot(
                0, str(self.repo_path), ref or repo.branch or "HEAD", head, tuple(apps), (), tuple(problems),
                commits=tuple(repo.commits(head, limit=200)), notices=notices,
            )  # fmt: skip

    def diffs(self, snapshot: Snapshot, app: str | None = None) -> list[ObjectDiff]:
        """What syncing the snapshot's revision would change, object by object, from the
        dry-runs the snapshot was judged by (none is run again)."""
        found = []
        by_name = {a.name: a for a in snapshot.apps}

        def held(state: AppState) -> bool:
            """A sync changes none of it, whatever its objects' state: it does not render at the
            revision, or it never deployed and an app above it, which would apply it, does not
            (one deployed runs on at the revision, as a Flux Kustomization follows its source)."""
            if state.problems:
                return True
            seen = {state.name}
            above = by_name.get(state.parent)
            while state.deployed_revision is None and above is not None and above.name not in seen:
                if above.problems:
                    return True
                seen.add(above.name)
                above = by_name.get(above.parent)
            return False

        for state in snapshot.apps:
            if app not in (None, state.name) or held(state):
                continue
            comparisons = self._comparisons.get(state.name, {})
            for obj in state.objects:
                if obj.sync == SyncStatus.SYNCED:
                    continue
                text = diff_text(obj.key, obj.desired, obj.live, comparisons.get(obj.key))
                found.append(ObjectDiff(state.name, obj, text))
        return found

    # -- one app --------------------------------------------------------------------------------

    def _app(
        self, repo: EnvRepo, spec: AppSpec, head: str, saved: settings.AppSettings | None,
        problems: tuple[Problem, ...], inventory: Inventory | None,
    ) -> AppState:  # fmt: skip
        app_settings = saved or settings.AppSettings(spec.auto_sync, spec.self_heal)
        owner = owning_repo(inventory, {"repo": str(self.repo_path), "gitDir": repo.git_dir})
        if owner is not None:
            note = f"app {spec.name} on this cluster belongs to the env repo {owner}; a sync from here is refused"
            problems = (*problems, Problem(note, object=spec.name))
        records = self.history.records(spec.name, limit=200, objects=False)
        deployed_record = self.history.deployed(spec.name)
        # The history is the repo's; what this cluster runs, its inventory says: a new cluster
        # (cluster down, then up) runs none of it yet, whatever was deployed to the old one.
        deployed_revision = deployed_record.revision if deployed_record and inventory is not None else None
        target = deployed = None
        comparisons: dict[ObjectKey, Comparison] = {}
        if not problems:
            target = self._render(repo, spec, app_settings.paused_at or head)
        if deployed_revision:
            deployed = target if target and target.revision == deployed_revision else None
            deployed = deployed or self._render(repo, spec, deployed_revision)
            deployed = deployed if deployed.ok else None
        # The live objects are what they are, whatever a failed revision renders.
        live = self._live(
            [d for d in (target, deployed) if d is not None],
            inventory.entries if deployed is None and deployed_revision and inventory is not None else (),
        )
        # What is shown is compared through the same dry-run, whichever revision it is from:
        # Git's when it renders, else the deployed one's (never raw manifests against live). A
        # failed render is never sent, as the agent never sends it: what the API server would
        # say of an object the render already refused (a SOPS stanza) only hides the reason.
        shown = target if target is not None and target.ok else deployed
        if shown is not None:
            comparisons = self.dry.compare_all(
                shown, live.get, _owner_by_annotation, self._pool, spec.created_namespace
            )
            self._comparisons[spec.name] = comparisons
        last = self.history.last_outcome(spec.name)
        under_way = self.history.under_way(spec.name)  # by a watch in another process
        facts = AppFacts(
            spec=spec, git_revision=head, target=target, deployed=deployed, deployed_revision=deployed_revision,
            comparisons=comparisons, settings=app_settings,
            problems=(*(target.problems if target else ()), *problems),
            rendered_ever=bool(target and target.ok) or deployed_revision is not None,
            last_sync=last.ended if last else None, last_result=last.result if last else "",
            message=last.message if last else "", syncs=tuple(records),
            running=tuple(e.key for e in inventory.entries) if inventory is not None else (),
            operation="Syncing" if under_way else "Idle",
        )  # fmt: skip
        if under_way:
            facts = dataclasses.replace(facts, message=f"a running agent is syncing {under_way.revision[:7]} "
                                                       f"({under_way.trigger}); `watch` shows what it waits for")  # fmt: skip
        head_failed = bool(last and last.revision == head and last.result == "Failed")
        degraded = app_health(facts, live) == Health.DEGRADED
        state = app_state(facts, live)
        revert = choose_target(
            repo, spec.path, head, deployed_revision, head_failed=head_failed, degraded=degraded,
            paused=app_settings.paused,
        )  # fmt: skip
        return dataclasses.replace(state, revert_target=revert)

    def _removed(self, spec: AppSpec, head: str, gone: str) -> AppState:
        inventory = InventoryReader(self.reader).load(spec.name)
        for entry in inventory.entries if inventory else ():
            self._watch_kind(entry.api_version, entry.key.kind)
        facts = AppFacts(spec=spec, git_revision=head, target=None, deployed=None, deployed_revision=None,
                         rendered_ever=True, removed=True,
                         message=_fate(spec, gone))  # fmt: skip
        return app_state(facts, self.cache)

    def _render(self, repo: EnvRepo, spec: AppSpec, revision: str) -> DesiredSet:
        rendered = render_once(
            repo, spec, revision, ClusterFacts({}, self._is_namespaced)
        )  # often discovery's
        return DesiredSet.of(rendered, spec.ignore_differences)

    # -- live objects -----------------------------------------------------------------------------

    def _watch_children(self) -> None:
        for group, kind in CHILD_KINDS:
            resource = self.reader.resources().get((group, kind))
            if resource:
                self.cache.watch(resource)

    def _live(self, desired: list[DesiredSet], running: Iterable[Entry] = ()) -> _Live:
        """The watch cache (which sees what the sandbox labelled), plus each desired object it
        does not see read once: one made by someone else, or by nobody yet (a refused sync).
        ``running``: what an inventory lists, where no desired set says it."""
        wanted: dict[ObjectKey, str] = {}  # key -> apiVersion
        for one in desired:
            for key, obj in one.objects.items():
                self._watch_kind(obj.manifest["apiVersion"], key.kind)
                wanted.setdefault(key, obj.manifest["apiVersion"])
        for entry in running:
            self._watch_kind(entry.api_version, entry.key.kind)
            wanted.setdefault(entry.key, entry.api_version)

        def read(key: ObjectKey) -> Manifest | None:
            resource = self.reader.resource_for(wanted[key], key.kind)
            try:
                return self.reader.read(resource, key.namespace, key.name) if resource else None
            except KubeError:
                return None

        missing = [k for k in wanted if self.cache.get(k) is None]
        found = dict(zip(missing, self._pool.map(read, missing), strict=True))
        return _Live(self.cache, {k: v for k, v in found.items() if v is not None})

    def _watch_kind(self, api_version: str, kind: str) -> None:
        resource = self.reader.resource_for(api_version, kind)
        if resource is not None and not self.cache.watching(resource):
            self.cache.watch(resource, APP_LABEL)

    def _is_namespaced(self, group: str, kind: str) -> bool | None:
        try:
            return self.reader.is_namespaced(group, kind)
        except KubeError:
            return None


def _fate(spec: AppSpec, gone: str) -> str:
    """What a sync does to the objects of an app gone from Git."""
    if not spec.cascade:
        return f"{gone}; its Application has no {RESOURCES_FINALIZER} finalizer: a sync keeps its objects, no app's"
    return (
        f"{gone}; its objects stay until a sync prunes them"
        if spec.prune
        else f"{gone}; prune is off: its objects stay"
    )


def _owner_by_annotation(key: ObjectKey, live: Manifest | None) -> Claim | None:
    return claim_of(live)


def diff_of(
    dry: DryRun, key: ObjectKey, desired: Manifest | None, live: Manifest | None, context: int = 3
) -> str:
    """The unified diff applying ``desired`` would make to ``live``, from a fresh server-side dry-run."""
    found = dry.compare(key, desired, live) if desired is not None else None
    return diff_text(key, desired, live, found, context)


def diff_text(
    key: ObjectKey,
    desired: Manifest | None,
    live: Manifest | None,
    found: Comparison | None,
    context: int = 3,
) -> str:
    """The unified diff from ``live`` to what ``found`` predicts (``desired`` as written when the
    API server could not say); an object gone from Git shows as deleted."""
    if desired is None:
        return diff.unified(None, live, str(key), context)
    if found is not None and found.verdict == Verdict.SAME:
        return ""
    if found is not None and found.verdict in (Verdict.FAILED, Verdict.CONFLICT):
        # No prediction from the server: compared on the fields Git sets, so what the server
        # fills in does not read as a removal.
        # Nor is the sandbox's own bookkeeping a change: an object not applied keeps its owner's.
        return (f"# not applied: {found.message}\n# compared on the fields Git sets (the API server could not "
                "predict the rest)\n" + diff.unified(unmarked(desired), unmarked(diff.set_by(live, desired)), str(key),
                                                      context))  # fmt: skip
    predicted = found.predicted if found is not None else None
    return diff.unified(predicted or desired, live, str(key), context)


@dataclass(frozen=True)
class _Live:
    """The live objects an app's status is judged by (see Observer._live)."""

    cache: LiveCache
    unseen: dict[ObjectKey, Manifest]

    def get(self, key: ObjectKey) -> Manifest | None:
        return self.cache.get(key) or self.unseen.get(key)

    def children(self, uid: str) -> list[Manifest]:
        return self.cache.children(uid)

    def labeled(self, value: str) -> list[Manifest]:
        return self.cache.labeled(value)
