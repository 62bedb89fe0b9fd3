"""Diffs: what a sync would change, from the server-side dry-run, with the noise hidden."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentkit import app_state, commit, deployment, new_repo, running, unique, wait_for
from sandbox.agent.commands import SetAutoSync
from sandbox.apply import diff
from sandbox.cluster.local import LocalRuntime
from sandbox.kube.client import Kube
from sandbox.model import SyncStatus


@pytest.fixture
def kube(local_runtime: LocalRuntime) -> Iterator[Kube]:
    client = Kube(local_runtime.kubeconfig_path, local_runtime.context)
    yield client
    client.close()


def test_diff_shows_only_the_change_not_server_defaults_or_bookkeeping(tmp_path: Path, kube: Kube) -> None:
    app = unique("diff")
    repo = new_repo(tmp_path / "env", {f"{app}/web.yaml": deployment("web", 1, "nginx:1.26-alpine")})
    with running(repo, kube, tmp_path) as agent:
        wait_for(lambda: (s := app_state(agent, app)) and s.sync == SyncStatus.SYNCED, 15)
        agent.send(SetAutoSync(app, False))
        commit(repo, "bump", {f"{app}/web.yaml": deployment("web", 1, "nginx:1.27-alpine")})
        web = wait_for(
            lambda: next(
                (o for o in app_state(agent, app).objects if o.sync == SyncStatus.OUT_OF_SYNC), None
            ),
            10,
        )
        text = agent.diff_object(app, web.key, context=1000)
    changed = [line for line in text.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert changed == ["-      - image: nginx:1.26-alpine", "+      - image: nginx:1.27-alpine"], text
    for noise in ("managedFields", "resourceVersion", "uid:", "generation", "creationTimestamp", "status:"):
        assert noise not in text
    # a default the API server fills in: present on both sides, so never a difference
    assert "terminationMessagePath" in text and "terminationMessagePath" not in "".join(changed)


def test_secret_values_are_masked_but_a_changed_value_still_shows() -> None:
    def secret(value: str) -> dict[str, object]:
        encoded = base64.b64encode(value.encode()).decode()
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "s"},
            "data": {"password": encoded},
        }

    text = diff.unified(secret("new-password"), secret("old-password"), "Secret s")
    assert "old-password" not in text and "new-password" not in text
    assert base64.b64encode(b"new-password").decode() not in text
    assert text.count(diff.MASK) == 2, "both sides masked, and they differ"


def test_bookkeeping_fields_never_make_objects_differ() -> None:
    live = {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "uid": "1", "resourceVersion": "9", "managedFields": [{"manager": "x"}],
                     "creationTimestamp": "2026-01-01T00:00:00Z", "generation": 3},
        "data": {"k": "v"}, "status": {"anything": True},
    }  # fmt: skip
    desired = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}}
    assert diff.same(desired, live)
    assert not diff.same({**desired, "data": {"k": "w"}}, live)


def test_diff_of_a_ref_where_an_app_does_not_render_compares_through_the_dry_run_and_reads_folders_there(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    """At the ref, web's folder holds a broken file and qa's folder holds no manifest: web's
    running Deployment is compared through the dry-run (no server default shows as removed), and
    qa's folder is said to hold no manifests at that ref, not to be gone."""
    from clikit import Cli, output
    from gitkit import git

    web, qa = unique("web"), unique("qa")
    repo = new_repo(
        tmp_path / "env", {f"{web}/web.yaml": deployment("web"), f"{qa}/cm.yaml": deployment("qa")}
    )
    cli = Cli(repo, tmp_path / "state", local_runtime)
    assert cli("sync").returncode == 0
    git(repo, "checkout", "-q", "-b", "feature")
    commit(repo, "break web, empty qa", {f"{web}/broken.yaml": "kind: [", f"{qa}/cm.yaml": None,
                                         f"{qa}/README.md": "kept for later\n"})  # fmt: skip
    git(repo, "checkout", "-q", "main")
    said = cli("diff", "--ref", "feature")
    text = output(said)
    assert said.returncode == 2, text  # web's render is a problem
    assert "progressDeadlineSeconds" not in text and "--- " not in text.replace("--- stdout", ""), text
    assert f"folder {qa} holds no manifests at" in text, text
    assert "is gone" not in text
    problems = [line for line in said.stderr.splitlines() if line.startswith("problem: ")]
    assert problems and all(
        line.startswith((f"problem: {web}: ", f"problem: {qa}: ")) for line in problems
    ), ("each problem names its app first", problems)


