"""Missing binaries come from their official releases, verified against the SHA-256 each
project publishes, from a real HTTP server on loopback laid out as the release sites are; a
download that does not verify is refused and never cached; with no site answering, or with
`--build`, they are built from source, as this machine's first run does."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from releasekit import lay_out, serving

from sandbox.tools import releases, toolchain

# kubectl stands for the other Kubernetes binaries: the same site and checksum layout.
GO_DIR = Path(toolchain.go_binary() or "/usr/local/go/bin/go").parent
# kwok is not among them: the sandbox builds it with client authentication (see toolchain.KWOK).
TOOLS = ["kubectl", "etcd", "kwokctl", "kind", "helm", "kustomize", "jsonnet", "metrics-server"]


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty binary cache (the real one stays untouched), and no probe remembered."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("GITOPS_SANDBOX_CACHE_DIR", str(cache))
    monkeypatch.setattr(toolchain, "_site_answers", {})
    for tool in toolchain.TOOL_GROUP:  # a binary on PATH must not stand in for the download
        monkeypatch.delenv(toolchain.env_var(tool), raising=False)
    empty = tmp_path / "no-tools-on-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    return cache


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """The binaries this machine built (from the real cache), to publish on the mirror."""
    return {tool: toolchain.ensure(tool) for tool in TOOLS}


def test_each_missing_tool_is_downloaded_from_its_release_and_verified(
    built: dict[str, Path], fresh_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    published = lay_out(tmp_path / "mirror", built)
    said: list[str] = []
    with serving(tmp_path / "mirror") as (mirror, requests):
        monkeypatch.setenv(releases.MIRROR_ENV, mirror)
        got = {tool: toolchain.ensure(tool, said.append) for tool in TOOLS}

    for tool, path in got.items():
        assert path.is_relative_to(fresh_cache), tool
        assert path.read_bytes() == published[tool], f"{tool}: the published binary, unpacked if packed"
        assert path.stat().st_mode & 0o111, f"{tool} is executable"
    assert sum("SHA-256 verified" in line for line in said) == len(TOOLS), said
    assert any(r.startswith("/dl.k8s.io/release/") for r in requests)
    assert any(r.startswith("/api.github.com/repos/kubernetes-sigs/kwok/releases/tags/") for r in requests)
    assert toolchain.version_of(got["kubectl"]) == toolchain.KUBERNETES.version, "it runs"


@pytest.mark.parametrize("tool", ["kubectl", "helm"])
def test_a_download_whose_sha256_differs_from_the_published_one_is_refused_and_never_cached(
    tool: str, built: dict[str, Path], fresh_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lay_out(tmp_path / "mirror", {tool: built[tool]}, tamper=frozenset({tool}))
    with serving(tmp_path / "mirror") as (mirror, _requests):
        monkeypatch.setenv(releases.MIRROR_ENV, mirror)
        with pytest.raises(toolchain.ToolchainError) as refused:
            toolchain.ensure(tool)

    message = str(refused.value)
    assert "refused" in message and "SHA-256" in message and "--build" in message
    group_dir = toolchain.TOOL_GROUP[tool].cache_path
    assert not (group_dir / tool).exists()
    assert [p.name for p in group_dir.iterdir()] == [] if group_dir.exists() else True, "no scratch file left"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_with_no_release_site_answering_the_tool_is_built_from_source(
    built: dict[str, Path], fresh_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(releases.MIRROR_ENV, f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv(
        "PATH", f"{Path(toolchain.go_binary() or '/usr/local/go/bin/go').parent}:/usr/bin:/bin"
    )
    said: list[str] = []

    path = toolchain.ensure("jsonnet", said.append)  # the quickest group to build
    assert any("does not answer" in line and "building from source" in line for line in said), said
    assert any("building jsonnet" in line for line in said), said
    assert subprocess.run([str(path), "--version"], capture_output=True, text=True).returncode == 0


def test_build_never_downloads_even_when_a_release_site_answers(
    built: dict[str, Path], fresh_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lay_out(tmp_path / "mirror", {"jsonnet": built["jsonnet"]})
    monkeypatch.setenv(
        "PATH", f"{Path(toolchain.go_binary() or '/usr/local/go/bin/go').parent}:/usr/bin:/bin"
    )
    with serving(tmp_path / "mirror") as (mirror, requests):
        monkeypatch.setenv(releases.MIRROR_ENV, mirror)
        out = subprocess.run(
            [sys.executable, "-m", "sandbox.cli", "toolchain", "build", "jsonnet", "--build"],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "building jsonnet" in out.stderr
    assert requests == [], "nothing was asked of the release site"


def test_a_tool_the_sandbox_patches_is_never_downloaded_even_when_its_release_is_published(
    built: dict[str, Path], fresh_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kwok's official release serves anyone on its port; the one the sandbox runs is built here."""
    published = tmp_path / "mirror"
    lay_out(published, {"kwokctl": built["kwokctl"]})
    kwok_asset = published / "github.com/kubernetes-sigs/kwok/releases/download" / toolchain.KWOK.version
    (kwok_asset / f"kwok-linux-{releases.arch()}").write_bytes(built["kwokctl"].read_bytes())
    with serving(published) as (mirror, requests):
        monkeypatch.setenv(releases.MIRROR_ENV, mirror)
        with pytest.raises(toolchain.ToolchainError) as refused:  # no Go on PATH: it cannot be built
            toolchain.ensure("kwok")

    assert "Go is not installed" in str(refused.value)
    assert not [r for r in requests if "/kwok-linux-" in r], requests
    assert toolchain.KWOK.cache_path.name == f"kwok-{toolchain.KWOK.version}+client-auth"
