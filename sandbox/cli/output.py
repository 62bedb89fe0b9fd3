"""How the headless commands print a snapshot: the apps table (as `flux get` and `argocd app
list` show theirs), each app's problems and objects, or the snapshot as JSON."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence

from sandbox.agent.snapshot import AppState, Snapshot, app_depths, in_tree_order
from sandbox.manifest.appkinds import FLUX_APP_KINDS
from sandbox.model import Health, Problem


def notices(snapshot: Snapshot) -> None:
    for note in snapshot.notices:
        print(f"note: {note}", file=sys.stderr)


def short(sha: str | None) -> str:
    return sha[:7] if sha else "-"


def apps_table(snapshot: Snapshot, wide: bool = False) -> str:
    """The apps; with Flux apps, a READY column and their Ready message, as `flux get` shows them."""
    flux = any(a.kind in FLUX_APP_KINDS for a in snapshot.apps)
    rows = [("APP", "SYNC", "HEALTH", *(("READY",) if flux else ()), "DEPLOYED", "GIT", "AUTO-SYNC", "SELF-HEAL",
             "MESSAGE")]  # fmt: skip
    depth = app_depths(snapshot.apps)
    for app in in_tree_order(snapshot.apps):
        ready = app.ready
        note = app.rollback_note or (ready.message if ready and not app.removed else app.said)
        below = app.health_below(snapshot.shown_names)
        own_failure = bool(app.problems) or app.last_result == "Failed"
        if below and below not in note and not own_failure:  # its health is another app's: say whose first
            note = f"{below}; {note}" if note else below
        rows.append((
            "  " * depth[app.name] + snapshot.shown(app.name), str(app.sync), str(app.health),
            *((str(ready.status) if ready else "-",) if flux else ()),
            short(app.deployed_revision), short(app.git_revision),
            "on" if app.auto_sync else ("paused" if app.rolled_back else "off"),
            "on" if app.self_heal else "off", note if wide else note[:80],
        ))  # fmt: skip
    return table(rows)


def table(rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def objects_table(app: AppState) -> str:
    rows = [("KIND", "NAMESPACE", "NAME", "SYNC", "HEALTH", "SOURCE / MESSAGE")]
    for obj in app.objects:
        rows.append((
            obj.key.kind, obj.key.namespace or "-", obj.key.name, str(obj.sync), str(obj.health),
            # An unhealthy object's message names its pod's reason (appview._with_cause).
            obj.sync_message or (obj.health_message if obj.health != Health.HEALTHY and obj.health_message
                                 else obj.source),
        ))  # fmt: skip
    return table(rows)


def emit(args: argparse.Namespace, snapshot: Snapshot, verbose: bool = False, problems: bool = True) -> None:
    """The apps as a table (or JSON); ``problems``: each app's problems in full after it (off
    where they were said already, one line per failed app)."""
    only = getattr(args, "app", None)
    if only and getattr(args, "command", "") in ("sync", "resume"):
        # A command about one app shows that app: the others were not looked at in this run.
        snapshot = snapshot.only(lambda a: a.name == only)
    if args.json:
        print(json.dumps(snapshot.to_json(), indent=2))
        return
    print(f"env repo {snapshot.repo} @ {snapshot.branch} ({short(snapshot.head)})")
    for problem in snapshot.problems:
        print(f"problem: {problem}")
    print(apps_table(snapshot, wide=verbose))  # -v: each message whole
    for app in in_tree_order(snapshot.apps):
        if verbose:
            print(f"\n{snapshot.shown(app.name)}:")
        for problem in app.problems if problems or verbose else ():
            print(problem_line(snapshot, app.name, problem))
        if app.removed:
            print(f"{snapshot.shown(app.name)}: {app.message}")
        if verbose and app.objects:  # no header over nothing
            print(objects_table(app))
        if verbose:
            for notice in app.notices:
                print(f"  note: {notice}")


def problem_line(snapshot: Snapshot, app: str, problem: Problem) -> str:
    """An app's problem, the app named first: the problem's object, when it is the app, once."""
    of_app = problem.object in (app, snapshot.shown(app))
    return f"{snapshot.shown(app)}: {dataclasses.replace(problem, object='') if of_app else problem}"
