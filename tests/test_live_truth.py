"""The live objects are what they are, whatever a revision renders: after a broken commit the
running Deployment reads as running, and an object that exists without the sandbox's label
(kube-system, made by no sync of ours) reads as existing, not Missing."""

from __future__ import annotations

import json
from pathlib import Path

from clikit import REPOS, cluster_case, commit_fixture, output, shown

from agentkit import wait_for
from sandbox.cluster.local import LocalRuntime

CASE = REPOS / "live_truth"


def _objects(cli, app: str) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    apps = {a["name"]: a for a in json.loads(cli("status", "--json").stdout)["apps"]}
    return {f"{o['kind']}/{o['name']}": o for o in apps[app]["objects"]}


def test_a_broken_commit_leaves_the_running_objects_shown_as_they_run(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    with cluster_case(tmp_path, local_runtime, CASE / "one", "web runs") as case:
        u, cli = case.uid, case.cli
        first = cli("sync")
        assert first.returncode == 1, shown(first)  # sys is refused (Widget); web deploys
        wait_for(lambda: _objects(cli, f"web-{u}")["Deployment/web"]["health"] == "Healthy", 60, 0.5)
        system = _objects(cli, f"sys-{u}")
        assert system["Namespace/kube-system"]["sync"] != "Missing", system
        assert system["Namespace/kube-system"]["health"] == "Healthy", "it exists, labelled or not"

        commit_fixture(case.repo, CASE / "two", case.names, "broken file in web")
        verbose = cli("status", "-v")
        assert verbose.returncode == 1
        web = _objects(cli, f"web-{u}")
        assert web["Deployment/web"]["health"] == "Healthy", output(verbose)
        assert web["Deployment/web"]["sync"] == "Synced"
        app = {a["name"]: a for a in json.loads(cli("status", "--json").stdout)["apps"]}[f"web-{u}"]
        assert app["health"] == "Healthy" and app["problems"], (
            "the failed render is said, the health is the cluster's"
        )
