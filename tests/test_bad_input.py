"""Bad input in the env repo: a clear message naming the file and object, nothing lost.

For each kind of bad commit: the agent keeps running, the failure is in the history with
the file (and object) named, nothing is pruned (the last good revision's objects stay), and
the next good commit deploys as usual.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentkit import cm_path, commit, configmap, new_repo, read, running, unique, wait_for
from sandbox.cluster.local import LocalRuntime
from sandbox.kube.client import Kube

APP = "{app}"


@pytest.fixture
def kube(local_runtime: LocalRuntime) -> Iterator[Kube]:
    client = Kube(local_runtime.kubeconfig_path, local_runtime.context)
    yield client
    client.close()


# name -> (files of the bad commit, texts the failure message must contain)
BAD_COMMITS: dict[str, tuple[dict[str, str | bytes | None], list[str]]] = {
    "malformed yaml": (
        {
            "{app}/keep.yaml": None,
            "{app}/broken.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x\n",
        },
        ["{app}/broken.yaml:", "invalid YAML"],
    ),
    "missing kind": (
        {"{app}/keep.yaml": None, "{app}/nokind.yaml": "apiVersion: v1\nmetadata: {name: nokind}\n"},
        ["{app}/nokind.yaml", "kind"],
    ),
    "missing name": (
        {"{app}/keep.yaml": None, "{app}/noname.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n"},
        ["{app}/noname.yaml", "name"],
    ),
    "same object in two files": (
        {
            "{app}/keep.yaml": None,
            "{app}/one.yaml": configmap("twin", {}),
            "{app}/two.yaml": configmap("twin", {}),
        },
        ["{app}/one.yaml", "{app}/two.yaml", "twin"],
    ),
    "kind the cluster does not know": (
        {
            "{app}/keep.yaml": None,
            "{app}/gizmo.yaml": "apiVersion: example.com/v1\nkind: Gizmo\nmetadata: {name: g}\n",
        },
        ["{app}/gizmo.yaml", "Gizmo"],
    ),
    "object the API server rejects": (
        {"{app}/keep.yaml": None, "{app}/bad.yaml": configmap("Not_A_Valid_Name", {})},
        ["{app}/bad.yaml", "Not_A_Valid_Name"],
    ),
    "kustomize failure": (
        {"{app}/keep.yaml": None, "{app}/kustomization.yaml": "resources: [missing.yaml]\n"},
        ["{app}", "missing.yaml"],
    ),
    "symlink leaving the repo": (
        {"{app}/keep.yaml": None, "{app}/escape.yaml": ("symlink", "/etc/hostname")},  # type: ignore[dict-item]
        ["{app}/escape.yaml", "leaves the repository"],
    ),
    "binary file": (
        {"{app}/keep.yaml": None, "{app}/blob.yaml": b"\x00\x01binary\x00" * 10},
        ["{app}/blob.yaml", "binary"],
    ),
    "file over the size limit (set to 1 MiB below)": (
        {"{app}/keep.yaml": None, "{app}/huge.yaml": "# " + "x" * (2 * 1024 * 1024) + "\n"},
        ["{app}/huge.yaml", "over the 1 MiB limit", "GITOPS_SANDBOX_MAX_FILE_MIB"],
    ),
    "empty app": (
        {"{app}/keep.yaml": None, "{app}/empty.yaml": "# nothing here yet\n"},
        ["{app}", "no manifests"],
    ),
}


def _write(repo: Path, files: dict[str, object], app: str) -> None:
    for rel, content in files.items():
        path = repo / rel.format(app=app)
        if content is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, tuple):
            os.symlink(content[1], path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(str(content))


@pytest.mark.parametrize("case", list(BAD_COMMITS))
def test_bad_commit_is_reported_with_file_and_object_and_loses_nothing(
    case: str, tmp_path: Path, kube: Kube, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITOPS_SANDBOX_MAX_FILE_MIB", "1")
    app = unique("bad")
    files, expected = BAD_COMMITS[case]
    repo = new_repo(tmp_path / "env", {f"{app}/keep.yaml": configmap("keep", {"v": "good"})})
    with running(repo, kube, tmp_path) as agent:
        wait_for(lambda: read(kube, cm_path(app, "keep")), 10, what="first deploy")
        _write(repo, files, app)
        bad = commit(repo, f"bad: {case}")
        record = wait_for(
            lambda: next((r for r in agent.history.records(app) if r.revision == bad and not r.running), None),
            15, what="the bad commit's sync in the history",
        )  # fmt: skip
        assert record.result == "Failed"
        text = record.message + " ".join(o.message for o in record.objects)
        for needle in expected:
            assert needle.format(app=app) in text, (needle, text)
        assert read(kube, cm_path(app, "keep")) is not None, "nothing pruned: the last good objects stay"
        errors = [e.message for e in agent.publish_now().events if e.level == "error"]
        assert any(expected[0].format(app=app) in e for e in errors), errors
        assert all(e.startswith("sync of ") for e in errors), (
            f"the failure is said once, as the sync's: {errors}"
        )

        for path in list((repo / app).iterdir()):
            path.unlink()
        commit(repo, "fix", {f"{app}/keep.yaml": configmap("keep", {"v": "fixed"})})
        wait_for(
            lambda: read(kube, cm_path(app, "keep"))["data"]["v"] == "fixed", 10, what="agent still deploys"
        )


def test_a_repo_with_no_commits_waits_for_the_first_one(tmp_path: Path, kube: Kube) -> None:
    app = unique("empty")
    repo = new_repo(tmp_path / "env")
    with running(repo, kube, tmp_path) as agent:
        snapshot = agent.publish_now()
        assert any("no commits" in str(p) for p in snapshot.problems)
        commit(repo, "first", {f"{app}/cm.yaml": configmap("first", {})})
        wait_for(lambda: read(kube, cm_path(app, "first")), 10, what="first commit deployed")


def test_an_invalid_sandbox_yaml_keeps_every_app_and_its_objects(tmp_path: Path, kube: Kube) -> None:
    app = unique("cfg")
    config = f"apps:\n  - name: {app}\n    path: manifests\n"
    repo = new_repo(
        tmp_path / "env", {"sandbox.yaml": config, "manifests/cm.yaml": configmap("keep", {"v": "1"})}
    )
    with running(repo, kube, tmp_path) as agent:
        wait_for(lambda: read(kube, cm_path(app, "keep")), 10, what="first deploy")
        commit(repo, "typo", {"sandbox.yaml": config.replace("path:", "pathh:")})
        state = wait_for(
            lambda: (s := agent.publish_now().app(app)) and s.problems and s,
            10,
            what="the problem shown on the app",
        )
        assert any("sandbox.yaml" in str(p) for p in state.problems), state.problems
        assert read(kube, cm_path(app, "keep")) is not None
        commit(repo, "fixed", {"sandbox.yaml": config, "manifests/cm.yaml": configmap("keep", {"v": "2"})})
        wait_for(lambda: read(kube, cm_path(app, "keep"))["data"]["v"] == "2", 10, what="deploys again")
        assert not agent.publish_now().app(app).problems


def test_a_sync_refused_many_objects_names_the_first_few_in_one_line_and_each_in_its_own_row(
    tmp_path: Path, kube: Kube
) -> None:
    """A repo whose 37 Namespaces another app owns made a 12,000-character line: the message
    names five and says how many more; each object's row keeps its own reason."""
    app = unique("many")
    bad_key = {"not a key!": "x"}  # the API server refuses a ConfigMap key with spaces
    repo = new_repo(tmp_path / "env", {f"{app}/cm{i}.yaml": configmap(f"cm{i}", bad_key) for i in range(7)})
    with running(repo, kube, tmp_path) as agent:
        record = wait_for(
            lambda: next((r for r in agent.history.records(app) if not r.running), None), 15, what="the sync"
        )
        assert record.result == "Failed"
        assert record.message.startswith("7 object(s) failed to apply; nothing pruned: ConfigMap "), (
            record.message
        )
        assert record.message.count(f"({app}/cm") == 5, record.message
        assert record.message.endswith("; and 2 more (`status -v` lists each)"), record.message
        refused = [o for o in record.objects if o.action == "failed"]
        assert len(refused) == 7 and all("not a key!" in o.message for o in refused), record.objects


