"""load_apps against real git repositories: sandbox.yaml, discovery, and every kind of bad config."""

from __future__ import annotations

from pathlib import Path

import pytest
from gitkit import commit, git

from sandbox.manifest.names import dns1123_name
from sandbox.model import Problem
from sandbox.source.appconfig import AppSpec
from sandbox.source.discovery import load_apps
from sandbox.source.envrepo import EnvRepo, EnvRepoError

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n"


@pytest.fixture
def repo_dir(tmp_path: Path) -> Path:
    path = tmp_path / "env"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    return path


def load(repo_dir: Path, files: dict[str, str]) -> tuple[list[AppSpec], list[Problem]]:
    sha = commit(repo_dir, files)
    return load_apps(EnvRepo(repo_dir), sha)


BASE_TREE = {
    "apps/web/cm.yaml": CM,
    "apps/api/cm.yaml": CM,
    "charts/db/Chart.yaml": "apiVersion: v2\nname: db\nversion: 0.1.0\n",
    "overlays/dev/kustomization.yaml": "resources: []\n",
}


# -- discovery without sandbox.yaml -------------------------------------------------------------


def test_without_config_each_top_level_folder_holding_manifests_is_an_app(repo_dir: Path) -> None:
    apps, problems = load(
        repo_dir,
        {
            "web/deploy.yaml": CM,
            "db/Chart.yaml": "apiVersion: v2\nname: db\nversion: 0.1.0\n",
            "db/templates/x.yaml": CM,
            "kusto/Kustomization": "resources: []\n",
            "kyml/kustomization.yml": "resources: []\n",
            "nested/deep/down/cm.json": "{}",
            "docs/README.md": "# not manifests\n",
            ".github/workflows/ci.yaml": "on: push\n",
            "top.yaml": CM,
        },
    )
    assert problems == []
    assert {a.name: a.source for a in apps} == {
        "db": "helm",
        "kusto": "kustomize",
        "kyml": "kustomize",
        "nested": "plain",
        "web": "plain",
    }
    web = next(a for a in apps if a.name == "web")
    assert web == AppSpec("web", "web", "web", "plain")
    assert (web.release_name, web.auto_sync, web.prune, web.self_heal, web.values) == (
        "web",
        True,
        True,
        True,
        (),
    )


def test_discovered_folder_names_are_made_dns1123(repo_dir: Path) -> None:
    apps, problems = load(repo_dir, {"My_App.v2/cm.yaml": CM})
    assert problems == []
    assert [(a.name, a.path, a.namespace) for a in apps] == [("my-app-v2", "My_App.v2", "my-app-v2")]
    assert dns1123_name("--Hello__World--") == "hello-world"
    assert len(dns1123_name("x" * 100)) == 63


def test_discovered_folders_that_make_the_same_name_are_problems(repo_dir: Path) -> None:
    apps, problems = load(repo_dir, {"Web/cm.yaml": CM, "web/cm.yaml": CM, "api/cm.yaml": CM})
    assert [a.name for a in apps] == ["api"]
    assert {p.file for p in problems} == {"Web", "web"}
    assert all(p.object == "web" for p in problems)


def test_discovery_reads_the_revision_not_the_working_tree(repo_dir: Path) -> None:
    sha = commit(repo_dir, {"web/cm.yaml": CM})
    (repo_dir / "api").mkdir()
    (repo_dir / "api" / "cm.yaml").write_text(CM)
    (repo_dir / "sandbox.yaml").write_text("apps: [")
    apps, problems = load_apps(EnvRepo(repo_dir), sha)
    assert ([a.name for a in apps], problems) == (["web"], [])


# -- sandbox.yaml -------------------------------------------------------------------------------


def test_config_apps_get_defaults_for_everything_but_name_and_path(repo_dir: Path) -> None:
    config = "apps:\n  - name: web\n    path: apps/web\n  - name: db\n    path: charts/db/\n"
    apps, problems = load(repo_dir, {**BASE_TREE, "sandbox.yaml": config})
    assert problems == []
    assert apps == [
        AppSpec("web", "apps/web", "web", "plain"),
        AppSpec("db", "charts/db", "db", "helm", release_name="db"),
    ]


