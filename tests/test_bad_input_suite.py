"""Bad input, case by case, at the command line: a clear message, nothing lost, the next commit heals.

Every case under tests/badinput/apps/<case>/ is one app of one env repo: ``good/`` is the app
at the first commit, ``bad/`` at the second, and ``case.yaml`` says what the message must
name (and, for sandbox.yaml cases, how the app's entry changes). All apps deploy in one sync,
break in one commit, and are judged one by one with ``sync --app``:

- exit code 1 and a message naming the file (and object);
- the last good state still live (the app's ConfigMap ``keep`` unchanged), nothing pruned;
- a Failed record for the bad commit in the history;

then one commit makes every app good again (with a new value), and one sync deploys it all.
Repository-level cases (the repo itself, or sandbox.yaml as a whole) are at the end.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from clikit import Cli, cm_path, commit_all, live, output, shown, uid
from gitkit import git

from sandbox.cluster.local import LocalRuntime
from sandbox.kube.client import Kube

CASES = Path(__file__).parent / "badinput" / "apps"
NAMES = sorted(p.name for p in CASES.iterdir() if p.is_dir())
ENV = {"GITOPS_SANDBOX_MAX_FILE_MIB": "1"}  # the size-limit case needs no file of 64 MiB


def _case(name: str) -> dict[str, Any]:
    found: dict[str, Any] = yaml.safe_load((CASES / name / "case.yaml").read_text())
    return found


@dataclass
class Broken:
    cli: Cli
    apps: dict[str, str]  # case -> app name
    bad: str  # the bad commit
    kube: Kube


def _app_name(case: str, suffix: str) -> str:
    return f"{case[:50]}-{suffix}"


def _lay(repo: Path, apps: dict[str, str], which: str, value: str) -> None:
    """Write every case's app at ``which`` (good or bad), and sandbox.yaml for it."""
    entries = []
    for case, app in apps.items():
        folder = repo / "apps" / case
        if folder.exists():
            subprocess.run(["rm", "-rf", str(folder)], check=True)
        meta = _case(case)
        for src in sorted((CASES / case / which).rglob("*")):
            if src.is_file():
                dest = folder / src.relative_to(CASES / case / which)
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_text(src.read_text().replace("$v", value))
        if which == "bad":
            for rel, mib in (meta.get("generate") or {}).items():
                (folder / rel).write_text("# " + "x" * (mib * 1024 * 1024) + "\n")
        entry: dict[str, Any] = {"name": app, "path": f"apps/{case}", **(meta.get("entry") or {})}
        if which == "bad":
            entry.update(meta.get("bad_entry") or {})
        entries.append(entry)
    (repo / "sandbox.yaml").write_text(yaml.safe_dump({"apps": entries}, sort_keys=False))


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory, local_runtime: LocalRuntime) -> Iterator[Broken]:
    root = tmp_path_factory.mktemp("badinput")
    repo = root / "env"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    suffix = uid()
    apps = {case: _app_name(case, suffix) for case in NAMES}
    cli = Cli(repo, root / "state", local_runtime, ENV)
    _lay(repo, apps, "good", "good")
    commit_all(repo, "every app good")
    first = cli("sync")
    assert first.returncode == 0, shown(first)
    _lay(repo, apps, "bad", "good")
    bad = commit_all(repo, "every app broken its own way")
    kube = Kube(local_runtime.kubeconfig_path, local_runtime.context)
    try:
        yield Broken(cli, apps, bad, kube)
    finally:
        kube.close()


@pytest.mark.parametrize("case", NAMES)
def test_bad_input_fails_naming_the_file_and_loses_nothing(case: str, broken: Broken) -> None:
    app, meta = broken.apps[case], _case(case)
    synced = broken.cli("sync", "--app", app)
    said = output(synced)
    assert synced.returncode == 1, shown(synced)
    assert "Traceback" not in said, said
    for needle in meta["expect"]:
        assert needle in said, f"{needle!r} not in what sync said:\n{said}"
    keep = live(broken.kube, cm_path(app, "keep"))
    assert keep is not None and keep["data"]["v"] == "good", f"the last good ConfigMap changed: {keep}"
    rows = [r for r in broken.cli.history_rows() if r["app"] == app and r["revision"] == broken.bad]
    assert [r["result"] for r in rows] == ["Failed"], rows


def test_the_next_good_commit_deploys_every_app_again(broken: Broken) -> None:
    _lay(broken.cli.repo, broken.apps, "good", "fixed")
    commit_all(broken.cli.repo, "every app fixed")
    synced = broken.cli("sync", "--json")
    assert synced.returncode == 0, shown(synced)
    states = {a["name"]: a for a in json.loads(synced.stdout)["apps"]}
    for case, app in broken.apps.items():
        assert states[app]["lastResult"] == "Succeeded", (case, states[app]["message"])
        keep = live(broken.kube, cm_path(app, "keep"))
        assert keep is not None and keep["data"]["v"] == "fixed", (case, keep)