def test_a_commit_that_mends_nothing_of_a_failing_app_says_so_in_one_short_line(
    tmp_path: Path, kube: Kube
) -> None:
    """A watch of many failing apps: a commit to another app re-prints none of their reasons."""
    broken, other = unique("broken"), unique("other")
    repo = new_repo(
        tmp_path / "env", {f"{broken}/cm.yaml": "kind: [\n", f"{other}/cm.yaml": configmap("o", {"v": "1"})}
    )
    with running(repo, kube, tmp_path) as agent:
        sha = commit(repo, "only other changes", {f"{other}/cm.yaml": configmap("o", {"v": "2"})})
        said = wait_for(
            lambda: next((e.message for e in agent.publish_now().events
                          if e.app == broken and f"sync of {sha[:7]}" in e.message), None),
            30, what="the broken app's sync of the new commit",
        )  # fmt: skip
    assert said.startswith(f"sync of {sha[:7]} failed (commit) as ") and " did" in said, said
    assert "invalid YAML" not in said, "its reason was said already, whole"


def test_an_agent_says_a_failure_whole_though_an_earlier_process_tried_it_first(
    tmp_path: Path, kube: Kube
) -> None:
    """`sync` failed; `watch` then starts and fails the same way: its attempt counts on, and its
    reason is said whole, as this agent never said it."""
    from sandbox.agent.commands import ManualSync
    from sandbox.agent.history import History
    from sandbox.agent.loop import Agent

    app = unique("twice")
    repo = new_repo(tmp_path / "env", {f"{app}/cm.yaml": "kind: [\n"})
    history_path = tmp_path / "history.sqlite"
    for automated in (False, True):
        history = History(history_path)
        agent = Agent(
            repo, kube, history=history, settings_path=tmp_path / "settings.json", automated=automated
        )
        agent.start()
        try:
            assert agent.wait_idle(60)
            if not automated:  # as `sync` does
                agent.send(ManualSync(None))
                assert agent.wait_idle(60)
            said = [e.message for e in agent.publish_now().events if e.app == app and "failed" in e.message]
            failure = next(c for c in agent._controllers() if c.name == app).failure
        finally:
            agent.stop()
            history.close()
    assert said and "attempt 2, counting an earlier run's" in said[0] and "as before" not in said[0], said
    assert "invalid YAML" in said[0], said
    assert failure is not None and failure.backoff == 10.0, (
        "its backoff goes on from its attempts (5 s, 10 s, …)"
    )


def test_a_failure_tried_again_says_which_attempt_with_its_trigger_and_not_its_reason_again(
    tmp_path: Path, kube: Kube
) -> None:
    app = unique("again")
    repo = new_repo(tmp_path / "env", {f"{app}/cm.yaml": configmap("c", {"not a key!": "x"})})
    with running(repo, kube, tmp_path) as agent:
        said = wait_for(
            lambda: next((e.message for e in agent.publish_now().events if "attempt 2" in e.message), None),
            30, what="the second attempt said",
        )  # fmt: skip
        assert said.startswith(
            f"sync of {agent.publish_now().head[:7]} failed again (retry, attempt 2), as before"
        ), said
        again = [
            e.message for e in agent.publish_now().events if "failed again" in e.message and e.app == app
        ]
        assert again and not any("nothing pruned" in m for m in again), (
            "the reason is said whole once, not again"
        )
