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


def test_a_deployment_whose_pods_read_a_missing_secret_is_not_healthy_and_says_why(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    """kwok started every pod, so a Deployment reading a Secret that never came read Healthy.
    Its pod waits as a kubelet leaves it, the Deployment stays Progressing and says which Secret
    its pod waits for; the commit that brings the Secret makes it Healthy."""
    with cluster_case(tmp_path, local_runtime, CASE / "reads_secret" / "one", "reads a Secret") as case:
        u, cli = case.uid, case.cli
        cli("sync")

        def deployment() -> dict:  # type: ignore[type-arg]
            return _objects(cli, f"reader-{u}")["Deployment/reader"]

        said = wait_for(lambda: "api-token" in deployment()["message"] and deployment(), 60, 0.5,
                        "the Deployment names the missing Secret")  # fmt: skip
        assert said["health"] == "Progressing", said
        assert 'CreateContainerConfigError: secret "api-token" not found' in said["message"], said
        assert said["message"].startswith(
            "Waiting for rollout: 0 of 1 updated replicas are available; pod reader-"
        ), said

        commit_fixture(case.repo, CASE / "reads_secret" / "two", case.names, "bring the Secret")
        cli("sync")
        wait_for(lambda: deployment()["health"] == "Healthy", 60, 0.5, "Healthy once the Secret exists")


def test_replicas_that_must_not_share_a_node_say_the_sandbox_has_one(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    """Required pod anti-affinity with two replicas: on the sandbox's one node the second pod
    never schedules. The Deployment says why, in the scheduler's words, and that the one node
    is the sandbox's doing, not the repo's."""
    with cluster_case(tmp_path, local_runtime, CASE / "apart", "two apart") as case:
        u, cli = case.uid, case.cli
        cli("sync")
        said = wait_for(lambda: (d := _objects(cli, f"apart-{u}")["Deployment/apart"]) and "one node" in d["message"]
                        and d, 60, 0.5, "the Deployment names the scheduler's reason")  # fmt: skip
        assert said["health"] == "Progressing", said
        assert "didn't match pod anti-affinity rules" in said["message"], said
        assert "the sandbox's cluster has one node" in said["message"], said
