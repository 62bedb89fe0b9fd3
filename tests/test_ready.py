"""A Flux app's Ready condition, as `flux get` words it, from the app's state (pure)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from sandbox.agent.history import SyncRecord
from sandbox.agent.ready import flux_ready
from sandbox.agent.snapshot import AppState, ObjectState, ReadyStatus
from sandbox.model import Health, ObjectKey, Problem, SyncStatus

SHA = "4f1a5b1051b469108d1bdf0ebec6c814427e3834"


def _record(trigger: str) -> SyncRecord:
    return SyncRecord(1, "apps", SHA, "Ada", "change", trigger, 0.0, 1.0, "Succeeded", "Healthy", "", ())


DRIFTED = ObjectKey("apps", "Deployment", "web", "web")
SYNCED = AppState(
    name="apps", path="apps/staging", namespace="default", source_type="kustomize", sync=SyncStatus.SYNCED,
    health=Health.HEALTHY, git_revision=SHA, target_revision=SHA, deployed_revision=SHA, auto_sync=True,
    self_heal=True, prune=True, last_result="Succeeded", kind="Kustomization",
)  # fmt: skip


@pytest.mark.parametrize(
    ("change", "status", "reason", "message"),
    [
        ({}, ReadyStatus.TRUE, "ReconciliationSucceeded", f"Applied revision: main@sha1:{SHA}"),
        ({"kind": "HelmRelease", "release": "web"}, ReadyStatus.TRUE, "InstallSucceeded",
         f"Helm install succeeded for release default/web at main@sha1:{SHA}"),
        ({"operation": "Syncing"}, ReadyStatus.UNKNOWN, "Progressing", "Reconciliation in progress"),
        ({"health": Health.PROGRESSING}, ReadyStatus.UNKNOWN, "Progressing", "Reconciliation in progress"),
        ({"deployed_revision": None, "last_result": ""}, ReadyStatus.UNKNOWN, "Progressing",
         "not reconciled yet (`sync` or `watch` reconciles it)"),
        ({"deployed_revision": None, "last_result": "", "operation": "Syncing"}, ReadyStatus.UNKNOWN,
         "Progressing", "Reconciliation in progress"),
        ({"health": Health.DEGRADED, "message": "Deployment web: 0/1 ready"}, ReadyStatus.FALSE,
         "HealthCheckFailed", "Deployment web: 0/1 ready"),
        ({"message": "waiting for dependsOn: infra (not Ready yet)"}, ReadyStatus.FALSE, "DependencyNotReady",
         "dependencies not ready: infra (not Ready yet)"),
        ({"last_result": "Failed", "message": "not synced: it depends on infra: sync failed"},
         ReadyStatus.FALSE, "DependencyNotReady", "dependencies not ready: infra: sync failed"),
        ({"last_result": "Failed", "message": "apply refused"}, ReadyStatus.FALSE, "ReconciliationFailed",
         "apply refused"),
        ({"health": Health.UNKNOWN}, ReadyStatus.UNKNOWN, "Progressing", "its objects are Unknown"),
        ({"health": Health.DEGRADED, "health_from": "podinfo", "health_from_failure": "failed to sync"}, ReadyStatus.FALSE,
         "HealthCheckFailed", "app podinfo it defines failed to sync"),
        ({"problems": (Problem("kustomize build failed: x", file="apps/staging/kustomization.yaml"),)},
         ReadyStatus.FALSE, "BuildFailed", "kustomize build failed: x (apps/staging/kustomization.yaml)"),
        ({"kind": "HelmRelease", "problems": (Problem("chart podinfo 6.0.0 comes from HelmRepository podinfo and "
          "nothing is fetched", file="apps/podinfo.yaml", reason="ArtifactFailed"),)}, ReadyStatus.FALSE,
         "ArtifactFailed", "chart podinfo 6.0.0 comes from HelmRepository podinfo and nothing is fetched "
         "(apps/podinfo.yaml)"),
        ({"ready_on_apply": True, "health": Health.DEGRADED, "health_from": "podinfo",
          "health_from_failure": "failed to sync"}, ReadyStatus.TRUE, "ReconciliationSucceeded",
         f"Applied revision: main@sha1:{SHA}"),
        ({"ready_on_apply": True, "target_revision": "0" * 40, "sync": SyncStatus.OUT_OF_SYNC},
         ReadyStatus.UNKNOWN, "Progressing", "OutOfSync: a new revision is not applied yet"),
        ({"kind": "HelmRelease", "release": "web", "sync": SyncStatus.OUT_OF_SYNC, "drift": (DRIFTED,)},
         ReadyStatus.TRUE, "InstallSucceeded", f"Helm install succeeded for release default/web at main@sha1:{SHA}; 1 object(s) changed "
         "in the cluster since, left as they are (driftDetection is not enabled)"),
        ({"kind": "HelmRelease", "release": "web", "syncs": (_record("commit"), _record("commit"))},
         ReadyStatus.TRUE, "UpgradeSucceeded", f"Helm upgrade succeeded for release default/web at main@sha1:{SHA}"),
        ({"kind": "HelmRelease", "release": "web", "sync": SyncStatus.OUT_OF_SYNC,
          "objects": (ObjectState(DRIFTED, SyncStatus.OUT_OF_SYNC, Health.HEALTHY),)},
         ReadyStatus.TRUE, "InstallSucceeded", f"Helm install succeeded for release default/web at main@sha1:{SHA}; 1 object(s) changed "
         "in the cluster since, left as they are (driftDetection is not enabled)"),
    ],
    ids=["applied", "helm-installed", "syncing", "progressing", "never-synced", "first-sync-under-way", "degraded",
         "waiting",
         "dependency-failed", "apply-failed", "health-unknown", "child-failed", "build-failed", "chart-not-had",
         "no-wait-applied-is-ready-whatever-its-health", "no-wait-new-revision", "helm-drift-left-is-still-ready",
         "helm-upgraded", "helm-drift-seen-from-another-process"],
)  # fmt: skip
def test_a_flux_apps_ready_condition_says_what_its_controller_would(
    change: dict[str, Any], status: ReadyStatus, reason: str, message: str
) -> None:
    ready = flux_ready(dataclasses.replace(SYNCED, **change), "main")

    assert ready is not None
    assert (ready.status, ready.reason, ready.message) == (status, reason, message)


@pytest.mark.parametrize("kind", ["", "Application"])
def test_apps_no_flux_object_defines_have_no_ready_condition(kind: str) -> None:
    assert flux_ready(dataclasses.replace(SYNCED, kind=kind), "main") is None


def test_the_app_a_parents_ready_names_is_named_as_the_table_names_it() -> None:
    parent = dataclasses.replace(SYNCED, health=Health.DEGRADED, health_from="HelmRelease/web/web",
                                 health_from_failure="failed to sync")  # fmt: skip

    ready = flux_ready(parent, "main", {"HelmRelease/web/web": "web"})

    assert ready is not None and ready.message == "app web it defines failed to sync"


def test_the_apps_table_says_whose_health_a_parents_rolled_up_health_is() -> None:
    """A Kustomization without spec.wait is Ready once applied, yet its health rolls up from the
    apps it defines: the MESSAGE says which one first, so Degraded beside Ready True is explained."""
    from sandbox.agent.snapshot import Snapshot
    from sandbox.cli.output import apps_table

    child = dataclasses.replace(SYNCED, name="web", parent="flux-system", health=Health.UNKNOWN,
                                sync=SyncStatus.UNKNOWN, deployed_revision=None, last_result="Failed",
                                message="apply refused")  # fmt: skip
    root = dataclasses.replace(SYNCED, name="flux-system", ready_on_apply=True, health=Health.DEGRADED,
                               health_from="web", health_from_failure="failed to sync")  # fmt: skip
    root = dataclasses.replace(root, ready=flux_ready(root, "main"))
    child = dataclasses.replace(child, ready=flux_ready(child, "main"))
    table = apps_table(Snapshot(1, "/env", "main", SHA, (root, child)))
    line = next(row for row in table.splitlines() if row.startswith("flux-system"))
    assert "Degraded  True" in line and line.endswith(
        "app web it defines failed to sync; Applied revision: main@sha1:4f1a5b1051b469108"
    ), line


def test_one_app_of_a_snapshot_names_the_app_below_it_as_the_whole_table_does_and_once() -> None:
    """status --app parent: the child it names is left out of the table, yet named by the short
    name the repo's table gives it, and said once (not once short, once qualified)."""
    from sandbox.agent.snapshot import Snapshot
    from sandbox.cli.output import apps_table

    child = dataclasses.replace(SYNCED, name="HelmRelease/web/web", kind="HelmRelease", home="web",
                                object_name="web", parent="apps", last_result="Failed")  # fmt: skip
    parent = dataclasses.replace(SYNCED, name="apps", health=Health.DEGRADED, health_from=child.name,
                                 health_from_failure="failed to sync")  # fmt: skip
    whole = Snapshot(1, "/env", "main", SHA, (parent, child))
    parent = dataclasses.replace(parent, ready=flux_ready(parent, "main", whole.shown_names))
    one = Snapshot(1, "/env", "main", SHA, (parent, child)).only(lambda a: a.name == "apps")

    line = next(row for row in apps_table(one).splitlines() if row.startswith("apps"))
    assert line.count("it defines failed to sync") == 1 and "app web it defines" in line, line


