"""The sample env repos: each renders cleanly and syncs Healthy on a real API server.

The samples are copied into fresh git repositories, as a user would after ``cp -r``. They
use fixed app names and namespaces (they are examples, not fixtures), so the cluster tests
remove what they deployed before the next test deploys the same names.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from gitkit import git

from sandbox.agent.history import History
from sandbox.agent.loop import Agent
from sandbox.agent.snapshot import ObjectState, Snapshot
from sandbox.apply.inventory import INVENTORY_PREFIX, SYSTEM_NAMESPACE, storage_name
from sandbox.cli.demo import SAMPLES_DIR
from sandbox.cluster.local import LocalRuntime
from sandbox.kube.client import Kube, KubeError
from sandbox.model import DesiredObject, Health, SyncStatus
from sandbox.source.appconfig import AppSpec
from sandbox.source.discovery import load_apps
from sandbox.source.envrepo import EnvRepo
from sandbox.source.render import render_app

SAMPLES = sorted(p.name for p in SAMPLES_DIR.iterdir() if p.is_dir())
HEALTHY_TIMEOUT = 60
# Small, real images: kwok runs none of them, kind pulls them all.
SMALL_IMAGES = {"nginx:1.27-alpine", "redis:7-alpine"}

# app -> (namespace, "Kind/name" of every object); kustomize's content hash shows as <hash>.
EXPECTED: dict[str, dict[str, tuple[str, set[str]]]] = {
    "plain": {"web": ("web", {"ConfigMap/web-config", "Deployment/web", "Service/web"})},
    "kustomize": {
        "hello-dev": ("hello-dev", {"ConfigMap/hello-config-<hash>", "Deployment/hello", "Service/hello"}),
        "hello-prod": ("hello-prod", {"ConfigMap/hello-config-<hash>", "Deployment/hello", "Service/hello"}),
    },
    "helm": {"greeter-dev": ("greeter-dev", {"ConfigMap/greeter", "Deployment/greeter", "Service/greeter"})},
    "argocd": {
        "root": ("argocd", set()),  # an app-of-apps: its objects are the Applications below
        "storefront": (
            "storefront",
            {"ConfigMap/storefront-config", "Deployment/storefront", "Service/storefront"},
        ),
        "shop-staging": ("shop-staging", {"ConfigMap/shop-settings", "Deployment/shop", "Service/shop"}),
        "shop-production": (
            "shop-production",
            {"ConfigMap/shop-settings", "Deployment/shop", "Service/shop"},
        ),
        "tools-echo": ("tools", {"Deployment/echo"}),
        "tools-clock": ("tools", {"CronJob/clock"}),
    },
    "flux": {
        "flux-system": ("flux-system", {"ConfigMap/cluster-settings"}),
        "infra-configs": ("platform", {"Namespace/platform", "ConfigMap/platform-info"}),
        "apps": ("default", {"Namespace/hello"}),
        "HelmRelease/hello/hello": (
            "hello",
            {"ConfigMap/hello-greeting", "Deployment/hello", "Service/hello"},
        ),
    },
    "cloud": {
        "catalog": (
            "catalog",
            {"Deployment/catalog", "HorizontalPodAutoscaler/catalog", "Service/catalog", "Ingress/catalog"},
        ),
        "ledger": ("ledger", {"Service/ledger", "StatefulSet/ledger"}),
        "reindex": ("reindex", {"Job/reindex-1"}),
    },
    "multi-app": {
        "infra": ("infra", {"Service/redis", "Service/redis-headless", "StatefulSet/redis"}),
        "shop": ("shop", {"ConfigMap/shop-config", "Deployment/shop"}),
    },
}


# -- helpers shared with test_demo --------------------------------------------------------------


def sample_repo(sample: str, dest: Path) -> Path:
    """The sample copied as it is into a new git repository with one commit."""
    shutil.copytree(SAMPLES_DIR / sample, dest)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", f"sample {sample}")
    return dest


@contextmanager
def running_agent(repo: Path, kube: Kube, scratch: Path) -> Iterator[Agent]:
    """An agent following ``repo``, with history and settings of its own; on exit, stopped
    and everything its apps deployed removed, so the next test can deploy the same names."""
    history = History(scratch / "h.sqlite")
    agent = Agent(repo, kube, history=history, settings_path=scratch / "s.json")
    agent.start(watch_repo=False)
    try:
        assert agent.wait_idle(120), "the agent did not finish its first sync within 120 s"
        yield agent
    finally:
        snapshot = agent.publish_now()
        agent.stop()
        history.close()
        remove_apps(kube, [a.name for a in snapshot.apps], _namespaces(snapshot))


BUILT_IN_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})


def _namespaces(snapshot: Snapshot) -> set[str]:
    """Every namespace the apps deployed into or declared (not the cluster's own)."""
    found = {a.namespace for a in snapshot.apps}
    for app in snapshot.apps:
        for obj in app.objects:
            found |= {obj.key.namespace} | ({obj.key.name} if obj.key.kind == "Namespace" else set())
    return found - BUILT_IN_NAMESPACES - {""}


def remove_apps(kube: Kube, apps: list[str], namespaces: set[str]) -> None:
    """Delete the apps' namespaces and inventories and wait until the namespaces are gone:
    a namespace still terminating would refuse the next test's objects."""
    paths = [f"/api/v1/namespaces/{n}" for n in sorted(namespaces)]
    paths += [
        f"/api/v1/namespaces/{SYSTEM_NAMESPACE}/configmaps/{INVENTORY_PREFIX}{storage_name(app)}"
        for app in apps
    ]
    for path in paths:
        try:
            kube.request("DELETE", path)
        except KubeError as exc:
            if exc.status != 404:
                raise
    deadline = time.monotonic() + 90
    for namespace in namespaces:
        while True:
            try:
                kube.get(f"/api/v1/namespaces/{namespace}")
            except KubeError as exc:
                if exc.status == 404:
                    break
                raise
            assert time.monotonic() < deadline, f"namespace {namespace} was not deleted within 90 s"
            time.sleep(0.2)


def wait_for(
    agent: Agent, done: Callable[[Snapshot], bool], what: str, timeout: float = HEALTHY_TIMEOUT
) -> tuple[Snapshot, float]:
    """The first snapshot for which ``done`` holds and the seconds it took; fails with every
    app's state when it never does."""
    started = time.monotonic()
    while True:
        snapshot = agent.publish_now()
        if done(snapshot):
            return snapshot, time.monotonic() - started
        if time.monotonic() - started > timeout:
            pytest.fail(f"not {what} within {timeout:.0f} s:\n{describe(snapshot)}")
        time.sleep(0.25)


def describe(snapshot: Snapshot) -> str:
    lines = []
    for app in snapshot.apps:
        lines.append(
            f"{app.name}: {app.sync} {app.health} deployed={(app.deployed_revision or '-')[:7]} "
            f"last={app.last_result} {app.message}"
        )
        lines += [f"  {o.key}: {o.sync} {o.health} {o.health_message}" for o in walk(app.objects)]
        lines += [f"  problem: {p}" for p in app.problems]
    return "\n".join(lines + [f"event: {e.level} {e.app} {e.message}" for e in snapshot.events[-8:]])


def walk(objects: tuple[ObjectState, ...]) -> Iterator[ObjectState]:
    for obj in objects:
        yield obj
        yield from walk(obj.children)


def all_synced_and_healthy(snapshot: Snapshot) -> bool:
    return bool(snapshot.apps) and all(
        a.sync == SyncStatus.SYNCED and a.health == Health.HEALTHY and a.last_result == "Succeeded"
        for a in snapshot.apps
    )


# -- rendering ----------------------------------------------------------------------------------


def _render_sample(sample: str, dest: Path) -> dict[str, tuple[AppSpec, list[DesiredObject]]]:
    repo_path = sample_repo(sample, dest)
    with EnvRepo(repo_path) as repo:
        head = repo.head()
        apps, problems = load_apps(repo, head)
        assert problems == []
        out = {}
        for app in apps:
            rendered = render_app(repo, app, head)
            assert rendered.ok, [str(p) for p in rendered.problems]
            out[app.name] = (app, list(rendered.objects))
    return out


def _label(obj: DesiredObject) -> str:
    name = re.sub(r"^(hello-config)-[a-z0-9]{10}$", r"\1-<hash>", obj.key.name)
    return f"{obj.key.kind}/{name}"


def _by_kind(objects: list[DesiredObject], kind: str) -> list[dict[str, Any]]:
    return [o.manifest for o in objects if o.key.kind == kind]


def _containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    return list(workload["spec"]["template"]["spec"]["containers"])


@pytest.mark.parametrize("sample", SAMPLES)
def test_each_sample_renders_its_apps_into_their_namespaces_without_problems(
    sample: str, tmp_path: Path
) -> None:
    rendered = _render_sample(sample, tmp_path / sample)

    found = {name: (app.namespace, {_label(o) for o in objects}) for name, (app, objects) in rendered.items()}
    assert found == EXPECTED[sample]
    for app, objects in rendered.values():
        namespaced = {o.key.namespace for o in objects if o.key.namespace}
        assert namespaced == ({app.namespace} if namespaced else set())


def test_plain_sample_reads_a_multi_document_file_and_a_nested_folder(tmp_path: Path) -> None:
    (_app, objects) = _render_sample("plain", tmp_path / "plain")["web"]

    sources = {o.key.kind: o.source for o in objects}
    assert sources == {
        "ConfigMap": "web/web.yaml",
        "Deployment": "web/web.yaml",
        "Service": "web/network/service.yaml",
    }


def test_kustomize_overlays_differ_in_replicas_and_config(tmp_path: Path) -> None:
    rendered = _render_sample("kustomize", tmp_path / "kustomize")
    dev, prod = rendered["hello-dev"][1], rendered["hello-prod"][1]

    assert [d["spec"]["replicas"] for d in _by_kind(dev, "Deployment")] == [1]
    assert [d["spec"]["replicas"] for d in _by_kind(prod, "Deployment")] == [3]
    dev_config, prod_config = _by_kind(dev, "ConfigMap")[0], _by_kind(prod, "ConfigMap")[0]
    assert dev_config["data"] == {"GREETING": "Hello from dev", "LOG_LEVEL": "debug"}
    assert prod_config["data"] == {"GREETING": "Hello from prod", "LOG_LEVEL": "info"}
    # The generated name is what the pods reference, so a config change rolls them.
    for objects, config in ((dev, dev_config), (prod, prod_config)):
        env_from = _containers(_by_kind(objects, "Deployment")[0])[0]["envFrom"]
        assert env_from == [{"configMapRef": {"name": config["metadata"]["name"]}}]


def test_helm_sample_layers_dev_values_over_the_chart_defaults(tmp_path: Path) -> None:
    (_app, objects) = _render_sample("helm", tmp_path / "helm")["greeter-dev"]

    deployment = _by_kind(objects, "Deployment")[0]
    container = _containers(deployment)[0]
    assert deployment["spec"]["replicas"] == 1  # values-dev.yaml
    assert container["image"] == "nginx:1.27-alpine"  # values.yaml
    assert container["resources"] == {"requests": {"cpu": "20m", "memory": "32Mi"}}
    assert _by_kind(objects, "ConfigMap")[0]["data"] == {"GREETING": "Hello from greeter in dev"}
    assert "checksum/config" in deployment["spec"]["template"]["metadata"]["annotations"]


def test_multi_app_shop_reaches_the_redis_service_the_infra_app_deploys(tmp_path: Path) -> None:
    rendered = _render_sample("multi-app", tmp_path / "multi-app")
    infra, infra_objects = rendered["infra"]
    _shop, shop_objects = rendered["shop"]

    config = _by_kind(shop_objects, "ConfigMap")[0]["data"]
    service, namespace = config["REDIS_HOST"].removesuffix(".svc.cluster.local").split(".")
    assert namespace == infra.namespace
    redis = next(s for s in _by_kind(infra_objects, "Service") if s["metadata"]["name"] == service)
    assert [p["port"] for p in redis["spec"]["ports"]] == [int(config["REDIS_PORT"])]
    assert infra.prune is False  # a shared datastore is never deleted over a missing file


@pytest.mark.parametrize("sample", SAMPLES)
def test_sample_workloads_fail_fast_and_use_small_real_images(sample: str, tmp_path: Path) -> None:
    for _app, objects in _render_sample(sample, tmp_path / sample).values():
        for deployment in _by_kind(objects, "Deployment"):
            assert deployment["spec"]["progressDeadlineSeconds"] == 15, deployment["metadata"]["name"]
        for workload in _by_kind(objects, "Deployment") + _by_kind(objects, "StatefulSet"):
            assert {c["image"] for c in _containers(workload)} <= SMALL_IMAGES


# -- on the cluster -----------------------------------------------------------------------------


@pytest.fixture
def kube(local_runtime: LocalRuntime) -> Iterator[Kube]:
    client = Kube(local_runtime.kubeconfig_path, local_runtime.context)
    yield client
    client.close()


@pytest.mark.parametrize("sample", SAMPLES)
def test_each_sample_syncs_synced_and_healthy_on_the_local_runtime(
    sample: str, tmp_path: Path, kube: Kube
) -> None:
    repo = sample_repo(sample, tmp_path / sample)

    with running_agent(repo, kube, tmp_path) as agent:
        snapshot, _took = wait_for(agent, all_synced_and_healthy, "Synced and Healthy")

    assert {a.name: a.namespace for a in snapshot.apps} == {
        name: namespace for name, (namespace, _objects) in EXPECTED[sample].items()
    }
    live = {o.key for a in snapshot.apps for o in a.objects if o.live is not None}
    assert live == {o.key for a in snapshot.apps for o in a.objects}
    assert all(not a.problems for a in snapshot.apps)


def test_no_two_samples_share_an_app_name_so_every_sample_runs_on_one_cluster() -> None:
    # An app belongs to the env repo that deployed it first: a second sample with the same app
    # name would be refused on a cluster where the first one runs.
    owners: dict[str, str] = {}
    for sample, apps in EXPECTED.items():
        for app in apps:
            assert app not in owners, f"app {app} is in both {owners.get(app)} and {sample}"
            owners[app] = sample
    assert set(EXPECTED) == set(SAMPLES)
