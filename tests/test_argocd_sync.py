"""Argo CD's sync order against the real API server: hooks by phase, waves with health between
them, and each hook's delete policy; the order is the order the objects appeared in (watch
events), never a log line."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from clikit import (
    REPOS,
    Cli,
    cluster_case,
    cm_path,
    commit_fixture,
    live,
    output,
    repo_from_fixture,
    shown,
    uid,
    wait_for,
)
from gitkit import git
from watchkit import EventLog, available

from sandbox.agent.snapshot import Snapshot
from sandbox.apply.steps import Steps
from sandbox.cluster.local import LocalRuntime
from sandbox.kube.client import Kube
from sandbox.model import SyncStatus

ARGO = REPOS / "argocd"
T = TypeVar("T")


def _hooks_repo(tmp_path: Path, runtime: LocalRuntime) -> tuple[Path, Cli, dict[str, str], str]:
    names = {"uid": uid()}
    repo, _ = repo_from_fixture(tmp_path / "repo", ARGO / "hooks", names, "hooks and waves")
    return repo, Cli(repo, tmp_path / "state", runtime), names, f"hooks{names['uid']}"


def test_hooks_run_by_phase_and_waves_apply_in_order_with_health_between(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    _repo, cli, _names, ns = _hooks_repo(tmp_path, local_runtime)
    kube = Kube(local_runtime.kubeconfig_path, local_runtime.context)
    try:
        with EventLog(kube, ns, ("Job", "ConfigMap", "Deployment", "Service")) as log:
            synced = cli("sync")
        assert synced.returncode == 0, shown(synced)
        # Each wait is said as it starts, so a sync that takes minutes never looks hung.
        assert ": waiting for PreSync hook Job.batch" in synced.stderr, synced.stderr
        assert ": waiting for wave 1 to become healthy before the next: Deployment.apps" in synced.stderr
        before = log.when("Job", "before")
        settings = log.when("ConfigMap", "settings")
        during = log.when("Job", "during-")
        server = log.when("Deployment", "server")
        ready = log.first_where("Deployment", "server", available)
        service = log.when("Service", "server")
        after = log.when("Job", "after")
        assert before < settings, "the PreSync hook runs before wave 0"
        assert settings < during < server, "the Sync hook of wave 0 runs with wave 0, before wave 1"
        assert server < ready < service, "wave 2 waits for wave 1 to be healthy"
        assert service < after, "PostSync runs after every wave"
        assert log.first("Job", "onfail") is None, "SyncFail runs only when the sync fails"
        assert log.first("ConfigMap", "skipped") is None, "a Skip hook is never applied"
        assert log.first("Job", "during-", "DELETED") is not None, "HookSucceeded deletes the hook"
        assert live(kube, f"/apis/batch/v1/namespaces/{ns}/jobs/before") is not None, (
            "BeforeHookCreation keeps it"
        )
        status = cli("status")
        assert status.returncode == 0, shown(status)
        assert "OutOfSync" not in status.stdout, "hooks are never part of the app's sync status"
    finally:
        kube.close()


def test_a_failing_presync_hook_applies_nothing_runs_syncfail_and_says_which_hook(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    repo, cli, names, ns = _hooks_repo(tmp_path, local_runtime)
    assert cli("sync").returncode == 0
    commit_fixture(repo, ARGO / "hooks-failing", names, "a migration that cannot run, with a config change")
    kube = Kube(local_runtime.kubeconfig_path, local_runtime.context)
    try:
        first_before = live(kube, f"/apis/batch/v1/namespaces/{ns}/jobs/before")
        assert first_before is not None
        with EventLog(kube, ns, ("Job", "ConfigMap")) as log:
            failed = cli("sync")
        said = output(failed)
        assert failed.returncode == 1, shown(failed)
        assert "PreSync hook" in said and "work/presync.yaml" in said and "nothing applied" in said, said
        assert log.first("Job", "onfail") is not None, "SyncFail hooks run when the sync fails"
        assert log.first("Job", "before", "DELETED") is not None, "BeforeHookCreation replaced the old hook"
        settings = live(kube, f"/api/v1/namespaces/{ns}/configmaps/settings")
        assert settings is not None and settings["data"] == {"LEVEL": "1"}, "the last good state stays"
        rows = [r for r in cli.history_rows() if r["app"] == ns]
        assert rows[-1]["result"] == "Failed" and "PreSync" in rows[-1]["message"], rows[-1]
        # The next good commit deploys.
        commit_fixture(repo, ARGO / "hooks", names, "migration fixed")
        fixed = cli("sync")
        assert fixed.returncode == 0, shown(fixed)
    finally:
        kube.close()


def test_prune_false_delete_false_ignore_extraneous_and_manual_sync_behave_as_in_argo_cd(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    with cluster_case(tmp_path, local_runtime, ARGO / "semantics-1", "three apps under a root") as case:
        u, repo, cli, kube, names = case.uid, case.repo, case.cli, case.kube, case.names
        first = cli("sync")
        assert first.returncode == 0, shown(first)
        rows = {line.split()[0]: line for line in first.stdout.splitlines()[2:] if line.strip()}
        assert rows[f"manual{u}"].split()[5] == "off", "no syncPolicy.automated: auto-sync off"
        assert live(kube, cm_path(f"manual{u}", "by-hand")) is not None, "a manual sync still deploys it"

        commit_fixture(repo, ARGO / "semantics-2", names, "drop two objects and the app gone")
        second = cli("sync")
        assert second.returncode == 0, shown(second)
        assert live(kube, cm_path(f"keep{u}", "kept")) is not None, "Prune=false keeps it"
        assert live(kube, cm_path(f"keep{u}", "pruned")) is None, "an ordinary object left from Git is pruned"
        assert live(kube, cm_path(f"gone{u}", "survivor")) is not None, "Delete=false outlives its app"
        assert live(kube, cm_path(f"gone{u}", "casualty")) is None, "with its resources finalizer: pruned"
        assert live(kube, cm_path(f"orphan{u}", "outlives")) is not None, (
            "without it: kept, as Argo CD keeps it"
        )
        assert "no app's any more" in output(second), shown(second)
        said = [line for line in output(second).splitlines() if f"orphan{u}" in line and "gone" in line]
        assert said and not [line for line in said if "prunes" in line], ("never said to be pruned", said)
        status = cli("status")
        assert status.returncode == 0, shown(status)
        assert f"gone{u}" not in status.stdout and f"orphan{u}" not in status.stdout
        keep = next(line for line in status.stdout.splitlines() if f"keep{u}" in line)
        assert keep.split()[1] == "Synced", "IgnoreExtraneous: the kept object does not make it OutOfSync"


def test_ignore_differences_leaves_fields_another_writer_owns_out_of_the_comparison(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    with cluster_case(tmp_path, local_runtime, ARGO / "ignore", "two apps, one tolerant") as case:
        u, cli, kube = case.uid, case.cli, case.kube
        assert cli("sync").returncode == 0
        for app in ("tolerant", "strict"):
            ns = f"{app}{u}"
            kube.request("PATCH", f"/apis/apps/v1/namespaces/{ns}/deployments/scaled",
                         body={"spec": {"replicas": 5}}, content_type="application/merge-patch+json")  # fmt: skip
            kube.request("PATCH", cm_path(ns, "notes"), body={"data": {"scratch": "by hand"}},
                         content_type="application/merge-patch+json")  # fmt: skip
        status = cli("status")
        rows = {line.split()[0]: line.split()[1] for line in status.stdout.splitlines()[2:] if line.strip()}
        assert rows == {f"strict{u}": "OutOfSync", f"tolerant{u}": "Synced"}, status.stdout
        assert status.returncode == 1, "the strict app is OutOfSync"


def test_a_commit_in_an_apps_own_repo_redeploys_it_with_no_env_repo_commit(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    names = {"uid": uid()}
    app_repo, _ = repo_from_fixture(tmp_path / "app", ARGO / "appsource" / "app-1", names, "release 1")
    env, _ = repo_from_fixture(tmp_path / "env", ARGO / "appsource" / "env", names, "the env repo")
    cli = Cli(env, tmp_path / "state", local_runtime)
    with _release_watch(cli, local_runtime, f"appsrc{names['uid']}") as (watch, released):
        moved = commit_fixture(app_repo, ARGO / "appsource" / "app-2", names, "release 2")
        wait_for(lambda: released("2"), 60, 0.2, what="release 2, from a commit in the app repo only")
        watch.wait_for_line(f"new commit {moved[:7]} in {app_repo}", 30)
    rows = cli.history_rows()
    assert [r["trigger"] for r in rows][-1] == "source", rows


@contextmanager
def _release_watch(
    cli: Cli, runtime: LocalRuntime, namespace: str
) -> Iterator[tuple[Any, Callable[[str], bool]]]:
    """A watch of the env repo, once its settings ConfigMap reads release 1; and whether it
    reads a release now."""
    kube = Kube(runtime.kubeconfig_path, runtime.context)

    def released(number: str) -> bool:
        return (live(kube, cm_path(namespace, "settings")) or {}).get("data") == {"release": number}

    try:
        with cli.watch() as watch:
            wait_for(lambda: released("1"), 120, 0.2, what="release 1")
            yield watch, released
    finally:
        kube.close()


def test_a_commit_on_the_branch_an_application_follows_redeploys_it_with_none_on_the_watched_one(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    """targetRevision: release, of the env repo itself: Argo CD syncs that branch's head, so
    a commit there deploys though the watched branch (main) did not move."""
    names = {"uid": uid()}
    env, _ = repo_from_fixture(tmp_path / "env", ARGO / "follows-branch", names, "the app follows release")
    git(env, "branch", "release")
    cli = Cli(env, tmp_path / "state", local_runtime)
    with _release_watch(cli, local_runtime, f"follows{names['uid']}") as (watch, released):
        # Committed from a worktree of release: the env repo's checkout never leaves main.
        release = tmp_path / "release"
        git(env, "worktree", "add", "-q", str(release), "release")
        (release / "work" / "cm.yaml").write_text(
            (release / "work" / "cm.yaml").read_text().replace('"1"', '"2"')
        )
        git(release, "commit", "-qam", "release 2")
        moved = git(release, "rev-parse", "HEAD").strip()
        wait_for(lambda: released("2"), 60, 0.2, what="release 2, from a commit on release only")
        watch.wait_for_line(f"new commit {moved[:7]} on release, which it follows", 30)


def test_an_application_whose_app_of_apps_was_refused_is_not_deployed(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    """In Argo CD the child Application exists once its app-of-apps synced it: a refused parent
    applies none, so the child deploys nothing, and says why."""
    with cluster_case(tmp_path, local_runtime, REPOS / "argocd" / "parent-refused", "refused parent") as case:
        u = case.uid
        synced = case.cli("sync")
        assert synced.returncode == 1, shown(synced)
        assert live(case.kube, cm_path(f"child{u}", "child")) is None
        assert f"its parent did not apply it: root-{u}: sync failed" in output(synced), output(synced)
        about_child = [line for line in synced.stderr.splitlines() if line.startswith(("error:", "warning:"))
                       and f"child{u}" in line.split(":")[1]]  # fmt: skip
        assert len(about_child) == 1 and about_child[0].startswith("error:"), "said once, how it ended"


def test_a_hook_job_deleted_by_its_ttl_once_it_finished_counts_as_completed(
    local_runtime: LocalRuntime,
) -> None:
    """ttlSecondsAfterFinished: 0 (ingress-nginx's admission Jobs) deletes the Job the moment it
    completes, often before the hook runner looks again: its Job controller's events tell."""
    from agentkit import wait_for
    from sandbox.apply.hooks import HookRunner
    from sandbox.manifest.waves import Phase
    from sandbox.model import ObjectKey

    kube = Kube(local_runtime.kubeconfig_path, local_runtime.context)
    name = f"ttl{uid()}"
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": "default"},
           "spec": {"ttlSecondsAfterFinished": 0, "backoffLimit": 0, "template": {"spec": {
               "restartPolicy": "Never", "containers": [{"name": "step", "image": "registry.example.com/step:1"}]}}}}  # fmt: skip
    try:
        resource = kube.resource_for("batch/v1", "Job")
        assert resource is not None
        created = kube.request("POST", resource.path("default"), body=job)
        wait_for(
            lambda: kube.read(resource, "default", name) is None,
            60,
            0.2,
            what="the TTL controller to delete it",
        )
        key = ObjectKey("batch", "Job", "default", name)

        steps = HookRunner(kube, timeout=10)._wait(resource, key, created["metadata"]["uid"], Phase.PRE_SYNC)
        ok, message = _run_to_end(steps)

        assert ok, message
        assert "ttlSecondsAfterFinished" in message
    finally:
        kube.close()


