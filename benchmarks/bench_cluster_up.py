"""Warm `cluster up` of the local runtime: etcd over TLS with client certificates, against plain etcd.

Run: .venv/bin/python benchmarks/bench_cluster_up.py [--repeat 5]

Warm: the binaries are cached; each run creates a new cluster in a scratch state dir, stops
the clock when `up` returns (API server answering, node Ready), and removes it. The baseline
is the same runtime with etcd as kwokctl starts it by default (plain HTTP, no client
certificates): the etcd patches are taken out of the kwokctl configuration the runtime writes.
Runs alternate, so a noisy neighbour costs both sides alike; the target is a ratio of the
medians within 1.10.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sandbox.cluster.local import LocalRuntime  # noqa: E402

TLS_ONLY = {"etcd"}  # components whose patches exist only for TLS
APISERVER_TLS_ARGS = {"etcd-servers", "etcd-cafile", "etcd-certfile", "etcd-keyfile"}


class PlainEtcdRuntime(LocalRuntime):
    """The baseline: etcd on kwokctl's defaults."""

    def _write_kwokctl_config(self, metrics_server: Path, etcd_ports: tuple[int, int]) -> None:
        super()._write_kwokctl_config(metrics_server, etcd_ports)
        path = self.workdir / "kwok.yaml"
        config_text, kwok_text = path.read_text().split("\n---\n")
        config: dict[str, Any] = json.loads(config_text)
        patches = [p for p in config["componentsPatches"] if p["name"] not in TLS_ONLY]
        for patch in patches:
            if patch["name"] == "kube-apiserver":
                patch["extraArgs"] = [a for a in patch["extraArgs"] if a["key"] not in APISERVER_TLS_ARGS]
        config["componentsPatches"] = patches
        path.write_text(json.dumps(config, indent=2) + "\n---\n" + kwok_text)


def _up_seconds(runtime: LocalRuntime) -> float:
    started = time.monotonic()
    try:
        runtime.up(lambda _line: None)
        return time.monotonic() - started
    finally:
        runtime.down(lambda _line: None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    tls: list[float] = []
    plain: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-up-") as scratch_name:
        scratch = Path(scratch_name)
        _up_seconds(LocalRuntime(scratch / "warm-up", cluster="bench-warm"))  # page cache, first-run files
        for run in range(args.repeat):
            pair = [("plain", PlainEtcdRuntime, plain), ("tls", LocalRuntime, tls)]
            for name, kind, times in pair if run % 2 else reversed(pair):
                seconds = _up_seconds(kind(scratch / f"{name}-{run}", cluster=f"bench-{name}-{run}"))
                times.append(seconds)
                print(f"run {run + 1} {name:5} {seconds:6.2f} s", flush=True)
    ratio = statistics.median(tls) / statistics.median(plain)
    print(f"median: etcd TLS {statistics.median(tls):.2f} s, plain etcd {statistics.median(plain):.2f} s")
    print(f"ratio TLS/plain {ratio:.3f} (target <= 1.10): {'met' if ratio <= 1.10 else 'NOT met'}")


if __name__ == "__main__":
    main()
