"""Flux's dependsOn against the real API server: an app waits until the apps it depends on
are Ready, says so, and never syncs on top of one that failed. The order is the order the
objects appeared in (watch events)."""

from __future__ import annotations

from pathlib import Path

from clikit import REPOS, cluster_case, cm_path, commit_fixture, live, output, shown
from watchkit import EventLog, available

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

        commit_fixture(case.repo, FLUX / "depends-broken", case.names, "slow refused; after changed")
        failed = cli("sync")
        assert failed.returncode == 1, shown(failed)
        assert f"depends on slow{u} (its sync failed)" in output(failed), output(failed)
        client = live(kube, cm_path(f"after{u}", "client"))
        assert client is not None and client["data"] == {"DB": "db.slow"}, (
            "after stays at its last good state"
        )
