"""What a user must be able to trust, checked at the command line against a real cluster.

Each test runs ``gitops-sandbox`` as a subprocess on an env repo made from a fixture folder
under ``tests/repos/``, and judges only what a user can observe: exit codes, what was
printed, the live objects, and the rows of the history database (read-only).
"""

from __future__ import annotations

import json
import re
import subprocess
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from clikit import (
    REPOS,
    Cli,
    cluster_role_path,
    cm_path,
    commit_all,
    commit_fixture,
    crd_path,
    deployment_path,
    fill,
    inventory_path,
    kubectl,
    live,
    output,
    repo_from_fixture,
    resource_versions,
    settled_versions,
    shown,
    uid,
    wait_for,
)
from gitkit import git

from sandbox.cluster.local import LocalRuntime
from sandbox.kube.client import Kube

TRACKING = "gitops-sandbox.io/tracking-id"
MiB = 1024 * 1024


@pytest.fixture
def kube(local_runtime: LocalRuntime) -> Iterator[Kube]:
    client = Kube(local_runtime.kubeconfig_path, local_runtime.context)
    yield client
    client.close()


def start(
    tmp_path: Path, runtime: LocalRuntime, case: str, env: dict[str, str] | None = None
) -> tuple[Cli, dict[str, str], str]:
    """An env repo whose first commit is ``repos/<case>/c1``, and a CLI with its own state."""
    names = {"uid": uid()}
    repo, first = repo_from_fixture(tmp_path / "env", REPOS / case / "c1", names, f"{case}: first deploy")
    return Cli(repo, tmp_path / "state", runtime, env), names, first


def empty_repo(tmp_path: Path, runtime: LocalRuntime, env: dict[str, str] | None = None) -> Cli:
    repo = tmp_path / "env"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    return Cli(repo, tmp_path / "state", runtime, env)


def app_json(proc: subprocess.CompletedProcess[str], name: str) -> dict[str, Any]:
    try:
        apps = json.loads(proc.stdout)["apps"]
    except (ValueError, KeyError) as exc:
        raise AssertionError(f"no JSON app list ({exc}):\n{shown(proc)}") from exc
    found = next((a for a in apps if a["name"] == name), None)
    assert found is not None, f"app {name} not in {[a['name'] for a in apps]}"
    return found


def replicas_of(kube: Kube, path: str) -> int | None:
    obj = live(kube, path)
    return None if obj is None else obj["spec"]["replicas"]


def data_of(kube: Kube, path: str) -> dict[str, str] | None:
    obj = live(kube, path)
    return None if obj is None else obj.get("data") or {}


# -- looking changes nothing ------------------------------------------------------------------


def _hand_scaled_app(
    tmp_path: Path, runtime: LocalRuntime, kube: Kube
) -> tuple[Cli, dict[str, str], str, list[str]]:
    """The drift set-up: web synced at replicas 1, then scaled to 3 by hand with kubectl."""
    cli, names, _c1 = start(tmp_path, runtime, "drift")
    app = f"web{names['uid']}"
    synced = cli("sync")
    assert synced.returncode == 0, shown(synced)
    assert replicas_of(kube, deployment_path(app, "web")) == 1
    kubectl(runtime, "scale", "deployment/web", "-n", app, "--replicas=3")
    tracked = [deployment_path(app, "web"), cm_path(app, "web-config"), inventory_path(app)]
    return cli, names, app, tracked


def test_diff_of_a_branch_changes_nothing_in_the_cluster_or_the_history(
    tmp_path: Path, local_runtime: LocalRuntime, kube: Kube
) -> None:
    cli, names, app, tracked = _hand_scaled_app(tmp_path, local_runtime, kube)
    git(cli.repo, "checkout", "-q", "-b", "feature")
    commit_fixture(cli.repo, REPOS / "drift" / "feature", names, "scale web to 4")
    git(cli.repo, "checkout", "-q", "main")
    before = settled_versions(kube, tracked)
    assert all(before.values()), before
    rows = len(cli.history_rows())

    diff = cli("diff", "--ref", "feature")

    assert diff.returncode == 1, shown(diff)
    assert "replicas" in diff.stdout, shown(diff)
    time.sleep(2)  # anything the diff set going without waiting for it has landed by now
    replicas = replicas_of(kube, deployment_path(app, "web"))
    assert replicas == 3, f"the hand scale to 3 was overwritten: replicas is {replicas}"
    assert resource_versions(kube, tracked) == before, "diff changed objects in the cluster"
    after = cli.history_rows()
    assert len(after) == rows, f"diff added history rows: {after[rows:]}"


