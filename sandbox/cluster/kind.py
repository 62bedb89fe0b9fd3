"""The kind runtime: a cluster in Docker containers, driven through the real kind CLI.

The Docker daemon and kind's node containers are looked at with the docker SDK first, so
a machine without Docker gets one clear line instead of kind's own error output.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path

from sandbox.cluster import probe
from sandbox.cluster.runtime import CLUSTER_NAME, Check, ClusterError, ClusterStatus, Progress
from sandbox.paths import private_dir, state_dir
from sandbox.tools import toolchain

KIND_PREFIX = "kind-"  # kind names the context kind-<name>
# The node image kind v0.32.0 (toolchain.KIND) creates clusters from; pinned with it, by digest.
NODE_IMAGE = "kindest/node:v1.36.1@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5"
NODE_IMAGE_NAME = NODE_IMAGE.split("@")[0]  # as people write it: kindest/node:v1.36.1
IMAGE_PROBE_SECONDS = 5.0  # a registry that does not answer must not hold up a start
NO_DOCKER = (
    "Docker is not running (the docker SDK got no answer from the daemon): start Docker, "
    "or use the Docker-free runtime with --runtime local"
)
NO_KIND = (
    "kind is not installed: `gitops-sandbox toolchain build kind` builds it into the cache "
    "(or see https://kind.sigs.k8s.io/docs/user/quick-start/#installation), "
    "or use --runtime local"
)


class ImageState(StrEnum):
    PRESENT = "present"  # in the Docker daemon's images
    PULLABLE = "pullable"  # not here, but its registry answers for it
    MISSING = "missing"  # neither: kind create cluster would fail on the pull


def node_image_state(image: str = NODE_IMAGE, timeout: float = IMAGE_PROBE_SECONDS) -> tuple[ImageState, str]:
    """Whether the Docker daemon has ``image`` or can pull it, asked through the docker SDK
    (its registry lookup bounded by ``timeout``); with why not."""
    import docker

    try:
        engine = docker.from_env(timeout=int(max(1, timeout)))
    except Exception as exc:  # no daemon
        return ImageState.MISSING, _first_line(exc)
    try:
        try:
            engine.images.get(image)
            return ImageState.PRESENT, ""
        except docker.errors.ImageNotFound:
            pass
        try:
            engine.images.get_registry_data(image)  # the daemon asks the registry; nothing is pulled
            return ImageState.PULLABLE, ""
        except Exception as exc:  # no network, no registry, a timeout
            return ImageState.MISSING, _first_line(exc)
    finally:
        engine.close()


def _first_line(exc: BaseException) -> str:
    said = getattr(exc, "explanation", None) or str(exc)  # the daemon's own words, for its errors
    return str(said).splitlines()[0] if said else type(exc).__name__


PROBE_IMAGE = "gitops-sandbox/privileged-probe:empty"


def privileged_containers() -> tuple[bool | None, str]:
    """Whether Docker can start a privileged container (kind's nodes are privileged): True,
    False with the daemon's reason, or None when there is no daemon to ask.

    It starts one from an empty image made for the probe (and removed after it): the runtime
    sets a privileged container up, capabilities first, before it looks for the command, so
    "no such file" means the privileged part worked.
    """
    import io
    import tarfile

    import docker

    try:
        engine = docker.from_env(timeout=30)
        engine.ping()
    except Exception as exc:
        return None, _first_line(exc)
    try:
        empty = io.BytesIO()
        tarfile.open(fileobj=empty, mode="w").close()
        repository, tag = PROBE_IMAGE.split(":")
        engine.api.import_image_from_data(empty.getvalue(), repository=repository, tag=tag)
        try:
            engine.containers.run(PROBE_IMAGE, "/probe", privileged=True, remove=True, network_mode="none")
        except (docker.errors.APIError, docker.errors.ContainerError) as exc:
            said = _first_line(exc)
            if "no such file or directory" in said:
                return True, "a privileged container starts"
            return False, said
        return True, "a privileged container starts"
    finally:
        try:
            engine.images.remove(PROBE_IMAGE, force=True)
        except Exception:
            pass
        engine.close()


def no_node_image(image: str = NODE_IMAGE) -> str:
    """The one line for a kind runtime that cannot get its node image."""
    return (
        f"the kind node image {image.split('@')[0]} is not on this machine and its registry does not answer: "
        f"run `docker pull {image}` where the internet is, or use --runtime local"
    )


def kind_can_work() -> tuple[bool, str]:
    """Whether ``auto`` may pick kind: Docker answers and the node image is here or pullable;
    else the one line that says why the local runtime is used."""
    ok, why = docker_answers()
    if not ok:
        return False, ""  # no Docker at all: local, as always, without a word
    state, why = node_image_state()
    if state is ImageState.MISSING:
        return False, (
            f"Docker is running but the kind node image {NODE_IMAGE_NAME} is not available offline "
            f"({why}); using the local runtime"
        )
    return True, ""


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
        image_probe: Callable[[], tuple[ImageState, str]] = node_image_state,
        wait: str = "120s",
    ) -> None:
        self.root = root or state_dir() / "kind"
        self.cluster = cluster
        self.docker_probe = docker_probe
        self.nodes = nodes or DockerNodes()
        self.image_probe = image_probe
        self.wait = wait

    @property
    def kubeconfig_path(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def context(self) -> str:
        return KIND_PREFIX + self.cluster

    def kind_binary(self, progress: Progress = lambda _m: None) -> Path:
        """kind, built into the toolchain cache like every other binary when it is missing."""
        try:
            return toolchain.ensure("kind", progress)
        except toolchain.ToolchainError as exc:
            raise ClusterError(f"{NO_KIND} ({_first_line(exc)})") from None

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
            "create", "cluster", "--name", self.cluster, "--image", NODE_IMAGE,
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
            return ClusterStatus(
                self.name, self.cluster, "absent", detail="no cluster: `cluster up` makes one"
            )
        # containers stopped or a stale kubeconfig: "stopped"
        return probe.probed_status(self.name, self.cluster, self.kubeconfig_path, self.context)

    def up(self, progress: Progress) -> ClusterStatus:
        self._require_docker()
        self.kind_binary(progress)
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
            state, _why = self.image_probe()
            if state is ImageState.MISSING:  # before kind spends 10 s on a pull that cannot work
                raise ClusterError(no_node_image())
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


def doctor_checks() -> list[Check]:
    """What kind needs: a Docker daemon that answers, its node image, and privileged containers."""
    docker_ok, why = docker_answers()
    daemon = Check(
        "docker",
        docker_ok,
        "daemon answers" if docker_ok else f"no daemon ({why})",
        "" if docker_ok else "start Docker for the kind runtime; the local runtime needs none",
        required=False,
    )
    if not docker_ok:
        return [daemon]
    state, why = node_image_state()
    image = NODE_IMAGE_NAME
    found = [
        daemon,
        Check(
            "kind node image",
            state is not ImageState.MISSING,
            f"{image}: {state}" + (f" ({why})" if why else ""),
            ""
            if state is not ImageState.MISSING
            else f"`docker pull {NODE_IMAGE}` where the internet is, or use --runtime local",
            required=False,
        ),
    ]
    privileged, said = privileged_containers()
    found.append(
        Check(
            "privileged containers",
            bool(privileged),
            said if privileged else f"cannot start ({said})",
            ""
            if privileged
            else "kind's nodes need them: run Docker where they are allowed, or use --runtime local",
            required=False,
        )
    )
    return found
