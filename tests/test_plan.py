"""The sync plan, a pure value, on a fixture with waves, hooks, a CRD and its resource, a new
namespace and objects left from an earlier revision: no cluster, as gitops-engine tests its
sync tasks. What the sync then does in that order is proven against the API server in the
sync tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from clikit import cluster_case, shown
from gitkit import git
from watchkit import EventLog

from sandbox.apply.desired import DesiredSet
from sandbox.apply.inventory import Entry, Inventory
from sandbox.apply.plan import SyncPlan, kind_rank, plan
from sandbox.cluster.local import LocalRuntime
from sandbox.model import ObjectKey
from sandbox.source.appspec import AppSpec
from sandbox.source.envrepo import EnvRepo
from sandbox.source.render import render_app

FIXTURE = Path(__file__).parent / "plan" / "shop"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> DesiredSet:
    repo = tmp_path_factory.mktemp("plan") / "env"
    (repo / "shop").mkdir(parents=True)
    for file in FIXTURE.iterdir():
        (repo / "shop" / file.name).write_text(file.read_text())
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "shop")
    rendered = render_app(EnvRepo(repo), AppSpec("shop", "shop", "shop", "plain"), "HEAD")
    assert rendered.ok, [str(p) for p in rendered.problems]
    return DesiredSet.of(rendered)


def _names(objects: tuple) -> list[str]:  # type: ignore[type-arg]
    return [f"{o.key.kind}/{o.key.name}" for o in objects]


PREVIOUS = Inventory("shop", "0" * 40, (
    Entry(ObjectKey("", "ConfigMap", "shop", "settings"), "v1"),
    Entry(ObjectKey("", "ConfigMap", "shop", "old-flags"), "v1"),
    Entry(ObjectKey("apps", "Deployment", "shop", "old-worker"), "apps/v1"),
    Entry(ObjectKey("", "ServiceAccount", "shop", "old-worker"), "v1"),
))  # fmt: skip


def test_waves_go_in_order_each_with_namespaces_and_crds_first_then_kinds_in_install_order(
    shop: DesiredSet,
) -> None:
    found = plan(shop, None)

    assert [w.number for w in found.waves] == [-1, 0, 2, 5]
    minus_one, zero, two, five = found.waves
    assert _names(minus_one.objects) == ["ConfigMap/migrations-done"]
    assert _names(zero.first) == ["Namespace/shop", "CustomResourceDefinition/carts.shop.example.com"]
    assert [_names(g) for g in zero.by_kind] == [["ConfigMap/settings"], ["Service/web"], ["Deployment/web"]]
    assert _names(two.objects) == ["Cart/default"], "a custom resource after every built-in kind, in its wave"
    assert five.objects == () and _names(five.hooks) == ["Job/warm-cache"], "a wave of a Sync hook alone"


def test_hooks_sit_in_their_phases(shop: DesiredSet) -> None:
    found = plan(shop, None)

    assert _names(found.pre_sync) == ["Job/migrate"]
    assert _names(found.post_sync) == ["Job/smoke-test"], "Helm's post-install is PostSync"
    assert _names(found.sync_fail) == ["Pod/page-on-call"]
    assert "Job/migrate" not in _names(found.objects), "a hook is no object kept in step with Git"


def test_what_git_no_longer_has_is_pruned_last_dependents_first(shop: DesiredSet) -> None:
    found = plan(shop, PREVIOUS)

    assert [f"{e.key.kind}/{e.key.name}" for e in found.prune] == [
        "Deployment/old-worker", "ConfigMap/old-flags", "ServiceAccount/old-worker",
    ]  # fmt: skip
    assert kind_rank("Deployment") > kind_rank("ConfigMap") > kind_rank("ServiceAccount")


def test_objects_of_a_crd_or_namespace_this_sync_brings_are_checked_later(shop: DesiredSet) -> None:
    cold = plan(shop, None, knows_kind=lambda _v, kind: kind != "Cart", has_namespace=lambda _n: False)
    warm = plan(shop, None, knows_kind=lambda _v, _k: True, has_namespace=lambda _n: True)

    assert {k.name for k in cold.later} == {"default", "settings", "web", "migrations-done"}
    assert warm.later == ()


def test_the_plan_prints_each_step_and_compares_as_a_value(shop: DesiredSet) -> None:
    found = plan(shop, PREVIOUS)

    lines = found.lines()
    assert lines[0].startswith("shop at ") and "  PreSync hook Job.batch shop/migrate" in lines
    assert lines.index("  wave -1:") < lines.index("  wave 0:") < lines.index("  wave 2:")
    assert lines[-1] == "  on failure: SyncFail hook Pod shop/page-on-call"
    assert found == plan(shop, PREVIOUS) and isinstance(found, SyncPlan)
    assert found.to_json()["prune"][0] == "Deployment.apps shop/old-worker"


def test_a_sync_creates_objects_in_the_order_its_plan_says(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    # The API server's resourceVersion orders creations exactly, across kinds.
    with cluster_case(tmp_path, local_runtime, FIXTURE.parent / "ordered", "waves and kinds") as case:
        app = f"web{case.uid}"
        with EventLog(case.kube, app, ("ConfigMap", "Service", "Deployment")) as log:
            synced = case.cli("sync")
            assert synced.returncode == 0, shown(synced)
            created = {f"{e.kind}/{e.name}": int(e.object["metadata"]["resourceVersion"])
                       for e in log.events if e.type == "ADDED" and e.name != "kube-root-ca.crt"}  # fmt: skip
        rendered = render_app(EnvRepo(case.repo), AppSpec(app, app, app, "plain"), "HEAD")
        steps = plan(DesiredSet.of(rendered), None)
        step_of = {
            f"{o.key.kind}/{o.key.name}": index
            for index, group in enumerate(g for w in steps.waves for g in (w.first, *w.by_kind) if g)
            for o in group
        }
        assert set(created) == set(step_of), (created, step_of)
        in_order = sorted(created, key=created.__getitem__)
        assert [step_of[n] for n in in_order] == sorted(step_of[n] for n in in_order), in_order
        assert in_order[0] == "ConfigMap/early" and in_order[-1] == "ConfigMap/late"