def test_status_and_history_only_look(tmp_path: Path, local_runtime: LocalRuntime, kube: Kube) -> None:
    cli, _names, app, tracked = _hand_scaled_app(tmp_path, local_runtime, kube)
    before = settled_versions(kube, tracked)
    assert all(before.values()), before
    rows = len(cli.history_rows())

    status = cli("status", "--json")

    assert status.returncode == 1, shown(status)
    assert app_json(status, app)["sync"] == "OutOfSync", shown(status)
    time.sleep(2)
    replicas = replicas_of(kube, deployment_path(app, "web"))
    assert replicas == 3, f"status undid the hand scale to 3: replicas is {replicas}"
    assert resource_versions(kube, tracked) == before, "status changed objects in the cluster"
    after = cli.history_rows()
    assert len(after) == rows, f"status added history rows: {after[rows:]}"

    history = cli("history")
    assert history.returncode == 0, shown(history)
    assert len(cli.history_rows()) == rows, "history added rows"


# -- the history tells the truth --------------------------------------------------------------


def test_a_one_shot_sync_after_a_new_commit_records_one_manual_sync_at_that_commit(
    tmp_path: Path, local_runtime: LocalRuntime, kube: Kube
) -> None:
    cli, names, _c1 = start(tmp_path, local_runtime, "record")
    app = f"rec{names['uid']}"
    first = cli("sync")
    assert first.returncode == 0, shown(first)
    last_id = max(r["id"] for r in cli.history_rows())
    c2 = commit_fixture(cli.repo, REPOS / "record" / "c2", names, "settings: v 2")

    second = cli("sync")

    assert second.returncode == 0, shown(second)
    assert data_of(kube, cm_path(app, "settings")) == {"v": "2"}
    new = [r for r in cli.history_rows() if r["id"] > last_id]
    triggers = [(r["trigger"], r["revision"][:7], r["result"]) for r in new]
    assert not [r for r in new if r["trigger"] == "drift"], f"a drift row was recorded: {triggers}"
    assert len(new) == 1, f"expected one new row, got {triggers}"
    row = new[0]
    assert (row["app"], row["revision"], row["trigger"], row["result"]) == (app, c2, "manual", "Succeeded")
    actions = {o["key"]: o["action"] for o in cli.history_objects(row["id"])}
    settings = [k for k in actions if k.startswith("ConfigMap ") and k.endswith("/settings")]
    assert settings, actions
    assert actions[settings[0]] == "configured", actions


