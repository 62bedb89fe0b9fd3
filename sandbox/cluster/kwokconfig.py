"""The local runtime's configuration for kwokctl: which flags each component runs with, and kwok's own options."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"
METRICS_MANIFESTS = Path(__file__).parent / "metrics"
POD_STAGES = Path(__file__).parent / "stages" / "pods.yaml"

# kwok's own options, passed on by kwokctl as written (so kwok's defaults are restated). Its
# server, the simulated kubelet, serves only clients with the cluster CA's certificate (the
# sandbox builds kwok so: see _kwok_client_auth), and even to them no profiling data and no
# debugging handlers: exec, attach, port-forward and logs would run commands and read files on
# this machine as this user, once a kwok Exec or Logs object exists. Left: health, and the
# simulated metrics metrics-server scrapes.
POD_CIDR = "10.244.0.0/16"
# The node's labels: kind's one node is its control plane (schedulable, as kind leaves a
# one-node cluster), so what a repo pins to the control plane runs here as there.
NODE_LABELS = {
    "kubernetes.io/os": "linux",
    "kubernetes.io/arch": "amd64",
    "node-role.kubernetes.io/control-plane": "",
    "type": "kwok",
}
KWOK_OPTIONS = {
    "kind": "KwokConfiguration",
    "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
    "options": {
        # Pods' addresses (kwok reads no default from a config file that leaves it out, and a
        # pod then gets none): a private range no cloud-controller address or host uses.
        "cidr": POD_CIDR,
        "enableProfilingHandler": False,
        "enableDebuggingHandlers": False,
        "podPlayStageParallelism": 4,
        "nodePlayStageParallelism": 4,
        "nodeLeaseParallelism": 4,
        "podsOnNodeSyncParallelism": 1,
        "enablePodsOnNodeSyncListPager": True,
    },
}


def kwok_yaml(pki: Path, metrics_server: Path, etcd_ports: tuple[int, int]) -> str:
    """The text of $KWOK_WORKDIR/kwok.yaml: component patches for kwokctl, and kwok's own
    options. ``pki``: the cluster's certificates, which kwokctl makes.

    There is one controller-manager and one scheduler: leader election only adds a lease
    they lose when a loaded machine delays a renewal, and then they exit for good. The
    autoscaler looks every 5 s, not 15 s: a sandbox shows a change while one watches.
    """
    overrides, extra = _etcd_over_tls(pki, *etcd_ports)
    overrides["kube-controller-manager"] = {"authorization-always-allow-paths": "/healthz,/readyz,/livez"}
    overrides["kube-scheduler"] = {"authorization-always-allow-paths": "/healthz,/readyz,/livez"}
    ours: dict[str, dict[str, Any]] = {
        "kube-controller-manager": {
            "leader-elect": "false",
            "horizontal-pod-autoscaler-sync-period": "5s",
        },
        "kube-scheduler": {"leader-elect": "false"},
        # An admission webhook is served by the cluster's own pods, and no pod runs here:
        # called, every one fails (a connection refused or a TLS error from whatever answers the
        # simulated pod's address), so an Ingress beside ingress-nginx, a Certificate beside
        # cert-manager could never be applied. Objects are admitted as if each webhook allowed
        # them unchanged; kind, where the pods run, calls them.
        "kube-apiserver": {
            "disable-admission-plugins": "MutatingAdmissionWebhook,ValidatingAdmissionWebhook"
        },
        # Read beside the default stages kwokctl writes: a pod can be told to fail, and waits for
        # the kubelet check (cloud/kubelet.py).
        "kwok-controller": {"config": str(POD_STAGES)},
        # Metrics for a new pod after two scrapes: 20 s rather than 30 s, so a new HPA's
        # first "no metrics yet" passes while the user still watches (flags: the last wins).
        "metrics-server": {"metric-resolution": "10s", "kubelet-request-timeout": "5s"},  # its minimum
    }
    for name, flags in ours.items():
        extra[name] = {**extra.get(name, {}), **flags}
    patches = _patches(overrides, extra)
    for patch in patches:
        if patch["name"] == "kwok-controller":
            patch["extraEnvs"] = _kwok_client_auth(pki)
    config = {
        "kind": "KwokctlConfiguration",
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        # kwokctl binds every component (etcd's plain-HTTP client port among them) to
        # 0.0.0.0 by default: anyone who reaches the machine could read every Secret.
        "options": {
            "bindAddress": LOOPBACK,
            "etcdPort": etcd_ports[0],
            "etcdPeerPort": etcd_ports[1],
            # metrics.k8s.io from kwok's simulated kubelet metrics: the folder, not the
            # release manifest kwokctl would download.
            "metricsServerBinary": str(metrics_server),
            "metricsServerManifests": [str(METRICS_MANIFESTS)],
        },
        "componentsPatches": patches,
    }
    return json.dumps(config, indent=2) + "\n---\n" + json.dumps(KWOK_OPTIONS, indent=2)


def _patches(overrides: dict[str, dict[str, Any]], extra: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """kwokctl's component patches: flags that replace its own, then flags added (a list: once each)."""
    return [
        {"name": name, "extraArgs": [
            *({"key": k, "value": v, "override": True} for k, v in overrides.get(name, {}).items()),
            *({"key": k, "value": one} for k, v in extra.get(name, {}).items()
              for one in (v if isinstance(v, list) else [v])),
        ]}
        for name in dict.fromkeys([*overrides, *extra])
    ]  # fmt: skip


