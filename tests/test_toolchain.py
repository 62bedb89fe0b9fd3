"""Finding and building the binary toolchain, and what the user is told when they are missing."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.tools import toolchain


def _executable(path: Path, body: str = "#!/bin/sh\necho v9.9.9\n") -> Path:
    path.write_text(body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_env_var_names_a_binary_explicitly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = _executable(tmp_path / "my-apiserver")
    monkeypatch.setenv("GITOPS_SANDBOX_KUBE_APISERVER", str(binary))
    found = toolchain.find("kube-apiserver")
    assert found == toolchain.Found("kube-apiserver", binary, "env")


def test_env_var_pointing_at_nothing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITOPS_SANDBOX_ETCD", "/nonexistent/etcd")
    with pytest.raises(
        toolchain.ToolchainError, match="GITOPS_SANDBOX_ETCD=/nonexistent/etcd is not an executable"
    ):
        toolchain.find("etcd")


def test_path_is_used_when_nothing_is_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kustomize = _executable(bin_dir / "kustomize")
    monkeypatch.setenv("GITOPS_SANDBOX_CACHE_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    assert toolchain.find("kustomize") == toolchain.Found("kustomize", kustomize, "PATH")
    assert toolchain.version_of(kustomize) == "v9.9.9"


def test_missing_tool_without_go_says_how_to_get_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITOPS_SANDBOX_CACHE_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no go, no kwok
    with pytest.raises(toolchain.ToolchainError) as caught:
        toolchain.ensure("kwokctl")
    message = str(caught.value)
    assert "Go is not installed" in message and "GITOPS_SANDBOX_KWOK" in message


def test_go_names_the_binary_of_a_versioned_module_after_its_parent() -> None:
    assert toolchain._go_binary_name("go.etcd.io/etcd/server/v3") == "server"
    assert toolchain._go_binary_name("sigs.k8s.io/kustomize/kustomize/v5") == "kustomize"
    assert toolchain._go_binary_name("k8s.io/kubernetes/cmd/kube-apiserver") == "kube-apiserver"


def test_wrapper_modules_pin_what_the_toolchain_says_they_build() -> None:
    for group in toolchain.GROUPS:
        go_mod = (group.module_dir / "go.mod").read_text()
        assert (group.module_dir / "go.sum").is_file(), group.name
        if all(p.startswith("gitops-sandbox/") for p in group.packages.values()):
            # The sandbox's own command: the module is it, its version the sandbox's.
            assert all(f"module {p}" in go_mod for p in group.packages.values()), group.name
            continue
        for package in group.packages.values():
            assert package in go_mod, (group.name, package)
        module_version = group.version
        assert module_version in go_mod, (group.name, module_version)


def test_kubernetes_staging_modules_are_all_mapped_to_the_same_release() -> None:
    go_mod = (toolchain.KUBERNETES.module_dir / "go.mod").read_text()
    replaced = [line.split() for line in go_mod.splitlines() if "=>" in line]
    assert len(replaced) >= 30
    minor = toolchain.KUBERNETES.version.replace("v1.", "v0.")
    assert all(parts[-1] == minor for parts in replaced), replaced


def test_built_binaries_report_the_pinned_versions() -> None:
    for tool in toolchain.LOCAL_RUNTIME_TOOLS:
        path = toolchain.ensure(tool)
        if tool.startswith("kube") and path.is_relative_to(toolchain.KUBERNETES.cache_path):
            assert toolchain.version_of(path) == toolchain.KUBERNETES.version, tool


def test_doctor_json_lists_every_tool_with_source_and_fix(tmp_path: Path) -> None:
    env = dict(os.environ, GITOPS_SANDBOX_CACHE_DIR=str(tmp_path / "empty-cache"), PATH=str(tmp_path))
    out = subprocess.run(
        [sys.executable, "-m", "sandbox.cli", "doctor", "--json"], capture_output=True, text=True, env=env
    )
    checks = {c["name"]: c for c in json.loads(out.stdout)}
    assert set(toolchain.TOOL_GROUP) <= set(checks)
    assert checks["go"]["ok"] is False
    assert "go.dev" in checks["go"]["fix"]
    assert checks["kube-apiserver"]["ok"] is False
    assert "gitops-sandbox toolchain build kube-apiserver" in checks["kube-apiserver"]["fix"]
    assert out.returncode == 1, "a missing tool that Go cannot build blocks the local runtime"


def test_doctor_passes_when_the_local_runtime_can_start() -> None:
    out = subprocess.run([sys.executable, "-m", "sandbox.cli", "doctor"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout
    lines = {
        line.split()[1]: line.split()[0]
        for line in out.stdout.splitlines()
        if line.split()[:1] != [] and not line.lstrip().startswith("fix:")
    }
    assert all(lines[tool] == "ok" for tool in toolchain.LOCAL_RUNTIME_TOOLS), out.stdout