def test_a_rejected_commit_is_recorded_once_applies_nothing_and_self_heal_keeps_the_last_good_one(
    tmp_path: Path, local_runtime: LocalRuntime, kube: Kube
) -> None:
    cli, names, c1 = start(tmp_path, local_runtime, "rejected")
    app = f"rej{names['uid']}"
    settings = cm_path(app, "settings")
    with cli.watch() as watch:
        watch.wait_for_line("synced", 120)
        wait_for(lambda: data_of(kube, settings) == {"v": "1"}, 30, what="c1 deployed")
        last_id = max(r["id"] for r in cli.history_rows())
        c2 = commit_fixture(cli.repo, REPOS / "rejected" / "c2", names, "settings v 2, replicas -1")
        wait_for(lambda: [r for r in cli.history_rows() if r["revision"] == c2 and r["ended"]], 60,
                 what="the rejected commit's sync recorded")  # fmt: skip
        time.sleep(3)  # a quiet window: the point is that no second row comes

        new = [r for r in cli.history_rows() if r["id"] > last_id]
        seen = [(r["id"], r["trigger"], r["revision"][:7], r["result"]) for r in new]
        at_c2 = [r for r in new if r["revision"] == c2]
        assert at_c2, f"the rejected commit was never recorded: {seen}\n{watch.text}"
        assert len(at_c2) == 1, f"{len(at_c2)} rows for the rejected commit: {seen}"
        assert at_c2[0]["result"] == "Failed", seen
        under_c1 = [s for s, r in zip(seen, new, strict=True) if r["revision"] == c1]
        assert not under_c1, f"rows under the old revision after the rejected commit: {under_c1}"
        assert data_of(kube, settings) == {"v": "1"}, "part of the rejected commit was applied"

        kubectl(local_runtime, "patch", "configmap", "settings", "-n", app, "--type=merge",
                "-p", '{"data": {"v": "hand"}}')  # fmt: skip
        healed = wait_for(
            lambda: (v := (data_of(kube, settings) or {}).get("v")) != "hand" and v, 15, what="self-heal"
        )
        time.sleep(2)
        assert healed == "1", f"self-heal put the ConfigMap to v={healed!r}, not the last good '1'"
        assert data_of(kube, settings) == {"v": "1"}
        at_c2 = [r for r in cli.history_rows() if r["revision"] == c2]
        assert len(at_c2) == 1, f"{len(at_c2)} rows for the rejected commit after the heal"


# -- revert, rollback --------------------------------------------------------------------------


def test_revert_without_argument_reverts_head_when_heads_sync_failed(
    tmp_path: Path, local_runtime: LocalRuntime, kube: Kube
) -> None:
    cli, names, c1 = start(tmp_path, local_runtime, "revert")
    app = f"rev{names['uid']}"
    first = cli("sync")
    assert first.returncode == 0, shown(first)
    subject = "web: replicas -1"
    c2 = commit_fixture(cli.repo, REPOS / "revert" / "c2", names, subject)
    broken = cli("sync")
    assert broken.returncode == 1, shown(broken)

    reverted = cli("revert")

    assert reverted.returncode == 0, shown(reverted)
    assert git(cli.repo, "log", "-1", "--format=%s") == f'Revert "{subject}"'
    assert git(cli.repo, "rev-parse", "HEAD~1") == c2
    assert git(cli.repo, "diff", "--name-only", c1, "HEAD") == "", "HEAD's tree is not c1's"
    assert replicas_of(kube, deployment_path(app, "web")) == 1
    status = cli("status")
    assert status.returncode == 0, shown(status)


def test_revert_without_argument_in_a_repo_of_many_apps_reverts_the_newest_deployed_change(
    tmp_path: Path, local_runtime: LocalRuntime, kube: Kube
) -> None:
    # 'a' sorts first and was last changed by the first commit; only 'z' changed since.
    cli, names, c1 = start(tmp_path, local_runtime, "revert_newest")
    a, z = f"a{names['uid']}", f"z{names['uid']}"
    c2 = commit_fixture(cli.repo, REPOS / "revert_newest" / "c2", names, "z: v 2")
    synced = cli("sync")
    assert synced.returncode == 0, shown(synced)

    reverted = cli("revert")

    assert reverted.returncode == 0, shown(reverted)
    assert git(cli.repo, "log", "-1", "--format=%s") == 'Revert "z: v 2"', shown(reverted)
    assert git(cli.repo, "rev-parse", "HEAD~1") == c2
    assert data_of(kube, cm_path(z, "settings")) == {"v": "1"}
    assert data_of(kube, cm_path(a, "settings")) == {"v": "1"}, "the first commit was reverted"
    assert c1 in git(cli.repo, "rev-list", "HEAD")


