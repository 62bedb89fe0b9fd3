"""`status` over a Flux repo of many apps, against the tool work it cannot avoid.

Run: .venv/bin/python benchmarks/bench_status.py [--apps 200] [--repeat 3]

A Flux cluster entry of N Kustomizations (each a kustomize folder: a namespace, a Deployment, a
generated ConfigMap) is synced once into a local runtime of its own; then the observer that
`status` runs judges every app, a few apps (and renders) at once as it ships and one at a time
as before. The baseline is what a user would reach for to see what differs: `kubectl diff -k`
of each app's folder (kustomize build, a server-side dry-run of each object, a diff), one after
another. Ratios are within one run, so load from elsewhere on a shared machine falls on every
side alike.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from gitkit import commit  # noqa: E402

from agentkit import git  # noqa: E402
from sandbox.agent import observer  # noqa: E402
from sandbox.agent.commands import ManualSync  # noqa: E402
from sandbox.agent.history import History, HistoryReader  # noqa: E402
from sandbox.agent.loop import Agent  # noqa: E402
from sandbox.apply.reader import ClusterReader  # noqa: E402
from sandbox.cluster.local import LocalRuntime  # noqa: E402
from sandbox.kube.client import Kube  # noqa: E402
from sandbox.source import percommit  # noqa: E402
from sandbox.tools import toolchain  # noqa: E402

SHIPPED = observer.APP_WORKERS
URL = "https://git.example.com/bench/fleet.git"


def flux_repo(path: Path, apps: int) -> Path:
    files = {
        "clusters/main/flux-system/gotk-sync.yaml": (
            "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\n"
            "metadata: {name: flux-system, namespace: flux-system}\n"
            f"spec: {{interval: 1m, url: {URL}, ref: {{branch: main}}}}\n---\n"
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
            "metadata: {name: flux-system, namespace: flux-system}\n"
            "spec: {interval: 10m, path: ./clusters/main, prune: true, "
            "sourceRef: {kind: GitRepository, name: flux-system}}\n"
        )
    }
    for i in range(apps):
        files[f"clusters/main/a{i}.yaml"] = (
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
            f"metadata: {{name: a{i}, namespace: flux-system}}\n"
            f"spec: {{interval: 10m, path: ./apps/a{i}, prune: true, targetNamespace: bench-{i}, "
            "sourceRef: {kind: GitRepository, name: flux-system}}\n"
        )
        files[f"apps/a{i}/kustomization.yaml"] = (
            "resources: [ns.yaml, deploy.yaml]\n"
            f"configMapGenerator: [{{name: settings, literals: [INDEX={i}]}}]\n"
        )
        files[f"apps/a{i}/ns.yaml"] = f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: bench-{i}}}\n"
        files[f"apps/a{i}/deploy.yaml"] = (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"
            "spec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n"
            "  template:\n    metadata: {labels: {app: web}}\n"
            "    spec: {containers: [{name: web, image: nginx:1.27}]}\n"
        )
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "remote", "add", "origin", URL)
    commit(path, files, f"{apps} apps")
    return path


def judge_all(repo: Path, kube: Kube, history: Path, workers: int) -> tuple[float, int]:
    """One `status`: the observer's snapshot of every app, each Synced; (seconds, apps judged)."""
    percommit.RENDER_WORKERS, observer.APP_WORKERS = workers, workers
    with HistoryReader(history) as reader:
        seen = observer.Observer(repo, ClusterReader(kube), reader)
        try:
            started = time.perf_counter()
            snapshot = seen.snapshot()
            took = time.perf_counter() - started
        finally:
            seen.close()
    # Every app Synced, and each the root defines with its objects live (the root applies none).
    in_sync = [a for a in snapshot.apps if str(a.sync) == "Synced" and (a.objects or not a.parent)]
    if len(in_sync) < len(snapshot.apps):  # a status of apps never deployed would be a cheaper one
        raise RuntimeError(f"only {len(in_sync)} of {len(snapshot.apps)} apps synced: {snapshot.apps[0]}")
    return took, len(snapshot.apps)


def kubectl_diff_each(repo: Path, runtime: LocalRuntime, apps: int) -> float:
    binary = str(toolchain.ensure("kubectl"))
    started = time.perf_counter()
    for i in range(apps):
        done = subprocess.run(
            [binary, "--kubeconfig", str(runtime.kubeconfig_path), "diff", "--server-side", "-n", f"bench-{i}",
             "-k", str(repo / "apps" / f"a{i}")],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode > 1:  # 1: differences found (the generated ConfigMap's hash, say)
            raise RuntimeError(done.stderr)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        repo = flux_repo(scratch / "fleet", args.apps)
        runtime = LocalRuntime(root=scratch / "state", cluster="gitops-sandbox-bench")
        runtime.up(lambda m: print(f"[cluster] {m}", file=sys.stderr))
        kube = Kube(runtime.kubeconfig_path, runtime.context)
        try:
            history = scratch / "history.sqlite"
            agent = Agent(repo, kube, history=History(history), settings_path=scratch / "settings.json",
                          automated=False)  # fmt: skip
            agent.start()
            agent.wait_idle(600)
            agent.send(ManualSync(None))
            agent.wait_idle(1800)
            agent.stop()
            baseline, serial, parallel, judged = [], [], [], 0
            for _ in range(args.repeat):  # interleaved: load from elsewhere falls on each alike
                baseline.append(kubectl_diff_each(repo, runtime, args.apps))
                took, judged = judge_all(repo, kube, history, 1)
                serial.append(took)
                took, judged = judge_all(repo, kube, history, SHIPPED)
                parallel.append(took)
        finally:
            kube.close()
            runtime.down(lambda _m: None)
    base = statistics.median(baseline)
    rows = [
        (f"measure (median of {args.repeat})", "seconds", "vs kubectl diff", "target"),
        (f"kubectl diff -k of {args.apps} folders, one by one", f"{base:.2f}", "1.00", "baseline"),
        (f"status of {judged} apps, one at a time", f"{statistics.median(serial):.2f}",
         f"{statistics.median(serial) / base:.2f}", "-"),
        (f"status of {judged} apps, {SHIPPED} at a time (as shipped)", f"{statistics.median(parallel):.2f}",
         f"{statistics.median(parallel) / base:.2f}",
         "met" if statistics.median(parallel) <= base else "MISSED (<= 1.00)"),
    ]  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
        if n == 0:
            print("-|-".join("-" * w for w in widths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
