"""YAML that would blow up once read is refused by name; ordinary anchors are not."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from gitkit import commit, git

from sandbox.manifest.yamlguard import alias_problem
from sandbox.source.appconfig import AppSpec
from sandbox.source.discovery import load_apps
from sandbox.source.envrepo import EnvRepo
from sandbox.source.render import render_app

HERE = Path(__file__).parent / "yamlguard"


def _node(name: str) -> yaml.Node:
    node = yaml.compose((HERE / name).read_text(), Loader=yaml.SafeLoader)
    assert node is not None
    return node


def test_nine_levels_of_nine_aliases_are_refused_without_expanding_them() -> None:
    started = time.monotonic()
    problem = alias_problem(_node("bomb.yaml"))
    assert problem is not None and "YAML bomb" in problem
    assert time.monotonic() - started < 1.0


def test_an_alias_inside_the_node_it_names_is_refused() -> None:
    problem = alias_problem(_node("recursive.yaml"))
    assert problem is not None and "recursive alias" in problem


def test_anchors_shared_by_two_objects_are_fine() -> None:
    for document in yaml.compose_all((HERE / "shared.yaml").read_text(), Loader=yaml.SafeLoader):
        assert alias_problem(document) is None


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "env"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    return path


def test_a_manifest_that_is_a_yaml_bomb_fails_the_render_naming_file_and_line(repo: Path) -> None:
    sha = commit(
        repo,
        {
            "app/laughs.yaml": (HERE / "bomb.yaml").read_text(),
            "app/ok.yaml": (HERE / "shared.yaml").read_text(),
        },
    )
    started = time.monotonic()
    rendered = render_app(EnvRepo(repo), AppSpec("app", "app", "app", "plain"), sha)
    assert time.monotonic() - started < 5
    assert not rendered.ok
    (problem,) = rendered.problems
    assert (problem.file, problem.line) == ("app/laughs.yaml", 2)
    assert "YAML bomb" in problem.message


def test_a_sandbox_yaml_that_is_a_yaml_bomb_is_refused(repo: Path) -> None:
    bomb = (
        (HERE / "bomb.yaml")
        .read_text()
        .replace("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: laughs\n", "")
    )
    sha = commit(repo, {"sandbox.yaml": bomb, "app/ok.yaml": (HERE / "shared.yaml").read_text()})
    specs, problems = load_apps(EnvRepo(repo), sha)
    assert specs == []
    assert [p.file for p in problems] == ["sandbox.yaml"] and "YAML bomb" in problems[0].message