def test_rollback_of_one_app_succeeds_while_another_app_is_broken(
    tmp_path: Path, local_runtime: LocalRuntime, kube: Kube
) -> None:
    # Two kinds of broken neighbour: an app that never renders, and an invalid sandbox.yaml entry.
    cli, names, c1 = start(tmp_path, local_runtime, "rollback")
    good, bad = f"good{names['uid']}", f"bad{names['uid']}"
    settings = cm_path(good, "settings")
    first = cli("sync")
    assert first.returncode == 1, shown(first)  # bad never renders
    assert bad in output(first)
    assert data_of(kube, settings) == {"v": "1"}
    commit_fixture(cli.repo, REPOS / "rollback" / "c2", names, "good: v 2")
    second = cli("sync")
    assert second.returncode == 1, shown(second)
    assert data_of(kube, settings) == {"v": "2"}

    rolled = cli("rollback", good, "--to", c1)

    assert rolled.returncode == 0, shown(rolled)
    assert "rolled back" in rolled.stdout and "undo" in rolled.stdout, shown(rolled)
    assert data_of(kube, settings) == {"v": "1"}

    # A later sync keeps the rollback: it syncs the revision rolled back to, not Git's head.
    again = cli("sync", "--app", good)
    assert again.returncode == 0, shown(again)
    assert data_of(kube, settings) == {"v": "1"}
    state = app_json(cli("status", "--json"), good)
    assert state["rolledBack"] and state["deployedRevision"] == c1, state


# -- ownership ---------------------------------------------------------------------------------


def test_two_apps_rendering_the_same_object_never_take_it_from_each_other(
    tmp_path: Path, local_runtime: LocalRuntime, kube: Kube
) -> None:
    cli, names, _c1 = start(tmp_path, local_runtime, "shared")
    staging, production = f"staging-{names['uid']}", f"production-{names['uid']}"
    role = cluster_role_path(f"settings-reader-{names['uid']}")

    def owner() -> str:
        obj = live(kube, role)
        assert obj is not None, "the ClusterRole is not in the cluster"
        return str((obj["metadata"].get("annotations") or {}).get(TRACKING, ""))

    first = cli("sync")
    assert first.returncode == 1, shown(first)
    text = output(first)
    for needle in (staging, production, "base/clusterrole.yaml"):
        assert needle in text, f"{needle!r} not in the output:\n{shown(first)}"
    assert owner().startswith(f"{staging}:"), owner()
    for _ in range(2):
        again = cli("sync")
        assert again.returncode == 1, shown(again)
        assert owner().startswith(f"{staging}:"), owner()
    seen = []
    for _ in range(3):
        status = cli("status", "--json")
        seen.append((app_json(status, staging)["sync"], app_json(status, production)["sync"]))
        assert owner().startswith(f"{staging}:"), owner()
    assert len(set(seen)) == 1, f"(staging, production) sync status changed between runs: {seen}"
    assert sorted(seen[0]) == ["OutOfSync", "Synced"], seen


def test_an_object_one_app_drops_can_be_taken_by_the_app_that_was_refused_it(
    tmp_path: Path, local_runtime: LocalRuntime, kube: Kube
) -> None:
    cli, names, _c1 = start(tmp_path, local_runtime, "handover")
    a, b = f"a{names['uid']}", f"b{names['uid']}"
    role = cluster_role_path(f"pod-reader-{names['uid']}")

    def owner() -> str:
        found = live(kube, role)
        return "" if found is None else found["metadata"]["annotations"][TRACKING].split(":")[0]

    with cli.watch() as watch:
        watch.wait_for_line("sync of", 120)  # b's sync fails: a applied the ClusterRole first
        assert owner() == a
        # The ClusterRole fails alone: b's other objects apply (README: it "fails for that object").
        wait_for(lambda: live(kube, cm_path(b, "settings")), 30, what=f"{b}'s own ConfigMap")
        commit_fixture(cli.repo, REPOS / "handover" / "c2", names, "a no longer ships the ClusterRole")
        wait_for(lambda: owner() == b, 30, what=f"{b} to take the ClusterRole a dropped")
    status = cli("status", "--json")
    assert status.returncode == 0, shown(status)
    assert [app_json(status, n)["sync"] for n in (a, b)] == ["Synced", "Synced"]


# -- honest health -----------------------------------------------------------------------------


def test_an_app_that_never_rendered_has_unknown_health(
    tmp_path: Path, local_runtime: LocalRuntime, kube: Kube
) -> None:
    cli, names, _c1 = start(tmp_path, local_runtime, "never_rendered")
    app = f"broken{names['uid']}"
    synced = cli("sync")
    assert synced.returncode == 1, shown(synced)
    assert f"{app}/broken.yaml" in output(synced), shown(synced)

    status = cli("status", "--json")

    assert status.returncode == 1, shown(status)
    health = app_json(status, app)["health"]
    assert health == "Unknown", f"an app with nothing rendered has health {health}"


