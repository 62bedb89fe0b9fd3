"""`gitops-sandbox [REPO]` and `gitops-sandbox tui`: bring the cluster up, start the agent, open the app.

Progress goes to the terminal before the app takes it over; the agent runs (auto-sync on,
watching the env repo) for the app's whole lifetime and stops when it quits. The cluster
keeps running: `gitops-sandbox cluster down` removes it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sandbox import session
from tui.app import SandboxApp
from tui.source import RuntimeInfo


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    repo = Path(args.repo).expanduser().resolve()
    # Before the cluster: a folder that is not a git repo (or has no commits) fails now, with
    # the env repo's own message saying what to do, not after a minute of cluster start-up.
    checked = session.check_repo(repo, getattr(args, "branch", None), getattr(args, "entry", None))
    if checked.note:
        _progress(f"note: {checked.note}")
    connection = session.connect(args, _progress)
    status = connection.status
    nodes = f", {len(status.nodes)} node{'s' if len(status.nodes) != 1 else ''}" if status.nodes else ""
    info = RuntimeInfo(
        runtime=status.runtime,
        cluster=f"{status.state} ({status.name}{nodes}{', ' + status.version if status.version else ''})",
        kubeconfig=str(connection.runtime.kubeconfig_path),
        context=status.context or "",
        simulated=status.simulated,
    )
    _progress(f"starting the agent on {repo} (auto-sync on, watching for commits)")
    try:
        # The app changes the cluster and the repo: a second agent on the same repo would
        # undo its rollbacks as drift, so it takes the repo's agent lock (AgentBusy says who has it).
        with session.started_agent(
            repo, connection, automated=True, branch=getattr(args, "branch", None), watch_repo=True, settle=False,
            entry=checked.entry,
        ) as agent:  # fmt: skip
            SandboxApp(agent, info, ascii=True if getattr(args, "ascii", False) else None).run()
    finally:
        connection.close()
    return 0
