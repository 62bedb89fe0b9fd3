"""The headless commands: sync, status, diff, history, rollback, revert, watch, check.

Each drives the same in-process Agent the TUI uses. Exit codes follow flux: ``diff`` 0 no
difference, 1 differences, 2 error; ``check`` 0 Healthy, 1 not, 2 error; the others 0 on
success, 1 when the operation ran and failed, 2 on an error before it could run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path

from sandbox import session
from sandbox.agent.commands import ManualSync, Resume, Rollback
from sandbox.agent.history import HistoryReader, SyncRecord, path_for_repo
from sandbox.agent.loop import Agent
from sandbox.agent.ready import BLOCKED
from sandbox.agent.revert import RevertError
from sandbox.agent.snapshot import AppState, Event, ReadyStatus, Snapshot, in_tree_order
from sandbox.cli import output
from sandbox.cli.signals import Terminated
from sandbox.cluster.runtime import ClusterError
from sandbox.model import Health, SyncStatus
from sandbox.source.appid import AppName, pick, shown_names
from sandbox.source.envrepo import EnvRepoError
from sandbox.tools import toolchain


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def _connected(args: argparse.Namespace, bring_up: bool = True) -> Iterator[session.Connection]:
    connection = session.connect(args, _progress, bring_up=bring_up)
    try:
        yield connection
    finally:
        connection.close()


ENTRY_HELP = (
    "where app discovery starts, over sandbox.yaml's entry: a Flux cluster folder (clusters/staging) "
    "or a folder of Argo CD Applications"
)


@contextmanager
def _agent(
    args: argparse.Namespace,
    automated: bool,
    branch: str | None = None,
    trigger: str = "startup",
    watch_repo: bool = False,
    settings_path: Path | None = None,
    focus: str | None = None,
    settle: bool = True,
) -> Iterator[Agent]:
    """Bring the cluster up (or reuse it), start an agent on the repo, stop it afterwards.

    A folder that is no env repo (or a branch it lacks) fails first, before any cluster starts.
    ``settle``: wait until its first pass is done before handing it over.
    """
    checked_entry(args, branch)
    with _connected(args) as connection:
        with session.started_agent(
            Path(args.repo), connection, automated=automated, branch=branch, trigger=trigger,
            watch_repo=watch_repo, settings_path=settings_path, focus=focus, entry=getattr(args, "entry", None),
            settle=settle,
        ) as agent:  # fmt: skip
            yield agent


def checked_entry(args: argparse.Namespace, branch: str | None = None) -> None:
    """Check the repo before any cluster starts (session.check_repo); ``args.entry`` becomes the
    entry the command runs from, said when it is the one the last agent on the repo ran."""
    checked = session.check_repo(Path(args.repo), branch, getattr(args, "entry", None))
    args.entry = checked.entry
    if checked.note:
        print(f"note: {checked.note}", file=sys.stderr)
    # Got (or waited for) here, where it is said: an app's render that needs one would wait in silence.
    try:
        toolchain.ensure_all(toolchain.RENDER_TOOLS, _progress)
    except toolchain.ToolchainError as err:
        print(f"note: {err} (apps that need it fail, saying so)", file=sys.stderr)


def _resolved(snapshot: Snapshot, text: str) -> str | None:
    """The id of the one app ``text`` names (its id, short or qualified name), or None after
    saying on stderr that none does, or which several do."""
    found = snapshot.named(text)
    if len(found) == 1:
        return found[0].name
    if not found:
        names = sorted(snapshot.shown_names.values())
        listed = ", ".join(names[:12]) + (f" and {len(names) - 12} more" if len(names) > 12 else "")
        print(f"error: no app named {text} (the apps: {listed or 'none'})", file=sys.stderr)
    else:
        listed = ", ".join(a.names.qualified for a in found)
        print(f"error: {text} names {len(found)} apps ({listed}): name one of them", file=sys.stderr)
    return None


def _errors_since(snapshot: Snapshot, since: float) -> list[Event]:
    return [e for e in snapshot.events if e.level == "error" and e.time >= since]


def _said_since(snapshot: Snapshot, since: float) -> list[Event]:
    """Errors and warnings (a removed app, drift) since ``since``, for stderr."""
    return [e for e in snapshot.events if e.level in ("error", "warning") and e.time >= since]


def cmd_status(args: argparse.Namespace) -> int:
    checked_entry(args)
    with ExitStack() as stack:
        try:
            connection = stack.enter_context(_connected(args, bring_up=False))
        except ClusterError as exc:
            return _git_only(args, exc)
        seen = stack.enter_context(session.observer(Path(args.repo), connection, entry=args.entry))
        snapshot = seen.snapshot()
    if args.app:  # as `argocd app get`: that app alone, and the exit code says of it alone
        if (app_id := _resolved(snapshot, args.app)) is None:
            return 2
        snapshot = snapshot.only(lambda a: a.name == app_id)
    output.notices(snapshot)
    output.emit(
        args, snapshot, verbose=args.verbose or bool(args.app)
    )  # one app: its objects too, as `argocd app get`
    if snapshot.problems or not snapshot.apps:
        return 1  # a broken sandbox.yaml, or nothing to deploy: not "all Synced and Healthy"
    return 0 if all(a.sync == SyncStatus.SYNCED and a.health == Health.HEALTHY for a in snapshot.apps) else 1


def _git_only(args: argparse.Namespace, absent: ClusterError) -> int:
    """No cluster to compare with: what Git says is still said (apps, problems), and that
    nothing else can be; exit 2, as the command could not do what it is for."""
    snapshot = session.found_in_git(Path(args.repo), args.entry)
    output.notices(snapshot)
    output.emit(args, snapshot, verbose=getattr(args, "verbose", False))
    print(f"error: {absent}", file=sys.stderr)
    return 2


def cmd_sync(args: argparse.Namespace) -> int:
    started = time.time()
    with _agent(args, automated=False, focus=args.app) as agent:
        if args.app and (app := _resolved(agent.publish_now(), args.app)) is None:
            return 2
        args.app = app if args.app else None
        waits: set[Event] = set()  # said as they happen: a wave's health may take minutes
        agent.subscribe(lambda seen: _say_waits(seen, started, waits))
        agent.send(ManualSync(args.app))
        deadline = time.monotonic() + session.SETTLE_TIMEOUT
        settled = agent.wait_idle(session.SETTLE_TIMEOUT)
        snapshot = (
            _until_ready(agent.publish_now, deadline, started, args.app) if settled else agent.publish_now()
        )
        if not settled:
            agent.stop_reason = (f"`sync` stopped waiting after {session.SETTLE_TIMEOUT:.0f}s "
                                 "(GITOPS_SANDBOX_SETTLE_SECONDS)")  # fmt: skip
    if not settled:  # never a table of half a sync, and never exit 0 for it
        pending = [a for a in snapshot.apps if a.last_result not in ("Succeeded", "Failed")]
        names = [snapshot.shown(a.name) for a in pending]
        print(f"error: the sync did not finish within {session.SETTLE_TIMEOUT:.0f}s; not done: "
              f"{', '.join(names[:10]) or 'the sync itself'}{' …' if len(names) > 10 else ''}", file=sys.stderr)  # fmt: skip
        for state in pending[:10]:
            if state.message:
                print(f"  {snapshot.shown(state.name)}: {state.message}", file=sys.stderr)
        return 1
    failed = [a for a in snapshot.apps if (args.app in (None, a.name)) and a.last_result == "Failed"]
    # One line per failed app, from its state (however many there are), then what else was said
    # that no failed app's line says already (a wait, a removal).
    said = [e for e in _said_since(snapshot, started) if args.app in (None, e.app)]
    said = [e for e in said if e.app not in {a.name for a in failed} and e not in waits]  # said already
    output.notices(snapshot)
    if not args.json:
        for event in said:
            print(f"{event.level}: {snapshot.shown(event.app) + ': ' if event.app else ''}{event.message}",
                  file=sys.stderr)  # fmt: skip
        for state in in_tree_order(tuple(failed)):
            print(f"error: {snapshot.shown(state.name)}: {state.message}", file=sys.stderr)
    output.emit(args, snapshot, verbose=args.verbose, problems=False)
    # A sandbox.yaml that does not read, or apps that are none, are a failed sync too.
    return 1 if failed or (args.app is None and (snapshot.problems or not snapshot.apps)) else 0


def _until_ready(take: Callable[[], Snapshot], deadline: float, started: float, app: str | None) -> Snapshot:
    """Flux apps this sync applied that wait for health (a HelmRelease, as helm --wait; a
    Kustomization with wait or healthChecks) are done when their Ready says so, as `flux
    reconcile` waits: until then, or the settle time, whichever comes first. Only those whose
    objects are still coming up: a suspended app, or one not applied, waits for nothing here."""
    said = False
    while True:
        snapshot = take()
        waiting = [a for a in snapshot.apps if a.ready is not None and a.ready.status == ReadyStatus.UNKNOWN
                   and a.ready.reason == "Progressing" and a.last_result == "Succeeded"
                   and a.last_sync is not None and a.last_sync >= started
                   and a.deployed_revision == a.target_revision and a.health == Health.PROGRESSING
                   and app in (None, a.name)]  # fmt: skip
        if waiting and time.monotonic() >= deadline:
            names = ", ".join(snapshot.shown(a.name) for a in waiting)
            print(f"warning: not Ready within the settle time: {names}", file=sys.stderr)
        if not waiting or time.monotonic() >= deadline:
            return snapshot
        if not said:
            names = ", ".join(snapshot.shown(a.name) for a in waiting[:5]) + (
                " …" if len(waiting) > 5 else ""
            )
            print(f"waiting for Ready, as flux reconcile does: {names} (at most {deadline - time.monotonic():.0f}s "
                  "more)", file=sys.stderr, flush=True)  # fmt: skip
            said = True
        time.sleep(0.5)


def _say_waits(snapshot: Snapshot, since: float, said: set[Event]) -> None:
    """Each wait of a sync (a wave's health, a hook) on stderr as it starts, once."""
    for event in snapshot.events:
        if event.time >= since and ": waiting for " in event.message and event not in said:
            said.add(event)
            print(f"{snapshot.shown(event.app)}: {event.message}", file=sys.stderr, flush=True)


def cmd_diff(args: argparse.Namespace) -> int:
    checked_entry(args)
    with (
        _connected(args, bring_up=False) as connection,
        session.observer(Path(args.repo), connection, entry=args.entry) as seen,
    ):
        snapshot = seen.snapshot(args.ref)
        if args.app and (app_id := _resolved(snapshot, args.app)) is None:
            return 2
        args.app = app_id if args.app else None
        found = seen.diffs(snapshot, args.app)
    output.notices(snapshot)
    differing = [(d.app, d.object, d.text) for d in found]
    problems = [output.problem_line(snapshot, a.name, p) for a in snapshot.apps if args.app in (None, a.name)
                for p in a.problems]  # fmt: skip
    problems += [str(p) for p in snapshot.problems]
    if args.json:
        print(json.dumps({
            "ref": args.ref or snapshot.branch,
            "differences": [
                {"app": a, "object": str(o.key), "status": str(o.sync), "diff": d} for a, o, d in differing
            ],
            "problems": problems,
        }, indent=2))  # fmt: skip
    else:
        for app_name, obj, text in differing:
            print(f"--- {snapshot.shown(app_name)}: {obj.key} ({obj.sync})")
            print(text.rstrip() or "(no textual difference)")
        for problem in problems:
            print(f"problem: {problem}", file=sys.stderr)
        if not differing and not problems:
            print(f"no differences between {args.ref or snapshot.branch} and the cluster")
        elif problems:  # what was compared all the same: an error in one app says nothing of the rest
            failed = {a.name for a in snapshot.apps if a.problems}
            clean = [snapshot.shown(a.name) for a in snapshot.apps if args.app in (None, a.name)
                     and a.name not in failed and a.name not in {d.app for d in found}]  # fmt: skip
            if clean:
                print(f"no differences in {len(clean)} app(s) compared: {', '.join(clean[:10])}"
                      f"{' …' if len(clean) > 10 else ''}")  # fmt: skip
    if problems:
        return 2
    return 1 if differing else 0


def cmd_history(args: argparse.Namespace) -> int:
    try:
        checked_entry(args)
    except EnvRepoError:
        pass  # the recorded syncs still read where the repo does not (or asks which entry)
    # The names the records hold: history reads its file alone, never the repo's apps (finding
    # them renders every parent, seconds on a large repo, for names the records already have).
    with HistoryReader(path_for_repo(Path(args.repo))) as history:
        names = [AppName.from_id(app) for app in history.apps()]
    if len({n.short for n in names}) < len(names):  # namesakes: only Git says which kind a plain id is
        found = session.app_names(Path(args.repo), getattr(args, "entry", None))
        names = found + [n for n in names if n.id not in {f.id for f in found}]
    if args.app:
        picked = pick(names, args.app)
        if len(picked) > 1:
            listed = ", ".join(n.qualified for n in picked)
            print(f"error: {args.app} names {len(picked)} apps ({listed}): name one of them", file=sys.stderr)
            return 2
        args.app = picked[0].id if picked else args.app  # an app gone from Git keeps its history
    shown = shown_names(names)
    with HistoryReader(path_for_repo(Path(args.repo))) as history:
        records = history.records(args.app, limit=args.limit)
        total = history.count(args.app) if len(records) == args.limit else len(records)
    if total > len(records):  # said apart from the rows, so a pipe reads rows alone
        print(
            f"note: the newest {len(records)} of {total} syncs; --limit {total} shows them all",
            file=sys.stderr,
        )
    if args.json:
        print(json.dumps([
            {"id": r.id, "app": r.app, "revision": r.revision, "author": r.author, "subject": r.subject,
             "trigger": r.trigger, "started": r.started, "ended": r.ended, "result": r.result,
             "health": r.health, "message": r.message, "attempts": r.attempts,
             "objects": [o.__dict__ for o in r.objects]}
            for r in records
        ], indent=2))  # fmt: skip
        return 0
    rows = [("ID", "APP", "REVISION", "TRIGGER", "RESULT", "HEALTH", "STARTED", "TOOK", "SUBJECT")]
    for r in records:
        took = _took(r)
        when = datetime.fromtimestamp(r.started).strftime("%Y-%m-%d %H:%M:%S")
        app = shown.get(r.app, r.app) or "(env repo)"  # a failure no app carries: sandbox.yaml does not read
        rows.append(
            (
                str(r.id),
                app,
                output.short(r.revision),
                r.trigger,
                r.result,
                r.health,
                when,
                took,
                r.subject[:50],
            )
        )
    print(output.table(rows))
    return 0


def _took(record: SyncRecord) -> str:
    """How long the sync took; a failure repeated as it was is one row, and its span from the
    first try to the last is no sync's duration: it says how many tries instead."""
    if record.attempts > 1:
        return f"{record.attempts} tries"
    if record.message.startswith(BLOCKED):
        return "-"  # held back by another app: nothing of it ran, so nothing took any time
    return f"{record.ended - record.started:.2f}s" if record.ended else "-"


def settle_positionals(args: argparse.Namespace) -> str | None:
    """Read `rollback|resume|revert [REPO] [APP|SHA]` as every command reads its words: a lone
    word is the env repo when it names a git work tree, else the app (or commit). Returns what
    is wrong with the words, if anything."""
    if not hasattr(args, "target"):
        return None
    if args.target is None and args.repo_path and not _is_work_tree(Path(args.repo_path)):
        args.target, args.repo_path = args.repo_path, None
    if args.func is cmd_revert:
        return None
    if args.target and args.app and args.target != args.app:
        return f"two apps named: {args.target} and --app {args.app}"
    args.app = args.app or args.target
    return None if args.app else f"name the app: {args.func.__name__[4:]} APP (or --app APP)"


def _is_work_tree(path: Path) -> bool:
    return path.is_dir() and (path / ".git").exists()


def cmd_rollback(args: argparse.Namespace) -> int:
    started = time.time()
    with _agent(args, automated=False, focus=args.app) as agent:
        if (app_id := _resolved(agent.publish_now(), args.app)) is None:
            return 2
        args.app = app_id
        target = args.to or agent.default_rollback_target(args.app)
        if not target:
            print(
                f"error: {args.app} has no earlier healthy revision to roll back to; name one with --to",
                file=sys.stderr,
            )
            return 2
        agent.send(Rollback(args.app, target))
        agent.wait_idle(session.SETTLE_TIMEOUT)
        snapshot = agent.publish_now()
    errors = [e for e in _errors_since(snapshot, started) if e.app == args.app]
    app = snapshot.app(args.app)
    if args.json:
        print(json.dumps(app.to_json() if app else {}, indent=2))
    elif app and app.rolled_back and not errors:
        print(app.rollback_note)
        print(f"undo: gitops-sandbox resume {args.app} -C {args.repo}")
    elif app and not errors:
        print(app.message)  # already at that revision: nothing changed
    for event in errors:
        print(f"error: {event.message}", file=sys.stderr)
    return 1 if errors else 0


def cmd_resume(args: argparse.Namespace) -> int:
    with _agent(args, automated=False, focus=args.app) as agent:
        if (app_id := _resolved(agent.publish_now(), args.app)) is None:
            return 2
        args.app = app_id
        agent.send(Resume(args.app))
        agent.wait_idle(session.SETTLE_TIMEOUT)
        snapshot = agent.publish_now()
    output.emit(args, snapshot)
    app = snapshot.app(args.app)
    return 0 if app and app.last_result != "Failed" else 1


def cmd_revert(args: argparse.Namespace) -> int:
    args.sha = args.target
    with _agent(args, automated=False) as agent:
        if args.app and (app_id := _resolved(agent.publish_now(), args.app)) is None:
            return 2
        args.app = app_id if args.app else None
        try:
            result = agent.revert(args.sha, args.app)
        except (RevertError, EnvRepoError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        agent.wait_idle(session.SETTLE_TIMEOUT)
        snapshot = agent.publish_now()
        touched = agent.touched_by(result.reverted_sha) | ({args.app} if args.app else set())
    # The commit is made either way; the exit code says whether deploying it worked for the apps
    # the reverted commit touched (as rollback reports its app); the others are shown as they are.
    failed = [a for a in snapshot.apps if a.git_revision == result.new_sha and a.last_result == "Failed"
              and a.name in touched]  # fmt: skip
    if args.json:
        print(json.dumps({"revert": result.__dict__, **snapshot.to_json()}, indent=2))
    else:
        print(result.message.splitlines()[0] if result.message else "reverted")
        print(f"new commit {result.new_sha[:7]} reverts {result.reverted_sha[:7]}; {result.undo_hint}")
        print(output.apps_table(snapshot))
        for app in failed:
            print(
                f"error: {snapshot.shown(app.name)}: deploying the revert failed: {app.message}",
                file=sys.stderr,
            )
    return 1 if failed else 0


def cmd_watch(args: argparse.Namespace) -> int:
    printed: set[Event] = set()  # those of the last second (events of one instant are all new)
    lock = threading.Lock()  # the agent's thread and this one both show: one line at a time

    def show(snapshot: Snapshot) -> None:
        with lock:
            newest = max((e.time for e in printed), default=0.0)
            for event in snapshot.events:
                if event.time < newest or event in printed:
                    continue
                printed.add(event)
                if args.json:
                    print(json.dumps(event.to_json()), flush=True)
                else:
                    stamp = datetime.fromtimestamp(event.time).strftime("%H:%M:%S")
                    who = snapshot.shown(event.app) if event.app else "-"
                    print(f"{stamp} {event.level:<7} {who:<12} {event.message}", flush=True)
            newest = max((e.time for e in printed), default=0.0)
            printed.difference_update({e for e in printed if e.time < newest - 1})

    try:
        # Shown as it happens from the start: a first pass may wait minutes on a wave's health.
        with _agent(args, automated=True, watch_repo=True, settle=False) as agent:
            agent.subscribe(show)
            show(agent.publish_now())
            while True:
                time.sleep(3600)
    except Terminated:
        raise  # stopped by SIGTERM or SIGHUP: 128 + the signal, as for any command
    except KeyboardInterrupt:
        return 0  # Ctrl-C is how a user ends a watch, while it starts as while it runs


def cmd_check(args: argparse.Namespace) -> int:
    started = time.time()
    with tempfile.TemporaryDirectory() as scratch:
        with _agent(args, automated=True, branch=args.ref, trigger="check",
                           settings_path=Path(scratch) / "s.json") as agent:  # fmt: skip
            snapshot = _wait_healthy(agent.publish_now, args.timeout)
    apps = snapshot.named(args.app) if args.app else list(snapshot.apps)
    snapshot = snapshot.only(lambda a: a in apps)  # as status --app: the app asked about
    if args.json:
        print(json.dumps(snapshot.to_json(), indent=2))
    else:
        for app in apps:
            print(f"{snapshot.shown(app.name)}: {app.sync} {app.health} at {_checked_at(app, args.ref)}")
            for notice in app.notices:  # how the branch was read (a base branch it runs in place of)
                print(f"  note: {notice}")
            if app.objects:
                print(output.objects_table(app))
        asked = {a.name for a in apps}
        for event in _errors_since(snapshot, started):
            if args.app and event.app not in asked:
                continue  # another app's: check --app says of that app alone, as its exit code does
            named = (
                f"{snapshot.shown(event.app)}: "
                if event.app and not event.message.startswith(event.app)
                else ""
            )
            print(f"error: {named}{event.message}", file=sys.stderr)
    if any(a.last_result == "Failed" for a in apps) or not apps:
        return 1
    return 0 if all(a.health == Health.HEALTHY for a in apps) else 1


def _checked_at(app: AppState, ref: str) -> str:
    """The revision the cluster runs, named as the ref only when it is the ref's commit."""
    at = output.short(app.deployed_revision)
    if app.deployed_revision and app.deployed_revision == app.git_revision:
        return f"{at} ({ref})"
    return f"{at}; {ref} ({output.short(app.git_revision)}) was not deployed"


DEGRADED_GRACE = 5.0


def _wait_healthy(take: Callable[[], Snapshot], timeout: float) -> Snapshot:
    """Poll snapshots until every app is Healthy, one failed, one stayed Degraded for a few
    seconds (a deadline passed: waiting longer rarely helps), or the timeout ends the wait."""
    deadline = time.monotonic() + timeout
    degraded_since: float | None = None
    while True:
        snapshot = take()
        now = time.monotonic()
        if any(a.health == Health.DEGRADED for a in snapshot.apps):
            degraded_since = degraded_since or now
        else:
            degraded_since = None
        done = (
            all(a.health == Health.HEALTHY for a in snapshot.apps)
            or any(a.last_result == "Failed" for a in snapshot.apps)
            or (degraded_since is not None and now - degraded_since >= DEGRADED_GRACE)
        )
        if done or now >= deadline:
            return snapshot
        time.sleep(0.25)


def add_commands(
    sub: argparse._SubParsersAction, add_runtime_args: Callable[[argparse.ArgumentParser], None]
) -> None:
    def command(
        name: str, func: Callable[[argparse.Namespace], int], help_text: str, positional: bool = True
    ) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, help=help_text)
        parser.add_argument("-C", "--repo", default=".", help="the env repo (default: the current folder)")
        if (
            positional
        ):  # `status REPO` as `gitops-sandbox REPO`; a command that takes an app or a sha has -C only
            parser.add_argument("repo_path", nargs="?", metavar="REPO", help="the env repo, as -C names it")
        parser.add_argument("--entry", metavar="PATH", help=ENTRY_HELP)
        parser.add_argument("--json", action="store_true", help="print JSON")
        add_runtime_args(parser)
        parser.set_defaults(func=func)
        return parser

    p = command("status", cmd_status, "each app's sync and health (exit 1 unless all Synced and Healthy)")
    p.add_argument("--app", help="that app alone (its id, short or qualified name)")
    p.add_argument("-v", "--verbose", action="store_true", help="list every object")
    p = command("sync", cmd_sync, "sync now: each app (or --app) to its target revision")
    p.add_argument("--app")
    p.add_argument("-v", "--verbose", action="store_true", help="list every object")
    p = command("diff", cmd_diff, "what syncing a ref would change (exit 0 none, 1 differences, 2 error)")
    p.add_argument("--ref", help="branch, tag or commit (default: the checked-out branch)")
    p.add_argument("--app")
    p = command("history", cmd_history, "the recorded syncs, newest first")
    p.add_argument("--app")
    p.add_argument("--limit", type=int, default=50, help="how many syncs to show, newest first (default: 50)")
    p = command("rollback", cmd_rollback, "sync an earlier revision of an app; auto-sync pauses for it")
    p.add_argument("target", nargs="?", metavar="APP", help="the app (or --app)")
    p.add_argument("--app")
    p.add_argument(
        "--to", help="revision (default: the last one that synced Healthy before the deployed one)"
    )
    p = command("resume", cmd_resume, "resume auto-sync for an app (ends a rollback)")
    p.add_argument("target", nargs="?", metavar="APP", help="the app (or --app)")
    p.add_argument("--app")
    p = command("revert", cmd_revert, "git revert the deployed (or a named) commit, then deploy it")
    p.add_argument(
        "target",
        nargs="?",
        metavar="SHA",
        help="commit to revert (default: the commit that broke an app, else the newest deployed change; with --app, that app's)",
    )
    p.add_argument("--app")
    command("watch", cmd_watch, "run the agent: follow the env repo and print what it does")
    p = command("check", cmd_check, "sync a ref into the sandbox and wait for health (exit 0 Healthy, 1 not)")
    p.add_argument("--ref", required=True, help="the branch (or commit) to check")
    p.add_argument("--app")
    p.add_argument("--timeout", type=float, default=120, help="seconds to wait for health (default 120)")
