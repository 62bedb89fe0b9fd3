"""The local runtime plays a small cloud, against its real API server: claims bind to local
volumes, LoadBalancer Services and Ingresses get addresses, the metrics API serves kwok's
simulated usage to a real autoscaler, and Jobs complete. Each object reads Healthy as the
sandbox's health rules (Argo CD's) assess it."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from clikit import REPOS, cluster_case, live, shown
from gitkit import commit

from agentkit import wait_for
from sandbox.apply.health import assess
from sandbox.cluster.cloud import addresses
from sandbox.cluster.local import LocalRuntime
from sandbox.kube.client import Kube, KubeError
from sandbox.model import Health, Manifest
from sandbox.tools import toolchain

FIXTURES = Path(__file__).parent / "cloud"


class Namespace:
    """A namespace of the test's own on the shared cluster, with kubectl and reads into it."""

    def __init__(self, runtime: LocalRuntime, kube: Kube, name: str, cache: str) -> None:
        self.runtime, self.kube, self.name = runtime, kube, name
        # kubectl's own cache, kept out of the sandbox's state dir: kubectl chmods its cache files
        # past any umask (0644), and a test that writes there would fail the state-dir check.
        self.cache = cache

    def apply(self, fixture: str) -> None:
        kubectl = toolchain.ensure("kubectl")
        subprocess.run(
            [str(kubectl), "--kubeconfig", str(self.runtime.kubeconfig_path), "--context", self.runtime.context,
             "--cache-dir", self.cache, "apply", "-n", self.name, "-f", str(FIXTURES / fixture)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip

    def read(self, api: str, plural: str, name: str = "") -> Manifest | None:
        base = "/api/v1" if api == "v1" else f"/apis/{api}"
        try:
            return self.kube.get(f"{base}/namespaces/{self.name}/{plural}{'/' + name if name else ''}")
        except KubeError as err:
            if err.status == 404:
                return None
            raise

    def healthy(self, api: str, plural: str, name: str) -> Manifest | None:
        live = self.read(api, plural, name)
        return live if assess(live).status is Health.HEALTHY else None


@pytest.fixture
def namespace(local_runtime: LocalRuntime, tmp_path: Path) -> Iterator[Namespace]:
    kube = Kube(local_runtime.kubeconfig_path, local_runtime.context)
    name = f"cloud-{uuid.uuid4().hex[:8]}"
    kube.request(
        "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    )
    try:
        yield Namespace(local_runtime, kube, name, str(tmp_path / "kube-cache"))
    finally:
        kube.request("DELETE", f"/api/v1/namespaces/{name}")
        kube.close()


def test_a_claim_binds_to_a_folder_under_the_clusters_state_and_both_go_when_it_is_deleted(
    namespace: Namespace, local_runtime: LocalRuntime
) -> None:
    namespace.apply("volume-claim.yaml")

    claim = wait_for(
        lambda: namespace.healthy("v1", "persistentvolumeclaims", "data"), 60, 0.2, "claim Bound"
    )
    assert claim["spec"]["storageClassName"] == "standard", "the default class, though the claim named none"
    volume = namespace.kube.get(f"/api/v1/persistentvolumes/{claim['spec']['volumeName']}")
    folder = Path(volume["spec"]["hostPath"]["path"])
    assert folder.parent == local_runtime.volumes_dir and folder.is_dir()

    namespace.kube.request("DELETE", f"/api/v1/namespaces/{namespace.name}/persistentvolumeclaims/data")
    wait_for(lambda: not folder.exists(), 60, 0.2, "the volume's folder removed (reclaim policy Delete)")

    def volume_gone() -> bool:
        try:
            namespace.kube.get(f"/api/v1/persistentvolumes/{volume['metadata']['name']}")
        except KubeError as err:
            return err.status == 404
        return False

    wait_for(volume_gone, 30, 0.2, "the PersistentVolume deleted")


def test_a_statefulset_with_a_volume_claim_template_becomes_ready(namespace: Namespace) -> None:
    namespace.apply("stateful.yaml")

    stateful = wait_for(
        lambda: namespace.healthy("apps/v1", "statefulsets", "store"), 60, 0.5, "StatefulSet Ready"
    )
    assert stateful["status"]["readyReplicas"] == 2
    claims = namespace.read("v1", "persistentvolumeclaims") or {}
    assert sorted(c["metadata"]["name"] for c in claims["items"]) == ["data-store-0", "data-store-1"]
    assert {c["status"]["phase"] for c in claims["items"]} == {"Bound"}


def test_load_balancer_services_and_ingresses_get_distinct_documentation_addresses_and_read_healthy(
    namespace: Namespace,
) -> None:
    namespace.apply("addresses.yaml")

    found = {
        name: wait_for(
            lambda n=name: namespace.healthy("v1", "services", n), 30, 0.2, f"Service {name} Healthy"
        )
        for name in ("front", "back")
    }
    ingress = wait_for(
        lambda: namespace.healthy("networking.k8s.io/v1", "ingresses", "front"), 30, 0.2, "Ingress"
    )
    service_addresses = {addresses.addresses_of(s)[0] for s in found.values()}
    assert len(service_addresses) == 2, "no two LoadBalancer Services share an address"
    assert addresses.addresses_of(ingress) == [addresses.INGRESS_ADDRESS]
    for address in (*service_addresses, addresses.INGRESS_ADDRESS):
        assert ipaddress.ip_address(address) in ipaddress.ip_network("203.0.113.0/24"), "documentation range"
    inside = namespace.read("v1", "services", "inside") or {}
    assert addresses.addresses_of(inside) == [], "a ClusterIP Service gets no address"


def test_an_autoscaler_reads_simulated_cpu_from_the_metrics_api_and_scales_on_it(
    namespace: Namespace,
) -> None:
    namespace.apply("autoscaled.yaml")

    def scaled_up() -> Manifest | None:
        hpa = namespace.healthy("autoscaling/v2", "horizontalpodautoscalers", "busy")
        return hpa if hpa and hpa["status"].get("desiredReplicas") == 3 else None

    hpa = wait_for(scaled_up, 90, 0.5, "the autoscaler at its maximum, and Healthy")
    [metric] = hpa["status"]["currentMetrics"]
    assert abs(metric["resource"]["current"]["averageUtilization"] - 300) <= 5, json.dumps(metric)  # a rate
    pods = namespace.kube.get(f"/apis/metrics.k8s.io/v1beta1/namespaces/{namespace.name}/pods")
    used = [_millicores(p["containers"][0]["usage"]["cpu"]) for p in pods["items"]]
    assert used and all(abs(u - 300) < 5 for u in used), f"kwok's simulated usage, as a rate: {used}"
    wait_for(lambda: (namespace.read("apps/v1", "deployments", "busy") or {}).get("status", {}).get("readyReplicas") == 3,
             60, 0.5, "the Deployment scaled to 3 ready pods")  # fmt: skip


def _millicores(quantity: str) -> float:
    """A CPU quantity (``250m``, ``299967739n``, ``1``) in millicores."""
    units = {"n": 1e-6, "u": 1e-3, "m": 1.0}
    if quantity[-1] in units:
        return float(quantity[:-1]) * units[quantity[-1]]
    return float(quantity) * 1000


def test_a_job_runs_to_completion_and_reads_healthy(namespace: Namespace) -> None:
    namespace.apply("job.yaml")

    job = wait_for(lambda: namespace.healthy("batch/v1", "jobs", "once"), 60, 0.2, "Job Complete")
    assert job["status"]["succeeded"] == 1
    assert any(c["type"] == "Complete" and c["status"] == "True" for c in job["status"]["conditions"])


def test_a_job_whose_pod_is_set_to_fail_reads_failed_and_degraded(namespace: Namespace) -> None:
    namespace.apply("failing-job.yaml")

    def failed() -> Manifest | None:
        job = namespace.read("batch/v1", "jobs", "doomed")
        conditions = (job or {}).get("status", {}).get("conditions") or []
        return job if any(c["type"] == "Failed" and c["status"] == "True" for c in conditions) else None

    job = wait_for(failed, 60, 0.2, "Job Failed")
    assert assess(job).status is Health.DEGRADED
    pods = namespace.read("v1", "pods") or {}
    [pod] = pods["items"]
    assert pod["status"]["phase"] == "Failed"
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3


def test_a_pod_of_no_controller_that_is_not_restarted_runs_to_completion(namespace: Namespace) -> None:
    """No program runs to end it: left Running, a one-off pod held a Flux Kustomization with
    wait: true Progressing for good. A pod that restarts keeps running, as a server does."""
    namespace.apply("one-off-pods.yaml")

    def phase(name: str) -> str:
        return str(((namespace.read("v1", "pods", name) or {}).get("status") or {}).get("phase", ""))

    wait_for(lambda: phase("migrate") == "Succeeded" or None, 60, 0.2, "the one-off pod Succeeded")
    assert assess(namespace.read("v1", "pods", "migrate")).status is Health.HEALTHY
    assert phase("server") == "Running"


def test_a_pod_that_reads_a_missing_secret_or_config_map_waits_as_a_kubelet_leaves_it(
    namespace: Namespace,
) -> None:
    """kwok started every pod, so an app whose Secret never came (SOPS without its key) read
    Healthy. A kubelet holds such a pod in CreateContainerConfigError (an environment variable)
    or ContainerCreating (a volume), and starts it once what it reads exists."""
    namespace.apply("reads-missing-config.yaml")

    def waiting(name: str) -> tuple[str, str] | None:
        statuses = ((namespace.read("v1", "pods", name) or {}).get("status") or {}).get(
            "containerStatuses"
        ) or []
        state = (statuses[0].get("state") or {}).get("waiting") if statuses else None
        return (state["reason"], state.get("message", "")) if state else None

    def phase(name: str) -> str:
        return str(((namespace.read("v1", "pods", name) or {}).get("status") or {}).get("phase", ""))

    assert wait_for(lambda: waiting("by-env"), 60, 0.2, "by-env waits") == (
        "CreateContainerConfigError",
        'secret "credentials" not found',
    )
    assert wait_for(lambda: waiting("by-volume"), 60, 0.2, "by-volume waits") == (
        "ContainerCreating",
        'MountVolume.SetUp failed for volume "settings" : configmap "settings" not found',
    )
    wait_for(lambda: phase("optional") == "Running" or None, 60, 0.2, "an optional reference does not hold")
    assert assess(namespace.read("v1", "pods", "by-env")).status is Health.DEGRADED
    mounting = assess(namespace.read("v1", "pods", "by-volume"))
    assert mounting.status is Health.PROGRESSING
    assert mounting.message == (
        "container 'app': ContainerCreating: MountVolume.SetUp failed for volume \"settings\" : "
        'configmap "settings" not found'
    ), mounting
    assert phase("by-env") == phase("by-volume") == "Pending"

    namespace.apply("credentials-without-key.yaml")
    wait_for(lambda: waiting("by-env") == ("CreateContainerConfigError",
             f"couldn't find key password in Secret {namespace.name}/credentials") or None,
             60, 0.2, "the missing key is named")  # fmt: skip

    namespace.apply("credentials-and-settings.yaml")
    for name in ("by-env", "by-volume"):
        wait_for(
            lambda name=name: phase(name) == "Running" or None,
            60,
            0.2,
            f"{name} starts once what it reads exists",
        )
        assert assess(namespace.read("v1", "pods", name)).status is Health.HEALTHY


def test_cluster_status_says_what_the_local_runtime_simulates(local_runtime: LocalRuntime) -> None:
    said = local_runtime.status().simulated
    assert "pods simulated by kwok" in said and "volumes local" in said and "metrics simulated" in said
    assert "203.0.113.0/24" in said
    assert "admission webhooks not called" in said


def test_objects_an_admission_webhook_of_simulated_pods_guards_are_applied_as_if_it_allowed_them(
    tmp_path: Path, local_runtime: LocalRuntime
) -> None:
    """No pod runs on the local runtime, so no webhook could ever answer (ingress-nginx's,
    cert-manager's): the API server does not call them, and what they guard is applied."""
    with cluster_case(tmp_path, local_runtime, REPOS / "webhooks", "a webhook and what it guards") as case:
        u = case.uid
        synced = case.cli("sync")
        assert synced.returncode == 0, shown(synced)
        webhook = f"/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/guard{u}"
        assert live(case.kube, webhook) is not None, "the webhook's configuration is applied as Git has it"
        # The webhook came last (its kind sorts after the ConfigMap's): a change to what it
        # guards goes through it.
        changed = (case.repo / "guarded" / "settings.yaml").read_text().replace("strict", "lenient")
        commit(case.repo, {"guarded/settings.yaml": changed}, "a guarded object changes")
        synced = case.cli("sync")
        assert synced.returncode == 0, shown(synced)
        settings = live(case.kube, f"/api/v1/namespaces/guarded{u}/configmaps/settings")
        assert settings is not None and settings["data"] == {"mode": "lenient"}
