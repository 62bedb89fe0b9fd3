"""The Docker-free runtime: a real control plane from upstream binaries, orchestrated by kwokctl.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler run as plain processes
(kwokctl ``--runtime binary``); kwok plays the kubelet, so nodes exist and scheduled pods
reach Running without containers. kwokctl keeps all its files under ``KWOK_WORKDIR``, which
we point inside the sandbox's state directory, and adds its context only to our kubeconfig.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

from kubernetes import client

from sandbox import locks
from sandbox.cluster import kwokconfig, probe
from sandbox.cluster.cloud import addresses
from sandbox.cluster.runtime import CLUSTER_NAME, ClusterError, ClusterStatus, Progress
from sandbox.kube import kubeconfig as kc
from sandbox.paths import cache_dir, private_dir, state_dir
from sandbox.tools import toolchain

NODE_NAME = "sandbox-node-0"
STAYS_UP = 3.0  # seconds a restarted component must keep running to count as started
_FATAL = ("panic:", "Error:", "error:", "F1", "F0", "fatal")  # how a component's last words begin
KWOK_PREFIX = "kwok-"
SIMULATED = (
    f"pods simulated by kwok (no containers run); volumes local; metrics simulated; "
    f"load-balancer and ingress addresses from {addresses.RANGE} (documentation only: nothing listens there); "
    "admission webhooks not called (their pods would serve them)"
)  # kwokctl names the cluster and its context kwok-<name>


class LocalRuntime:
    """Upstream control-plane binaries plus kwok, no Docker."""

    name = "local"

    def __init__(self, root: Path | None = None, cluster: str = CLUSTER_NAME) -> None:
        self.root = root or state_dir() / "local"
        self.cluster = cluster

    @property
    def kubeconfig_path(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def context(self) -> str:
        return KWOK_PREFIX + self.cluster

    @property
    def workdir(self) -> Path:
        return self.root / "kwok"

    @property
    def cluster_dir(self) -> Path:
        return self.workdir / "clusters" / self.cluster

    def _env(self) -> dict[str, str]:
        # KUBECONFIG pins kwokctl's own default to our file, belt and braces with --kubeconfig;
        # kwokctl has no flag for kubectl, only this variable (else it would download one).
        env = dict(
            os.environ,
            KWOK_WORKDIR=str(self.workdir),
            KUBECONFIG=str(self.kubeconfig_path),
            KUBECACHEDIR=str(self.root / "kube-cache"),  # kubectl's discovery cache, not ~/.kube/cache
        )
        kubectl = toolchain.find("kubectl")
        if kubectl:
            env["KWOK_KUBECTL_BINARY"] = str(kubectl.path)
        return env

    def _kwokctl(
        self, *args: str, timeout: float = 300, kube_version: str = ""
    ) -> subprocess.CompletedProcess[str]:
        kwokctl = toolchain.ensure("kwokctl")
        env = self._env()
        if kube_version:
            env["KWOK_KUBE_VERSION"] = kube_version  # selects the component flags kwokctl passes
        try:
            # umask 077: the components kwokctl starts inherit it, so keys, the kubeconfig and
            # etcd's data (every Secret of the sandbox) are readable by this user only.
            return subprocess.run(
                [str(kwokctl), "--name", self.cluster, *args],
                env=env, capture_output=True, text=True, timeout=timeout, umask=0o077,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise ClusterError(f"kwokctl {' '.join(args[:2])} did not finish in {timeout:.0f}s") from exc

    def _check(self, proc: subprocess.CompletedProcess[str], what: str) -> None:
        if proc.returncode != 0:
            lines = [_log_message(ln) for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
            last = lines[-1] if lines else f"exit code {proc.returncode}"
            raise ClusterError(f"{what} failed: {last} (logs: {self.cluster_dir / 'logs'})")

    def status(self) -> ClusterStatus:
        if not self.cluster_dir.exists():
            return ClusterStatus(
                self.name, self.cluster, "absent", detail="no cluster: `cluster up` makes one"
            )
        status = replace(
            probe.probed_status(self.name, self.cluster, self.kubeconfig_path, self.context),
            simulated=SIMULATED,
        )
        dead = self.dead_components()
        alive = len(list((self.cluster_dir / "pids").glob("*.pid"))) - len(dead)
        # Some components up and some down (one was killed): degraded, restarted as a whole.
        if dead and (status.running or alive > 0):
            return replace(status, state="degraded", detail=f"not running: {', '.join(dead)}")
        return status

    @property
    def cloud_pid_file(self) -> Path:
        return self.root / "cloud.pid"

    def dead_components(self) -> list[str]:
        """Components whose process is gone (the API answering says nothing of the others)."""
        dead = [p.stem for p in sorted((self.cluster_dir / "pids").glob("*.pid")) if not _alive(p)]
        if self.cloud_pid_file.exists() and not self._cloud_alive():
            dead.append(self.cloud_pid_file.stem)
        return dead

    def _cloud_alive(self) -> bool:
        """The cloud process of this runtime runs: its pid is alive and still ours (a pid file
        outlives a reboot, and pids are reused)."""
        return _alive(self.cloud_pid_file) and self._is_our_cloud(self.cloud_pid_file)

    def _is_our_cloud(self, pid_file: Path) -> bool:
        try:
            cmdline = Path(f"/proc/{int(pid_file.read_text().strip())}/cmdline").read_bytes()
        except (ValueError, OSError):
            return False
        return b"sandbox.cluster.cloud" in cmdline and str(self.root).encode() in cmdline

    def _start_cloud(self, progress: Progress) -> None:
        """The volumes and addresses a cloud gives (sandbox.cluster.cloud), unless it runs."""
        if self._cloud_alive():
            return
        log = self.cluster_dir / "logs" / "cloud.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        # The user's only, as kwokctl's own files are (the umask below is the child's).
        with os.fdopen(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "a") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "sandbox.cluster.cloud", "--kubeconfig", str(self.kubeconfig_path),
                 "--context", self.context, "--volumes", str(self.volumes_dir)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                umask=0o077, env=self._env(),
            )  # fmt: skip
        fd = os.open(self.cloud_pid_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as pid:
            pid.write(str(proc.pid))
        progress(f"cloud controller started: volumes in {self.volumes_dir}, addresses from {addresses.RANGE}")

    @property
    def volumes_dir(self) -> Path:
        return self.root / "volumes"

    def up(self, progress: Progress) -> ClusterStatus:
        current = self.status()
        if current.running and any(n.ready for n in current.nodes):
            progress(f"reusing running cluster {self.context}")
            self._say_if_made_otherwise(progress)
            self._start_cloud(progress)  # a cluster made before the sandbox had one
            return current
        if current.state == "degraded" and self.dead_components() == [self.cloud_pid_file.stem]:
            self._start_cloud(progress)  # the control plane is fine: only the cloud died
            return self.status()
        if current.state == "degraded":
            progress(f"restarting cluster {self.context} ({current.detail})")
            self._kwokctl("stop", "cluster")
            current = self.status()
        binaries = toolchain.ensure_all(toolchain.LOCAL_RUNTIME_TOOLS, progress)
        private_dir(self.root)
        lock_down(self.root)
        started = time.monotonic()
        if current.state == "stopped":
            progress(f"starting stopped cluster {self.context}")
            self._say_if_made_otherwise(progress)
            try:
                self._check(
                    self._kwokctl("start", "cluster", "--timeout", START_TIMEOUT), "kwokctl start cluster"
                )
            except ClusterError:
                self._kwokctl("stop", "cluster")  # what did start must not hold its ports for the next try
                raise
            self._renew_node()
        self._create_or_wait(current, binaries, progress)
        lock_down(self.root)  # what kwokctl wrote before the umask took (and clusters made before it)
        self._start_cloud(progress)
        status = self._restart_early_exits(progress)
        progress(f"cluster {self.context} ready in {time.monotonic() - started:.1f}s")
        return status

    def _create_or_wait(self, current: ClusterStatus, binaries: dict[str, Path], progress: Progress) -> None:
        """Create the cluster when there is none (once more on a clash), then wait until it is ready."""
        creating = current.state != "stopped" and not current.running
        if creating:
            progress(
                f"creating cluster {self.context} (etcd, kube-apiserver, controller-manager, scheduler, kwok)"
            )
        try:
            if creating:  # its failure too is retried: a port another cluster took at that moment
                self._create(binaries)
            self._wait_ready(progress)
        except ClusterError as first:
            if not creating:
                # A cluster that holds the user's work is never deleted to get it running: say why
                # it does not start, and how to make it anew if that is wanted. What did start is
                # stopped: a component left running holds its port, and the next start fails on it.
                self._kwokctl("stop", "cluster")
                raise ClusterError(
                    f"{first}; its data is kept: mend what stops it (a port another process took is named "
                    "above) and run `gitops-sandbox cluster up` again, or `gitops-sandbox cluster down` to "
                    "start anew"
                ) from None
            # kwokctl picks free ports by probing; another cluster starting at the same moment
            # can take one first. A clean second attempt gets new ports.
            progress(f"{first}; recreating the cluster once")
            if self._cloud_alive():  # it talks to the cluster being deleted: a new one gets a new cloud
                _kill(self.cloud_pid_file)
            self._kwokctl("delete", "cluster", "--kubeconfig", str(self.kubeconfig_path))
            self._create(binaries)
            self._wait_ready(progress)

    def _restart_early_exits(self, progress: Progress) -> ClusterStatus:
        """Start again the components that exited at start, until each stays up."""
        status = self.status()
        for _attempt in range(4):
            if status.state != "degraded" or self.cloud_pid_file.stem in self.dead_components():
                break
            # kwokctl starts every component at once: one that needs the API server at start
            # (metrics-server reads the request-header CA from kube-system's
            # extension-apiserver-authentication) exits when a loaded machine publishes it late.
            # Once it is there, kwokctl starts what is not running, and it must stay up.
            progress(f"starting again what exited early: {status.detail}")
            self._wait_for_authentication_config()
            self._forget_dead_pids()
            self._kwokctl("start", "cluster", "--timeout", "1m")
            status = self._status_after(STAYS_UP)
        if status.state == "degraded":  # a component that exited at once (a flag it refused)
            raise ClusterError(f"cluster {self.context} started, but {status.detail}{self._log_tails()}")
        return status

    def _status_after(self, seconds: float) -> ClusterStatus:
        """The status once the components have stayed up ``seconds`` (a quiet window: one that
        exits again shows at once), or as soon as one is down."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.dead_components():
            time.sleep(0.2)
        return self.status()

    def _create(self, binaries: dict[str, Path]) -> None:
        version = toolchain.version_of(binaries["kube-apiserver"]) or toolchain.KUBERNETES.version
        args = [
            "create", "cluster", "--runtime", "binary",
            "--kubeconfig", str(self.kubeconfig_path),
            "--etcd-binary", str(binaries["etcd"]),
            "--kube-apiserver-binary", str(binaries["kube-apiserver"]),
            "--kube-controller-manager-binary", str(binaries["kube-controller-manager"]),
            "--kube-scheduler-binary", str(binaries["kube-scheduler"]),
            "--kwok-controller-binary", str(binaries["kwok"]),
            "--enable", "metrics-server",
            "--wait", "2m",
        ]  # fmt: skip
        # kwokctl picks ports by probing for free ones; two clusters created at the same moment
        # can pick the same ports (seen: two API servers sharing one etcd). One at a time; etcd's
        # two are chosen here, since its TLS flags name them.
        with locks.held(cache_dir() / "locks" / "kwokctl-create.lock"):
            self._write_kwokctl_config(binaries["metrics-server"], etcd_ports=(_free_port(), _free_port()))
            self._check(self._kwokctl(*args, kube_version=version), "kwokctl create cluster")
        self.settings_stamp_file.write_text(kwokconfig.settings_stamp() + "\n")

    @property
    def settings_stamp_file(self) -> Path:
        """What the cluster was made with (kwokconfig.settings_stamp), written once it is made."""
        return self.cluster_dir / "sandbox-settings.sha256"

    def _say_if_made_otherwise(self, progress: Progress) -> None:
        """A cluster another version of the sandbox made runs with that version's settings
        (pods without addresses, say, before they had them) until it is made anew: say so, and
        how, rather than recreate a cluster that holds the user's work."""
        try:
            made = self.settings_stamp_file.read_text().strip()
        except OSError:
            made = ""
        if made != kwokconfig.settings_stamp():
            progress(
                f"note: cluster {self.context} was made by another version of the sandbox and keeps its "
                "settings for simulated pods and nodes; `gitops-sandbox cluster down` then `cluster up` "
                "makes it anew with this version's"
            )

    def _write_kwokctl_config(self, metrics_server: Path, etcd_ports: tuple[int, int]) -> None:
        """What kwokctl reads from $KWOK_WORKDIR/kwok.yaml (see kwokconfig)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "kwok.yaml").write_text(
            kwokconfig.kwok_yaml(self.cluster_dir / "pki", metrics_server, etcd_ports)
        )

    def _wait_ready(self, progress: Progress, timeout: float = 90) -> None:
        """Wait for the API server, register the kwok node, and wait for it to be Ready."""
        deadline = time.monotonic() + timeout
        last_error = ""
        while time.monotonic() < deadline:
            try:
                _version, nodes = probe.probe(self.kubeconfig_path, self.context, timeout=3)
                if not nodes:
                    self._create_node()
                elif any(n.ready for n in nodes):
                    return
            except Exception as exc:  # still starting: keep polling until the deadline
                last_error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if gone := [c for c in self.dead_components() if c in _ESSENTIAL]:
                # It exited (a port another process holds, say): waiting out the deadline changes nothing.
                raise ClusterError(
                    f"cluster {self.context}: {', '.join(gone)} exited while starting; logs: "
                    f"{self.cluster_dir / 'logs'}{self._log_tails()}"
                )
            time.sleep(0.3)
        raise ClusterError(
            f"cluster {self.context} not ready after {timeout:.0f}s ({last_error or 'no Ready node'}); "
            f"logs: {self.cluster_dir / 'logs'}{self._log_tails()}"
        )

    def _log_tails(self, lines: int = 3) -> str:
        """The last lines of each component's log, so a failed start says why."""
        tails = []
        for log in sorted((self.cluster_dir / "logs").glob("*.log")):
            try:
                every = log.read_text(errors="replace").splitlines()
            except OSError:
                continue
            last = every[-lines:]
            # A Go program that exits says why once, above its stack dump: keep that line too.
            why = [line for line in every[-200:] if line.startswith(_FATAL)][-1:]
            shown = [*(w for w in why if w not in last), *last]
            if shown:
                tails.append(f"\n  {log.stem}: " + "\n  ".join(line[:300] for line in shown))
        return "".join(tails)

    def _renew_node(self, timeout: float = 30) -> None:
        """Delete our node and its lease so both are made anew once the API server answers.

        A restarted kwok has a new identity, and the node's lease still names the old one:
        kwok then never manages that node again and its pods stay Pending. A new node object
        gets a new lease; pods bound to the same node name are picked up again. The lease is
        deleted by hand: the garbage collector would, but only after its own resync, which
        after a restart takes most of a minute.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            api = kc.api_client(self.kubeconfig_path, self.context)
            try:
                _ignore_404(client.CoreV1Api(api).delete_node, NODE_NAME, _request_timeout=3)
                _ignore_404(
                    client.CoordinationV1Api(api).delete_namespaced_lease, NODE_NAME, "kube-node-lease",
                    _request_timeout=3,
                )  # fmt: skip
                return
            except Exception:  # API server still starting
                time.sleep(0.3)
            finally:
                api.close()

    def _forget_dead_pids(self) -> None:
        """Remove the pid file of each component that exited: kwokctl starts again only what it
        finds not running, and it takes an exited process nobody reaped (a zombie, where no
        init reaps orphans, as in many containers) for a running one."""
        for pid_file in (self.cluster_dir / "pids").glob("*.pid"):
            if not _alive(pid_file):
                pid_file.unlink(missing_ok=True)

    def _wait_for_authentication_config(self, timeout: float = 30) -> None:
        """Until the API server has published the ConfigMap aggregated servers authenticate with
        (or ``timeout``: the restart then says why it failed, from the logs)."""
        api = kc.api_client(self.kubeconfig_path, self.context)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                try:
                    client.CoreV1Api(api).read_namespaced_config_map(
                        "extension-apiserver-authentication", "kube-system", _request_timeout=3
                    )
                    return
                except Exception:  # not there yet, or the API server is still slow: look again
                    time.sleep(0.5)
        finally:
            api.close()

    def _create_node(self) -> None:
        """A node kwok manages: it heartbeats it Ready and fakes the pods bound to it."""
        api = kc.api_client(self.kubeconfig_path, self.context)
        try:
            body = {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": NODE_NAME,
                    "annotations": {
                        "kwok.x-k8s.io/node": "fake",
                        # where kwok serves this node's simulated kubelet resource metrics
                        "metrics.k8s.io/resource-metrics-path": f"/metrics/nodes/{NODE_NAME}/metrics/resource",
                        "node.alpha.kubernetes.io/ttl": "0",
                    },
                    "labels": {"kubernetes.io/hostname": NODE_NAME, **kwokconfig.NODE_LABELS},
                },
                "status": {
                    "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "1000"},
                    "capacity": {"cpu": "32", "memory": "256Gi", "pods": "1000"},
                },
            }
            client.CoreV1Api(api).create_node(cast(Any, body))  # the client takes plain dicts too
        finally:
            api.close()

    def down(self, progress: Progress) -> None:
        if self._cloud_alive():  # first: it must not make a volume folder while the rest goes
            _kill(self.cloud_pid_file)
        if self.cluster_dir.exists():
            progress(f"deleting cluster {self.context}")
            proc = self._kwokctl("delete", "cluster", "--kubeconfig", str(self.kubeconfig_path))
            self._check(proc, "kwokctl delete cluster")
        _kill_leftovers(self.root)
        shutil.rmtree(self.root, ignore_errors=True)
        progress(f"removed {self.root}")


def _alive(pid_file: Path) -> bool:
    try:
        stat = Path(f"/proc/{int(pid_file.read_text().strip())}/stat").read_text()
    except (ValueError, OSError):
        return False
    # A killed process nobody reaped yet is a zombie: dead all the same.
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def _kill(pid_file: Path) -> None:
    try:
        os.kill(int(pid_file.read_text().strip()), 15)
    except (ValueError, OSError):
        pass


def _ignore_404(call: Callable[..., object], *args: object, **kwargs: object) -> None:
    try:
        call(*args, **kwargs)
    except client.ApiException as exc:
        if exc.status != 404:
            raise


def lock_down(root: Path) -> None:
    """Folders 0700, files 0600 (0700 when executable) under ``root``: the runtime's state is
    the user's only (keys, the kubeconfig, etcd's data)."""
    for path in (root, *root.rglob("*")):
        try:
            if path.is_symlink():
                continue
            mode = path.stat().st_mode
            if path.is_dir():
                wanted = 0o700
            else:
                wanted = 0o700 if mode & 0o100 else 0o600
            if mode & 0o777 != wanted:
                path.chmod(wanted)
        except OSError:  # a file a component just removed (a log rotated, a pid file)
            continue


def _log_message(line: str) -> str:
    """kwokctl logs JSON lines; the user needs their msg and err, not the envelope."""
    try:
        record = json.loads(line)
    except ValueError:
        return line.strip()
    if not isinstance(record, dict):
        return line.strip()
    return ": ".join(str(record[k]) for k in ("msg", "err") if record.get(k)) or line.strip()


def _kill_leftovers(root: Path) -> None:
    """End any component still running from our state directory (a crash may leave some): a
    binary kwokctl copied under it, or the cloud process of it. Never another process that
    merely names the directory (a `watch` or kubectl given its kubeconfig)."""
    marker = str(root)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = [a.decode(errors="replace") for a in (entry / "cmdline").read_bytes().split(b"\0") if a]
        except OSError:
            continue
        ours = bool(argv) and (
            argv[0].startswith(marker + os.sep)
            or ("sandbox.cluster.cloud" in argv and any(a.startswith(marker + os.sep) for a in argv))
        )
        if ours:
            try:
                os.kill(int(entry.name), 9)
            except OSError:
                pass


_ESSENTIAL = ("etcd", "kube-apiserver")  # nothing answers without them
START_TIMEOUT = "2m"  # how long kwokctl waits for a stopped cluster's components to answer


def _free_port() -> int:
    """A port free on loopback now (the kernel's choice)."""
    with socket.socket() as probe:
        probe.bind((kwokconfig.LOOPBACK, 0))
        return int(probe.getsockname()[1])
