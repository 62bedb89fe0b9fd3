"""A repo in which no app is found says what was looked for, what it holds instead, and what
to do, and `status`/`sync` exit 1 with that line (before, an empty table and no reason)."""

from __future__ import annotations

from pathlib import Path

import pytest
from gitkit import commit, git

from sandbox.source.discovery import discover
from sandbox.source.envrepo import EnvRepo


@pytest.mark.parametrize(
    ("files", "said"),
    [
        (
            {"README.md": "# infra\n", "templates/deploy.yaml.j2": "kind: {{ kind }}\n"},
            "only templates (templates/deploy.yaml.j2)",
        ),
        (
            {"deploy.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"},
            "manifests at the top of the repo (deploy.yaml)",
        ),
        (
            {"README.md": "# nothing\n", "docs/notes.txt": "hi\n"},
            "no manifest among its 2 files (README.md, docs/notes.txt)",
        ),
        (
            {
                "repo.yaml": "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata: {name: x}\n"
                "spec: {url: https://charts.example.com}\n"
            },  # fmt: skip
            "Flux objects (repo.yaml) but no cluster entry: name the folder Flux starts from with --entry",
        ),
    ],
)
def test_a_repo_without_apps_says_what_was_looked_for_and_what_is_there(
    tmp_path: Path, files: dict[str, str], said: str
) -> None:
    (tmp_path / "repo").mkdir()
    git(tmp_path / "repo", "init", "-q", "-b", "main")
    commit(tmp_path / "repo", files, "no apps")
    found = discover(EnvRepo(tmp_path / "repo"), "HEAD")
    assert found.apps == []
    assert len(found.problems) == 1
    message = found.problems[0].message
    assert (
        message.startswith("no app found at ")
        and "looked for a sandbox.yaml, Argo CD Applications" in message
    )
    assert said in message, message