def test_a_parent_with_nothing_of_its_own_to_say_names_the_child_without_a_dangling_separator() -> None:
    from sandbox.agent.snapshot import Snapshot
    from sandbox.cli.output import apps_table

    root = dataclasses.replace(SYNCED, name="root", kind="Application", health=Health.DEGRADED, health_from="web",
                               health_from_failure="failed to sync", message="")  # fmt: skip
    child = dataclasses.replace(SYNCED, name="web", kind="Application", parent="root", last_result="Failed")
    line = next(row for row in apps_table(Snapshot(1, "/env", "main", SHA, (root, child))).splitlines()
                if row.startswith("root"))  # fmt: skip
    assert line.endswith("app web it defines failed to sync"), line


def test_a_parent_that_failed_itself_says_its_own_failure_not_a_childs_first() -> None:
    from sandbox.agent.snapshot import Snapshot
    from sandbox.cli.output import apps_table

    root = dataclasses.replace(SYNCED, name="flux-system", health=Health.DEGRADED, health_from="web",
                               health_from_failure="failed to sync", problems=(Problem("url is not this env repo", file="a.yaml"),))  # fmt: skip
    root = dataclasses.replace(root, ready=flux_ready(root, "main"))
    table = apps_table(Snapshot(1, "/env", "main", SHA, (root,)))
    line = next(row for row in table.splitlines() if row.startswith("flux-system"))
    assert line.endswith("url is not this env repo (a.yaml)"), line


