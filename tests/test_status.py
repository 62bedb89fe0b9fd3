"""Sync status and health of objects and apps, from plain values: no cluster, no git.

Manifests are YAML files in tests/status/; the live objects sit in a dict standing in for
the watch cache (what the view reads of it is three lookups).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.agent import status
from sandbox.agent.appview import AppFacts, app_state
from sandbox.agent.settings import AppSettings
from sandbox.agent.snapshot import AppState, ObjectState
from sandbox.apply.desired import DesiredSet
from sandbox.apply.dryrun import Comparison, Verdict
from sandbox.model import DesiredObject, Health, Manifest, ObjectKey, Problem, Rendered, SyncStatus
from sandbox.source.appconfig import AppSpec

HERE = Path(__file__).parent / "status"
SPEC = AppSpec("shop", "shop", "shop", "plain")


def manifest(name: str) -> Manifest:
    found: Manifest = yaml.safe_load((HERE / f"{name}.yaml").read_text())
    return found


class Live:
    """Live objects by key, read the way the view reads the watch cache."""

    def __init__(self, *objects: Manifest) -> None:
        self.objects = {ObjectKey.of(o): o for o in objects}

    def get(self, key: ObjectKey) -> Manifest | None:
        return self.objects.get(key)

    def children(self, uid: str) -> list[Manifest]:
        return []

    def labeled(self, value: str) -> list[Manifest]:
        return [
            o
            for o in self.objects.values()
            if o["metadata"].get("labels", {}).get("gitops-sandbox.io/app") == value
        ]


def desired(revision: str, *names: str, problems: tuple[Problem, ...] = ()) -> DesiredSet:
    objects = tuple(
        DesiredObject(ObjectKey.of(manifest(n)), manifest(n), f"shop/{n}.yaml", "shop") for n in names
    )
    return DesiredSet.of(Rendered("shop", revision, objects, problems))


SAME = Comparison(Verdict.SAME)


@pytest.mark.parametrize(
    ("desired_name", "live_name", "last", "expected"),
    [
        ("settings-v1", "settings-live", SAME, SyncStatus.SYNCED),
        ("settings-v1", "settings-live", Comparison(Verdict.DIFFERS), SyncStatus.OUT_OF_SYNC),
        ("settings-v1", "settings-live", Comparison(Verdict.FAILED, "refused"), SyncStatus.OUT_OF_SYNC),
        (
            "settings-v1",
            "settings-live",
            Comparison(Verdict.CONFLICT, "another app's"),
            SyncStatus.OUT_OF_SYNC,
        ),
        ("settings-v1", "settings-live", None, SyncStatus.UNKNOWN),
        ("settings-v1", None, None, SyncStatus.MISSING),
        (None, "leftover-live", None, SyncStatus.ORPHANED),
    ],
)
def test_an_objects_sync_status_follows_desired_live_and_the_last_comparison(
    desired_name: str | None, live_name: str | None, last: Comparison | None, expected: SyncStatus
) -> None:
    want = manifest(desired_name) if desired_name else None
    have = manifest(live_name) if live_name else None
    assert status.object_sync(want, have, last) == expected


def facts(**changes: Any) -> AppFacts:
    base: dict[str, Any] = {
        "spec": SPEC,
        "git_revision": "c2",
        "target": None,
        "deployed": None,
        "deployed_revision": None,
    }
    return AppFacts(**{**base, **changes})


def test_an_app_that_never_rendered_and_has_nothing_live_is_unknown_not_healthy() -> None:
    broken = desired("c1", problems=(Problem("invalid YAML", file="shop/broken.yaml"),))
    state = app_state(facts(git_revision="c1", target=broken, problems=broken.problems), Live())
    # As Argo CD says of an app it cannot compare: Unknown, with the problem beside it.
    assert (state.sync, state.health, state.problems) == (SyncStatus.UNKNOWN, Health.UNKNOWN, broken.problems)
    nothing = app_state(facts(git_revision=""), Live())
    assert (nothing.sync, nothing.health) == (SyncStatus.UNKNOWN, Health.UNKNOWN)


def test_an_app_that_rendered_but_has_nothing_live_is_missing() -> None:
    target = desired("c1", "settings-v1")
    state = app_state(facts(git_revision="c1", target=target, rendered_ever=True), Live())
    assert (state.sync, state.health) == (SyncStatus.OUT_OF_SYNC, Health.MISSING)
    assert [o.sync for o in state.objects] == [SyncStatus.MISSING]


def test_health_is_the_deployed_objects_health_while_a_newer_commit_is_refused() -> None:
    deployed = desired("c1", "settings-v1")
    refused = desired("c2", "settings-v1", "cache-v2")
    comparisons = {
        ObjectKey.of(manifest("settings-v1")): SAME,
        ObjectKey.of(manifest("cache-v2")): Comparison(Verdict.FAILED, "cache-v2.yaml: refused"),
    }
    state = app_state(
        facts(
            target=refused,
            deployed=deployed,
            deployed_revision="c1",
            comparisons=comparisons,
            rendered_ever=True,
        ),
        Live(manifest("settings-live")),
    )
    assert state.health == Health.HEALTHY, "the cluster runs c1, and c1 is healthy"
    assert state.sync == SyncStatus.OUT_OF_SYNC
    by_name = {o.key.name: o for o in state.objects}
    assert (by_name["cache"].sync, by_name["cache"].sync_message) == (
        SyncStatus.MISSING,
        "cache-v2.yaml: refused",
    )
    assert by_name["settings"].sync == SyncStatus.SYNCED


def test_an_object_claimed_by_the_app_and_gone_from_git_is_orphaned() -> None:
    target = desired("c2", "settings-v1")
    state = app_state(
        facts(
            target=target,
            deployed=target,
            deployed_revision="c2",
            comparisons={ObjectKey.of(manifest("settings-v1")): SAME},
            rendered_ever=True,
        ),
        Live(manifest("settings-live"), manifest("leftover-live")),
    )
    assert {o.key.name: o.sync for o in state.objects} == {
        "settings": SyncStatus.SYNCED,
        "leftover": SyncStatus.ORPHANED,
    }
    assert state.sync == SyncStatus.OUT_OF_SYNC and state.health == Health.HEALTHY


def test_a_rolled_back_app_is_out_of_sync_with_git_though_every_object_matches_its_target() -> None:
    target = desired("c1", "settings-v1")
    state = app_state(
        facts(target=target, deployed=target, deployed_revision="c1", settings=AppSettings(paused_at="c1"),
              comparisons={ObjectKey.of(manifest("settings-v1")): SAME}, rendered_ever=True),
        Live(manifest("settings-live")),
    )  # fmt: skip
    assert [o.sync for o in state.objects] == [SyncStatus.SYNCED]
    assert state.sync == SyncStatus.OUT_OF_SYNC and state.rolled_back and not state.auto_sync


def test_app_sync_and_health_rules_on_plain_values() -> None:
    rendered = status.AppFacts(rendered=True, problems=False, following_git=True)
    assert status.app_sync(rendered, [SyncStatus.SYNCED, SyncStatus.SYNCED]) == SyncStatus.SYNCED
    assert status.app_sync(rendered, [SyncStatus.SYNCED, SyncStatus.MISSING]) == SyncStatus.OUT_OF_SYNC
    with_problems = status.AppFacts(rendered=True, problems=True, following_git=True)
    assert status.app_sync(with_problems, [SyncStatus.SYNCED]) == SyncStatus.UNKNOWN, "Git cannot be compared"
    assert status.app_health(rendered, [Health.HEALTHY, Health.PROGRESSING]) == Health.PROGRESSING
    assert status.app_health(rendered, [Health.HEALTHY, Health.DEGRADED, Health.MISSING]) == Health.DEGRADED
    assert status.app_health(rendered, []) == Health.MISSING, "rendered, never synced, nothing live"
    synced = status.AppFacts(rendered=True, problems=False, following_git=True, synced_target=True)
    assert status.app_health(synced, []) == Health.HEALTHY, "nothing of its own to run, and synced"
    never = status.AppFacts(rendered=False, problems=True, following_git=True)
    assert status.app_health(never, []) == Health.UNKNOWN


def test_a_parent_is_as_healthy_as_the_worst_app_below_it_and_says_which() -> None:
    parent_of = {"root": "", "infra": "root", "apps": "root", "podinfo": "apps"}
    health_of = {"root": Health.HEALTHY, "infra": Health.HEALTHY, "apps": Health.HEALTHY,
                 "podinfo": Health.PROGRESSING}  # fmt: skip
    own = {"root": False, "infra": True, "apps": False, "podinfo": True}

    rolled = status.rolled_up(health_of, own, parent_of)

    assert rolled["root"] == status.RolledUp(Health.PROGRESSING, "podinfo")
    assert rolled["apps"] == status.RolledUp(Health.PROGRESSING, "podinfo")
    assert rolled["infra"] == status.RolledUp(Health.HEALTHY)
    assert rolled["podinfo"] == status.RolledUp(Health.PROGRESSING)


def test_an_app_below_that_failed_makes_its_parents_degraded_not_unknown() -> None:
    # The failed app's own health is Unknown (nothing of it known to run); the tree above is broken.
    parent_of = {"root": "", "apps": "root", "broken": "apps"}
    health_of = {"root": Health.HEALTHY, "apps": Health.HEALTHY, "broken": Health.UNKNOWN}
    own = {"root": True, "apps": False, "broken": False}

    rolled = status.rolled_up(health_of, own, parent_of, failed=frozenset({"broken"}))

    assert rolled["broken"] == status.RolledUp(Health.UNKNOWN)
    assert rolled["apps"] == status.RolledUp(Health.DEGRADED, "broken", failed=True)
    assert rolled["root"] == status.RolledUp(Health.DEGRADED, "broken", failed=True)


def test_a_parent_names_the_app_below_that_failed_on_its_own_not_one_that_waited_on_it() -> None:
    # Both count as Degraded above them; "a-web" sorts first, yet it only waited on "z-db".
    parent_of = {"root": "", "a-web": "root", "z-db": "root"}
    health_of = {"root": Health.HEALTHY, "a-web": Health.UNKNOWN, "z-db": Health.UNKNOWN}
    own = {"root": False, "a-web": False, "z-db": False}
    failed = frozenset({"a-web", "z-db"})

    rolled = status.rolled_up(health_of, own, parent_of, failed, blocked=frozenset({"a-web"}))
    unaware = status.rolled_up(health_of, own, parent_of, failed)

    assert rolled["root"] == status.RolledUp(Health.DEGRADED, "z-db", failed=True)
    assert unaware["root"].from_app == "a-web", "without knowing who waited, the first in order"


def test_a_parent_names_the_nearest_app_that_failed_not_one_it_held_back_further_down() -> None:
    # cluster-apps failed (a SOPS Secret) and applied nothing; cert-manager below it failed too,
    # for want of its parent: flux-system names cluster-apps, the cause.
    parent_of = {"flux-system": "", "cluster-apps": "flux-system", "cert-manager": "cluster-apps"}
    health_of = {
        "flux-system": Health.HEALTHY,
        "cluster-apps": Health.UNKNOWN,
        "cert-manager": Health.UNKNOWN,
    }
    own = {"flux-system": False, "cluster-apps": False, "cert-manager": False}
    failed = frozenset({"cluster-apps", "cert-manager"})

    rolled = status.rolled_up(health_of, own, parent_of, failed, blocked=frozenset({"cert-manager"}))

    assert rolled["flux-system"] == status.RolledUp(Health.DEGRADED, "cluster-apps", failed=True)


def test_an_app_that_fails_to_render_is_not_also_said_to_define_apps_that_run_nothing() -> None:
    import dataclasses

    from sandbox.agent.appview import finished
    from sandbox.agent.snapshot import AppState

    base = AppState(name="infra", path="infra", namespace="default", source_type="kustomize",
                    sync=SyncStatus.OUT_OF_SYNC, health=Health.UNKNOWN, git_revision="a" * 40,
                    target_revision="a" * 40, deployed_revision=None, auto_sync=True, self_heal=True, prune=True,
                    kind="Kustomization", defines=(("HelmRelease.helm.toolkit.fluxcd.io flux-system/web", "infra/web.yaml"),))  # fmt: skip
    failed = dataclasses.replace(base, problems=(Problem("is SOPS-encrypted", file="infra/secret.yaml"),))

    (said,) = finished((base,), "main")
    (quiet,) = finished((failed,), "main")

    assert any("read, not applied" in n.message for n in said.notices)
    assert not any("read, not applied" in n.message for n in quiet.notices)
    assert [n.file for n in said.notices if "read, not applied" in n.message] == ["infra/web.yaml"]

    many = dataclasses.replace(base, defines=(*base.defines, ("HelmRelease.helm.toolkit.fluxcd.io flux-system/db",
                                                              "infra/db/release.yaml")))  # fmt: skip
    [notice] = [n for n in finished((many,), "main")[0].notices if "read, not applied" in n.message]
    assert notice.file == "infra" and "(from 2 files)" in notice.message, (
        "not the first file, as if it held all"
    )


@pytest.mark.parametrize(
    ("kind", "said"),
    [("", True), ("Kustomization", False), ("Application", True)],
    ids=["a-folder-app-walks-none", "a-flux-app-walks-flux-apps", "an-application-walks-applications-only"],
)
def test_only_definitions_no_walk_reads_from_an_app_are_said_to_run_nothing(kind: str, said: bool) -> None:
    """A HelmRelease in a Kustomization's render is walked (when it is no app, say a second
    definition of one, that is a problem of its own); in a folder app's or an Application's it
    is not, and that is said."""
    from sandbox.model import DesiredObject, Rendered
    from sandbox.source.appspec import AppSpec

    release = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
               "metadata": {"name": "web", "namespace": "flux-system"}}  # fmt: skip
    child = DesiredObject(ObjectKey.of(release), release, "infra/web.yaml", "infra")
    target = DesiredSet.of(Rendered("infra", "a" * 40, children=(child,)))
    spec = AppSpec("infra", "infra", "default", "kustomize", kind=kind)
    facts = AppFacts(spec=spec, git_revision="a" * 40, target=target, deployed=None, deployed_revision=None)

    state = app_state(facts, Live())

    assert bool(state.defines) is said, state.defines


def _app(**changed: Any) -> AppState:
    base = AppState(
        name="shop", path="shop", namespace="shop", source_type="plain", sync=SyncStatus.SYNCED,
        health=Health.HEALTHY, git_revision="a" * 40, target_revision="a" * 40, deployed_revision="a" * 40,
        auto_sync=True, self_heal=False, prune=True, last_sync=1.0, last_result="Succeeded",
        message="nothing to do",
    )  # fmt: skip
    return dataclasses.replace(base, **changed)


def test_an_apps_line_says_why_it_is_as_it_is_now_never_a_last_sync_message_it_contradicts() -> None:
    drifted = ObjectState(
        ObjectKey("apps", "Deployment", "shop", "web"), SyncStatus.OUT_OF_SYNC, Health.HEALTHY
    )
    same = ObjectState(ObjectKey("", "ConfigMap", "shop", "web"), SyncStatus.SYNCED, Health.HEALTHY)
    assert _app().said == "nothing to do", "a message that still explains the app is the message"
    assert (
        _app(sync=SyncStatus.OUT_OF_SYNC, objects=(drifted, same)).said
        == "1 object differs from Git (last sync: nothing to do)"
    )
    assert (
        _app(sync=SyncStatus.OUT_OF_SYNC, git_revision="b" * 40, target_revision="b" * 40).said
        == "Git is at bbbbbbb, not yet deployed (last sync: nothing to do)"
    )
    interrupted = _app(last_result="Failed", message="interrupted: the agent was stopped")
    assert interrupted.said == "in sync with Git (last sync interrupted: the agent was stopped)"
    failed = _app(sync=SyncStatus.OUT_OF_SYNC, last_result="Failed", message="1 object(s) refused")
    assert failed.said == "1 object(s) refused", "a failure explains an app out of sync"
    never = _app(last_result="", message="", problems=(Problem("bad YAML", file="shop/a.yaml"),))
    assert never.said == "bad YAML", "before any sync, the first problem"
    broken_since = _app(sync=SyncStatus.UNKNOWN, problems=(Problem("bad YAML", file="shop/a.yaml"),))
    assert broken_since.said == "bad YAML (last sync: nothing to do)", "Git's head not rendering comes first"
