"""Which commit a revert with none named undoes, on a real git repository with two apps."""

from __future__ import annotations

from pathlib import Path

import pytest
from gitkit import commit, git

from sandbox.agent.revert import choose_target
from sandbox.source.envrepo import EnvRepo


@pytest.fixture
def history(tmp_path: Path) -> tuple[EnvRepo, dict[str, str]]:
    """web: good, then broken; then a commit that only touches api."""
    repo = tmp_path / "env"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    shas = {
        "good": commit(repo, {"web/cm.yaml": "v: 1\n", "api/cm.yaml": "v: 1\n"}, "web and api"),
        "broken": commit(repo, {"web/cm.yaml": "v: broken\n"}, "break web"),
        "api": commit(repo, {"api/cm.yaml": "v: 2\n"}, "bump api"),
    }
    return EnvRepo(repo), shas


def test_when_heads_sync_failed_the_commit_that_broke_the_app_is_reverted_not_the_deployed_one(
    history: tuple[EnvRepo, dict[str, str]],
) -> None:
    repo, sha = history
    found = choose_target(
        repo, "web", sha["api"], sha["good"], head_failed=True, degraded=False, paused=False
    )
    assert found is not None and (found.sha, found.subject, found.why) == (
        sha["broken"],
        "break web",
        "its sync failed",
    )


def test_when_head_turned_degraded_the_newest_commit_of_the_app_is_reverted(
    history: tuple[EnvRepo, dict[str, str]],
) -> None:
    repo, sha = history
    found = choose_target(repo, "web", sha["api"], sha["api"], head_failed=False, degraded=True, paused=False)
    assert found is not None and (found.sha, found.why) == (sha["broken"], "it turned Degraded")


def test_a_healthy_app_reverts_its_own_deployed_change_not_another_apps(
    history: tuple[EnvRepo, dict[str, str]],
) -> None:
    repo, sha = history
    web = choose_target(repo, "web", sha["api"], sha["api"], head_failed=False, degraded=False, paused=False)
    api = choose_target(repo, "api", sha["api"], sha["api"], head_failed=False, degraded=False, paused=False)
    assert web is not None and web.sha == sha["broken"] and web.why == "deployed"
    assert api is not None and api.sha == sha["api"]


def test_a_rolled_back_app_reverts_the_head_it_was_rolled_back_from(
    history: tuple[EnvRepo, dict[str, str]],
) -> None:
    repo, sha = history
    found = choose_target(
        repo, "web", sha["api"], sha["good"], head_failed=False, degraded=False, paused=True
    )
    assert found is not None and (found.sha, found.why) == (sha["api"], "rolled back from it")
