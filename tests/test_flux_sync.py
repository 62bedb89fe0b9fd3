"""Flux's dependsOn against the real API server: an app waits until the apps it depends on
are Ready, says so, and never syncs on top of one that failed. The order is the order the
objects appeared in (watch events)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from clikit import (
    REPOS,
    Cli,
    cluster_case,
    cm_path,
    commit_all,
    commit_fixture,
    lay_tree,
    live,
    output,
    shown,
)
from gitkit import git
from watchkit import EventLog, available

from agentkit import wait_for
from sandbox.agent.commands import ClusterCheck
from sandbox.cluster.local import LocalRuntime

FLUX = REPOS / "flux"


def test_an_app_waits_for_its_depends_on_to_be_ready_and_not_for_one_that_failed(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    with cluster_case(tmp_path, local_runtime, FLUX / "depends", "after depends on slow") as case:
        u, cli, kube = case.uid, case.cli, case.kube
        with (
            EventLog(kube, f"slow{u}", ("Deployment",)) as slow,
            EventLog(kube, f"after{u}", ("ConfigMap",)) as after,
        ):
            synced = cli("sync")
        assert synced.returncode == 0, shown(synced)
        assert slow.first_where("Deployment", "db", available) < after.when("ConfigMap", "client")
        assert f"waiting for dependsOn: slow{u}" in output(synced), output(synced)
        head = git(case.repo, "rev-parse", "HEAD")
        assert _ready(cli, f"after{u}") == {
            "status": "True", "reason": "ReconciliationSucceeded", "message": f"Applied revision: main@sha1:{head}",
        }, "Ready as `flux get kustomizations` shows it"  # fmt: skip

        commit_fixture(case.repo, FLUX / "depends-broken", case.names, "slow refused; after changed")
        failed = cli("sync")
        assert failed.returncode == 1, shown(failed)
        assert f"depends on slow{u}: sync failed" in output(failed), output(failed)
        client = live(kube, cm_path(f"after{u}", "client"))
        assert client is not None and client["data"] == {"DB": "db.slow"}, (
            "after stays at its last good state"
        )
        assert _ready(cli, f"slow{u}")["status"] == "False"
        assert _ready(cli, f"after{u}") == {
            "status": "False", "reason": "DependencyNotReady",
            "message": f"dependencies not ready: slow{u}: sync failed",
        }  # fmt: skip


def test_an_app_that_waited_on_a_failed_dependency_syncs_a_fixed_commit_once(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    """after waits (its dependency failed) and looks again every DEPENDS_POLL; the commit that
    fixes both syncs it once the dependency is Ready, and the look that comes after finds it in
    step: no second sync of the same revision."""
    from sandbox.agent.dependencies import DEPENDS_POLL

    with cluster_case(tmp_path, local_runtime, FLUX / "depends", "after depends on slow") as case:
        u, cli = case.uid, case.cli

        def said(*parts: str) -> str:  # a line of the watch with each part, columns apart
            return next((line for line in watch.lines if all(p in line for p in parts)), "")

        with cli.watch() as watch:
            wait_for(lambda: said(f"after{u} ", " synced "), 120, what="after's first sync")
            commit_fixture(case.repo, FLUX / "depends-broken", case.names, "slow refused; after changed")
            # Not worded as a wait: nothing comes of waiting alone, a commit must mend slow.
            wait_for(lambda: said(f"after{u} ", f"it depends on slow{u}: sync failed (it syncs once that is mended)"),
                     60, what="after held back by slow's failure")  # fmt: skip
            fixed = commit_fixture(case.repo, FLUX / "depends", case.names, "slow fixed, after as it was")
            wait_for(lambda: said(f"after{u} ", f"synced {fixed[:7]}"), 120, what="after's sync of the fix")
            # An absence, so a bounded look: two polls' time after the sync, no second one.
            time.sleep(DEPENDS_POLL * 2 + 1)
        rows = [r for r in cli.history_rows() if r["app"] == f"after{u}" and r["revision"] == fixed]
        assert len(rows) == 1, rows


def _ready(cli: Cli, app: str) -> dict[str, str]:
    """An app's Ready condition from `status --json`."""
    status = cli("status", "--json")
    found = {a["name"]: a for a in json.loads(status.stdout)["apps"]}
    return found[app]["ready"]


