"""A cold `gitops-sandbox demo` with a release mirror reachable, against a warm one.

Run: .venv/bin/python benchmarks/bench_cold_start.py [--repeat 2]

Cold: an empty binary cache and state directory, so every binary comes from its official
release (a loopback HTTP server laid out as the release sites are, serving the binaries this
machine built, with the checksums each project publishes) and is SHA-256-verified. Warm: the
same with the binaries already cached. Each run opens the app in tmux and stops the clock at
the first screen showing the header; the cluster is removed after each run. The ratio of the
two in the same run is what the download costs; the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from releasekit import lay_out, serving  # noqa: E402

from sandbox.tools import releases, toolchain  # noqa: E402

TOOLS = (*toolchain.LOCAL_RUNTIME_TOOLS, "kustomize", "helm")
OPENED = "runtime local"  # the header's first line, once the app draws


def _open_app(env: dict[str, str], timeout: float = 600) -> float:
    """Seconds from `gitops-sandbox demo` to the app's first screen with its header."""
    session = f"bench-cold-{os.getpid()}"
    command = f"{sys.executable} -m sandbox.cli demo --runtime local"
    exports = " ".join(f"{k}={v}" for k, v in env.items() if k.startswith(("GITOPS_SANDBOX_", "PATH")))
    started = time.monotonic()
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "48",
                    f"env {exports} {command}"], check=True)  # fmt: skip
    try:
        while time.monotonic() - started < timeout:
            screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True,
                                    text=True).stdout  # fmt: skip
            if OPENED in screen:
                return time.monotonic() - started
            time.sleep(0.2)
        raise TimeoutError(f"the app did not open within {timeout:.0f}s:\n{screen}")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        subprocess.run([sys.executable, "-m", "sandbox.cli", "cluster", "down", "--runtime", "local"],
                       env=env, capture_output=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    built = {tool: toolchain.ensure(tool) for tool in TOOLS}
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as scratch_name:
        scratch = Path(scratch_name)
        lay_out(scratch / "mirror", built)
        no_tools = scratch / "no-tools-on-path"
        no_tools.mkdir()
        git_dir = Path(shutil.which("git") or "/usr/bin/git").parent
        with serving(scratch / "mirror") as (mirror, requests):
            cold, warm = [], []
            for run in range(args.repeat):
                cache = scratch / f"cache-{run}"
                env = dict(os.environ, PATH=f"{no_tools}:{git_dir}", GITOPS_SANDBOX_CACHE_DIR=str(cache),
                           GITOPS_SANDBOX_STATE_DIR=str(scratch / f"state-cold-{run}"))  # fmt: skip
                env[releases.MIRROR_ENV] = mirror
                for tool in TOOLS:
                    env.pop(toolchain.env_var(tool), None)
                cold.append(_open_app(env))
                env["GITOPS_SANDBOX_STATE_DIR"] = str(scratch / f"state-warm-{run}")
                warm.append(_open_app(env))  # the same cache, now filled
        downloaded = sum(
            1 for r in requests if not r.endswith((".sha256", ".sha256sum", "SHA256SUMS", "checksums.txt"))
        )
    print(
        f"\n{len(TOOLS)} tools from a loopback release mirror ({downloaded} downloads over {args.repeat} cold runs)"
    )
    print(f"{'run':<44}{'median s':>10}{'runs':>30}")
    print(
        f"{'cold: download + verify + cluster + app':<44}{statistics.median(cold):>10.1f}{str([round(c, 1) for c in cold]):>30}"
    )
    print(
        f"{'warm: binaries cached, cluster + app':<44}{statistics.median(warm):>10.1f}{str([round(w, 1) for w in warm]):>30}"
    )
    print(f"{'cold / warm':<44}{statistics.median(cold) / statistics.median(warm):>10.2f}")


if __name__ == "__main__":
    main()
