"""Sources at the edges: a folder that is both a chart and a kustomization, chart
dependencies, objects without a name, and Helm's hooks read as Argo CD reads them."""

from __future__ import annotations

from pathlib import Path

from clikit import REPOS, repo_from_fixture

from sandbox.manifest.waves import DeletePolicy, Phase, hook_of, wave_of
from sandbox.model import Rendered
from sandbox.source.discovery import load_apps
from sandbox.source.envrepo import EnvRepo
from sandbox.source.render import render_app


def _rendered(tmp_path: Path) -> dict[str, Rendered]:
    path, _ = repo_from_fixture(tmp_path / "repo", REPOS / "sources", {}, "sources")
    repo = EnvRepo(path)
    apps, problems = load_apps(repo, "HEAD")
    assert problems == []
    return {a.name: render_app(repo, a, "HEAD") for a in apps}


def test_a_folder_with_a_chart_and_a_kustomization_is_rendered_by_kustomize_when_told(tmp_path: Path) -> None:
    dual = _rendered(tmp_path)["dual"]

    assert dual.ok, dual.problems
    assert [o.key.name for o in dual.objects] == ["from-kustomize"]


def test_a_chart_dependency_that_is_not_vendored_names_it_and_the_command_that_fetches_it(
    tmp_path: Path,
) -> None:
    remote = _rendered(tmp_path)["remote-dep"]

    assert not remote.ok and remote.objects == ()
    [problem] = remote.problems
    assert problem.file == "remote-dep/Chart.yaml"
    assert "redis 19.0.1" in problem.message and "postgresql 15.2.0" in problem.message
    assert problem.message.count("helm dependency update remote-dep") == 1, "one command fetches both"
    assert "remote-dep/charts/redis-19.0.1.tgz, remote-dep/charts/postgresql-15.2.0.tgz" in problem.message


def test_generate_name_outside_a_hook_is_refused_naming_the_file(tmp_path: Path) -> None:
    unnamed = _rendered(tmp_path)["unnamed"]

    assert not unnamed.ok
    assert [(p.file, "generateName" in p.message) for p in unnamed.problems] == [("unnamed/cm.yaml", True)]


def test_helm_hooks_become_argo_cd_hooks_and_those_argo_cd_never_runs_are_skipped(tmp_path: Path) -> None:
    rendered = _rendered(tmp_path)["helmhooks"]

    assert rendered.ok, rendered.problems
    assert [o.key.name for o in rendered.objects] == ["helmhooks-config"]
    [setup] = rendered.hooks
    hook = hook_of(setup.manifest)
    assert hook is not None and hook.phases == (Phase.PRE_SYNC,)
    assert hook.policies == (DeletePolicy.HOOK_SUCCEEDED,)
    assert wave_of(setup.manifest) == -5


def test_every_source_of_a_multi_source_app_is_followed_not_only_its_first() -> None:
    """A commit in the repo of a multi-source Application's second source redeploys it too."""
    from sandbox.agent.sources import sources_of
    from sandbox.source.appspec import AppSpec

    second = AppSpec("media", "extra", "media", "plain", repo="/repos/app", kind="Application")
    pinned = AppSpec("media", "chart", "media", "helm", revision="release", kind="Application")
    app = AppSpec("media", "chart", "media", "helm", kind="Application", also=(second, pinned))
    assert sources_of(app) == {("/repos/app", ""), ("", "release")}
    assert sources_of(AppSpec("web", "web", "web", "plain")) == set()