def _kwok_client_auth(pki: Path) -> list[dict[str, str]]:
    """What kwok's server, as the sandbox builds it (toolchain.KWOK), serves with: HTTPS only,
    to clients with a certificate of the cluster's CA, as a kubelet with --client-ca-file
    (metrics-server presents the one its kubeconfig names)."""
    return [
        {"name": "GITOPS_SANDBOX_KWOK_CLIENT_CA", "value": str(pki / "ca.crt")},
        {"name": "GITOPS_SANDBOX_KWOK_TLS_CERT", "value": str(pki / "admin.crt")},
        {"name": "GITOPS_SANDBOX_KWOK_TLS_KEY", "value": str(pki / "admin.key")},
    ]


def _etcd_over_tls(
    pki: Path, client: int, peer: int
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """(overridden flags, added flags) by component: etcd speaks TLS only, clients and peers,
    and serves only a client with a certificate of the cluster's own CA (the API server's),
    as kubeadm and kind run it: kwokctl would start it on plain HTTP, where any process of
    any user could read every Secret."""
    # kwokctl's: its CA, and a certificate for 127.0.0.1
    ca, cert, key = str(pki / "ca.crt"), str(pki / "admin.crt"), str(pki / "admin.key")
    overrides: dict[str, dict[str, Any]] = {
        "etcd": {
            "listen-client-urls": f"https://{LOOPBACK}:{client}",
            "advertise-client-urls": f"https://{LOOPBACK}:{client}",
            "listen-peer-urls": f"https://{LOOPBACK}:{peer}",
            "initial-advertise-peer-urls": f"https://{LOOPBACK}:{peer}",
            "initial-cluster": f"node0=https://{LOOPBACK}:{peer}",
        },
        "kube-apiserver": {"etcd-servers": f"https://{LOOPBACK}:{client}"},
    }
    extra: dict[str, dict[str, Any]] = {
        "etcd": {
            "cert-file": cert, "key-file": key, "trusted-ca-file": ca, "client-cert-auth": "true",
            "peer-cert-file": cert, "peer-key-file": key, "peer-trusted-ca-file": ca,
            "peer-client-cert-auth": "true",
        },
        "kube-apiserver": {"etcd-cafile": ca, "etcd-certfile": cert, "etcd-keyfile": key},
    }  # fmt: skip
    return overrides, extra


def settings_stamp() -> str:
    """What a cluster's simulated world is made from (the components' flags, kwok's options
    and stages), the same for every cluster this version makes: a cluster made by another
    version keeps its own until it is made anew (a running component never re-reads them)."""
    config = kwok_yaml(Path("pki"), Path("metrics-server"), (0, 0))
    made = hashlib.sha256(config.encode())
    made.update(POD_STAGES.read_bytes())
    made.update(json.dumps(NODE_LABELS, sort_keys=True).encode())
    for manifest in sorted(METRICS_MANIFESTS.glob("*")):
        made.update(manifest.read_bytes())
    return made.hexdigest()
