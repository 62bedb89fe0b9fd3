"""The kind runtime: a cluster in Docker containers, driven through the real kind CLI.

The Docker daemon and kind's node containers are looked at with the docker SDK first, so
a machine without Docker gets one clear line instead of kind's own error output.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from sandbox.cluster import kubeconfig as kc
from sandbox.cluster import toolchain
from sandbox.cluster.runtime import CLUSTER_NAME, ClusterError, ClusterStatus, Progress
from sandbox.paths import private_dir, state_dir

KIND_PREFIX = "kind-"  # kind names the context kind-<name>
NO_DOCKER = (
    "Docker is not running (the docker SDK got no answer from the daemon): start Docker, "
    "or use the Docker-free runtime with --runtime local"
)
NO_KIND = (
    "kind is not installed: `gitops-sandbox toolchain build kind` builds it into the cache "
    "(or see https://kind.sigs.k8s.io/docs/user/quick-start/#installation), "
    "or use --runtime local"
)


def docker_answers() -> tuple[bool, str]:
    """Whether a Docker daemon answers a ping, and why not when it does not."""
    try:
        import docker  # imported here: the SDK probes sockets at import of some helpers

        engine = docker.from_env(timeout=3)
        try:
            engine.ping()
        finally:
            engine.close()
        return True, ""
    except Exception as exc:  # DockerException, connection refused, missing socket...
        return False, str(exc).splitlines()[0] if str(exc) else type(exc).__name__


class DockerNodes:
    """kind's node containers, seen and started through the docker SDK."""

    def states(self, cluster: str) -> dict[str, str]:
        """Container name -> Docker state (running, exited...) for a kind cluster's nodes."""
        import docker

        engine = docker.from_env(timeout=5)
        try:
            found = engine.containers.list(all=True, filters={"label": f"io.x-k8s.kind.cluster={cluster}"})
            return {c.name: c.status for c in found}
        finally:
            engine.close()

    def start(self, name: str) -> None:
        import docker

        engine = docker.from_env(timeout=30)
        try:
            engine.containers.get(name).start()
        finally:
            engine.close()


class KindRuntime:
    """kind create/delete cluster with the kubeconfig written under our state directory."""

    name = "kind"

    def __init__(
        self,
        root: Path | None = None,
        cluster: str = CLUSTER_NAME,
        docker_probe: Callable[[], tuple[bool, str]] = docker_answers,
        nodes: DockerNodes | None = None,
        wait: str = "120s",
    ) -> None:
        self.root = root or state_dir() / "kind"
        self.cluster = cluster
        self.docker_probe = docker_probe
        self.nodes = nodes or DockerNodes()
        self.wait = wait

    @property
    def kubeconfig_path(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def context(self) -> str:
        return KIND_PREFIX + self.cluster

    def kind_binary(self) -> Path:
        found = toolchain.find("kind")
        if found is None:
            raise ClusterError(NO_KIND)
        return found.path

    def _require_docker(self) -> None:
        ok, why = self.docker_probe()
        if not ok:
            raise ClusterError(f"{NO_DOCKER} [{why}]" if why else NO_DOCKER)

    def _kind(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        try:
            proc = subprocess.run(
                [str(self.kind_binary()), *args], capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired as exc:
            raise ClusterError(f"kind {args[0]} did not finish in {timeout:.0f}s") from exc
        if proc.returncode != 0:
            lines = [ln.strip() for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
            reason = lines[-1] if lines else f"exit code {proc.returncode}"
            raise ClusterError(f"kind {' '.join(args[:2])} failed: {reason}")
        return proc

    def create_args(self) -> list[str]:
        return [
            "create", "cluster", "--name", self.cluster,
            "--kubeconfig", str(self.kubeconfig_path), "--wait", self.wait,
        ]  # fmt: skip

    def existing_clusters(self) -> list[str]:
        return self._kind("get", "clusters").stdout.split()

    def status(self) -> ClusterStatus:
        ok, why = self.docker_probe()
        if not ok:
            return ClusterStatus(self.name, self.cluster, "unreachable", detail=NO_DOCKER)
        if shutil.which("kind") is None and toolchain.find("kind") is None:
            return ClusterStatus(self.name, self.cluster, "unreachable", detail=NO_KIND)
        if self.cluster not in self.existing_clusters():
            return ClusterStatus(self.name, self.cluster, "absent", detail="no cluster created yet")
        # containers stopped or a stale kubeconfig: "stopped"
        return kc.probed_status(self.name, self.cluster, self.kubeconfig_path, self.context)

    def up(self, progress: Progress) -> ClusterStatus:
        self._require_docker()
        private_dir(self.root)
        if self.cluster in self.existing_clusters():
            # kind does not restart its node containers after Docker restarts; we do.
            stopped = [n for n, state in self.nodes.states(self.cluster).items() if state != "running"]
            for name in stopped:
                progress(f"starting kind node container {name}")
                self.nodes.start(name)
            progress(f"reusing kind cluster {self.cluster}")
            self._kind(
                "export",
                "kubeconfig",
                "--name",
                self.cluster,
                "--kubeconfig",
                str(self.kubeconfig_path),
            )
        else:
            progress(f"creating kind cluster {self.cluster} (kind create cluster --wait {self.wait})")
            self._kind(*self.create_args())
        return self.status()

    def down(self, progress: Progress) -> None:
        self._require_docker()
        if self.cluster in self.existing_clusters():
            progress(f"deleting kind cluster {self.cluster}")
            self._kind(
                "delete",
                "cluster",
                "--name",
                self.cluster,
                "--kubeconfig",
                str(self.kubeconfig_path),
            )
        shutil.rmtree(self.root, ignore_errors=True)
        progress(f"removed {self.root}")
