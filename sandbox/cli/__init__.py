"""The `gitops-sandbox` command line.

Exit codes follow kubectl and flux: 0 success, 1 a failure the command reports, 2 bad usage
or an error before the work could start. Progress goes to stderr, results to stdout, and
``--json`` prints one JSON document on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from sandbox import __version__, doctor
from sandbox.agent.locking import AgentBusy
from sandbox.cli import demo, headless
from sandbox.cli.signals import Terminated
from sandbox.cluster.runtime import ClusterError, ClusterStatus
from sandbox.cluster.runtimes import RUNTIMES, forget_active, remember_active, runtime_for
from sandbox.kube.client import KubeError
from sandbox.kube.kubeconfig import export_line
from sandbox.source.envrepo import EnvRepoError
from sandbox.tools import toolchain


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _add_runtime_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--runtime", choices=RUNTIMES, default="auto",
        help="kind (Docker), local (upstream binaries, no Docker), existing (a context you name); "
        "auto: the runtime last brought up, else kind when it can work (Docker and its node image), else local",
    )  # fmt: skip
    parser.add_argument(
        "--build", action="store_true",
        help="build missing binaries from source (Go module proxy) instead of downloading their releases",
    )  # fmt: skip
    parser.add_argument("--context", help="with --runtime existing: the kubeconfig context to use")
    parser.add_argument("--kubeconfig", type=Path, help="with --runtime existing: the kubeconfig file")


def _print_status(status: ClusterStatus) -> None:
    print(f"runtime:    {status.runtime}")
    print(f"cluster:    {status.name}  ({status.state}{': ' + status.detail if status.detail else ''})")
    if status.server:
        print(f"server:     {status.server}  {status.version or ''}".rstrip())
    for node in status.nodes:
        print(f"node:       {node.name}  {'Ready' if node.ready else 'NotReady'}")
    if status.simulated:
        print(f"simulated:  {status.simulated}")
    if status.kubeconfig and status.runtime != "existing":
        print(f"kubeconfig: {status.kubeconfig}  (context {status.context})")
        print(export_line(status.kubeconfig))


def cmd_cluster(args: argparse.Namespace) -> int:
    runtime = runtime_for(args.runtime, args.context, args.kubeconfig, _progress)
    if args.action == "up":
        status = runtime.up(_progress)
        remember_active(runtime)
    elif args.action == "down":
        runtime.down(_progress)
        forget_active()
        status = runtime.status()
    else:
        status = runtime.status()
    if args.json:
        print(json.dumps(status.to_json(), indent=2))
    else:
        _print_status(status)
    if args.action == "status":
        return 0 if status.running else 1
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    results = doctor.checks()
    if args.json:
        print(json.dumps([c.to_json() for c in results], indent=2))
    else:
        print(doctor.render(results, doctor.color_wanted()))
    return 1 if doctor.blocking(results) else 0


def cmd_toolchain(args: argparse.Namespace) -> int:
    tools = args.tools or list(toolchain.LOCAL_RUNTIME_TOOLS)
    unknown = [t for t in tools if t not in toolchain.TOOL_GROUP]
    if unknown:
        raise ClusterError(f"unknown tool(s) {', '.join(unknown)}; known: {', '.join(toolchain.TOOL_GROUP)}")
    for tool in tools:
        print(f"{tool}: {toolchain.ensure(tool, _progress)}")
    return 0


def cmd_tui(args: argparse.Namespace) -> int:
    from tui.launch import run  # lazily: nothing under sandbox/ imports Textual at module level

    return run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gitops-sandbox",
        description="A local GitOps sandbox: a real cluster, a pull agent, Git beside the cluster.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    cluster = sub.add_parser("cluster", help="bring the sandbox's cluster up or down, or say how it is")
    cluster.add_argument(
        "action", choices=("up", "down", "status"),
        help="up: make (or start again) the cluster and print the KUBECONFIG for kubectl; down: remove every "
             "process and all state the runtime made; status: whether it runs, where, and what it simulates",
    )  # fmt: skip
    _add_runtime_args(cluster)
    cluster.add_argument("--json", action="store_true", help="print the status as JSON")
    cluster.set_defaults(func=cmd_cluster)

    doc = sub.add_parser("doctor", help="check everything the sandbox needs, with the fix for each gap")
    doc.add_argument("--json", action="store_true")
    doc.set_defaults(func=cmd_doctor)

    tc = sub.add_parser("toolchain", help="build missing binaries into the per-user cache")
    tc.add_argument("verb", choices=("build",))
    tc.add_argument("--build", action="store_true", help="build from source; never download a release")
    tc.add_argument(
        "tools",
        nargs="*",
        help=f"default: the local runtime's ({', '.join(toolchain.LOCAL_RUNTIME_TOOLS)})",
    )
    tc.set_defaults(func=cmd_toolchain)

    tui = sub.add_parser("tui", help="open the terminal app on an env repo (the default command)")
    tui.add_argument("repo", nargs="?", default=".", help="the env repo (default: the current folder)")
    tui.add_argument("--branch", help="the branch to follow (default: the checked-out one)")
    tui.add_argument("--entry", metavar="PATH", help=headless.ENTRY_HELP)
    tui.add_argument(
        "--ascii", action="store_true", help="ASCII glyphs and borders (also GITOPS_SANDBOX_ASCII=1)"
    )
    _add_runtime_args(tui)
    tui.set_defaults(func=cmd_tui)

    headless.add_commands(sub, _add_runtime_args)
    demo.add_command(sub, _add_runtime_args, cmd_tui)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    # `gitops-sandbox [REPO] [options]` opens the app: no subcommand means `tui`.
    if not argv or (argv[0] not in _subcommands(parser) and argv[0] not in ("-h", "--help", "--version")):
        argv.insert(0, "tui")
    args = parser.parse_args(argv)
    if problem := headless.settle_positionals(args):
        parser.error(problem)
    if getattr(args, "repo_path", None):
        if args.repo not in (".", args.repo_path):
            parser.error(f"two env repos named: -C {args.repo} and {args.repo_path}")
        args.repo = args.repo_path
    _interrupt_on_termination()
    if getattr(args, "build", False):
        os.environ[toolchain.BUILD_ENV] = "1"  # read where a missing binary is made
    try:
        return int(args.func(args))
    except (ClusterError, toolchain.ToolchainError, EnvRepoError, KubeError, TimeoutError, AgentBusy) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`status | head`): stop quietly, as a shell tool does, and keep
        # Python's exit flush of stdout from raising again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except KeyboardInterrupt as exc:
        signum = exc.signum if isinstance(exc, Terminated) else signal.SIGINT
        print(f"interrupted ({signal.Signals(signum).name})", file=sys.stderr)
        return 128 + signum  # as a shell reports a command a signal ended: 130 Ctrl-C, 143 SIGTERM


def _interrupt_on_termination() -> None:
    """SIGTERM (systemd, `docker stop`, a CI runner's cancel, `kill`) and SIGHUP (a closed
    terminal, tmux) end the command as Ctrl-C does: a sync under way is recorded as
    interrupted, locks are released and the terminal is given back, instead of the process
    vanishing with its sync left Running."""

    def interrupt(signum: int, _frame: object) -> None:
        raise Terminated(signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)


def _subcommands(parser: argparse.ArgumentParser) -> set[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()
