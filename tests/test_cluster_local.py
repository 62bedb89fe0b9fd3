"""The local runtime against a real API server: objects, watches, pods reaching Running."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from pathlib import Path

import pytest
from kubernetes import client, watch

from sandbox.cluster.local import LocalRuntime
from sandbox.cluster.runtime import ClusterStatus
from sandbox.kube import kubeconfig as kc
from sandbox.tools import toolchain


def test_local_cluster_has_a_ready_node_and_reports_its_version(cluster: ClusterStatus) -> None:
    assert cluster.runtime == "local"
    assert cluster.version and cluster.version.startswith("v1.")
    assert cluster.nodes and all(node.ready for node in cluster.nodes)
    assert cluster.server and cluster.server.startswith("https://127.0.0.1:")


def test_objects_are_created_read_watched_and_deleted(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    seen: list[str] = []
    started = threading.Event()

    def watch_configmaps() -> None:
        w = watch.Watch()
        started.set()
        for event in w.stream(
            core.list_namespaced_config_map,
            "default",
            timeout_seconds=20,
            field_selector="metadata.name=watched",
        ):
            seen.append(event["type"])
            if event["type"] == "DELETED":
                w.stop()

    watcher = threading.Thread(target=watch_configmaps, daemon=True)
    watcher.start()
    started.wait()
    time.sleep(0.5)
    body = {"metadata": {"name": "watched"}, "data": {"k": "v"}}
    core.create_namespaced_config_map("default", body)
    assert core.read_namespaced_config_map("watched", "default").data == {"k": "v"}
    core.patch_namespaced_config_map("watched", "default", {"data": {"k": "v2"}})
    core.delete_namespaced_config_map("watched", "default")
    watcher.join(timeout=20)
    assert seen == ["ADDED", "MODIFIED", "DELETED"]


def test_deployment_applied_with_kubectl_gets_running_pods_each_with_its_own_ip(
    local_runtime: LocalRuntime, api: client.ApiClient
) -> None:
    manifest = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx:1.27}]
      # kind's one node is its control plane, and so is the sandbox's: what a homelab pins
      # there (an operator's required affinity) runs.
      nodeSelector: {node-role.kubernetes.io/control-plane: ""}
"""
    kubectl = toolchain.ensure("kubectl")
    subprocess.run(
        [str(kubectl), "--kubeconfig", str(local_runtime.kubeconfig_path), "apply", "-f", "-"],
        input=manifest, text=True, check=True, capture_output=True,
    )  # fmt: skip
    core = client.CoreV1Api(api)
    deadline = time.monotonic() + 60
    phases: list[str] = []
    while time.monotonic() < deadline:
        pods = core.list_namespaced_pod("default", label_selector="app=web").items
        phases = [p.status.phase for p in pods]
        if len(phases) == 2 and all(p == "Running" for p in phases):
            break
        time.sleep(0.5)
    assert phases == ["Running", "Running"]
    ips = [p.status.pod_ip for p in core.list_namespaced_pod("default", label_selector="app=web").items]
    assert all(ips) and len(set(ips)) == 2, ("a Service's endpoints need the pods' addresses", ips)
    client.AppsV1Api(api).delete_namespaced_deployment("web", "default")


def test_second_up_reuses_the_running_cluster(local_runtime: LocalRuntime, cluster: ClusterStatus) -> None:
    messages: list[str] = []
    started = time.monotonic()
    again = local_runtime.up(messages.append)
    assert again.server == cluster.server
    assert any("reusing" in m for m in messages)
    assert time.monotonic() - started < 10


def test_a_cluster_another_version_made_is_reused_and_says_how_to_make_it_anew(
    local_runtime: LocalRuntime, cluster: ClusterStatus
) -> None:
    """A running component never re-reads its flags or kwok's stages: a cluster made with other
    settings keeps them, so up says so (and how to get this version's) instead of hiding it."""
    stamp = local_runtime.settings_stamp_file
    made = stamp.read_text()
    same: list[str] = []
    local_runtime.up(same.append)
    assert not [m for m in same if "another version" in m], same
    try:
        stamp.write_text("0" * 64 + "\n")  # as an earlier version's cluster would hold
        other: list[str] = []
        again = local_runtime.up(other.append)
        assert again.server == cluster.server, "the cluster is reused, never recreated behind the user's back"
        notes = [m for m in other if "another version of the sandbox" in m]
        assert notes and "cluster down` then `cluster up`" in notes[0], other
    finally:
        stamp.write_text(made)


def test_kubeconfig_lives_in_the_sandbox_state_dir(local_runtime: LocalRuntime) -> None:
    path = local_runtime.kubeconfig_path
    assert path.is_relative_to(local_runtime.root)
    assert path.is_file()
    assert not str(path).startswith(str(Path.home() / ".kube"))