def test_a_dependency_that_waits_is_ready_only_when_the_apps_it_defines_are_and_one_that_failed_ends_the_wait(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    """infra synced (a Kustomization, and a Deployment that never gets healthy), but the
    controller it defines does not render: apps depends on infra, so it fails at once naming
    the controller, never waiting out the dependsOn timeout on infra's own Deployment, and
    applies nothing."""
    with cluster_case(tmp_path, local_runtime, FLUX / "depends-deep", "apps depends on infra") as case:
        u, cli, kube = case.uid, case.cli, case.kube
        synced = cli("sync")
        assert synced.returncode == 1, shown(synced)
        said = output(synced)
        assert f"not synced: it depends on controller{u} (which infra{u} defines): sync failed" in said, said
        assert "not Ready after" not in said
        assert live(kube, cm_path(f"apps{u}", "client")) is None
        assert _ready(cli, f"apps{u}")["reason"] == "DependencyNotReady"

        # Without spec.wait, kustomize-controller has infra Ready once applied: apps goes on.
        _set(case.repo, "clusters/main/ks.yaml", "  wait: true", "  wait: false", "infra does not wait")
        again = cli("sync")
        assert live(kube, cm_path(f"apps{u}", "client")) is not None, shown(again)
        assert _ready(cli, f"infra{u}")["status"] == "True", (
            "Ready once applied, as kustomize-controller says"
        )
        assert _ready(cli, f"apps{u}")["status"] == "True"


def test_a_dependency_is_ready_only_when_the_objects_its_health_checks_name_exist_and_are_healthy(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    """infra's healthChecks name a Deployment its controller app makes, and Flux's own
    kustomize-controller. While the controller app does not render, nothing applies that
    Deployment: apps, which depends on infra, is held at once (as Flux's check would find it
    NotFound), never applied. Once it renders, infra is Ready (the controller Flux installs is
    one the sandbox plays: met) and apps goes on."""
    with cluster_case(tmp_path, local_runtime, FLUX / "depends-checks", "apps depends on infra") as case:
        u, cli, kube = case.uid, case.cli, case.kube
        synced = cli("sync")
        assert synced.returncode == 1, shown(synced)
        said = output(synced)
        assert (
            f"not synced: it depends on infra{u}: its health check Deployment/default/controller{u} names an object "
            f"no app applies (controller{u} failed)"
        ) in said, said
        assert live(kube, cm_path(f"apps{u}", "client")) is None

        _set(
            case.repo,
            "controller/deploy.yaml",
            "  replicas: [never, closed",
            "  replicas: 1",
            "controller mended",
        )
        again = cli("sync")
        assert again.returncode == 0, shown(again)
        assert live(kube, cm_path(f"apps{u}", "client")) is not None, shown(again)
        assert _ready(cli, f"infra{u}")["status"] == "True"


def test_a_parent_that_fails_only_for_an_object_another_app_owns_still_applies_its_apps(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    """owner and parent both render one Namespace; owner applied it first. parent's sync fails
    for that object alone: the rest of it is applied, child among it, and child syncs (Flux
    would have applied the Namespace from both)."""
    with cluster_case(tmp_path, local_runtime, FLUX / "shared-ns", "a Namespace in two apps") as case:
        u, cli, kube = case.uid, case.cli, case.kube
        synced = cli("sync")
        assert synced.returncode == 1, shown(synced)
        assert f"belongs to app owner{u}" in output(synced), shown(synced)
        assert live(kube, f"/api/v1/namespaces/shared{u}/configmaps/settings") is not None, shown(synced)
        assert _ready(cli, f"child{u}")["status"] == "True"


def test_an_app_its_parent_applied_before_goes_on_with_a_new_commit_while_the_parent_fails(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    """child exists in the cluster: its own controller builds the new revision whatever its
    parent's newest sync did, as kustomize-controller does."""
    with cluster_case(tmp_path, local_runtime, FLUX / "parent-breaks", "parent applies child") as case:
        u, cli, kube = case.uid, case.cli, case.kube
        assert cli("sync").returncode == 0
        (case.repo / "parent" / "broken.yaml").write_text("kind: [\n")
        git(case.repo, "add", "parent/broken.yaml")
        _set(case.repo, "child/cm.yaml", 'v: "1"', 'v: "2"', "parent breaks; child changes")
        again = cli("sync")
        assert again.returncode == 1, shown(again)
        assert live(kube, cm_path(f"child{u}", "settings"))["data"] == {"v": "2"}, shown(again)  # type: ignore[index]
        assert "its parent did not apply it" not in output(again), shown(again)


def test_an_app_its_parent_applied_goes_on_while_the_parent_fails_though_its_own_sync_never_succeeded(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    """parent applied child's Kustomization, whose own first sync failed: child exists in the
    cluster all the same, and builds the next revision whatever parent's newest sync did."""
    with cluster_case(tmp_path, local_runtime, FLUX / "parent-breaks", "parent applies child") as case:
        u, cli, kube = case.uid, case.cli, case.kube
        (case.repo / "child" / "widget.yaml").write_text(
            "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n"
        )
        commit_all(case.repo, "child asks for a kind the cluster does not know")
        first = cli("sync")
        assert first.returncode == 1 and "Widget" in output(first), shown(first)
        (case.repo / "parent" / "broken.yaml").write_text("kind: [\n")
        git(case.repo, "add", "parent/broken.yaml")
        (case.repo / "child" / "widget.yaml").unlink()
        _set(case.repo, "child/cm.yaml", 'v: "1"', 'v: "2"', "parent breaks; child is mended")
        again = cli("sync")
        assert again.returncode == 1, shown(again)
        assert "its parent did not apply it" not in output(again), shown(again)
        assert live(kube, cm_path(f"child{u}", "settings"))["data"] == {"v": "2"}, shown(again)  # type: ignore[index]


def test_switching_the_entry_says_which_apps_the_new_entry_does_not_reach_and_prunes_none(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    with cluster_case(tmp_path, local_runtime, FLUX / "switch", "two clusters") as case:
        u, cli = case.uid, case.cli
        first = cli("sync", "--entry", "clusters/a")
        assert first.returncode == 0, shown(first)
        other = cli("status", "--entry", "clusters/b")
        said = output(other)
        assert "sandbox.yaml" not in said.replace("in sandbox.yaml", ""), said
        assert (
            f"app only-a{u} is still defined in clusters/a/apps.yaml, but not reached from the apps at"
            in said
            and "left as it is, nothing applied or pruned. To remove it and its objects, delete its definition"
            in said
        ), said
        assert live(case.kube, cm_path(f"work-a-{u}", "work")) is not None, "nothing pruned by the switch"
        again = cli("sync", "--entry", "clusters/b")
        assert live(case.kube, cm_path(f"work-a-{u}", "work")) is not None, shown(again)


def test_syncing_one_app_whose_dependency_never_synced_says_so_at_once(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    """`sync --app after` syncs after alone: its dependency slow, never synced, will not become
    Ready while the command waits, so it fails at once, saying what to do."""
    with cluster_case(tmp_path, local_runtime, FLUX / "depends", "after depends on slow") as case:
        u = case.uid
        one = case.cli("sync", "--app", f"after{u}")
        said = output(one)
        assert one.returncode == 1, said
        assert f"this command syncs after{u} only; sync that app first, or sync without --app" in said, said
        assert "not Ready after" not in said


def _set(repo: Path, path: str, old: str, new: str, message: str) -> str:
    file = repo / path
    file.write_text(file.read_text().replace(old, new))
    git(repo, "commit", "-qam", message)
    return git(repo, "rev-parse", "HEAD")


def test_a_suspended_kustomization_is_not_synced_by_sync_but_is_when_named(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    with cluster_case(tmp_path, local_runtime, FLUX / "suspend", "web suspended") as case:
        u, cli, kube = case.uid, case.cli, case.kube
        synced = cli("sync")
        assert synced.returncode == 0, shown(synced)
        assert f"web{u}: not synced: suspended in Git (spec.suspend: true)" in output(synced), output(synced)
        assert live(kube, cm_path(f"web{u}", "settings")) is None, (
            "Flux leaves a suspended Kustomization alone"
        )

        named = cli("sync", "--app", f"web{u}")
        assert named.returncode == 0, shown(named)
        assert live(kube, cm_path(f"web{u}", "settings")) is not None


def test_watch_follows_suspend_as_git_changes_it(tmp_path: Path, local_runtime: LocalRuntime) -> None:
    with cluster_case(tmp_path, local_runtime, FLUX / "suspend", "web suspended") as case:
        u, cli, kube, repo = case.uid, case.cli, case.kube, case.repo
        settings = cm_path(f"web{u}", "settings")
        with cli.watch() as watch:
            first = git(repo, "rev-parse", "HEAD")
            watch.wait_for_line(f"synced {first[:7]} (startup)", 120)
            assert live(kube, settings) is None
            resumed = _set(repo, "clusters/main/web.yaml", "suspend: true", "suspend: false", "resume web")
            watch.wait_for_line(f"auto-sync on, self-heal on: its definition changed at {resumed[:7]}", 60)
            wait_for(lambda: (live(kube, settings) or {}).get("data") == {"v": "1"}, 60, what="web deployed")
            watch.wait_for_line(f"new commit {resumed[:7]}", 30)
            order = [i for i, line in enumerate(watch.lines) if resumed[:7] in line and "new commit" in line or
                     f"synced {resumed[:7]}" in line]  # fmt: skip
            assert "new commit" in watch.lines[order[0]], "a commit is said before what it makes the apps do"

            # One commit: v 2 and the suspend together (two would let a loaded machine's watch
            # deploy v 2 in between, as Flux would).
            for path, old, new in (("web/cm.yaml", 'v: "1"', 'v: "2"'),
                                   ("clusters/main/web.yaml", "suspend: false", "suspend: true")):  # fmt: skip
                (repo / path).write_text((repo / path).read_text().replace(old, new))
            git(repo, "commit", "-qam", "v 2, and web suspended")
            suspended = git(repo, "rev-parse", "HEAD")
            watch.wait_for_line(f"suspended: its definition changed at {suspended[:7]}", 60)
            watch.wait_for_line(f"synced {suspended[:7]} (commit)", 60)
        assert (live(kube, settings) or {}).get("data") == {"v": "1"}, "a suspended app is left as it was"


def test_status_of_an_app_whose_render_failed_says_the_render_s_reason_not_the_api_servers(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    with cluster_case(tmp_path, local_runtime, FLUX / "sops-status", "a SOPS secret, no decryption") as case:
        looked = case.cli("status", "-v", "--json")
        app = {a["name"]: a for a in json.loads(looked.stdout)["apps"]}[f"sealed{case.uid}"]
        [problem] = app["problems"]
        assert problem.startswith("sealed/secret.yaml Secret ") and "SOPS-encrypted" in problem, problem
        secret = {(o["kind"], o["name"]): o for o in app["objects"]}["Secret", "token"]
        assert (secret["sync"], secret["syncMessage"]) == ("Missing", ""), (
            "the failed render's objects are never sent for a dry-run, so no refusal of its .sops field"
        )
        plain = case.cli("status", "-v")
        assert "sops" not in output(plain).replace("SOPS-encrypted", ""), output(plain)


def _app(cli: Cli, name: str) -> dict[str, Any]:
    status = cli("status", "--json")
    assert status.returncode in (0, 1), shown(status)
    found: dict[str, Any] = {a["name"]: a for a in json.loads(status.stdout)["apps"]}[name]
    return found


def test_the_apps_a_suspended_or_failing_kustomization_defines_stay_as_it_last_applied_them(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    """kustomize-controller applies nothing of a suspended Kustomization, and nothing new of one
    whose build fails: the Kustomizations it applied stay as they were, and keep reconciling
    their own paths at the newest revision."""
    with cluster_case(tmp_path, local_runtime, FLUX / "frozen", "apps defines web") as case:
        u, cli, kube, repo = case.uid, case.cli, case.kube, case.repo
        first = git(repo, "rev-parse", "HEAD")
        assert cli("sync").returncode == 0
        _set(repo, "clusters/main/apps.yaml", "prune: true", "prune: true\n  suspend: true", "suspend apps")
        (repo / "web" / "cm.yaml").write_text((repo / "web" / "cm.yaml").read_text().replace("one", "one-b"))
        _set(repo, "apps/web.yaml", "path: ./web", "path: ./web2", "web moves to web2; web's settings change")

        frozen = cli("sync")
        assert frozen.returncode == 0, shown(frozen)
        assert _app(cli, f"web{u}")["path"] == "web", "web is as apps last applied it: apps is suspended"
        assert live(kube, cm_path(f"web{u}", "settings"))["data"] == {"mode": "one-b"}, "web follows its path"  # type: ignore[index]
        [notice] = [n for n in _app(cli, f"apps{u}")["notices"] if "the apps it defines" in n]
        assert f"are as at {first[:7]}, the revision it last applied (it is suspended in Git)" in notice, (
            notice
        )

        _set(repo, "clusters/main/apps.yaml", "  suspend: true\n", "", "resume apps")
        lay_tree(repo, FLUX / "frozen-more", case.names, replace=False)
        resumed = commit_all(repo, "apps defines extra, which cannot render")
        assert cli("sync").returncode == 1, "extra fails"
        assert _app(cli, f"web{u}")["path"] == "web2"
        assert live(kube, cm_path(f"web{u}", "settings"))["data"] == {"mode": "two"}  # type: ignore[index]

        lay_tree(repo, FLUX / "frozen-broken", case.names, replace=False)
        commit_all(repo, "apps does not build")
        looked = cli("status", "--json")
        apps = {a["name"]: a for a in json.loads(looked.stdout)["apps"]}
        assert apps[f"web{u}"]["path"] == "web2" and not apps[f"web{u}"]["problems"], apps[f"web{u}"]
        assert apps[f"extra{u}"]["problems"], "extra, never deployed, is still shown, failing as before"
        assert "missing.yaml" in " ".join(apps[f"apps{u}"]["problems"])
        [notice] = [n for n in apps[f"apps{u}"]["notices"] if "the apps it defines" in n]
        assert f"are as at {resumed[:7]}, the revision it last applied (it does not render at" in notice, (
            notice
        )


def test_a_dependency_sharing_its_name_with_another_app_is_named_as_the_table_names_it(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    with cluster_case(
        tmp_path, local_runtime, FLUX / "namesakes", "web depends on the Kustomization db"
    ) as case:
        u, cli = case.uid, case.cli
        synced = cli("sync")
        assert synced.returncode == 1, shown(synced)
        said = output(synced)
        assert f"not synced: it depends on Kustomization/flux-system/db{u}: sync failed" in said, said
        ready = _ready(cli, f"web{u}")
        assert ready["message"] == f"dependencies not ready: Kustomization/flux-system/db{u}: sync failed", (
            ready
        )
        assert live(case.kube, cm_path(f"db{u}", "db-settings")) is not None, "the HelmRelease db deployed"


def test_an_app_that_depends_on_its_own_parent_syncs_once_the_parent_has_applied_it(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    """dependsOn: [flux-system] from an app flux-system applies: the root, without spec.wait, is
    Ready once applied, so the app goes on (it never waits on itself)."""
    with cluster_case(tmp_path, local_runtime, FLUX / "on-parent", "web depends on the root") as case:
        u = case.uid
        synced = case.cli("sync")
        assert synced.returncode == 0, shown(synced)
        assert live(case.kube, cm_path(f"web{u}", "settings")) is not None
        assert "depends on" not in output(synced).replace("waiting for dependsOn", ""), output(synced)


def test_a_sync_that_does_not_finish_in_time_says_what_is_not_done_and_fails(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    """slow is never Ready (its pods fit no node), so after waits: a one-shot sync that runs out
    of time exits 1 naming after, never 0 with a table of half a sync."""
    with cluster_case(tmp_path, local_runtime, FLUX / "depends-stuck", "slow never Ready") as case:
        u = case.uid
        synced = case.cli("sync", env={"GITOPS_SANDBOX_SETTLE_SECONDS": "6"})
        assert synced.returncode == 1, shown(synced)
        said = [line for line in synced.stderr.splitlines() if "did not finish" in line]
        assert said and said[0].startswith("error: the sync did not finish within 6s; not done: "), shown(
            synced
        )
        assert f"after{u}" in said[0], said


def test_check_of_a_branch_deploys_that_branch_where_the_bootstrap_source_follows_main(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    """`flux bootstrap` writes a GitRepository that follows main, and every app reads it: a
    check of a feature branch deploys the feature branch (what merging it would deploy), as a
    pull-request preview redirects the base branch to the branch under review, and says so."""
    with cluster_case(tmp_path, local_runtime, FLUX / "base-branch", "bootstrap on main") as case:
        u = case.uid
        settings = cm_path(f"base{u}", "settings")
        assert case.cli("sync").returncode == 0
        assert live(case.kube, settings)["data"] == {"v": "1"}
        git(case.repo, "checkout", "-q", "-b", "feature")
        (case.repo / "apps" / "cm.yaml").write_text((case.repo / "apps" / "cm.yaml").read_text().replace(
            'v: "1"', 'v: "2"'))  # fmt: skip
        commit_all(case.repo, "v2 on feature")
        git(case.repo, "checkout", "-q", "main")

        checked = case.cli("check", "--ref", "feature", "--timeout", "60")

        assert checked.returncode == 0, shown(checked)
        assert live(case.kube, settings)["data"] == {"v": "2"}, "the branch checked is what runs"
        assert "GitRepository flux-system follows main; the sandbox runs feature in its place" in output(
            checked
        )


def test_a_suspended_app_is_not_deployed_to_a_new_cluster_the_agent_gives_every_other_app_again(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    """When the kubeconfig names a new cluster, the agent deploys every app's target to it, but
    a Kustomization Git suspends is reconciled by no Flux, new cluster or not."""
    from agentkit import running

    with cluster_case(tmp_path, local_runtime, FLUX / "suspend", "web is suspended") as case:
        with running(case.repo, case.kube, tmp_path) as agent:
            replaced = iter([True])
            agent.kube.replaced = lambda: next(replaced, False)  # type: ignore[method-assign]
            agent._worker.put(ClusterCheck())
            assert agent.wait_idle(60)
            said = [e.message for e in agent.publish_now().events]  # not a debounced snapshot
            assert any("names a new cluster" in m for m in said), said
            assert live(case.kube, cm_path(f"web{case.uid}", "settings")) is None, said
            assert not agent.history.records(f"web{case.uid}"), "no sync of it, not even a failed one"


def test_an_app_kept_while_the_root_does_not_render_is_named_once_and_as_healthy_as_what_runs(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    with cluster_case(tmp_path, local_runtime, FLUX / "parent-breaks", "root applies parent") as case:
        u, cli = case.uid, case.cli
        assert cli("sync").returncode == 0
        (case.repo / "clusters" / "main" / "broken.yaml").write_text("kind: [\n")
        commit_all(case.repo, "the root does not build")
        synced = cli("sync")
        said = output(synced)
        kept = [line for line in said.splitlines() if "does not render at" in line and "is kept" in line]
        assert kept, said
        assert not [line for line in kept if f"{u}: parent{u}:" in line or f"{u}: child{u}:" in line], kept
        for shown_by in (synced, cli("status")):  # kept as it runs, in the sync's table and the status's
            rows = {
                line.split()[0]: line.split() for line in shown_by.stdout.splitlines()[2:] if line.strip()
            }
            assert rows[f"child{u}"][2] == "Healthy", rows[f"child{u}"]


def test_a_dependency_no_app_defines_fails_the_app_at_once_naming_it_and_holds_up_no_other(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    """kustomize-controller says "unable to get ... dependency ... not found" at once
    (DependencyNotReady): a one-shot sync waited 300 s for it, holding up every other app."""
    with cluster_case(
        tmp_path, local_runtime, FLUX / "depends-missing", "a depends on nothing there"
    ) as case:
        u, cli = case.uid, case.cli
        synced = cli("sync")
        said = output(synced)
        assert synced.returncode == 1, said
        assert "did not finish within" not in said, said
        assert f"it depends on missing{u} (not found: no app of that name at this revision)" in said, said
        apps = {a["name"]: a for a in json.loads(cli("status", "--json").stdout)["apps"]}
        assert (apps[f"b{u}"]["sync"], apps[f"b{u}"]["health"]) == ("Synced", "Healthy"), apps[f"b{u}"]
        assert apps[f"a{u}"]["lastResult"] == "Failed", apps[f"a{u}"]


def test_an_app_taken_out_of_its_parents_kustomization_is_pruned_as_flux_prunes_it(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    """Homelab repos switch an app off by taking its line out of the parent's kustomization.yaml,
    its files kept: the parent (prune: true) deletes the Kustomization and its objects go with
    it. It was refused as "still defined … another --entry?", with nothing pruned."""
    case_dir = FLUX / "unlisted"
    with cluster_case(tmp_path, local_runtime, case_dir / "c1", "demo and keep") as case:
        u, cli = case.uid, case.cli
        assert cli("sync").returncode == 0
        assert live(case.kube, cm_path(f"demo{u}", "settings")) is not None

        commit_fixture(case.repo, case_dir / "c2", case.names, "demo switched off")
        synced = cli("sync")
        said = output(synced)
        assert synced.returncode == 0, said
        assert "still defined" not in said, said
        wait_for(
            lambda: live(case.kube, cm_path(f"demo{u}", "settings")) is None, 30, 0.5, "demo's objects pruned"
        )
        assert live(case.kube, cm_path(f"keep{u}", "settings")) is not None
        apps = {a["name"] for a in json.loads(cli("status", "--json").stdout)["apps"]}
        assert f"demo{u}" not in apps and f"keep{u}" in apps, apps
        [gone] = [
            r
            for r in json.loads(cli("history", "--json", "--app", f"demo{u}").stdout)
            if r["trigger"] == "removed"
        ]
        assert gone["message"].startswith(f"app demo{u} is gone: apps{u} no longer defines it at "), gone
        assert "--entry" not in gone["message"], gone
        [deployed] = [
            r
            for r in json.loads(cli("history", "--json", "--app", f"demo{u}").stdout)
            if r["trigger"] != "removed"
        ]
        assert deployed["health"] == "Healthy", (
            "its sync's health stays what it was; the removal has its own row"
        )


def test_a_one_shot_sync_ends_once_a_helm_release_is_ready_as_flux_reconcile_waits(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    """helm-controller waits for the release's resources (helm --wait): `sync` returned with the
    HelmRelease still Progressing, READY Unknown, and its history row kept Progressing."""
    with cluster_case(tmp_path, local_runtime, FLUX / "release-waits", "a release of a Deployment") as case:
        u, cli = case.uid, case.cli
        synced = cli("sync", "--json")
        assert synced.returncode == 0, shown(synced)
        app = next(a for a in json.loads(synced.stdout)["apps"] if a["name"].endswith(f"web{u}"))
        assert (app["health"], app["ready"]["status"]) == ("Healthy", "True"), app
        rows = [r for r in json.loads(cli("history", "--json").stdout) if r["app"] == app["name"]]
        assert rows[0]["health"] == "Healthy", rows[0]
