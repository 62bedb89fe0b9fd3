"""`gitops-sandbox [REPO]` and `gitops-sandbox tui`: bring the cluster up, start the agent, open the app.

Progress goes to the terminal before the app takes it over; the agent runs (auto-sync on,
watching the env repo) for the app's whole lifetime and stops when it quits. The cluster
keeps running: `gitops-sandbox cluster down` removes it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sandbox.agent.loop import Agent
from sandbox.apply.kube import Kube
from sandbox.cluster import runtime_for
from sandbox.source.envrepo import EnvRepo
from tui.app import SandboxApp
from tui.source import RuntimeInfo


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    repo = Path(args.repo).expanduser().resolve()
    # Before the cluster: a folder that is not a git repo (or has no commits) fails now, with
    # the env repo's own message saying what to do, not after a minute of cluster start-up.
    EnvRepo(repo, getattr(args, "branch", None)).close()
    runtime = runtime_for(args.runtime, getattr(args, "context", None), getattr(args, "kubeconfig", None))
    status = runtime.up(_progress)
    kube = Kube(runtime.kubeconfig_path, status.context)
    nodes = f", {len(status.nodes)} node{'s' if len(status.nodes) != 1 else ''}" if status.nodes else ""
    info = RuntimeInfo(
        runtime=status.runtime,
        cluster=f"{status.state} ({status.name}{nodes}{', ' + status.version if status.version else ''})",
        kubeconfig=str(runtime.kubeconfig_path),
        context=status.context or "",
    )
    _progress(f"starting the agent on {repo} (auto-sync on, watching for commits)")
    agent = Agent(repo, kube, branch=getattr(args, "branch", None), auto_sync=True)
    try:
        # The app changes the cluster and the repo: a second agent on the same repo would
        # undo its rollbacks as drift, so take the repo's agent lock (AgentBusy says who has it).
        agent.start(watch_repo=True, exclusive=True)
    except BaseException:
        kube.close()
        raise
    try:
        SandboxApp(agent, info, ascii=True if getattr(args, "ascii", False) else None).run()
    finally:
        agent.stop()
        kube.close()
    return 0