def test_a_dead_component_shows_as_degraded_and_up_restarts_it(local_runtime: LocalRuntime) -> None:
    import os
    import signal

    pid_file = local_runtime.cluster_dir / "pids" / "kube-scheduler.pid"
    os.kill(int(pid_file.read_text()), signal.SIGKILL)
    deadline = time.monotonic() + 5
    while local_runtime.status().state != "degraded" and time.monotonic() < deadline:
        time.sleep(0.1)
    status = local_runtime.status()
    assert status.state == "degraded" and "kube-scheduler" in status.detail
    messages: list[str] = []
    assert local_runtime.up(messages.append).running
    assert any("restarting" in m for m in messages)
    assert local_runtime.dead_components() == []
    # and the restarted cluster schedules and runs pods again (kwok manages the node anew)
    api = kc.api_client(local_runtime.kubeconfig_path, local_runtime.context)
    try:
        core = client.CoreV1Api(api)
        body = {
            "metadata": {"name": "after-restart"},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]},
        }
        core.create_namespaced_pod("default", body)
        deadline = time.monotonic() + 90  # a loaded machine: the restarted scheduler and kwok take their time
        while core.read_namespaced_pod("after-restart", "default").status.phase != "Running":
            assert time.monotonic() < deadline, "pod not Running after the restart"
            time.sleep(0.2)
        core.delete_namespaced_pod("after-restart", "default", grace_period_seconds=0)
    finally:
        api.close()


def test_controller_manager_and_scheduler_run_without_leader_election(local_runtime: LocalRuntime) -> None:
    for component in ("kube-controller-manager", "kube-scheduler"):
        pid = (local_runtime.cluster_dir / "pids" / f"{component}.pid").read_text().strip()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert b"--leader-elect=false" in cmdline, component


COMPONENTS = ("etcd", "kube-apiserver", "kube-controller", "kube-scheduler", "kwok-controller")


def _listening(pids: set[int]) -> list[tuple[str, str]]:
    """(address:port, process) of every TCP socket these processes listen on, as ss shows it."""
    out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        fields = line.split()
        owners = {int(p) for p in re.findall(r"pid=(\d+)", line)}
        if owners & pids:
            found.append((fields[3], fields[-1]))
    return found


def test_every_component_listens_on_loopback_only_and_the_state_is_the_users_only(
    local_runtime: LocalRuntime,
) -> None:
    pid_files = sorted((local_runtime.cluster_dir / "pids").glob("*.pid"))
    pids = {int(p.read_text().strip()) for p in pid_files}
    assert len(pids) >= len(COMPONENTS), pid_files
    sockets = _listening(pids)
    assert any("etcd" in process for _address, process in sockets), sockets
    off_loopback = [(a, p) for a, p in sockets if not a.startswith(("127.0.0.1:", "[::1]:"))]
    assert off_loopback == [], f"listening beyond loopback: {off_loopback}"
    open_to_others = [
        str(path.relative_to(local_runtime.root))
        for path in (local_runtime.root, *local_runtime.root.rglob("*"))
        if not path.is_symlink() and path.stat().st_mode & 0o077
    ]
    assert open_to_others == [], f"readable by group or others: {open_to_others[:10]}"
    assert local_runtime.kubeconfig_path.stat().st_mode & 0o777 == 0o600


# Kubernetes' public information (system:public-info-viewer lets anyone read these).
PUBLIC = {"/healthz", "/livez", "/readyz", "/version"}
DATA_PATHS = ("/", "/metrics", "/v3/kv/range", "/api/v1/secrets", "/configz", "/debug/pprof/", "/version")


def _answer(url: str) -> str:
    """What a client without credentials gets: an HTTP status, or why the connection failed."""
    import ssl
    import urllib.error
    import urllib.request

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # a stranger does not know the CA; what matters is whether it gets in
    try:
        with urllib.request.urlopen(url, timeout=3, context=context) as response:  # noqa: S310 - loopback
            return str(response.status)
    except urllib.error.HTTPError as err:
        return str(err.code)
    except (urllib.error.URLError, OSError) as err:
        return f"refused: {getattr(err, 'reason', err)}"


def test_no_port_of_the_cluster_gives_anything_to_a_client_without_credentials(
    local_runtime: LocalRuntime,
) -> None:
    """Every listening port of every process the runtime started, asked over plain HTTP and
    over TLS with no client certificate: etcd and kwok-controller (kwok's simulated kubelet, as
    the sandbox builds it) refuse both, serving only clients with a certificate of the cluster's
    CA; the others answer 400/401/403 to everything but Kubernetes' public information. With
    the CA's certificate, kwok serves its metrics, and still none of its debugging handlers."""
    pids = {int(p.read_text().strip()) for p in (local_runtime.cluster_dir / "pids").glob("*.pid")}
    served = []
    for address, process in _listening(pids):
        for scheme in ("http", "https"):
            for path in DATA_PATHS:
                answer = _answer(f"{scheme}://{address}{path}")
                if answer.startswith("2") and path not in PUBLIC:
                    served.append((process.split('"')[1], scheme, path))
                if "etcd" in process or "kwok-controller" in process:
                    assert answer.startswith("refused"), (process, address, scheme, path, answer)
    assert served == [], served
    kwok = [address for address, process in _listening(pids) if "kwok-controller" in process]
    assert kwok, "kwok-controller listens nowhere"
    pki = local_runtime.cluster_dir / "pki"
    client = (pki / "admin.crt", pki / "admin.key")
    assert _body(f"https://{kwok[0]}/metrics", client).startswith("#"), "metrics, for the CA's client"
    for path in DEBUGGING_PATHS:  # would run commands or read files as this user
        assert _body(f"https://{kwok[0]}{path}", client) == "Debug endpoints are disabled.", path