def test_a_custom_resource_whose_status_lags_its_generation_is_not_healthy(
    tmp_path: Path, local_runtime: LocalRuntime, kube: Kube
) -> None:
    cli, names, _c1 = start(tmp_path, local_runtime, "crd_status")
    app = f"crs{names['uid']}"
    synced = cli("sync")
    assert synced.returncode == 0, shown(synced)
    gadget = live(kube, f"/apis/crs{names['uid']}.example.com/v1/namespaces/{app}/gadgets/first")
    assert gadget is not None
    assert gadget["status"] == {"observedGeneration": -1}, gadget.get("status")
    assert gadget["metadata"]["generation"] == 1

    status = cli("status", "--json")

    objects = app_json(status, app)["objects"]
    found = next((o for o in objects if o["kind"] == "Gadget"), None)
    assert found is not None, objects
    assert found["health"] == "Progressing", f"the Gadget's health is {found['health']}"
    assert status.returncode == 1, shown(status)


def test_status_says_why_a_workload_waits_when_its_pod_cannot_be_scheduled(
    tmp_path: Path, local_runtime: LocalRuntime, kube: Kube
) -> None:
    # The Deployment only says it waits for its rollout; the scheduler's reason is on the pod.
    cli, names, _c1 = start(tmp_path, local_runtime, "unschedulable")
    synced = cli("sync")
    assert synced.returncode == 0, shown(synced)
    deadline = time.monotonic() + 60
    while True:
        status = cli("status", "-v")
        line = next((ln for ln in output(status).splitlines() if ln.startswith("Deployment")), "")
        if "nodes are available" in line or time.monotonic() > deadline:
            break
        time.sleep(1)

    assert status.returncode == 1, shown(status)
    assert "Progressing" in line and "pod web-" in line, shown(status)
    assert "didn't match Pod's node affinity/selector" in line, shown(status)


def test_a_one_shot_sync_of_a_refused_commit_shows_the_health_of_what_runs(
    tmp_path: Path, local_runtime: LocalRuntime, kube: Kube
) -> None:
    cli, names, _c1 = start(tmp_path, local_runtime, "revert_newest")
    z = f"z{names['uid']}"
    assert cli("sync").returncode == 0
    (cli.repo / z / "broken.yaml").write_text("data: [unclosed\n")
    commit_all(cli.repo, "z: broken")

    refused = cli("sync", "--app", z, "--json")

    assert refused.returncode == 1, shown(refused)
    app = app_json(refused, z)
    # Argo CD's ComparisonError: Git cannot be compared while it does not render (Unknown),
    # and the health is what runs.
    assert (app["sync"], app["health"]) == ("Unknown", "Healthy"), (
        app["sync"],
        app["health"],
        app["message"],
    )


# -- removed and vanished apps -----------------------------------------------------------------


def test_apps_removed_from_sandbox_yaml_are_announced_pruned_or_kept_as_orphans(
    tmp_path: Path, local_runtime: LocalRuntime, kube: Kube
) -> None:
    cli, names, _c1 = start(tmp_path, local_runtime, "removed")
    a, b, c = (f"{x}{names['uid']}" for x in "abc")
    first = cli("sync")
    assert first.returncode == 0, shown(first)
    for app, x in ((a, "a"), (b, "b"), (c, "c")):
        assert live(kube, cm_path(app, f"settings-{x}")) is not None
        assert live(kube, inventory_path(app)) is not None
    commit_fixture(cli.repo, REPOS / "removed" / "c2", names, "only c stays")

    second = cli("sync")

    text = output(second)
    assert second.returncode != 2 and "Traceback" not in text, shown(second)
    for needle in (a, b, "removed"):
        assert needle in text, f"{needle!r} not in the output:\n{shown(second)}"
    wait_for(lambda: live(kube, cm_path(a, "settings-a")) is None, 15, what=f"{a}'s objects deleted")
    assert live(kube, inventory_path(a)) is None, f"inventory-{a} is still there"
    assert live(kube, cm_path(b, "settings-b")) is not None, f"{b} has prune off: its objects stay"
    assert live(kube, cm_path(c, "settings-c")) is not None
    status = cli("status", "--json")
    objects = app_json(status, b)["objects"]
    assert objects and all(o["sync"] == "Orphaned" for o in objects), objects