def test_config_fields_are_all_read(repo_dir: Path) -> None:
    config = """\
apps:
  - name: db
    path: charts/db
    namespace: data
    source: helm
    values: [values.yaml, ../../envs/prod.yaml]
    releaseName: main-db
    autoSync: false
    prune: false
    selfHeal: false
  - name: dev
    path: overlays/dev
    source: auto
"""
    apps, problems = load(repo_dir, {**BASE_TREE, "sandbox.yaml": config})
    assert problems == []
    assert apps == [
        AppSpec(
            "db",
            "charts/db",
            "data",
            "helm",
            ("values.yaml", "../../envs/prod.yaml"),
            "main-db",
            auto_sync=False,
            prune=False,
            self_heal=False,
        ),
        AppSpec("dev", "overlays/dev", "dev", "kustomize"),
    ]


def test_config_can_force_plain_on_a_folder_with_a_kustomization(repo_dir: Path) -> None:
    config = "apps:\n  - {name: raw, path: overlays/dev, source: plain}\n"
    apps, problems = load(repo_dir, {**BASE_TREE, "sandbox.yaml": config})
    assert (problems, [a.source for a in apps]) == ([], ["plain"])


def test_config_with_an_empty_app_list_means_no_apps(repo_dir: Path) -> None:
    assert load(repo_dir, {**BASE_TREE, "sandbox.yaml": "apps: []\n"}) == ([], [])


def test_invalid_yaml_in_config_is_a_problem_with_its_line(repo_dir: Path) -> None:
    config = "apps:\n  - name: web\n    path: apps/web\n  - name: [oops\n"
    apps, problems = load(repo_dir, {**BASE_TREE, "sandbox.yaml": config})
    assert apps == []
    assert len(problems) == 1
    assert problems[0].file == "sandbox.yaml"
    assert problems[0].line == 4, "an unclosed bracket is reported where it opens, not past the end"
    assert "invalid YAML" in problems[0].message


def test_a_key_given_twice_is_a_problem(repo_dir: Path) -> None:
    config = "apps:\n  - name: web\n    path: apps/web\n    name: api\n"
    apps, problems = load(repo_dir, {**BASE_TREE, "sandbox.yaml": config})
    assert apps == []
    assert (problems[0].file, problems[0].line) == ("sandbox.yaml", 4)
    assert "appears twice" in problems[0].message


def test_unknown_app_key_is_a_problem_naming_the_app_and_the_likely_key(repo_dir: Path) -> None:
    config = "apps:\n  - name: web\n    path: apps/web\n    prun: false\n  - name: api\n    path: apps/api\n"
    apps, problems = load(repo_dir, {**BASE_TREE, "sandbox.yaml": config})
    # A typo must not silently turn pruning back on: the app is left out, not half-read.
    assert [a.name for a in apps] == ["api"]
    assert len(problems) == 1
    assert (problems[0].file, problems[0].line, problems[0].object) == ("sandbox.yaml", 4, "web")
    assert "unknown key 'prun'" in problems[0].message and "'prune'" in problems[0].message


def test_unknown_top_level_key_is_a_problem(repo_dir: Path) -> None:
    config = "apps:\n  - {name: web, path: apps/web}\nextra: 1\n"
    apps, problems = load(repo_dir, {**BASE_TREE, "sandbox.yaml": config})
    assert [a.name for a in apps] == ["web"]
    assert [(p.file, p.line, p.object) for p in problems] == [("sandbox.yaml", 3, "")]


def test_duplicate_app_names_are_problems_and_neither_app_is_used(repo_dir: Path) -> None:
    config = """\
apps:
  - {name: web, path: apps/web}
  - {name: web, path: apps/api}
  - {name: api, path: apps/api}
"""
    apps, problems = load(repo_dir, {**BASE_TREE, "sandbox.yaml": config})
    assert [a.name for a in apps] == ["api"]
    assert [(p.line, p.object) for p in problems] == [(2, "web"), (3, "web")]
    assert all("used 2 times" in p.message for p in problems)


