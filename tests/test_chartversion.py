"""Chart version constraints read as Flux and Helm read them (Masterminds/semver), compared with
the helm CLI picking from a real chart repository on loopback."""

from __future__ import annotations

import functools
import http.server
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.source.chartversion import newest
from sandbox.tools import toolchain

VERSIONS = ("0.14.0", "0.14.1", "0.14.3", "0.15.0", "0.15.1", "0.15.2")
CONSTRAINTS = ("~> 0.15", "=> 0.14.1", "=<0.15.0", ">= 0.14 != 0.15.2", "^0.14", "0.15.x", "~0.14.1 || 0.15.1",
               ">=0.14.0, <0.15.0", "*")  # fmt: skip


@pytest.fixture(scope="module")
def chart_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Helm chart repository of one chart in every version, served on 127.0.0.1."""
    helm = str(toolchain.ensure("helm"))
    root = tmp_path_factory.mktemp("charts")
    served = root / "repo"
    served.mkdir()
    for version in VERSIONS:
        chart = root / f"src-{version}" / "metallb"
        (chart / "templates").mkdir(parents=True)
        (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: metallb\nversion: {version}\n")
        subprocess.run([helm, "package", str(chart), "-d", str(served)], check=True, capture_output=True)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    subprocess.run([helm, "repo", "index", str(served), "--url", url], check=True, capture_output=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield url
    finally:
        server.shutdown()


@pytest.mark.parametrize("constraint", CONSTRAINTS)
def test_the_version_chosen_for_a_constraint_is_the_one_helm_pulls(
    chart_repo: str, constraint: str, tmp_path: Path
) -> None:
    helm = str(toolchain.ensure("helm"))
    env = {"HOME": str(tmp_path), "HELM_CACHE_HOME": str(tmp_path / "cache"),
           "HELM_CONFIG_HOME": str(tmp_path / "config"), "HELM_DATA_HOME": str(tmp_path / "data"),
           "PATH": "/usr/bin:/bin"}  # fmt: skip
    pulled = subprocess.run(
        [helm, "pull", "metallb", "--repo", chart_repo, "--version", constraint, "-d", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert pulled.returncode == 0, pulled.stderr
    [archive] = [p.name for p in tmp_path.glob("metallb-*.tgz")]
    assert f"metallb-{newest(VERSIONS, constraint)}.tgz" == archive, (constraint, archive)