def test_a_vanished_app_folder_is_reported_and_nothing_is_pruned(
    tmp_path: Path, local_runtime: LocalRuntime, kube: Kube
) -> None:
    cli, names, _c1 = start(tmp_path, local_runtime, "vanished")
    x, y = f"x{names['uid']}", f"y{names['uid']}"
    first = cli("sync")
    assert first.returncode == 0, shown(first)
    assert live(kube, cm_path(y, "settings")) is not None
    commit_fixture(cli.repo, REPOS / "vanished" / "c2", names, f"delete {y}")

    second = cli("sync")

    assert second.returncode == 1, shown(second)
    assert live(kube, cm_path(y, "settings")) is not None, f"{y}'s objects were deleted"
    assert live(kube, cm_path(x, "settings")) is not None
    text = output(second)
    assert y in text and "pruned" in text, shown(second)


def test_an_app_folder_emptied_of_manifests_fails_and_keeps_its_objects(
    tmp_path: Path, local_runtime: LocalRuntime, kube: Kube
) -> None:
    cli, names, _c1 = start(tmp_path, local_runtime, "emptied")
    app = f"e{names['uid']}"
    first = cli("sync")
    assert first.returncode == 0, shown(first)
    commit_fixture(cli.repo, REPOS / "emptied" / "c2", names, "manifests moved; a note is left")

    second = cli("sync")

    assert second.returncode == 1, shown(second)
    assert live(kube, cm_path(app, "settings")) is not None, "the emptied app's objects were deleted"
    assert app in output(second), shown(second)


def test_status_says_an_uncommitted_sandbox_yaml_is_not_used(
    tmp_path: Path, local_runtime: LocalRuntime, kube: Kube
) -> None:
    cli, names, _c1 = start(tmp_path, local_runtime, "uncommitted")
    committed, edited = f"u{names['uid']}", f"w{names['uid']}"
    first = cli("sync")
    assert first.returncode == 0, shown(first)
    (cli.repo / "sandbox.yaml").write_text(
        fill((REPOS / "uncommitted" / "edited" / "sandbox.yaml").read_text(), names)
    )

    status = cli("status")

    assert status.returncode != 2, shown(status)
    assert committed in status.stdout and edited not in status.stdout, shown(status)
    said = [line for line in output(status).splitlines() if "sandbox.yaml" in line and "committed" in line]
    assert said, f"no line names sandbox.yaml and 'committed':\n{shown(status)}"
    assert git(cli.repo, "status", "--porcelain") == "M sandbox.yaml", "the working tree was touched"


# -- big files and YAML bombs ------------------------------------------------------------------


def _big_crd(names: dict[str, str], at_least: int) -> str:
    """A valid CRD over ``at_least`` bytes: deeply nested, documented string properties.

    As in generated CRDs, most of the file is indentation and wrapped descriptions, so the
    object itself (JSON, as stored) is well under half the file: under the default etcd
    request limit of the local runtime (1.5 MiB), which no sandbox change can lift.
    """
    parts = REPOS / "big_crd" / "parts"
    template = (parts / "crd.yaml").read_text()
    found = re.search(r"^( *)\$properties$", template, re.MULTILINE)
    assert found, "crd.yaml has no $properties line"
    indent = found.group(1)
    prop = (parts / "property.yaml").read_text()
    manual = (
        "Sets one behaviour of the cache eviction. The value is read when the workload starts "
        "and again on every reload; an empty value keeps the built-in default, and an unknown "
        "value is reported in the status and otherwise ignored."
    )
    description = "\n".join("    " + line for line in textwrap.wrap(manual, 30))
    blocks: list[str] = []
    size = len(template)
    while size < at_least:
        block = fill(prop, {"name": f"setting{len(blocks):05d}", "description": description})
        block = "".join(indent + line for line in block.splitlines(keepends=True))
        blocks.append(block)
        size += len(block)
    body = template.replace(indent + "$properties", "$properties")
    return fill(body, {**names, "properties": "".join(blocks).rstrip("\n")})


