"""The agent's one worker: a queue of typed commands run in order, so no two operations on
one app ever run at once.

Anything may put a command on the queue or schedule one for later; the worker thread takes
them off one by one and hands each to the agent. A command that raises is a bug: said, kept
as a problem until the same kind of work succeeds, and the worker goes on. A ``Barrier`` is
done once everything queued before it is, and no sync it started is still under way.
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
from collections.abc import Callable

from sandbox.agent.commands import Barrier, Command, CommitSeen, Drift, Startup, Stop
from sandbox.model import ObjectKey, Problem
from sandbox.paths import private_dir, state_dir


class Worker:
    def __init__(
        self,
        handle: Callable[[Command], None],
        busy: Callable[[], bool],
        publish: Callable[[], None],
        event: Callable[[str, str, str], None],
    ) -> None:
        self._handle, self._busy, self._publish, self._event = handle, busy, publish, event
        self._queue: queue.Queue[Command] = queue.Queue()
        self._timers: set[threading.Timer] = set()
        self._barriers: list[Barrier] = []  # done once no sync is under way
        self._failed: dict[str, Problem] = {}  # command kind -> how it last failed, until it works
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="agent", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def put(self, command: Command) -> None:
        """Queue a command (any thread)."""
        self._queue.put(command)

    def schedule(self, delay: float, command: Command) -> None:
        """Queue a command after ``delay`` seconds, unless the worker stops first."""

        def fire() -> None:
            self._timers.discard(timer)
            if not self._stop.is_set():
                self._queue.put(command)

        timer = threading.Timer(delay, fire)
        timer.daemon = True
        self._timers.add(timer)
        timer.start()

    def failures(self) -> tuple[Problem, ...]:
        """The commands that failed on a bug, until the same kind of work succeeds."""
        return tuple(self._failed.values())

    def stopping(self) -> None:
        """Stop taking commands: the one running ends, nothing scheduled is queued."""
        self._stop.set()
        self._queue.put(Stop())
        for timer in list(self._timers):
            timer.cancel()

    def join(self, timeout: float) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)

    def _run(self) -> None:
        try:
            self._work()
        finally:
            self._release_barriers(stopping=True)  # nobody waits on an agent that stopped

    def _work(self) -> None:
        while not self._stop.is_set():
            command = self._queue.get()
            if isinstance(command, Stop):
                return
            for item in self._merge_drift(command):
                try:
                    self._handle(item)
                    self._failed.pop(_kind(item), None)
                except Exception as exc:  # the agent keeps running whatever one command does
                    if self._stop.is_set():
                        return  # cut short by stop() (its pools are closed): interrupted, no bug
                    app = getattr(item, "app", None) or ""
                    said = f"{type(item).__name__} failed: {type(exc).__name__}: {exc}"
                    self._event("error", app, said)
                    # Shown as a problem (a command's exit code says so) until that command works.
                    self._failed[_kind(item)] = Problem(
                        f"{said}; this is a bug in the sandbox: please report it with {bug_report(exc)}"
                    )
                finally:
                    if isinstance(item, Barrier):
                        self._barriers.append(item)
            self._release_barriers()
            self._publish()

    def _release_barriers(self, stopping: bool = False) -> None:
        """Idle means every queued command done and every sync they started ended."""
        if self._barriers and (stopping or not self._busy()):
            for barrier in self._barriers:
                barrier.done.set()
            self._barriers.clear()

    def _merge_drift(self, first: Command) -> list[Command]:
        """A flood of drift events (a rollout, a bulk edit) becomes one command per app."""
        if not isinstance(first, Drift):
            return [first]
        merged: dict[str, set[ObjectKey]] = {first.app: set(first.keys)}
        others: list[Command] = []
        while True:
            try:
                command = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(command, Drift):
                merged.setdefault(command.app, set()).update(command.keys)
            else:
                others.append(command)
        for command in others:
            self._queue.put(command)
        return [Drift(app, frozenset(keys)) for app, keys in merged.items()]


def bug_report(exc: BaseException) -> str:
    """Where the traceback of an unexpected error was written (the state dir's bugs.log)."""
    path = state_dir() / "bugs.log"
    try:
        private_dir(path.parent)
        with path.open("a") as out:
            out.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
            out.write("".join(traceback.format_exception(exc)))
        path.chmod(0o600)
    except OSError:
        return "the steps that led to it"
    return f"the traceback in {path}"


def _kind(command: Command) -> str:
    """What a command does, for remembering its failure until the same work succeeds: every
    command that reads Git's head is one kind."""
    return "refresh" if isinstance(command, (Startup, CommitSeen)) else type(command).__name__