def test_an_apps_problem_lines_name_the_app_once(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from sandbox.agent.snapshot import Snapshot
    from sandbox.cli.output import emit

    problem = Problem("chart cert-manager is not cached", file="platform/release.yaml", object="cert-manager")
    app = dataclasses.replace(SYNCED, name="cert-manager", problems=(problem,))
    emit(argparse.Namespace(json=False), Snapshot(1, "/env", "main", SHA, (app,)))
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("cert-manager:")]
    assert lines == ["cert-manager: platform/release.yaml: chart cert-manager is not cached"], lines


def test_status_v_shows_each_apps_message_whole_and_the_plain_table_cuts_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import argparse

    from sandbox.agent.snapshot import Snapshot
    from sandbox.cli.output import emit

    long = "objects refused: " + "L7Rule.ako.vmware.com web/rule " * 6
    app = dataclasses.replace(SYNCED, name="web", kind="", last_result="Failed", message=long.strip())
    snapshot = Snapshot(1, "/env", "main", SHA, (app,))
    emit(argparse.Namespace(json=False), snapshot)
    cut = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("web "))
    emit(argparse.Namespace(json=False), snapshot, verbose=True)
    whole = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("web "))
    assert long.strip() not in cut and whole.endswith(long.strip()), (cut, whole)


