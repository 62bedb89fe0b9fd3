"""The CLI's cluster lifecycle as a new user runs it, in a HOME of its own.

Proves that `cluster up` and `cluster down` leave the user's ~/.kube/config byte-for-byte
unchanged, and that `down` leaves no process and no state behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from agentkit import wait_for
from sandbox.tools import toolchain

USER_KUBECONFIG = b"""apiVersion: v1
kind: Config
clusters:
- cluster: {server: 'https://example.invalid:6443'}
  name: work
contexts:
- context: {cluster: work, user: me}
  name: work
current-context: work
users:
- name: me
  user: {token: not-a-real-token}
"""


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sandbox.cli", *args],
        capture_output=True, text=True, env=dict(os.environ), timeout=900,
    )  # fmt: skip


def _processes_mentioning(marker: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in cmdline:
                found.append(cmdline)
    return found


def test_up_and_down_leave_the_users_kubeconfig_untouched_and_no_process_behind(isolated_home: Path) -> None:
    user_config = isolated_home / ".kube" / "config"
    user_config.parent.mkdir()
    user_config.write_bytes(USER_KUBECONFIG)

    up = _cli("cluster", "up", "--runtime", "local")
    try:
        _check_up_then_down(up, isolated_home, user_config)
    finally:
        _cli("cluster", "down", "--runtime", "local")  # whatever failed, no cluster outlives the test


def _check_up_then_down(up: subprocess.CompletedProcess[str], isolated_home: Path, user_config: Path) -> None:
    assert up.returncode == 0, up.stderr
    state = isolated_home / ".local" / "state" / "gitops-sandbox"
    sandbox_kubeconfig = state / "local" / "kubeconfig"
    assert f"export KUBECONFIG={sandbox_kubeconfig}" in up.stdout
    assert "Ready" in up.stdout
    assert _processes_mentioning(str(state)), "the control plane should run from the state dir"

    status = _cli("cluster", "status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["state"] == "running"
    assert "pods simulated by kwok" in json.loads(status.stdout)["simulated"]

    # A claim gets a volume folder in the state dir: down must take it too.
    kubectl = toolchain.ensure("kubectl")
    subprocess.run([str(kubectl), "--kubeconfig", str(sandbox_kubeconfig), "--cache-dir", str(state / "local" / "kube-cache"), "apply", "-f",
                    str(Path(__file__).parent / "cloud" / "volume-claim.yaml")], check=True, capture_output=True,
                   umask=0o077)  # fmt: skip
    volumes = state / "local" / "volumes"
    wait_for(lambda: volumes.is_dir() and any(volumes.iterdir()), 60, 0.2, "a volume folder for the claim")

    down = _cli("cluster", "down")
    assert down.returncode == 0, down.stderr
    assert user_config.read_bytes() == USER_KUBECONFIG
    assert sorted(p.name for p in user_config.parent.iterdir()) == ["config"]
    assert _processes_mentioning(str(state)) == []
    assert not (state / "local").exists()

    after = _cli("cluster", "status", "--runtime", "local")
    assert after.returncode == 1
    assert "absent" in after.stdout