DEBUGGING_PATHS = ("/exec/default/web/main", "/attach/default/web/main", "/portForward/default/web",
                   "/containerLogs/default/web/main", "/debug/pprof/")  # fmt: skip


def _body(url: str, client: tuple[Path, Path]) -> str:
    """The body a client with this certificate and key gets (the server's is not checked)."""
    import ssl
    import urllib.error
    import urllib.request

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.load_cert_chain(*client)
    try:
        with urllib.request.urlopen(url, timeout=3, context=context) as response:  # noqa: S310 - loopback
            return str(response.read().decode().strip())
    except urllib.error.HTTPError as err:
        return str(err.read().decode().strip())


def test_a_cluster_whose_create_fails_on_a_port_another_process_holds_is_recreated_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another cluster starting at the same moment (another user's, another state dir) can take a
    port kwokctl chose: the create fails, and a clean second create on new ports succeeds,
    leaving nothing of the first behind."""
    import socket

    from sandbox.cluster import local

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    ports = iter([taken.getsockname()[1]])  # etcd's client port, the first time only
    real = local._free_port
    monkeypatch.setattr(local, "_free_port", lambda: next(ports, None) or real())
    runtime = LocalRuntime(root=tmp_path / "local", cluster="gitops-sandbox-taken")
    said: list[str] = []
    try:
        status = runtime.up(said.append)
        assert status.running, status.detail
        assert any("recreating the cluster once" in m for m in said), said
        assert runtime.dead_components() == []
    finally:
        runtime.down(said.append)
        taken.close()


def test_a_kind_the_cluster_does_not_know_is_said_in_the_words_every_command_uses(
    local_runtime: LocalRuntime,
) -> None:
    """status (a dry-run) and sync say an unknown kind alike: 'the cluster does not know …'."""
    from sandbox.kube.client import Kube, KubeError

    kube = Kube(local_runtime.kubeconfig_path, local_runtime.context)
    try:
        with pytest.raises(KubeError, match="the cluster does not know example.com/v1 Gizmo"):
            kube.object_path({"apiVersion": "example.com/v1", "kind": "Gizmo", "metadata": {"name": "g"}})
    finally:
        kube.close()


def test_a_cluster_that_cannot_restart_keeps_its_data_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its API server died and another process took its port: up fails at once, naming the
    component and its log, and deletes nothing; once the port is free, up brings the same
    cluster back, its objects there."""
    import os
    import signal
    import socket
    from urllib.parse import urlparse

    import yaml

    from sandbox.cluster import local
    from sandbox.cluster.runtime import ClusterError

    monkeypatch.setattr(local, "START_TIMEOUT", "15s")  # kwokctl's wait for what cannot start, shortened
    runtime = LocalRuntime(root=tmp_path / "local", cluster="gitops-sandbox-kept")
    said: list[str] = []
    try:
        runtime.up(said.append)
        api = kc.api_client(runtime.kubeconfig_path, runtime.context)
        try:
            client.CoreV1Api(api).create_namespaced_config_map(
                "default", {"metadata": {"name": "work"}, "data": {"v": "1"}}
            )
        finally:
            api.close()
        server = yaml.safe_load(runtime.kubeconfig_path.read_text())["clusters"][0]["cluster"]["server"]
        port = urlparse(server).port
        os.kill(int((runtime.cluster_dir / "pids" / "kube-apiserver.pid").read_text()), signal.SIGKILL)
        taken = socket.socket()
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 10
        while True:
            try:
                taken.bind(("127.0.0.1", port))
                break
            except OSError:
                assert time.monotonic() < deadline, "the dead API server's port never came free"
                time.sleep(0.1)
        taken.listen()
        try:
            with pytest.raises(ClusterError) as refused:
                runtime.up(said.append)
            assert "its data is kept" in str(refused.value) and "kube-apiserver" in str(refused.value), (
                refused.value
            )
        finally:
            taken.close()
        assert runtime.up(said.append).running
        api = kc.api_client(runtime.kubeconfig_path, runtime.context)
        try:
            kept = client.CoreV1Api(api).read_namespaced_config_map("work", "default")
        finally:
            api.close()
        assert kept.data == {"v": "1"}, "the cluster's data outlived the failed start"
    finally:
        runtime.down(said.append)