def test_path_missing_at_that_revision_is_a_problem_naming_the_app(repo_dir: Path) -> None:
    config = "apps:\n  - {name: web, path: apps/web}\n  - {name: new, path: apps/new}\n"
    old = commit(repo_dir, {**BASE_TREE, "sandbox.yaml": config})
    new = commit(repo_dir, {"apps/new/cm.yaml": CM})
    repo = EnvRepo(repo_dir)
    apps, problems = load_apps(repo, old)
    assert [a.name for a in apps] == ["web"]
    assert [(p.file, p.line, p.object) for p in problems] == [("sandbox.yaml", 3, "new")]
    assert "apps/new" in problems[0].message and "does not exist" in problems[0].message
    assert [a.name for a in load_apps(repo, new)[0]] == ["web", "new"]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("{path: apps/web}", "has no `name`"),
        ("{name: web}", "has no `path`"),
        ("{name: Web_App, path: apps/web}", "not a DNS-1123 label"),
        ("{name: web, path: apps/web, namespace: Bad_NS}", "namespace 'Bad_NS'"),
        ("{name: web, path: ../outside}", "outside the repo"),
        ("{name: web, path: /etc}", "outside the repo"),
        ("{name: web, path: apps/web/cm.yaml}", "not a folder"),
        ("{name: web, path: apps/web, source: jsonnet}", "not one of auto, helm, kustomize, plain"),
        ("{name: web, path: apps/web, source: helm}", "needs a Chart.yaml"),
        ("{name: web, path: apps/web, source: kustomize}", "needs a kustomization.yaml"),
        ("{name: web, path: apps/web, values: [v.yaml]}", "only apply to helm apps"),
        ("{name: web, path: apps/web, releaseName: r}", "only applies to helm apps"),
        ("{name: db, path: charts/db, values: v.yaml}", "must be a list"),
        ("{name: db, path: charts/db, values: [../../../x.yaml]}", "outside the repo"),
        ("{name: db, path: charts/db, releaseName: Bad_Release}", "not a valid helm release name"),
        ("{name: web, path: apps/web, prune: 'no'}", "`prune` must be true or false"),
        ("just-a-string", "must be a mapping"),
    ],
)
def test_each_invalid_app_field_is_a_problem_in_sandbox_yaml(
    repo_dir: Path, entry: str, expected: str
) -> None:
    config = f"apps:\n  - {entry}\n  - {{name: api, path: apps/api}}\n"
    apps, problems = load(repo_dir, {**BASE_TREE, "sandbox.yaml": config})
    assert [a.name for a in apps] == ["api"], "a broken app must not hide the valid ones"
    assert len(problems) == 1, problems
    assert problems[0].file == "sandbox.yaml"
    assert problems[0].line == 2
    assert problems[0].object in ("web", "db", "apps[0]", "Web_App")
    assert expected in problems[0].message


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("", "is empty"),
        ("# only a comment\n", "is empty"),
        ("- name: web\n", "must be a mapping"),
        ("other: 1\n", "has no `apps:` list"),
        ("apps: web\n", "must be a list"),
    ],
)
def test_config_without_a_usable_app_list_is_a_problem(repo_dir: Path, config: str, expected: str) -> None:
    apps, problems = load(repo_dir, {**BASE_TREE, "sandbox.yaml": config})
    assert apps == []
    assert problems and all(p.file == "sandbox.yaml" for p in problems)
    assert any(expected in p.message for p in problems)


def test_config_is_read_at_the_revision_asked_for(repo_dir: Path) -> None:
    old = commit(repo_dir, {**BASE_TREE, "sandbox.yaml": "apps:\n  - {name: web, path: apps/web}\n"})
    commit(repo_dir, {"sandbox.yaml": "apps:\n  - {name: api, path: apps/api}\n"})
    (repo_dir / "sandbox.yaml").write_text("apps: [broken\n")
    repo = EnvRepo(repo_dir)
    assert [a.name for a in load_apps(repo, old)[0]] == ["web"]
    assert [a.name for a in load_apps(repo, "HEAD")[0]] == ["api"]


def test_unknown_revision_raises(repo_dir: Path) -> None:
    commit(repo_dir, BASE_TREE)
    with pytest.raises(EnvRepoError):
        load_apps(EnvRepo(repo_dir), "no-such-branch")
