"""The CLI as a user runs it, and what a user can look at afterwards.

``Cli`` runs ``gitops-sandbox`` as a subprocess against the session's cluster (as an
``existing`` runtime) with a state directory of its own. The other helpers read the
observable truth the tests judge by: live objects (through the session kubeconfig), the
history database (opened read-only, so looking never changes it), resourceVersions, and hand
edits made with the real kubectl from the toolchain cache.

Env repos come from fixture folders under ``tests/repos/<case>/<step>/``: each step is the
whole tree of one commit, with ``$uid``-style placeholders (``string.Template``) in file
contents and in file and folder names, filled per test so tests sharing one cluster never
see each other's objects.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

from gitkit import GIT_ENV, git

from agentkit import wait_for
from sandbox.cluster.local import LocalRuntime
from sandbox.kube.client import Kube, KubeError
from sandbox.tools import toolchain

REPOS = Path(__file__).parent / "repos"
CLI_TIMEOUT = 300.0


def uid() -> str:
    """Six hex digits: short enough for DNS labels, unique enough for one cluster."""
    return uuid.uuid4().hex[:6]


# -- fixtures -----------------------------------------------------------------------------------


def fill(text: str, names: dict[str, str]) -> str:
    return Template(text).substitute(names)


def lay_tree(repo: Path, fixture: Path, names: dict[str, str], replace: bool = True) -> None:
    """Make the working tree the fixture folder, placeholders filled.

    ``replace`` removes every file not in the fixture first (a deleted folder is a deletion
    in the next commit); without it the fixture's files are written over the tree.
    """
    if not fixture.is_dir():
        raise FileNotFoundError(f"no fixture folder {fixture}")
    if replace:
        for child in repo.iterdir():
            if child.name == ".git":
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    for src in sorted(fixture.rglob("*")):
        if src.is_dir():
            continue
        rel = fill(str(src.relative_to(fixture)), names)
        dest = repo / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(fill(src.read_text(), names))


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def commit_fixture(repo: Path, fixture: Path, names: dict[str, str], message: str) -> str:
    """One commit whose tree is exactly the fixture folder; returns its full sha."""
    lay_tree(repo, fixture, names)
    return commit_all(repo, message)


def repo_from_fixture(path: Path, fixture: Path, names: dict[str, str], message: str) -> tuple[Path, str]:
    """A new git repo on branch main whose first commit is the fixture folder."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    return path, commit_fixture(path, fixture, names, message)


@dataclass
class Case:
    """A fixture's repo (placeholders filled with a fresh uid) with a CLI and a client of its own."""

    names: dict[str, str]
    repo: Path
    cli: Cli
    kube: Kube

    @property
    def uid(self) -> str:
        return self.names["uid"]


@contextmanager
def cluster_case(tmp_path: Path, runtime: LocalRuntime, fixture: Path, message: str) -> Iterator[Case]:
    names = {"uid": uid()}
    repo, _ = repo_from_fixture(tmp_path / "repo", fixture, names, message)
    kube = Kube(runtime.kubeconfig_path, runtime.context)
    try:
        yield Case(names, repo, Cli(repo, tmp_path / "state", runtime), kube)
    finally:
        kube.close()


# -- the CLI ------------------------------------------------------------------------------------


class Cli:
    """``gitops-sandbox COMMAND -C REPO`` against the session cluster, with its own state dir."""

    def __init__(
        self, repo: Path, state: Path, runtime: LocalRuntime, env: dict[str, str] | None = None
    ) -> None:
        self.repo = repo
        self.state = state
        self.runtime = runtime
        self.env = dict(GIT_ENV, GITOPS_SANDBOX_STATE_DIR=str(state), **(env or {}))
        self.target = [
            "--runtime", "existing", "--context", runtime.context,
            "--kubeconfig", str(runtime.kubeconfig_path),
        ]  # fmt: skip

    def argv(self, *args: str) -> list[str]:
        command, rest = args[0], args[1:]
        return [sys.executable, "-m", "sandbox.cli", command, "-C", str(self.repo), *self.target, *rest]

    def __call__(
        self, *args: str, timeout: float = CLI_TIMEOUT, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args), capture_output=True, text=True, env={**self.env, **(env or {})},
            timeout=timeout, stdin=subprocess.DEVNULL,
        )  # fmt: skip

    def watch(self) -> Watch:
        return Watch(self)

    @property
    def history_path(self) -> Path:
        """Where the CLI keeps this repo's history (as ``sandbox.history.path_for_repo``)."""
        resolved = self.repo.expanduser().resolve()
        key = hashlib.sha256(str(resolved).encode()).hexdigest()[:12]
        return self.state.resolve() / "history" / f"{resolved.name}-{key}.sqlite"

    def history_rows(self) -> list[dict[str, Any]]:
        return history_rows(self.history_path)

    def history_objects(self, sync_id: int) -> list[dict[str, Any]]:
        return history_objects(self.history_path, sync_id)


