"""The Textual app over many objects, against the same app over a tiny snapshot in the same run.

Run: .venv/bin/python benchmarks/bench_tui.py [--objects 5000] [--presses 30]

No cluster, no git: a ``SyntheticSnapshotSource`` serves a generated Snapshot (Deployments
owning a ReplicaSet and two Pods, Services, ConfigMaps, across four apps). Latency is measured
inside the app, from the Key event reaching the App to the end of the screen update it causes
(Pilot's press/pause would add a fixed 60-80 ms); see ``TimedSandboxApp`` for the exact hook.
Ratios compare the big snapshot with the tiny one measured the same way in the same process,
so a noisy shared machine affects both sides alike.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import math
import os
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import RenderableType  # noqa: E402
from textual import events  # noqa: E402
from textual.screen import Screen  # noqa: E402
from textual.widget import Widget  # noqa: E402

from sandbox.agent.snapshot import AppState, Event, ObjectState, Snapshot  # noqa: E402
from sandbox.model import Health, Manifest, ObjectKey, SyncStatus, worst_health  # noqa: E402
from sandbox.source.envrepo import CommitInfo  # noqa: E402
from tests.framekit import VisibleScreen, frame_bytes  # noqa: E402
from tui.app import SandboxApp  # noqa: E402
from tui.idle_gc import Collections  # noqa: E402
from tui.source import RuntimeInfo, StaticSnapshotSource  # noqa: E402

TARGET_KEY_MS = 50.0
TARGET_RSS_MB = 300.0
BASELINE_OBJECTS = 10
SIZE = (160, 48)
APPS = ("shop", "payments", "search", "platform")  # no "v" anywhere: the filter key "v" keeps Services only
FILTER_KEY = "v"
SETTLE_GAP = 0.25  # s between presses: the Diff panel's 0.12 s debounce and its worker finish first
# Pauses before the keys of the "after a pause" series, cycled: around the app's idle time
# (tui/idle_gc.py: a pending garbage collection runs after 1 s without input).
PAUSES = (1.1, 1.25, 1.5, 2.0)
T0 = 1_700_000_000.0

# Keys whose action needs the API server or git in the real app (the synthetic source would
# only record the call, so a number for them would measure nothing the user waits for).
SKIPPED_KEYS = {
    "s": "sync (server-side apply)",
    "r": "rollback (sync of an older revision)",
    "v": "revert (git commit, then a sync)",
    "a": "auto-sync switch (agent settings, then a sync)",
    "h": "self-heal switch (agent settings, then re-apply)",
    "x": "scale by hand (API server PATCH)",
}

# (key, character) as a terminal driver would send them.
KEY_CHARS: dict[str, str | None] = {
    "j": "j", "k": "k", "down": None, "up": None, "tab": "\t", "slash": "/", "escape": "\x1b", "d": "d",
    FILTER_KEY: FILTER_KEY,
}  # fmt: skip


# -- a synthetic snapshot ------------------------------------------------------------------------


def _meta(ns: str, name: str, app: str, live: bool) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": ns,
        "labels": {"app.kubernetes.io/name": name.rsplit("-", 1)[0], "app.kubernetes.io/instance": app},
        "annotations": {"gitops-sandbox/app": app},
    }
    if live:
        meta.update(
            uid=f"{zlib.crc32(f'{ns}/{name}'.encode()):08x}-0000-4000-8000-000000000000",
            resourceVersion=str(zlib.crc32(name.encode()) % 10_000_000),
            creationTimestamp="2024-01-01T00:00:00Z",
            generation=1,
            managedFields=[
                {
                    "manager": "gitops-sandbox",
                    "operation": "Apply",
                    "apiVersion": "v1",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:metadata": {"f:labels": {}}, "f:spec": {}},
                }
            ],
        )
    return meta


def _container(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "image": f"registry.example/{name}:1.4.2",
        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
        "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "PORT", "value": "8080"}],
    }


def manifest(kind: str, ns: str, name: str, app: str, live: bool) -> Manifest:
    """A plausible object: live ones carry uid, resourceVersion, managedFields and status."""
    group = "apps/v1" if kind in ("Deployment", "ReplicaSet") else "v1"
    body: dict[str, Any] = {
        "apiVersion": group,
        "kind": kind,
        "metadata": _meta(ns, name, app, live),
    }
    if kind in ("Deployment", "ReplicaSet"):
        body["spec"] = {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [_container(name)]}},
        }
        if live:
            body["status"] = {
                "replicas": 2,
                "readyReplicas": 2,
                "availableReplicas": 2,
                "observedGeneration": 1,
            }
    elif kind == "Pod":
        body["spec"] = {"containers": [_container(name)], "nodeName": "sandbox-control-plane"}
        body["status"] = {
            "phase": "Running",
            "podIP": "10.244.0.12",
            "conditions": [{"type": "Ready", "status": "True"}],
        }
    elif kind == "Service":
        body["spec"] = {
            "selector": {"app": name},
            "ports": [{"port": 80, "targetPort": 8080}],
            "type": "ClusterIP",
        }
    else:
        body["data"] = {
            "LOG_LEVEL": "info",
            "FEATURES": "a,b,c",
            "settings.yaml": "timeout: 30s\nretries: 3\n",
        }
    return body


@dataclass(frozen=True)
class Change:
    """A status that differs from Synced+Healthy, as a new snapshot would carry it."""

    sync: SyncStatus
    health: Health
    message: str = ""


def _state(
    app: str, ns: str, kind: str, name: str, change: Change | None, children: tuple[ObjectState, ...] = ()
) -> ObjectState:
    group = "apps" if kind in ("Deployment", "ReplicaSet") else ""
    sync, health, message = (
        (change.sync, change.health, change.message) if change else (SyncStatus.SYNCED, Health.HEALTHY, "")
    )
    in_git = sync != SyncStatus.ORPHANED
    live = sync != SyncStatus.MISSING
    return ObjectState(
        ObjectKey(group, kind, ns, name), sync, health, message,
        f"{app}/{kind.lower()}s.yaml" if in_git else "",
        manifest(kind, ns, name, app, live=False) if in_git else None,
        manifest(kind, ns, name, app, live=True) if live else None,
        children,
    )  # fmt: skip


def _owned(app: str, ns: str, kind: str, name: str, children: tuple[ObjectState, ...] = ()) -> ObjectState:
    """A ReplicaSet or Pod: made by a controller, never in Git."""
    group = "apps" if kind == "ReplicaSet" else ""
    return ObjectState(
        ObjectKey(group, kind, ns, name), SyncStatus.SYNCED, Health.HEALTHY,
        live=manifest(kind, ns, name, app, live=True), children=children,
    )  # fmt: skip


UNIT = 6  # a Deployment, its ReplicaSet, two Pods, a Service, a ConfigMap


def synthetic_snapshot(objects: int, seq: int = 1, changes: dict[str, Change] | None = None) -> Snapshot:
    """``objects`` objects in all (owned ReplicaSets and Pods count), spread over the four apps.

    A few start out of the ordinary (so labels show their words); ``changes`` overrides the
    status of objects by name, as the next snapshot of a watched cluster would.
    """
    changes = changes or {}
    per_app: dict[str, list[ObjectState]] = {a: [] for a in APPS}
    units, rest = divmod(objects, UNIT)
    for i in range(units):
        app = APPS[i % len(APPS)]
        ns = app
        base = f"{app}-api-{i:05d}"
        start = (
            Change(SyncStatus.OUT_OF_SYNC, Health.PROGRESSING, "Waiting for rollout") if i % 97 == 1 else None
        )
        pods = tuple(_owned(app, ns, "Pod", f"{base}-7c9d-{p}") for p in ("abcde", "fghij"))
        rs = _owned(app, ns, "ReplicaSet", f"{base}-7c9d", pods)
        per_app[app] += [
            _state(app, ns, "Deployment", base, changes.get(base, start), (rs,)),
            _state(app, ns, "Service", base, changes.get(f"svc/{base}")),
            _state(app, ns, "ConfigMap", f"{base}-config", changes.get(f"{base}-config")),
        ]
    for i in range(rest):
        app = APPS[i % len(APPS)]
        name = f"{app}-extra-{i:05d}"
        per_app[app].append(_state(app, app, "ConfigMap", name, changes.get(name)))
    apps = []
    for name in APPS:
        states = per_app[name]
        if not states:
            continue
        states.sort(key=lambda o: (o.attention, o.key.kind, o.key.namespace, o.key.name))
        synced = all(o.sync == SyncStatus.SYNCED for o in states)
        apps.append(
            AppState(
                name=name,
                path=name,
                namespace=name,
                source_type="plain",
                sync=SyncStatus.SYNCED if synced else SyncStatus.OUT_OF_SYNC,
                health=worst_health([o.health for o in states]),
                git_revision="a" * 40,
                target_revision="a" * 40,
                deployed_revision="a" * 40,
                auto_sync=True,
                self_heal=False,
                prune=True,
                last_sync=T0,
                last_result="Succeeded",
                objects=tuple(states),
            )
        )
    events = tuple(
        Event(T0 + i, "info", APPS[i % len(APPS)], f"synced aaaaaaa: {i} unchanged") for i in range(20)
    )
    return Snapshot(seq, "/tmp/env-repo", "main", "a" * 40, tuple(apps), events, taken=T0)


def status_changes(objects: int, round_: int, how_many: int = 4) -> dict[str, Change]:
    """A few Deployments turn OutOfSync/Degraded, different ones each round (so labels change)."""
    units = max(1, objects // UNIT)
    out: dict[str, Change] = {}
    for j in range(how_many):
        i = (round_ * 7919 + j * 104729) % units
        app = APPS[i % len(APPS)]
        out[f"{app}-api-{i:05d}"] = Change(
            SyncStatus.OUT_OF_SYNC, Health.DEGRADED, f"round {round_}: 0 of 2 replicas available"
        )
    return out


class SyntheticSnapshotSource(StaticSnapshotSource):
    """A generated Snapshot with a small diff for every object in Git; commands are only recorded."""

    def diff_object(self, app: str, key: ObjectKey, context: int = 3) -> str:
        lines = [
            f"--- live/{key}",
            f"+++ desired/{key}",
            "@@ -1,6 +1,6 @@",
            " metadata:",
            f"   name: {key.name}",
        ]
        if context > 3:
            lines += [f"   namespace: {key.namespace}", "   labels:", f"     app: {key.name}"]
        lines += [" spec:", "-  replicas: 3", "+  replicas: 2", "   selector:"]
        return "\n".join(lines) + "\n"


def synthetic_source(snapshot: Snapshot) -> SyntheticSnapshotSource:
    shas = [c * 40 for c in "abcdef"]
    commits = [
        CommitInfo(sha, sha[:7], "dev", f"change {i}", int(T0) - i * 600, (shas[i + 1],) if i < 5 else ())
        for i, sha in enumerate(shas)
    ]
    return SyntheticSnapshotSource(snapshot, commits)


# -- the app with probes -------------------------------------------------------------------------


@dataclass
class Probe:
    """One measurement: from ``started`` until the app is quiet and ``ready`` holds."""

    started: float
    ready: Callable[[], bool]
    future: asyncio.Future[float]
    candidate: float | None = None
    paints_at_candidate: int = 0
    first_paint: float | None = None  # end of the first frame after ``started``
    stamp_on_arrival: bool = True  # False: ``started`` is when the key was sent, not received


class TimedSandboxApp(SandboxApp):
    """SandboxApp with the benchmark's hooks; nothing else differs.

    - A Key event is stamped in ``on_event`` as the App receives it (before priority bindings and
      before it is forwarded to the focused widget, as a key from the terminal is).
    - After the App has dispatched it, ``call_after_refresh`` schedules a check. Textual runs that
      callback from the Screen once the Screen has no pending layout, repaint or dirty widget
      (``Screen._on_idle``/``_on_timer_update``: only after the compositor refresh), but the key's
      effects travel on through other widgets' queues (Tree.NodeHighlighted -> the twin tree ->
      RowHighlighted -> Apps, Diff status line; set_label -> call_later(_refresh_node); a filter's
      reconcile worker adding/removing thousands of nodes). So the check only ends the probe when
      no message pump on the screen has a queued message, a pending call_later or a pending
      repaint/layout, the Screen has nothing dirty, the trees are not filling, and no animation
      runs; otherwise it schedules itself again with ``call_after_refresh``. The end stamp is taken
      at the first quiet check, and kept only if the next round trip finds the app still quiet
      with no paint in between (else a later quiet check is taken).
    - Headless, Textual computes the compositor update but skips turning it into terminal bytes;
      ``_display`` does that work (output discarded) so it is inside the timed span, as it is in a
      real terminal. Only the write to the terminal device itself is missing.
    - The Diff panel's body comes 0.12 s after the cursor rests (a deliberate debounce, then a
      worker thread): that is not part of a key's latency and is not waited for; its status line
      and title, which change at once, are.
    """

    def __init__(self, source: SyntheticSnapshotSource, runtime: RuntimeInfo) -> None:
        super().__init__(source, runtime, ascii=False, keymap={})
        self.paints = 0
        self.last_paint = 0.0
        self.timed: Probe | None = None  # the measurement running now: a key restarts its clock
        self.terminal = VisibleScreen(*SIZE)
        self.outputs: list[tuple[float, str]] = []  # frames written and not yet replayed
        self.fill_probe: Probe | None = None
        trees = self.main.trees
        original_show = trees.show

        def show(snapshot: Snapshot, needle: str | None = None) -> None:
            # The first fill is the one the user waits for when the app opens.
            if self.fill_probe is None:
                self.fill_probe = self.probe(lambda: not trees.filling and trees.row_count > 0)
                original_show(snapshot, needle)
                self.arm(self.fill_probe)
            else:
                original_show(snapshot, needle)

        trees.show = show  # type: ignore[method-assign]

    # -- probes ----------------------------------------------------------------------------------

    def probe(self, ready: Callable[[], bool] = lambda: True) -> Probe:
        return Probe(time.perf_counter(), ready, asyncio.get_running_loop().create_future())

    def arm(self, probe: Probe) -> None:
        self.call_after_refresh(self._check, probe)

    def _busy(self) -> bool:
        screen = self.screen
        if (
            screen._layout_required
            or screen._scroll_required
            or screen._repaint_required
            or screen._recompose_required
            or screen._dirty_widgets
        ):
            return True
        for node in (self, screen, *screen.walk_children(with_self=False)):
            if node._pending_message is not None or not node._message_queue.empty() or node._next_callbacks:
                return True
            if isinstance(node, Widget) and not isinstance(node, Screen):
                if node._repaint_required or node._layout_required or node._scroll_required:
                    return True
        return self.main.trees.filling or bool(self.animator._animations)

    def _check(self, probe: Probe) -> None:
        if probe.future.done():
            return
        if self._busy() or not probe.ready():
            probe.candidate = None
        elif probe.candidate is not None and self.paints == probe.paints_at_candidate:
            probe.future.set_result(probe.candidate)
            return
        else:
            probe.candidate = time.perf_counter()
            probe.paints_at_candidate = self.paints
        self.call_after_refresh(self._check, probe)

    # -- hooks -----------------------------------------------------------------------------------

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded and self.timed is not None:
            if self.timed.stamp_on_arrival:
                self.timed.started = time.perf_counter()
            await super().on_event(event)
            self.arm(self.timed)
            return
        await super().on_event(event)

    def _display(self, screen: Screen[Any], renderable: RenderableType | None) -> None:
        super()._display(screen, renderable)
        if renderable is None or self._batch_count:
            return
        output = frame_bytes(self, renderable) if self.is_headless else ""
        self.paints += 1
        self.last_paint = time.perf_counter()
        self.outputs.append((self.last_paint, output))
        timed = self.timed
        if timed is not None and timed.first_paint is None and self.last_paint > timed.started:
            timed.first_paint = self.last_paint

    def replay(self) -> list[float]:
        """Feed the frames written so far to the screen (outside any timed span): the times of
        those that changed what it shows."""
        changed = [t for t, output in self.outputs if self.terminal.changes(output)]
        self.outputs.clear()
        return changed


# -- driving it ------------------------------------------------------------------------------------


class GcWatch:
    """Every pause of the cyclic garbage collector (gc.callbacks): start, end, generation."""

    def __init__(self) -> None:
        self.started = 0.0
        self.pauses: list[tuple[float, float, int]] = []

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
        else:
            self.pauses.append((self.started, time.perf_counter(), info["generation"]))

    def within(self, start: float, end: float) -> tuple[float, int]:
        """Seconds of collection inside [start, end], and how many full collections touched it."""
        seconds, full = 0.0, 0
        for began, ended, generation in reversed(self.pauses):
            if ended < start:
                break
            overlap = min(ended, end) - max(began, start)
            if overlap > 0:
                seconds += overlap
                full += generation == 2
        return seconds, full


GC = GcWatch()


async def wait(app: TimedSandboxApp, probe: Probe, what: str, timeout: float = 120) -> float:
    deadline = time.monotonic() + timeout
    while not probe.future.done():
        if not app.is_running:
            raise SystemExit(f"the app stopped while waiting for {what}")
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout}s waiting for {what}")
        await asyncio.wait([probe.future], timeout=0.5)
    return probe.future.result() - probe.started


async def first_fill(app: TimedSandboxApp, timeout: float = 120) -> Probe:
    deadline = time.monotonic() + timeout
    while app.fill_probe is None:
        if not app.is_running or time.monotonic() > deadline:
            raise SystemExit("the app stopped (or never filled its trees) before the first fill")
        await asyncio.sleep(0.001)
    await wait(app, app.fill_probe, "the first fill", timeout)
    return app.fill_probe


async def settle(app: TimedSandboxApp) -> None:
    """Nothing in flight: debounce timers fired, worker threads done, the screen quiet."""
    await asyncio.sleep(SETTLE_GAP)
    while any(not w.is_finished for w in app.workers):
        await asyncio.sleep(0.01)
    probe = app.probe()
    app.arm(probe)
    await wait(app, probe, "the app to settle")


@dataclass
class Press:
    first: float  # s to the end of the first frame that shows anything of it
    done: float  # s to the end of the last frame it causes
    gc: float  # s of that spent in the cyclic garbage collector
    full_gcs: int
    first_change: float  # s to the end of the first frame that changes what the screen shows
    last_change: float  # s to the end of the last one (later frames redraw it as it was)


async def timed(app: TimedSandboxApp, probe: Probe, what: str, start: Callable[[], object]) -> Press:
    """Run ``start`` (which sets off a change) and wait for the probe to see it drawn."""
    app.replay()  # what came before (a diff body, say) is not this change
    app.timed = probe
    try:
        start()
        done = await wait(app, probe, what)
    finally:
        app.timed = None
    first = probe.first_paint - probe.started if probe.first_paint is not None else done
    seconds, full = GC.within(probe.started, probe.started + done)
    end = probe.started + done
    changed = [t - probe.started for t in app.replay() if probe.started < t <= end] or [min(first, done)]
    return Press(min(first, done), done, seconds, full, changed[0], changed[-1])


def key_event(app: TimedSandboxApp, key: str) -> events.Key:
    event = events.Key(key, KEY_CHARS[key])
    event.set_sender(app)
    return event


async def press(app: TimedSandboxApp, key: str) -> Press:
    """Send a key as the terminal driver does (from outside the app), timed inside the app."""
    event = key_event(app, key)
    driver = app._driver
    assert driver is not None
    return await timed(app, app.probe(), f"key {key!r}", lambda: driver.send_message(event))


async def press_after_pause(app: TimedSandboxApp, key: str, pause: float) -> Press:
    """A key after the user paused, timed from when a thread sends it, as a terminal's input
    thread would: whatever the app is busy with then (an idle garbage collection, say) is in it.
    A key timed inside the app could not see that wait: it would only be stamped once handled."""
    driver = app._driver
    assert driver is not None
    loop = asyncio.get_running_loop()
    probe = app.probe()
    probe.started = math.inf  # no frame counts as its first until the key is sent
    probe.stamp_on_arrival = False
    event = key_event(app, key)

    def send_later() -> None:
        time.sleep(pause)
        probe.started = time.perf_counter()
        loop.call_soon_threadsafe(driver.send_message, event)

    return await timed(
        app, probe, f"key {key!r} after a pause", lambda: loop.run_in_executor(None, send_later)
    )


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


@dataclass
class Series:
    name: str
    presses: list[Press] = field(default_factory=list)

    def median_ms(self) -> float:
        return statistics.median(p.done for p in self.presses) * 1000

    def p95_ms(self) -> float:
        return p95([p.done for p in self.presses]) * 1000

    def change_ms(self, which: Callable[[list[float]], float], last: bool) -> float:
        return which([p.last_change if last else p.first_change for p in self.presses]) * 1000

    def p95_text(self) -> str:
        """The p95, and how many presses a full garbage collection ran in (the usual outliers)."""
        full = sum(1 for p in self.presses if p.full_gcs)
        return f"{self.p95_ms():.1f} ms" + (f" ({full} with a full GC)" if full else "")


@dataclass
class Result:
    objects: int
    rows: int = 0
    filter_rows: int = 0
    open_s: float = 0.0
    fill_s: float = 0.0
    relabel: Series = field(default_factory=lambda: Series("relabel"))
    keys: dict[str, Series] = field(default_factory=dict)
    collections: Collections = field(default_factory=Collections)
    rss_before_app: float = 0.0
    rss_after_fill: float = 0.0
    rss_after_keys: float = 0.0
    maxrss_after: float = 0.0

    def series(self, name: str) -> Series:
        return self.keys.setdefault(name, Series(name))

    def all_presses(self) -> list[Press]:
        return [p for s in self.keys.values() for p in s.presses]


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def runtime_info() -> RuntimeInfo:
    return RuntimeInfo("static", "synthetic snapshot (no cluster)")


def shown(app: TimedSandboxApp, seq: int) -> bool:
    """The snapshot ``seq`` reached the screen and every label it changed is set."""
    return app.main.snapshot.seq == seq and not app.main.trees.filling


async def measure(objects: int, presses: int, relabel_rounds: int, pauses: int) -> Result:
    result = Result(objects)
    source = synthetic_source(synthetic_snapshot(objects))
    gc.collect()
    result.rss_before_app = rss_mb()
    opened = time.perf_counter()
    app = TimedSandboxApp(source, runtime_info())
    async with app.run_test(size=SIZE):
        fill = await first_fill(app)
        result.fill_s = fill.future.result() - fill.started
        result.open_s = fill.future.result() - opened
        trees = app.main.trees
        result.rows = trees.row_count
        await settle(app)
        result.rss_after_fill = rss_mb()

        async def series(name: str, keys: Iterable[str], before: Callable[[], None] | None = None) -> None:
            for key in keys:
                if before is not None:
                    before()
                await settle(app)
                result.series(name).presses.append(await press(app, key))

        def to_line(line: int) -> None:
            trees.live.focus()
            trees.live.cursor_line = line
            trees.live.scroll_to_line(line, animate=False)

        def room_below() -> None:
            # A small tree runs out of lines: start again from the top (outside the timed span),
            # so every press moves the cursor, in both sizes.
            if trees.live.cursor_line >= trees.live.last_line:
                to_line(1)

        def room_above() -> None:
            if trees.live.cursor_line <= 0:
                to_line(trees.live.last_line)

        # Down from the first object and back up: the viewport scrolls on the way.
        to_line(1)
        await series("j (down)", ["j"] * presses, room_below)
        await series("k (up)", ["k"] * presses, room_above)
        to_line(1)
        await series("down", ["down"] * presses, room_below)
        await series("up", ["up"] * presses, room_above)
        trees.live.focus()
        await series("tab (next panel)", ["tab"] * presses)
        trees.live.focus()
        for _ in range(presses):
            await series("/ (open filter)", ["slash"])
            await series(f"'{FILTER_KEY}' typed in the filter", [FILTER_KEY])
            result.filter_rows = trees.row_count
            await series("esc (clear filter)", ["escape"])
        to_line(1)
        await series("d (diff context)", ["d"] * presses)
        to_line(1)
        for i in range(pauses):
            room_below()
            await settle(app)
            pause = PAUSES[i % len(PAUSES)]
            result.series("j after a 1.1-2 s pause").presses.append(await press_after_pause(app, "j", pause))

        # A new snapshot with a few status changes, handed over from a thread as the agent does.
        loop = asyncio.get_running_loop()
        for round_ in range(relabel_rounds):
            seq = 2 + round_
            nxt = synthetic_snapshot(objects, seq=seq, changes=status_changes(objects, round_))
            await settle(app)
            operations = trees.operations
            probe = app.probe(functools.partial(shown, app, seq))

            def publish(snapshot: Snapshot = nxt, probe: Probe = probe) -> None:
                # From a thread, as the agent does; the probe starts checking once it is handed over.
                loop.run_in_executor(None, source.publish, snapshot).add_done_callback(
                    lambda _: app.arm(probe)
                )

            result.relabel.presses.append(await timed(app, probe, "the relabel", publish))
            assert trees.operations > operations, "a status change relabelled nothing"
            del nxt
        result.rss_after_keys = rss_mb()
        result.maxrss_after = maxrss_mb()
        result.collections = app.idle_gc.done
    return result


@dataclass
class Traced:
    snapshot_mb: float = 0.0  # what the synthetic snapshot itself holds
    app_mb: float = 0.0  # what the app adds on top once filled
    app_peak_mb: float = 0.0
    after_filters_mb: float = 0.0  # the app after a few filter cycles (a leak would show here)


async def traced_memory(objects: int, cycles: int = 3) -> Traced:
    """Memory by tracemalloc: the snapshot alone, then what the app holds on top of it.

    Run last and apart from the timings: tracemalloc slows every allocation several times.
    """
    out = Traced()
    gc.collect()
    tracemalloc.start()
    snapshot = synthetic_snapshot(objects)
    out.snapshot_mb = tracemalloc.get_traced_memory()[0] / 2**20
    source = synthetic_source(snapshot)
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    app = TimedSandboxApp(source, runtime_info())
    async with app.run_test(size=SIZE):
        await first_fill(app, timeout=600)
        await settle(app)
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
        out.app_mb, out.app_peak_mb = (current - base) / 2**20, (peak - base) / 2**20
        for _ in range(cycles):
            for key in ("slash", FILTER_KEY, "escape"):
                await settle(app)
                await press(app, key)
        await settle(app)
        gc.collect()
        out.after_filters_mb = (tracemalloc.get_traced_memory()[0] - base) / 2**20
    tracemalloc.stop()
    return out


# -- the table ----------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def ratio(big: float, small: float) -> str:
    return f"{big / small:.1f}x" if small > 0 else "-"


def verdict(value: float, limit: float, unit: str) -> str:
    return f"< {limit:g} {unit}: {'ok' if value < limit else 'MISSED'}"


def gc_summary(result: Result) -> str:
    presses = result.all_presses()
    full = [p for p in presses if p.full_gcs]
    worst = max((p.gc for p in presses), default=0.0)
    return f"{len(full)}/{len(presses)} presses; worst {ms(worst)}"


def collections_text(done: Collections) -> str:
    parts = []
    for name, took in (
        ("at a pause", done.young_part),
        ("whole heap", done.whole_heap),
        ("overdue", done.overdue),
    ):
        if took:
            parts.append(f"{name} {len(took)}x, median {ms(statistics.median(took))}, max {ms(max(took))}")
    return "; ".join(parts) or "none"


def changes_text(series: Series, which: Callable[[list[float]], float]) -> str:
    return f"{series.change_ms(which, last=False):.1f} / {series.change_ms(which, last=True):.1f}"


def series_rows(label: str, series: Series, other: Series, target: bool) -> list[tuple[str, ...]]:
    return [
        (
            f"{label}: median [screen changes: first / last]",
            f"{series.median_ms():.1f} ms [{changes_text(series, statistics.median)}]",
            f"{other.median_ms():.1f} ms [{changes_text(other, statistics.median)}]",
            ratio(series.change_ms(statistics.median, True), other.change_ms(statistics.median, True)),
            "",
        ),
        (
            f"{label}: p95 [screen changes: first / last]",
            f"{series.p95_text()} [{changes_text(series, p95)}]",
            f"{other.p95_text()} [{changes_text(other, p95)}]",
            ratio(series.change_ms(p95, True), other.change_ms(p95, True)),
            p95_verdict(series) if target else "",
        ),
    ]


def p95_verdict(series: Series) -> str:
    """The target for the first change on screen (the key's effect) and for the last one."""
    first = "ok" if series.change_ms(p95, last=False) < TARGET_KEY_MS else "MISSED"
    last = "ok" if series.change_ms(p95, last=True) < TARGET_KEY_MS else "MISSED"
    return f"< {TARGET_KEY_MS:g} ms: first change {first}, last {last}"


def table(big: Result, small: Result, traced: Traced | None, baseline_rss: float) -> list[tuple[str, ...]]:
    def row(label: str, value: str, base: str = "", times: str = "", target: str = "") -> tuple[str, ...]:
        return (label, value, base, times, target)

    n, b = big.objects, small.objects
    rows = [
        row(
            f"open: app start -> {n}/{b} objects drawn",
            ms(big.open_s),
            ms(small.open_s),
            ratio(big.open_s, small.open_s),
        ),
        row(
            "first fill of the trees: show() -> drawn",
            ms(big.fill_s),
            ms(small.fill_s),
            ratio(big.fill_s, small.fill_s),
        ),
    ]
    for name, series in big.keys.items():
        rows += series_rows(f"key {name}", series, small.keys[name], target=True)
    rows.append(
        row("presses that ran a full (gen 2) GC; worst GC time in one", gc_summary(big), gc_summary(small))
    )
    rows.append(
        row("full GCs run by the app while idle (tui/idle_gc.py)", collections_text(big.collections),
            collections_text(small.collections))
    )  # fmt: skip
    rows += series_rows(
        "new snapshot, 4 status changes -> relabelled, drawn", big.relabel, small.relabel, target=False
    )
    peak = verdict(big.maxrss_after, TARGET_RSS_MB, "MB")
    rows += [
        row("RSS: interpreter + imports", f"{baseline_rss:.0f} MB"),
        row(
            "RSS: app with trees filled, minus before the app",
            f"{big.rss_after_fill - big.rss_before_app:+.0f} MB",
            f"{small.rss_after_fill - small.rss_before_app:+.0f} MB",
        ),
        row(
            "RSS: after every key and snapshot above",
            f"{big.rss_after_keys:.0f} MB",
            f"{small.rss_after_keys:.0f} MB",
        ),
        row("peak RSS of the process (getrusage, both runs)", f"{big.maxrss_after:.0f} MB", target=peak),
    ]
    if traced is not None:
        rows += [
            row(
                "tracemalloc: the synthetic snapshot itself (manifests included)",
                f"{traced.snapshot_mb:.1f} MB",
            ),
            row(
                "tracemalloc: the app over it, filled: current / peak",
                f"{traced.app_mb:.1f} / {traced.app_peak_mb:.1f} MB",
            ),
            row("tracemalloc: the app after 3 filter cycles (/ v esc)", f"{traced.after_filters_mb:.1f} MB"),
        ]
    return rows


def print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("-|-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--objects", type=int, default=5000, help="objects in all, owned ReplicaSets and Pods included"
    )
    parser.add_argument("--presses", type=int, default=30, help="presses per key (median and p95 reported)")
    parser.add_argument("--relabels", type=int, default=10, help="new snapshots with status changes")
    parser.add_argument("--pauses", type=int, default=12, help="presses after a 1.1-2 s pause")
    parser.add_argument("--no-tracemalloc", action="store_true", help="skip the (slow) tracemalloc pass")
    args = parser.parse_args()
    # Keys, colours and times must not come from the developer's terminal or config.
    os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="bench-tui-")
    os.environ.pop("NO_COLOR", None)
    os.environ.pop("GITOPS_SANDBOX_ASCII", None)
    gc.callbacks.append(GC)
    gc.collect()
    baseline_rss = rss_mb()
    # A throwaway run first: Textual's one-off costs (CSS parsing, lazy imports) would otherwise
    # land on whichever measurement comes first.
    asyncio.run(measure(BASELINE_OBJECTS, 2, 1, 1))
    small = asyncio.run(measure(BASELINE_OBJECTS, args.presses, args.relabels, args.pauses))
    big = asyncio.run(measure(args.objects, args.presses, args.relabels, args.pauses))
    traced = None if args.no_tracemalloc else asyncio.run(traced_memory(args.objects))
    python, textual = sys.version.split()[0], version("textual")
    print(
        f"gitops-sandbox TUI, {SIZE[0]}x{SIZE[1]} headless, synthetic snapshot: {big.objects} objects "
        f"({big.rows} tree rows; the filter '{FILTER_KEY}' keeps {big.filter_rows}) "
        f"vs {small.objects} objects ({small.rows} rows); "
        f"Python {python}, Textual {textual}, {os.cpu_count()} CPUs"
    )
    print_table(
        ("measure", f"{big.objects} objects", f"{small.objects} objects", "ratio", "target"),
        table(big, small, traced, baseline_rss),
    )
    skipped = "; ".join(f"{k} {v}" for k, v in SKIPPED_KEYS.items())
    print(f"""
Keys: median and p95 of {args.presses} presses each, every press from a settled app; in-app, from the
Key event reaching the App to the end of the last frame it causes. [screen changes]: to the end of
the first and of the last frame that change what the terminal shows (the frames are replayed in a
terminal emulator, pyte); Textual draws at most 60 frames a second and repaints a widget again
after a focus or style change, often without changing a cell. Ratios: the last change. "j after a pause" is timed from when a thread sends the key, so
any idle-time garbage collection the key runs into is in it.
Not measured, their action needs the API server or git: {skipped}.
d is measured: the key itself never waits for the cluster; the diff body (a server-side dry-run in
the real app) comes later from a worker thread after a 0.12 s debounce, and is in no latency here.""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
