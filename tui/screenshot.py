"""Save an SVG screenshot of the main screen against a real cluster (how docs/screenshot.svg is made).

    python -m tui.screenshot ENV_REPO OUT.svg [--runtime local] [--select-kind Deployment]

It brings the cluster up like the app does, runs the app under Textual's Pilot at 160x48
until the agent is idle and every app has settled (no longer Progressing, or a minute has
passed), puts the cursor on the first object of the kind asked for, and saves the screen.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from sandbox import session
from sandbox.agent.loop import Agent
from sandbox.cluster.runtimes import RUNTIMES
from sandbox.model import Health
from tui.app import SandboxApp
from tui.source import RuntimeInfo

SIZE = (160, 48)
SETTLE = 60.0


async def _shoot(agent: Agent, info: RuntimeInfo, out: Path, kind: str) -> None:
    app = SandboxApp(agent, info, ascii=False, keymap={})
    async with app.run_test(size=SIZE) as pilot:
        deadline = time.monotonic() + SETTLE
        while time.monotonic() < deadline:
            apps = agent.snapshot().apps
            if apps and all(a.operation == "Idle" and a.health != Health.PROGRESSING for a in apps):
                break
            await pilot.pause(0.5)
        await pilot.pause(1.0)
        for _ in range(100):
            row = app.main.trees.selected
            if row is not None and row.key is not None and row.key.kind == kind:
                break
            await pilot.press("j")
        await pilot.pause(1.0)  # the diff of the selected row
        app.save_screenshot(out.name, str(out.parent))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tui.screenshot", description=__doc__.splitlines()[0])
    parser.add_argument("repo", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--runtime", choices=RUNTIMES, default="auto")
    parser.add_argument(
        "--select-kind", default="Deployment", help="put the cursor on the first object of this kind"
    )
    args = parser.parse_args(argv)
    connection = session.connect(args, lambda message: print(message, file=sys.stderr))
    status = connection.status
    info = RuntimeInfo(
        status.runtime, f"{status.state} ({status.name})", str(connection.runtime.kubeconfig_path)
    )
    settings = args.out.with_suffix(".settings.json")
    try:
        with session.started_agent(
            args.repo, connection, automated=True, watch_repo=True, settings_path=settings, exclusive=False,
            settle=False,
        ) as agent:  # fmt: skip
            asyncio.run(_shoot(agent, info, args.out.resolve(), args.select_kind))
    finally:
        connection.close()
        settings.unlink(missing_ok=True)
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
