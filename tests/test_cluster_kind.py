"""The kind runtime: how it calls kind, that it reuses a cluster, and that no Docker means
one clear line.

A Docker engine cannot run on this machine, so the calls to kind are checked with a fake
`kind` executable (it records its arguments) and a fake Docker probe, both named as fakes.
The real kind CLI is also run, to prove its failure without Docker reaches the user as one
line and not a traceback.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.cluster.kind import NO_DOCKER, NODE_IMAGE, ImageState, KindRuntime
from sandbox.cluster.runtime import ClusterError
from sandbox.tools import toolchain

FAKE_KIND = """#!/bin/sh
echo "$@" >> "{log}"
case "$1 $2" in
  "get clusters") cat "{clusters}" 2>/dev/null; exit 0 ;;
  "create cluster") echo gitops-sandbox >> "{clusters}"; exit 0 ;;
  "export kubeconfig") exit 0 ;;
  "delete cluster") : > "{clusters}"; exit 0 ;;
esac
echo "fake kind: unexpected $*" >&2; exit 3
"""


def fake_docker_probe_up() -> tuple[bool, str]:
    return True, ""


def fake_docker_probe_down() -> tuple[bool, str]:
    return False, "connection refused"


@pytest.fixture
def fake_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake `kind` first on PATH; returns the log of its invocations."""
    bin_dir = tmp_path / "fake-kind-bin"
    bin_dir.mkdir()
    log = tmp_path / "fake-kind.log"
    script = bin_dir / "kind"
    script.write_text(FAKE_KIND.format(log=log, clusters=tmp_path / "fake-kind-clusters"))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv(toolchain.env_var("kind"), str(script))
    return log


def fake_image_probe_present() -> tuple[ImageState, str]:
    return ImageState.PRESENT, ""


def test_up_creates_the_cluster_from_the_pinned_node_image_with_our_kubeconfig_and_waits(
    fake_kind: Path, tmp_path: Path
) -> None:
    runtime = KindRuntime(
        root=tmp_path / "state", docker_probe=fake_docker_probe_up, image_probe=fake_image_probe_present
    )
    runtime.up(lambda _m: None)
    calls = fake_kind.read_text().splitlines()
    kubeconfig = tmp_path / "state" / "kubeconfig"
    assert calls == [
        "get clusters",
        f"create cluster --name gitops-sandbox --image {NODE_IMAGE} --kubeconfig {kubeconfig} --wait 120s",
        "get clusters",
    ]


class FakeDockerNodes:
    """Stands in for kind's node containers, which need a Docker engine this machine lacks."""

    def __init__(self, states: dict[str, str]) -> None:
        self._states = states
        self.started: list[str] = []

    def states(self, cluster: str) -> dict[str, str]:
        return dict(self._states)

    def start(self, name: str) -> None:
        self.started.append(name)


def test_up_reuses_an_existing_cluster_and_restarts_its_stopped_node(fake_kind: Path, tmp_path: Path) -> None:
    (tmp_path / "fake-kind-clusters").write_text("gitops-sandbox\n")
    nodes = FakeDockerNodes({"gitops-sandbox-control-plane": "exited"})
    runtime = KindRuntime(root=tmp_path / "state", docker_probe=fake_docker_probe_up, nodes=nodes)  # type: ignore[arg-type]
    runtime.up(lambda _m: None)
    calls = fake_kind.read_text().splitlines()
    assert not any(c.startswith("create cluster") for c in calls)
    assert (
        f"export kubeconfig --name gitops-sandbox --kubeconfig {tmp_path / 'state' / 'kubeconfig'}" in calls
    )
    assert nodes.started == ["gitops-sandbox-control-plane"]


def test_down_deletes_only_our_cluster_and_removes_our_state(fake_kind: Path, tmp_path: Path) -> None:
    (tmp_path / "fake-kind-clusters").write_text("gitops-sandbox\n")
    root = tmp_path / "state"
    root.mkdir()
    (root / "kubeconfig").write_text("x")
    KindRuntime(root=root, docker_probe=fake_docker_probe_up).down(lambda _m: None)
    assert f"delete cluster --name gitops-sandbox --kubeconfig {root / 'kubeconfig'}" in fake_kind.read_text()
    assert not root.exists()


def test_no_docker_is_one_clear_error_and_kind_is_never_called(fake_kind: Path, tmp_path: Path) -> None:
    runtime = KindRuntime(root=tmp_path / "state", docker_probe=fake_docker_probe_down)
    with pytest.raises(ClusterError, match="Docker is not running"):
        runtime.up(lambda _m: None)
    assert not fake_kind.exists()


def test_cli_on_a_machine_without_docker_prints_one_line_and_no_traceback(tmp_path: Path) -> None:
    env = dict(
        os.environ, GITOPS_SANDBOX_STATE_DIR=str(tmp_path / "state"), DOCKER_HOST="unix:///nonexistent.sock"
    )
    out = subprocess.run(
        [sys.executable, "-m", "sandbox.cli", "cluster", "up", "--runtime", "kind"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: " + NO_DOCKER)


def test_real_kind_cli_without_docker_fails_with_its_reason_not_a_traceback(tmp_path: Path) -> None:
    """Even past the probe, the real kind binary's own failure comes back as one line."""
    kind = toolchain.ensure("kind")
    assert kind.is_file()
    runtime = KindRuntime(root=tmp_path / "state", docker_probe=fake_docker_probe_up)
    with pytest.raises(ClusterError) as caught:
        runtime.up(lambda _m: None)
    message = str(caught.value)
    assert message.startswith("kind get clusters failed:")
    assert "\n" not in message
