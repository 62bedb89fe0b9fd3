"""Shared fixtures: one real local cluster (etcd, kube-apiserver, controller-manager,
scheduler, kwok) per test session, in a state directory of its own.

The binaries come from the per-user cache; when they are missing the fixture builds them
(a clean CI clone starts that way). It never skips.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.cluster.local import LocalRuntime
from sandbox.cluster.runtime import ClusterStatus
from sandbox.kube import kubeconfig as kc
from sandbox.tools import toolchain


def _progress(message: str) -> None:
    print(f"[local cluster] {message}", file=sys.stderr, flush=True)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Build missing binaries before any test starts: a first build takes many minutes, which
    must not count against one test's timeout. On a warm cache this finds them in seconds."""
    needed = (*toolchain.LOCAL_RUNTIME_TOOLS, "kind", "helm", "kustomize", "jsonnet", "registry")
    missing = [tool for tool in needed if toolchain.find(tool) is None]
    if missing:
        print(
            f"\n[toolchain] building {', '.join(missing)} into the per-user cache (once)", file=sys.__stderr__
        )
        toolchain.ensure_all(
            tuple(missing), lambda m: print(f"[toolchain] {m}", file=sys.__stderr__, flush=True)
        )


@pytest.fixture(scope="session")
def local_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRuntime]:
    """The session's local runtime, brought up once and removed at the end."""
    root = tmp_path_factory.mktemp("sandbox-state") / "local"
    # One cluster per pytest-xdist worker (gw0, gw1, ...), each of its own name.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    runtime = LocalRuntime(root=root, cluster=f"gitops-sandbox-test{'-' + worker if worker else ''}")
    try:
        runtime.up(_progress)
    except BaseException:
        runtime.down(_progress)  # a half-started cluster must not outlive the session
        raise
    try:
        yield runtime
    finally:
        runtime.down(_progress)


@pytest.fixture(scope="session")
def cluster(local_runtime: LocalRuntime) -> ClusterStatus:
    status = local_runtime.status()
    assert status.running, status.detail
    return status


@pytest.fixture(scope="session")
def kubeconfig(local_runtime: LocalRuntime) -> Path:
    return local_runtime.kubeconfig_path


@pytest.fixture
def api(local_runtime: LocalRuntime) -> Iterator[object]:
    client = kc.api_client(local_runtime.kubeconfig_path, local_runtime.context)
    yield client
    client.close()


@pytest.fixture
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME of its own, with the real binary cache kept so nothing is rebuilt."""
    from sandbox.paths import cache_dir

    real_cache = cache_dir()
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GITOPS_SANDBOX_CACHE_DIR", str(real_cache))
    for var in ("KUBECONFIG", "GITOPS_SANDBOX_STATE_DIR", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    # Go keeps its caches under HOME too; keep the real ones so nothing is fetched again.
    for var in ("GOCACHE", "GOMODCACHE", "GOPATH"):
        value = _go_env(var)
        if value:
            monkeypatch.setenv(var, value)
    return home


def _go_env(var: str) -> str:
    if shutil.which("go") is None:
        return ""
    out = subprocess.run(["go", "env", var], capture_output=True, text=True, check=False)
    return out.stdout.strip()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """How many tests ran against a real Docker daemon: a count of 0 on a run that should have
    had one is visible, not hidden among skips."""
    ran = [r for key in ("passed", "failed") for r in terminalreporter.stats.get(key, [])
           if getattr(r, "when", "") == "call" and any(k == "dockerd" for k, _v in getattr(r, "user_properties", ()))]  # fmt: skip
    terminalreporter.write_line(f"tests run against a real dockerd: {len(ran)}")