def test_an_object_refused_when_applied_fails_the_sync_but_its_wave_neighbours_are_applied(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    """As gitops-engine runs a wave's tasks together: the Service the API server refuses fails
    the sync and is named; the ConfigMap before it and the Deployment after it are applied."""
    with cluster_case(tmp_path, local_runtime, ARGO / "neighbours", "a Service in no namespace") as case:
        u, kube = case.uid, case.kube
        synced = case.cli("sync")
        assert synced.returncode == 1, shown(synced)
        assert "Service" in output(synced) and f"nowhere{u}" in output(synced), shown(synced)
        assert live(kube, cm_path(f"web{u}", "settings")) is not None, shown(synced)
        assert live(kube, f"/apis/apps/v1/namespaces/web{u}/deployments/web") is not None, shown(synced)


def _run_to_end(steps: Steps[T]) -> T:
    """Steps taken here to their end, with a short sleep at each wait (as a one-shot sync does)."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        time.sleep(0.1)


def test_a_wave_waiting_for_health_holds_up_no_other_app_and_a_new_commit_supersedes_its_sync(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    """One agent worker runs every app: a sync waiting for its wave to become healthy (up to five
    minutes) is put aside, so another app deploys meanwhile, and a commit that mends the wave
    supersedes the waiting sync (as Flux cancels a health check for a new revision)."""
    from agentkit import app_state, commit, read
    from sandbox.agent.history import History
    from sandbox.agent.loop import Agent

    names = {"uid": uid()}
    repo, _ = repo_from_fixture(tmp_path / "repo", ARGO / "slow-wave", names, "a wave that waits")
    slow, quick = f"slow{names['uid']}", f"quick{names['uid']}"
    kube = Kube(local_runtime.kubeconfig_path, local_runtime.context)
    history = History(tmp_path / "history.sqlite")
    agent = Agent(repo, kube, history=history, settings_path=tmp_path / "settings.json")
    agent.start(watch_repo=True)
    try:
        waiting = wait_for(lambda: (a := app_state(agent, slow)) and "waiting for wave 0" in a.message and a,
                           30, what="the slow app to wait for its wave")  # fmt: skip
        assert waiting.operation == "Syncing"
        assert "Deployment" in waiting.message and "stuck" in waiting.message, waiting.message
        wait_for(lambda: read(kube, cm_path(quick, "quick")), 30, what="the other app to deploy meanwhile")
        wait_for(
            lambda: (a := app_state(agent, quick)) and a.last_result == "Succeeded", 30, what="its record"
        )
        assert read(kube, cm_path(slow, "after")) is None, "the next wave waits for the first"
        assert not agent.wait_idle(0.5), "a sync under way is not idle"
        said = [
            e.message
            for e in agent.publish_now().events
            if e.app == slow and "waiting for wave 0" in e.message
        ]
        assert len(said) == 1 and said[0].startswith("syncing "), said
        seen = _observed(repo, kube, tmp_path / "history.sqlite", tmp_path / "settings.json").app(slow)
        assert seen is not None and seen.operation == "Syncing", "status in another process says so too"
        assert "a running agent is syncing" in seen.message, seen.message

        # A commit that leaves the slow app as it is does not restart its sync (nor its wait).
        commit(repo, "the other app only", {"quick/config.yaml": (ARGO / "slow-wave" / "quick" / "config.yaml")
                                                    .read_text().replace("for nothing", "still nothing")})  # fmt: skip
        wait_for(lambda: (read(kube, cm_path(quick, "quick")) or {}).get("data", {}).get("waits") == "still nothing",
                 30, what="the other app's commit to deploy")  # fmt: skip
        assert app_state(agent, slow).operation == "Syncing"  # type: ignore[union-attr]
        assert not [r for r in history.records(slow, objects=False) if r.result == "Failed"], "not superseded"

        mended = (
            (ARGO / "slow-wave" / "slow" / "deploy.yaml")
            .read_text()
            .replace('nodeSelector: {sandbox.test/nowhere: "true"}', "nodeSelector: {}")
        )
        head = commit(repo, "schedulable anywhere", {"slow/deploy.yaml": mended})
        wait_for(lambda: read(kube, cm_path(slow, "after")), 60, what="the new commit's waves to run")
        assert agent.wait_idle(60)
        done = app_state(agent, slow)
        assert done is not None and (done.last_result, done.operation) == ("Succeeded", "Idle")
        records = history.records(slow, objects=False)
        assert records[0].revision == head and records[0].result == "Succeeded"
        superseded = [r for r in records if r.result == "Failed"]
        assert len(superseded) == 1 and f"superseded by a sync of {head[:7]}" in superseded[0].message, [
            (r.result, r.message) for r in records
        ]
        assert "wave 0" in superseded[0].message
    finally:
        agent.stop()
        history.close()
        kube.close()


def _observed(repo: Path, kube: Kube, history_path: Path, settings: Path) -> Snapshot:
    """What `status` shows, read as another process reads it (an observer: it only looks)."""
    from sandbox.agent.history import HistoryReader
    from sandbox.agent.observer import Observer
    from sandbox.apply.reader import ClusterReader

    history = HistoryReader(history_path)
    observer = Observer(repo, ClusterReader(kube), history, settings)
    try:
        return observer.snapshot()
    finally:
        observer.close()
        history.close()


def test_a_commit_to_a_leaf_apps_folder_leaves_the_apps_above_it_synced_in_status(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    """A running agent does not sync an app a commit does not touch (Argo CD finds it Synced:
    its manifests are equal); status, read from the history in another process, says Synced
    too, for apps of apps that have no object of their own as for the rest."""
    from agentkit import app_state, commit, running

    names = {"uid": uid()}
    repo, _ = repo_from_fixture(tmp_path / "repo", ARGO / "nested", names, "apps of apps")
    kube = Kube(local_runtime.kubeconfig_path, local_runtime.context)
    try:
        with running(repo, kube, tmp_path) as agent:
            leaf = f"leaf{names['uid']}"
            wait_for(
                lambda: (a := app_state(agent, leaf)) and a.last_result == "Succeeded", 30, what="the leaf"
            )
            head = commit(repo, "the leaf only", {"leaf/cm.yaml": (ARGO / "nested" / "leaf" / "cm.yaml")
                                                  .read_text().replace('"1"', '"2"')})  # fmt: skip
            wait_for(
                lambda: (a := app_state(agent, leaf)) and a.deployed_revision == head, 30, what="its sync"
            )
            assert agent.wait_idle(30)
            seen = _observed(repo, kube, agent.history.path, tmp_path / "settings.json")
        assert {a.name: a.sync for a in seen.apps} == {
            f"{n}{names['uid']}": SyncStatus.SYNCED for n in ("root", "middle", "leaf")
        }, [(a.name, a.sync, a.said) for a in seen.apps]
    finally:
        kube.close()


def test_an_applicationset_file_that_breaks_keeps_its_apps_and_one_that_stops_generating_an_app_removes_it(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    """A typo in a top-level ApplicationSet file is said with its file and line, and the apps it
    made are kept as they run; when the set no longer generates an app (its folder deleted),
    the app is gone as the ApplicationSet controller deletes it (no resources finalizer: its
    objects stay), never "still defined" for good. Another --entry leaves these apps alone:
    said, not failed, nothing recorded."""
    import json

    case_dir = ARGO / "appset-dirs"
    with cluster_case(tmp_path, local_runtime, case_dir / "c1", "one app per svc folder") as case:
        u, cli = case.uid, case.cli
        first = cli("sync")
        assert first.returncode == 0, shown(first)

        commit_fixture(case.repo, case_dir / "c2", case.names, "a typo in the set")
        broken = cli("sync")
        assert broken.returncode == 1, shown(broken)
        said = output(broken)
        assert "set/appset.yaml:31: invalid YAML" in said, said
        # As Argo CD keeps the live ApplicationSet as last applied, its apps go on as they were.
        assert "its Argo CD objects are read as the cluster last applied them" in said, said
        assert "so its Argo CD objects are read as at" in said, said
        status = {a["name"]: a for a in json.loads(cli("status", "--json").stdout)["apps"]}
        assert {f"a{u}", f"b{u}", f"api{u}"} <= set(status), "the set's apps are kept, listed"
        assert (status[f"b{u}"]["autoSync"], status[f"b{u}"]["selfHeal"]) == (True, False), "as its spec says"
        assert (status[f"b{u}"]["sync"], status[f"b{u}"]["health"]) == ("Synced", "Healthy"), json.dumps(status[f"b{u}"])[:1500]
        assert live(case.kube, f"/api/v1/namespaces/b{u}/configmaps/settings") is not None

        commit_fixture(case.repo, case_dir / "c3", case.names, "fixed; folder b gone")
        gone = cli("sync")
        assert gone.returncode == 0, shown(gone)
        assert "still defined" not in output(gone), output(gone)
        status = {a["name"]: a for a in json.loads(cli("status", "--json").stdout)["apps"]}
        assert f"b{u}" not in status and f"a{u}" in status, sorted(status)
        history = json.loads(cli("history", "--json", "--app", f"b{u}").stdout)
        assert history[0]["message"].startswith(f"app b{u} is gone: the ApplicationSet in set/appset.yaml no longer "
                                                "generates it"), history[0]  # fmt: skip
        assert "stay in the cluster" in history[0]["message"], history[0]
        assert live(case.kube, f"/api/v1/namespaces/b{u}/configmaps/settings") is not None, "left, no app's"

        records = len(json.loads(cli("history", "--json").stdout))
        other = cli("sync", "--entry", "other")
        assert other.returncode == 0, shown(other)
        assert f"app a{u} is still defined in set/appset.yaml, but not reached" in output(other), output(
            other
        )
        assert "error" not in other.stderr, other.stderr
        after = json.loads(cli("history", "--json").stdout)
        assert all(r["result"] != "Failed" for r in after[: len(after) - records]), after[
            : len(after) - records
        ]
        listed = {a["name"] for a in json.loads(cli("status", "--json", "--entry", "other").stdout)["apps"]}
        assert f"a{u}" not in listed and f"api{u}" in listed, listed


def test_a_one_shot_sync_syncs_the_other_apps_while_one_waits_for_a_wave_and_says_why_it_stopped(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    """`sync` put every later app behind one whose wave never became healthy, until its settle
    time ran out, and those apps were never tried; the cut-short sync read "the agent was
    stopped". Sibling apps sync meanwhile, as Argo CD's do."""
    import json

    names = {"uid": uid()}
    u = names["uid"]
    repo, _ = repo_from_fixture(tmp_path / "repo", ARGO / "slow-wave", names, "a wave that waits")
    cli = Cli(repo, tmp_path / "state", local_runtime)

    synced = cli("sync", env={"GITOPS_SANDBOX_SETTLE_SECONDS": "15"})
    said = output(synced)
    assert synced.returncode == 1 and "the sync did not finish within 15s; not done: " in said, said
    assert f"slow{u}: waiting for wave 0" in said, said
    rows = {r["app"]: r for r in json.loads(cli("history", "--json").stdout)}
    assert rows[f"quick{u}"]["result"] == "Succeeded", rows
    assert (
        rows[f"slow{u}"]["message"]
        == "interrupted: `sync` stopped waiting after 15s (GITOPS_SANDBOX_SETTLE_SECONDS)"
    ), rows[f"slow{u}"]


def test_an_application_deploying_into_argo_cds_own_namespace_finds_it_there(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    """argocd exists wherever Argo CD runs (its Applications live there): the sandbox plays
    Argo CD, so it provides it, never pruned. It failed with 'namespaces "argocd" not found'
    and advised adding a Namespace argocd to the app, which would then prune Argo CD's own."""
    with cluster_case(tmp_path, local_runtime, ARGO / "home-namespace", "into argocd") as case:
        synced = case.cli("sync")
        assert synced.returncode == 0, shown(synced)
        assert live(case.kube, f"/api/v1/namespaces/argocd/configmaps/ingress{case.uid}") is not None