def test_an_app_that_never_deployed_and_does_not_render_says_the_apps_it_defines_are_not_known() -> None:
    """Its apps are not in the table (no revision of them runs): said on it, not dropped in silence."""
    from sandbox.agent.appview import finished

    core = dataclasses.replace(SYNCED, name="core", deployed_revision=None, sync=SyncStatus.UNKNOWN,
                               problems=(Problem("kustomize build failed: x", file="core/kustomization.yaml"),))  # fmt: skip
    other = dataclasses.replace(SYNCED, name="other")
    [said_core, said_other] = finished((core, other), "main", unread={"core"})
    assert [n.message for n in said_core.notices] == [
        f"the apps it defines are not known while it does not render at {SHA[:7]}: it never deployed, so its "
        "controller never applied them and no revision of them runs"
    ]
    assert said_other.notices == ()


@pytest.mark.parametrize(
    ("child_change", "said"),
    [
        ({"last_result": "Failed", "message": "apply refused"}, "app web it defines failed to sync"),
        ({"last_result": "Failed", "problems": (Problem("kustomize build: no such file", file="web/k.yaml"),)},
         "app web it defines does not render"),
    ],
)  # fmt: skip
def test_a_parents_rolled_up_health_says_whether_the_app_below_failed_to_sync_or_to_render(
    child_change: dict[str, Any], said: str
) -> None:
    from sandbox.agent.appview import roll_up

    child = dataclasses.replace(SYNCED, name="web", parent="flux-system", health=Health.UNKNOWN,
                                deployed_revision=None, **child_change)  # fmt: skip
    root = dataclasses.replace(SYNCED, name="flux-system")
    rolled = {a.name: a for a in roll_up((root, child))}
    assert rolled["flux-system"].health_below() == said


def test_a_health_rolled_up_from_two_levels_down_names_the_app_below_not_as_one_it_defines() -> None:
    from sandbox.agent.appview import roll_up

    root = dataclasses.replace(SYNCED, name="root")
    middle = dataclasses.replace(SYNCED, name="middle", parent="root")
    leaf = dataclasses.replace(SYNCED, name="leaf", parent="middle", health=Health.DEGRADED)
    rolled = {a.name: a for a in roll_up((root, middle, leaf))}
    assert rolled["middle"].health_below() == "app leaf it defines is Degraded"
    assert rolled["root"].health_below() == "app leaf below it is Degraded"


def test_a_health_check_that_waits_past_its_timeout_is_ready_false_naming_what_it_waited_for() -> None:
    """kustomize-controller with wait: true gives up after spec.timeout (its interval when not
    set): Ready False, HealthCheckFailed, naming each object still in progress."""
    from sandbox.agent.snapshot import ObjectState

    stuck = ObjectState(ObjectKey("apps", "Deployment", "web", "web"), SyncStatus.SYNCED, Health.PROGRESSING)
    waiting = dataclasses.replace(SYNCED, health=Health.PROGRESSING, objects=(stuck,), last_sync=1000.0,
                                  health_timeout=60.0)  # fmt: skip

    before = flux_ready(waiting, "main", now=1059.0)
    after = flux_ready(waiting, "main", now=1061.0)

    assert before is not None and (before.status, before.reason) == (ReadyStatus.UNKNOWN, "Progressing")
    assert after is not None and (after.status, after.reason) == (ReadyStatus.FALSE, "HealthCheckFailed")
    assert after.message == (
        "health check failed after 60s: timeout waiting for: [Deployment/web/web status: 'InProgress']"
    )


def test_a_degraded_apps_ready_message_names_the_failed_objects_not_the_syncs_summary() -> None:
    from sandbox.agent.snapshot import ObjectState

    broken = ObjectState(ObjectKey("apps", "Deployment", "web", "web"), SyncStatus.SYNCED, Health.DEGRADED,
                         "Deployment web exceeded its progress deadline")  # fmt: skip
    app = dataclasses.replace(
        SYNCED, health=Health.DEGRADED, objects=(broken,), message="1 configured, 3 unchanged"
    )
    ready = flux_ready(app, "main")
    assert ready is not None and ready.message == (
        "health check failed: Deployment/web/web: Deployment web exceeded its progress deadline"
    )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1m", 60.0),
        ("1h30m", 5400.0),
        ("2m30s", 150.0),
        ("500ms", 0.5),
        ("10", None),
        ("5 m", None),
        ("", None),
    ],
)
def test_a_flux_timeout_reads_as_a_go_duration(text: str, seconds: float | None) -> None:
    from sandbox.source.fluxhealth import go_duration

    assert go_duration(text) == seconds
