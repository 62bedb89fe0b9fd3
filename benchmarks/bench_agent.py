"""The pull agent against the baseline a user would reach for: kubectl, on the same API server.

Run: .venv/bin/python benchmarks/bench_agent.py [--objects 1000] [--repeat 5]

Brings up its own local runtime (etcd, kube-apiserver, ... from the cached binaries) in a
scratch state directory, and prints one table. Ratios compare the agent with kubectl in the
same run, so a noisy shared machine affects both sides alike.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from agentkit import commit, configmap, git, new_repo, wait_for  # noqa: E402
from sandbox.agent.commands import ManualSync, Resume, Rollback  # noqa: E402
from sandbox.agent.history import History  # noqa: E402
from sandbox.agent.loop import Agent  # noqa: E402
from sandbox.cluster.local import LocalRuntime  # noqa: E402
from sandbox.kube.client import Kube, KubeError  # noqa: E402
from sandbox.tools import toolchain  # noqa: E402


def manifests(count: int, namespace: str | None, value: str = "v1") -> str:
    docs = []
    for i in range(count):
        docs.append(
            configmap(f"cm-{i:04d}", {"index": str(i), "value": value, "payload": "x" * 200}, namespace)
        )
    return "---\n".join(docs)


def kubectl(runtime: LocalRuntime, *args: str, stdin: str | None = None) -> float:
    binary = toolchain.ensure("kubectl")
    started = time.perf_counter()
    subprocess.run(
        [str(binary), "--kubeconfig", str(runtime.kubeconfig_path), *args],
        input=stdin, text=True, check=True, capture_output=True,
    )  # fmt: skip
    return time.perf_counter() - started


def live_value(kube: Kube, namespace: str, name: str) -> str | None:
    try:
        return kube.get(f"/api/v1/namespaces/{namespace}/configmaps/{name}")["data"].get("value")
    except KubeError:
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3, help="cold-sync rounds (median reported)")
    args = parser.parse_args()
    rows: list[tuple[str, str, str, str, str]] = []
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        runtime = LocalRuntime(root=scratch / "state", cluster="gitops-sandbox-bench")
        runtime.up(lambda m: print(f"[cluster] {m}", file=sys.stderr))
        kube = Kube(runtime.kubeconfig_path, runtime.context)
        try:
            rows = run(args, scratch, runtime, kube)
        finally:
            kube.close()
            runtime.down(lambda _m: None)
    print_table(rows)
    return 0


def run(args: argparse.Namespace, scratch: Path, runtime: LocalRuntime, kube: Kube) -> list[tuple[str, ...]]:
    n = args.objects
    rows: list[tuple[str, ...]] = []
    # The agent: an env repo with a small sample app. Each 1,000-object app arrives by commit,
    # so the cold sync is timed as a user sees it: commit -> render -> apply -> all live.
    repo = new_repo(scratch / "env", {"sample/cm.yaml": configmap("sample", {"value": "0"})})
    history = History(scratch / "history.sqlite")
    agent = Agent(repo, kube, history=history, settings_path=scratch / "settings.json")
    agent.start(watch_repo=True)
    agent.wait_idle(60)

    # Rounds alternate kubectl and the agent, each into fresh namespaces, so load from
    # elsewhere on a shared machine falls on both alike; medians are reported.
    kubectl_colds, agent_colds = [], []
    for round_ in range(args.rounds):
        namespace = f"bench-kubectl-{round_}"
        kubectl(runtime, "create", "namespace", namespace)
        manifest_file = scratch / f"{namespace}.yaml"
        manifest_file.write_text(manifests(n, namespace))
        kubectl_colds.append(
            kubectl(runtime, "apply", "--server-side", "--field-manager", "bench", "-f", str(manifest_file))
        )
        app = f"bench-big-{round_}"
        commit(repo, f"{n} objects, round {round_}", {f"{app}/objects.yaml": manifests(n, None)})
        started = time.perf_counter()
        wait_for(lambda a=app: live_value(kube, a, f"cm-{n - 1:04d}"), 300, 0.025)
        agent_colds.append(time.perf_counter() - started)
        agent.wait_idle(300)
    kubectl_cold, agent_cold = statistics.median(kubectl_colds), statistics.median(agent_colds)
    kubectl_noop = statistics.median(
        kubectl(
            runtime,
            "apply",
            "--server-side",
            "--field-manager",
            "bench",
            "-f",
            str(scratch / "bench-kubectl-0.yaml"),
        )
        for _ in range(3)
    )
    noop = []
    for _ in range(3):
        started = time.perf_counter()
        agent.send(ManualSync("bench-big-0"))
        agent.wait_idle(300)
        noop.append(time.perf_counter() - started)
    agent_noop = statistics.median(noop)

    commit_latency = []
    for i in range(1, args.repeat + 1):
        commit(repo, f"sample {i}", {"sample/cm.yaml": configmap("sample", {"value": str(i)})})
        started = time.perf_counter()
        wait_for(lambda i=i: live_value(kube, "sample", "sample") == str(i), 10, 0.002)
        commit_latency.append(time.perf_counter() - started)

    heal = []
    for i in range(args.repeat):
        kube.request(
            "PATCH", "/api/v1/namespaces/sample/configmaps/sample", body={"data": {"value": f"hand-{i}"}},
            content_type="application/merge-patch+json",
        )  # fmt: skip
        started = time.perf_counter()
        wait_for(lambda: live_value(kube, "sample", "sample") == str(args.repeat), 10, 0.002)
        heal.append(time.perf_counter() - started)

    rollback = []
    for _ in range(args.repeat):
        target = git(repo, "rev-parse", "HEAD~1")
        expected = str(args.repeat - 1)
        started = time.perf_counter()
        agent.send(Rollback("sample", target))
        wait_for(lambda e=expected: live_value(kube, "sample", "sample") == e, 10, 0.002)
        rollback.append(time.perf_counter() - started)
        agent.send(Resume("sample"))
        wait_for(lambda: live_value(kube, "sample", "sample") == str(args.repeat), 10, 0.002)

    agent.stop()
    history.close()
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    med = statistics.median
    rows.append(("commit -> Synced (sample app)", f"{med(commit_latency) * 1000:.0f} ms",
                 "-", "-", "< 1 s " + _ok(med(commit_latency) < 1)))  # fmt: skip
    rows.append((f"cold sync, {n} objects (commit -> all applied), median of {args.rounds}", f"{agent_cold:.2f} s", f"{kubectl_cold:.2f} s",
                 f"{agent_cold / kubectl_cold:.3f}", "<= 0.5 " + _ok(agent_cold / kubectl_cold <= 0.5)))  # fmt: skip
    rows.append((f"no-op re-sync, {n} objects", f"{agent_noop * 1000:.0f} ms", f"{kubectl_noop:.2f} s",
                 f"{agent_noop / kubectl_noop:.3f}", "<= 0.1 " + _ok(agent_noop / kubectl_noop <= 0.1)))  # fmt: skip
    rows.append(("drift -> healed", f"{med(heal) * 1000:.0f} ms", "-", "-", "< 1 s " + _ok(med(heal) < 1)))
    rows.append(("rollback -> live", f"{med(rollback) * 1000:.0f} ms", "-", "-", ""))
    rows.append(("peak RSS (benchmark process)", f"{peak_rss_mb:.0f} MB", "-", "-", ""))
    return rows


def _ok(passed: bool) -> str:
    return "met" if passed else "MISSED"


def print_table(rows: list[tuple[str, ...]]) -> None:
    header = ("measure", "gitops-sandbox", "kubectl", "ratio", "target")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("-|-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    sys.exit(main())