def test_a_refused_objects_diff_compares_only_the_fields_git_sets_not_what_the_server_filled_in() -> None:
    """The API server predicts nothing of an object it refused (or another app owns), so the
    diff is against the live object's fields Git sets: a Namespace's name label and finalizers,
    which the server fills in, are no removals."""
    from sandbox.agent.observer import diff_text
    from sandbox.apply.dryrun import Comparison, Verdict
    from sandbox.apply.inventory import mark
    from sandbox.model import ObjectKey

    key = ObjectKey("", "Namespace", "", "media")
    live = mark({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "media", "uid": "1", "labels": {"kubernetes.io/metadata.name": "media", "team": "a"}},
        "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"},
    }, "namespaces", key)  # fmt: skip
    # Ours carries this app's bookkeeping, the live one its owner's: never applied, so no change.
    desired = mark({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "media", "labels": {"team": "b"}}},
                   "media", key)  # fmt: skip
    found = Comparison(Verdict.CONFLICT, "belongs to app namespaces")
    text = diff_text(key, desired, live, found, context=100)
    changed = [line for line in text.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert changed == ["-    team: a", "+    team: b"], text
    assert text.startswith("# not applied: belongs to app namespaces\n"), text


def test_diff_leaves_out_apps_that_never_deployed_under_an_app_that_cannot_run(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    """parent cannot run (a sync option the sandbox does not do) and never deployed, so shop,
    which it defines, is never applied by a sync: diff shows none of shop's objects as to be
    created, and names parent's problem; a root app beside it is compared as ever."""
    from clikit import REPOS, Cli, output, repo_from_fixture, uid

    repo, _ = repo_from_fixture(tmp_path / "repo", REPOS / "argocd" / "failed-root", {"uid": uid()}, "roots")
    cli = Cli(repo, tmp_path / "state", local_runtime)

    said = cli("diff")

    text = output(said)
    assert said.returncode == 2, text  # parent's problem is an error
    assert "--- shop:" not in said.stdout, "shop's objects are shown as to be created: " + text
    assert "--- extra:" not in said.stdout, "so are extra's, which multi (it cannot run) defines: " + text
    assert "--- beside:" in said.stdout, "a root app beside them is compared: " + text
    problems = [line for line in said.stderr.splitlines() if line.startswith("problem: ")]
    assert any(line.startswith("problem: parent: ") and "Replace=true" in line for line in problems), problems


def test_diff_names_the_apps_it_compared_and_found_clean_when_another_app_fails(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    """One app's render error makes diff exit 2, yet the apps it did compare are said to be clean:
    silence would leave a reviewer guessing whether they were compared at all."""
    from clikit import Cli, output

    web, fine = unique("web"), unique("fine")
    repo = new_repo(
        tmp_path / "env", {f"{web}/web.yaml": deployment("web"), f"{fine}/cm.yaml": deployment("fine")}
    )
    cli = Cli(repo, tmp_path / "state", local_runtime)
    assert cli("sync").returncode == 0
    commit(repo, "break web", {f"{web}/broken.yaml": "kind: ["})

    said = cli("diff")

    assert said.returncode == 2, output(said)
    assert f"no differences in 1 app(s) compared: {fine}" in said.stdout, output(said)
    assert f"problem: {web}: " in said.stderr, output(said)
