"""Every command the sandbox suggests for a chart it does not fetch works, run as written
against real servers on loopback: an HTTP Helm repository (index.yaml and a packaged chart,
served by a plain HTTP server) and an OCI registry (the CNCF distribution registry, the chart
pushed with `helm push`). After the command, the same repo renders the chart from where the
command put it.

The one change to the commands as printed: `--plain-http`, since the loopback registry speaks
plain HTTP where a real one speaks HTTPS.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from clikit import REPOS, repo_from_fixture

from sandbox.source.discovery import discover
from sandbox.source.envrepo import EnvRepo
from sandbox.source.render import render_app
from sandbox.tools import toolchain

PULL = REPOS / "flux" / "pull"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _helm(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(toolchain.ensure("helm")), *args], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, f"helm {' '.join(args)}: {done.stderr}"
    return done.stdout


@pytest.fixture
def helm_env(tmp_path: Path) -> dict[str, str]:
    """helm with homes of its own: nothing read from or written to the user's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELM_")}
    for var, name in (
        ("HELM_CACHE_HOME", "cache"),
        ("HELM_CONFIG_HOME", "config"),
        ("HELM_DATA_HOME", "data"),
    ):
        env[var] = str(tmp_path / "helm" / name)
    env["PATH"] = f"{toolchain.ensure('helm').parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture
def chart(tmp_path: Path, helm_env: dict[str, str]) -> Path:
    out = tmp_path / "packaged"
    out.mkdir()
    _helm("package", str(PULL / "chart"), "-d", str(out), env=helm_env)
    return out / "greeter-1.2.0.tgz"


@pytest.fixture
def helm_repository(tmp_path: Path, chart: Path, helm_env: dict[str, str]) -> Iterator[str]:
    """A Helm repository over HTTP on loopback: the packaged chart and its index.yaml."""
    root = tmp_path / "http-repo"
    root.mkdir()
    shutil.copy(chart, root)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(root)))
    url = f"http://127.0.0.1:{server.server_address[1]}"
    _helm("repo", "index", str(root), "--url", url, env=helm_env)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def oci_registry(tmp_path: Path, chart: Path, helm_env: dict[str, str]) -> Iterator[str]:
    """The CNCF distribution registry on loopback, the chart pushed to <registry>/charts."""
    port = _free_port()
    config = tmp_path / "registry.yml"
    config.write_text(
        "version: 0.1\nlog: {level: error}\n"
        f"storage: {{filesystem: {{rootdirectory: {tmp_path / 'registry-data'}}}}}\n"
        f"http: {{addr: 127.0.0.1:{port}}}\n"
    )
    process = subprocess.Popen([str(toolchain.ensure("registry")), "serve", str(config)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            time.sleep(0.05)
        url = f"oci://127.0.0.1:{port}/charts"
        _helm("push", str(chart), url, "--plain-http", env=helm_env)
        yield url
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.parametrize(
    ("fixture", "apps"),
    [(PULL, {"from-http", "from-oci", "from-ref"}), (REPOS / "argocd" / "pull", {"from-http", "from-oci"})],
    ids=["flux", "argocd"],
)
def test_each_suggested_helm_pull_works_against_a_real_server_and_the_app_then_renders(
    tmp_path: Path, helm_env: dict[str, str], helm_repository: str, oci_registry: str,
    monkeypatch: pytest.MonkeyPatch, fixture: Path, apps: set[str],
) -> None:  # fmt: skip
    for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        monkeypatch.setenv(var, helm_env[var])  # where the sandbox looks for pulled charts
    names = {
        "helm_url": helm_repository,
        "oci_url": oci_registry,
        "oci_host": oci_registry.removeprefix("oci://"),
    }
    path, _ = repo_from_fixture(tmp_path / "env", fixture, names, "charts")
    repo = EnvRepo(path)
    found = discover(repo, "HEAD")
    failed = {a.names.short: a for a in found.apps if a.invalid}
    assert set(failed) == apps, [str(p) for p in found.problems]

    for name, app in failed.items():
        message = str(app.invalid[0])
        command = re.search(r"`(helm pull [^`]+)`", message)
        assert command is not None, message
        assert "--repo oci://" not in command.group(1), "helm refuses --repo with an OCI URL"
        line = command.group(1) + (" --plain-http" if "oci://" in command.group(1) else "")
        done = subprocess.run(["bash", "-c", line], capture_output=True, text=True, env=helm_env, timeout=120)
        assert done.returncode == 0, f"{name}: `{line}` failed: {done.stderr}"

    again = discover(repo, "HEAD")
    rendered = {a.names.short: a for a in again.apps}
    for name in failed:
        assert not rendered[name].invalid, rendered[name].invalid
        assert rendered[name].chart_archive.endswith("greeter-1.2.0.tgz")
        made = render_app(repo, rendered[name], "HEAD")
        assert made.ok and made.objects, made.problems