def output(proc: subprocess.CompletedProcess[str]) -> str:
    """Everything a user saw: stdout and stderr."""
    return f"{proc.stdout}\n{proc.stderr}"


def shown(proc: subprocess.CompletedProcess[str]) -> str:
    """For assertion messages: exit code and both streams."""
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"


class Watch:
    """``gitops-sandbox watch`` in the background; its output is collected line by line."""

    def __init__(self, cli: Cli) -> None:
        self.proc = subprocess.Popen(
            cli.argv("watch"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=cli.env, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, needle: str, timeout: float = 120) -> str:
        def found() -> str:
            if self.proc.poll() is not None and not any(needle in line for line in self.lines):
                raise AssertionError(f"watch exited {self.proc.returncode}:\n{self.text}")
            return next((line for line in self.lines if needle in line), "")

        try:
            return wait_for(found, timeout, 0.2, f"{needle!r} in the watch output")
        except AssertionError as err:
            raise AssertionError(f"{err}\nthe watch said:\n{self.text[-4000:]}") from None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._reader.join(5)

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


# -- the history, read-only ---------------------------------------------------------------------


def _connect_ro(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    conn.row_factory = sqlite3.Row
    return conn


def history_rows(path: Path) -> list[dict[str, Any]]:
    """Every row of ``syncs``, oldest first; none when the database does not exist yet."""
    if not path.exists():
        return []
    conn = _connect_ro(path)
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM syncs ORDER BY id")]
    finally:
        conn.close()


def history_objects(path: Path, sync_id: int) -> list[dict[str, Any]]:
    conn = _connect_ro(path)
    try:
        rows = conn.execute("SELECT * FROM objects WHERE sync_id = ? ORDER BY seq", (sync_id,))
        return [dict(r) for r in rows]
    finally:
        conn.close()


# -- the live cluster ---------------------------------------------------------------------------


def cm_path(namespace: str, name: str) -> str:
    return f"/api/v1/namespaces/{namespace}/configmaps/{name}"


def deployment_path(namespace: str, name: str) -> str:
    return f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"


def inventory_path(app: str) -> str:
    return cm_path("gitops-sandbox-system", f"inventory-{app}")


def cluster_role_path(name: str) -> str:
    return f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{name}"


def crd_path(name: str) -> str:
    return f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"


def live(kube: Kube, path: str) -> dict[str, Any] | None:
    """The object as the API server has it now, or None."""
    try:
        found: dict[str, Any] = kube.get(path)
        return found
    except KubeError as exc:
        if exc.status == 404:
            return None
        raise


def resource_versions(kube: Kube, paths: Iterable[str]) -> dict[str, str | None]:
    return {p: ((live(kube, p) or {}).get("metadata") or {}).get("resourceVersion") for p in paths}


def _rolled_out(obj: dict[str, Any] | None) -> bool:
    """A Deployment whose controller has caught up with its spec (no status writes pending)."""
    if obj is None or obj.get("kind") != "Deployment":
        return True
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    want = spec.get("replicas", 1)
    return (
        status.get("observedGeneration") == obj["metadata"].get("generation")
        and status.get("replicas", 0) == want
        and status.get("updatedReplicas", 0) == want
        and status.get("readyReplicas", 0) == want
        and status.get("availableReplicas", 0) == want
    )


def settled_versions(
    kube: Kube, paths: Iterable[str], timeout: float = 60, quiet: float = 2.0
) -> dict[str, str | None]:
    """resourceVersions once controllers are done writing: rolled out and unchanged for ``quiet`` s."""
    wanted = list(paths)
    deadline = time.monotonic() + timeout
    previous: dict[str, str | None] | None = None
    while time.monotonic() < deadline:
        objects = {p: live(kube, p) for p in wanted}
        versions = {p: ((o or {}).get("metadata") or {}).get("resourceVersion") for p, o in objects.items()}
        if all(_rolled_out(o) for o in objects.values()) and versions == previous:
            return versions
        previous = versions if all(_rolled_out(o) for o in objects.values()) else None
        time.sleep(quiet)
    raise AssertionError(f"objects did not settle within {timeout}s: {previous}")


def kubectl(runtime: LocalRuntime, *args: str, timeout: float = 60) -> str:
    """A hand edit (or read) with the real kubectl, as a user would make it."""
    binary = toolchain.ensure("kubectl")
    proc = subprocess.run(
        [str(binary), "--kubeconfig", str(runtime.kubeconfig_path), "--context", runtime.context, *args],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items() if k != "KUBECONFIG"},
    )  # fmt: skip
    if proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc.stdout