def test_a_crd_file_over_3_mib_deploys(tmp_path: Path, local_runtime: LocalRuntime, kube: Kube) -> None:
    cli = empty_repo(tmp_path, local_runtime)
    names = {"uid": uid()}
    path = cli.repo / f"big{names['uid']}" / "crd.yaml"
    path.parent.mkdir()
    text = _big_crd(names, 3 * MiB + 64 * 1024)
    path.write_text(text)
    assert path.stat().st_size > 3 * MiB
    assert len(json.dumps(yaml.safe_load(text))) < 1.3 * MiB, "the object must fit in etcd's default limit"
    commit_all(cli.repo, "a CRD with a long manual")

    synced = cli("sync")

    assert synced.returncode == 0, shown(synced)
    crd = live(kube, crd_path(f"manuals.big{names['uid']}.example.com"))
    assert crd is not None, "the CRD is not in the cluster"
    conditions = {c["type"]: c["status"] for c in (crd.get("status") or {}).get("conditions", [])}
    assert conditions.get("Established") == "True", conditions


def test_a_yaml_bomb_fails_fast_naming_the_file(
    tmp_path: Path, local_runtime: LocalRuntime, kube: Kube
) -> None:
    cli, names, _c1 = start(tmp_path, local_runtime, "yaml_bomb")
    started = time.monotonic()
    try:
        synced = cli("sync", timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("sync was still running after 60 s and was killed: the aliases were expanded")
    took = time.monotonic() - started
    assert synced.returncode == 1, shown(synced)
    assert f"bomb{names['uid']}/laughs.yaml" in output(synced), shown(synced)
    assert took < 60
    assert live(kube, cm_path(f"bomb{names['uid']}", "laughs")) is None


def test_the_file_size_limit_follows_its_variable_and_is_named_when_it_refuses(
    tmp_path: Path, local_runtime: LocalRuntime, kube: Kube
) -> None:
    cli = empty_repo(tmp_path, local_runtime, env={"GITOPS_SANDBOX_MAX_FILE_MIB": "1"})
    names = {"uid": uid()}
    app = f"large{names['uid']}"
    path = cli.repo / app / "large.yaml"
    path.parent.mkdir()
    template = (REPOS / "max_file" / "parts" / "configmap.yaml").read_text()
    path.write_text(fill(template, {"blob": "x" * (2 * MiB)}))
    assert 2 * MiB < path.stat().st_size < 3 * MiB
    commit_all(cli.repo, "a 2 MiB ConfigMap")

    synced = cli("sync")

    assert synced.returncode == 1, shown(synced)
    text = output(synced)
    for needle in (f"{app}/large.yaml", "1 MiB", "GITOPS_SANDBOX_MAX_FILE_MIB"):
        assert needle in text, f"{needle!r} not in the output:\n{shown(synced)}"
    assert live(kube, cm_path(app, "large")) is None


def test_revert_exits_by_the_apps_the_reverted_commit_touches_not_by_an_app_broken_before(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    """`broken` never deploys (a kind the cluster does not know). Reverting a commit that only
    changed `web` deploys web again: exit 0, with `broken` listed as it is."""
    from gitkit import commit, git

    u = uid()
    repo = tmp_path / "env"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: web}}\ndata: {{size: '{}'}}\n"
    commit(repo, {f"web{u}/cm.yaml": cm.format(1), f"broken{u}/widget.yaml":
                  "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n"}, "web and a broken app")  # fmt: skip
    bump = commit(repo, {f"web{u}/cm.yaml": cm.format(2)}, "web: size 2")
    cli = Cli(repo, tmp_path / "state", local_runtime)
    assert cli("sync").returncode == 1, "broken fails, before any revert"
    reverted = cli("revert", bump)
    said = output(reverted)
    assert reverted.returncode == 0, said
    assert f"broken{u}" in said and "deploying the revert failed" not in said
