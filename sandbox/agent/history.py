"""Sync history: every sync the agent runs, recorded in SQLite so it survives restarts.

The agent records from worker threads while the UI (or a CLI in another process) reads, so
there is one connection guarded by a lock, in WAL mode so readers in other processes never
block the writer. Ordering is by row id, never by wall-clock time: ids follow the order in
which syncs were recorded even when the clock jumps.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from sandbox.paths import private_dir, state_dir

SCHEMA_VERSION = 3

ACTIONS = frozenset({"created", "configured", "unchanged", "pruned", "failed", "skipped", "kept", "orphaned"})
TRIGGERS = frozenset(
    {
        "commit",
        "source",
        "drift",
        "manual",
        "rollback",
        "revert",
        "startup",
        "check",
        "retry",
        "removed",
        "cluster",
    }  # cluster: the kubeconfig now names a new cluster, which gets every app again
)
RESULTS = frozenset({"Running", "Succeeded", "Failed", "Degraded"})
FINAL_RESULTS = RESULTS - {"Running"}

INTERRUPTED = "interrupted"

_SCHEMA_V1 = """
CREATE TABLE syncs (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    app      TEXT NOT NULL,
    revision TEXT NOT NULL,
    author   TEXT NOT NULL,
    subject  TEXT NOT NULL,
    trigger  TEXT NOT NULL,
    started  REAL NOT NULL,
    ended    REAL,
    result   TEXT NOT NULL,
    health   TEXT NOT NULL,
    message  TEXT NOT NULL,
    owner    TEXT NOT NULL
);
CREATE INDEX syncs_app ON syncs (app, id);
CREATE INDEX syncs_app_revision ON syncs (app, revision, id);
CREATE INDEX syncs_running ON syncs (result) WHERE result = 'Running';
CREATE TABLE objects (
    sync_id     INTEGER NOT NULL REFERENCES syncs (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    key         TEXT NOT NULL,
    action      TEXT NOT NULL,
    sync_status TEXT NOT NULL,
    health      TEXT NOT NULL,
    message     TEXT NOT NULL,
    PRIMARY KEY (sync_id, seq)
);
"""

# v2: a failure repeated as it was (same revision, same message) is one row with a count.
_SCHEMA_V2 = """
ALTER TABLE syncs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 1;
"""

# v3: the cluster each sync ran against (its kube-system namespace's uid; "" when unknown), so
# what a sync on another cluster said is not taken for this one's state.
_SCHEMA_V3 = """
ALTER TABLE syncs ADD COLUMN cluster TEXT NOT NULL DEFAULT '';
"""

# Index i holds the script that takes the schema from version i to i + 1.
_MIGRATIONS: tuple[str, ...] = (_SCHEMA_V1, _SCHEMA_V2, _SCHEMA_V3)

# Owners of History instances open in this process. A Running row owned by this pid but
# by no open instance was left by an instance that was dropped without finishing.
_live_owners: set[str] = set()
_live_lock = threading.Lock()


def default_path() -> Path:
    return state_dir() / "history.sqlite"


def path_for_repo(repo_path: Path) -> Path:
    """Each env repo has its own history: app names repeat across repos (two demo copies)."""
    resolved = Path(repo_path).expanduser().resolve()
    key = hashlib.sha256(str(resolved).encode()).hexdigest()[:12]
    return state_dir() / "history" / f"{resolved.name}-{key}.sqlite"


@dataclass(frozen=True)
class ObjectOutcome:
    key: str  # str(ObjectKey)
    action: str  # one of ACTIONS
    sync_status: str
    health: str
    message: str = ""


@dataclass(frozen=True)
class SyncRecord:
    id: int
    app: str
    revision: str
    author: str
    subject: str
    trigger: str
    started: float
    ended: float | None
    result: str
    health: str
    message: str
    objects: tuple[ObjectOutcome, ...]
    attempts: int = 1  # how many times this very failure happened (ended: the last time)

    @property
    def running(self) -> bool:
        return self.result == "Running"


class HistoryReader:
    """Reads a sandbox's sync history and never writes it: the connection is read-only, and a
    history that does not exist yet reads as empty (it is not created)."""

    # The cluster looked at (see _SCHEMA_V3): the latest outcome is this cluster's, or one
    # recorded before clusters were told apart. "" reads every record.
    cluster: str = ""
    _version: int = SCHEMA_VERSION

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        if self.path.exists():
            self._conn = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=10.0, check_same_thread=False
            )
            self._check_version()

    def _check_version(self) -> None:
        (version,) = self._db().execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path} was written by a newer gitops-sandbox (history schema {version}, "
                f"this version understands up to {SCHEMA_VERSION}); upgrade, or move the file aside"
            )
        self._columns = _COLUMNS if version >= 2 else _COLUMNS_V1
        self._version = version

    def _db(self) -> sqlite3.Connection:
        assert self._conn is not None
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()

    def __enter__(self) -> HistoryReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- reading ---------------------------------------------------------------------------

    def records(self, app: str | None = None, limit: int = 100, objects: bool = True) -> list[SyncRecord]:
        """Syncs newest first, of one app or of all; ``objects`` False leaves out per-object rows."""
        if limit < 0:
            raise ValueError("limit must be >= 0")
        if self._conn is None:
            return []
        with self._lock:
            if app is None:
                rows = self._conn.execute(
                    f"SELECT {self._columns} FROM syncs ORDER BY id DESC LIMIT ?", (limit,)
                ).fetchall()
            else:
                rows = self._conn.execute(
                    f"SELECT {self._columns} FROM syncs WHERE app = ? ORDER BY id DESC LIMIT ?", (app, limit)
                ).fetchall()
            return self._with_objects(rows) if objects else [_record(row, ()) for row in rows]

    def get(self, sync_id: int) -> SyncRecord | None:
        if self._conn is None:
            return None
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {self._columns} FROM syncs WHERE id = ?", (sync_id,)
            ).fetchall()
            found = self._with_objects(rows)
        return found[0] if found else None

    def count(self, app: str | None = None) -> int:
        """How many sync rows there are, of one app or of all (tests prove with it that looking
        writes nothing)."""
        if self._conn is None:
            return 0
        with self._lock:
            if app is None:
                (n,) = self._conn.execute("SELECT COUNT(*) FROM syncs").fetchone()
            else:
                (n,) = self._conn.execute("SELECT COUNT(*) FROM syncs WHERE app = ?", (app,)).fetchone()
        return int(n)

    def apps(self) -> list[str]:
        """The ids of every app with a recorded sync."""
        if self._conn is None:
            return []
        with self._lock:
            rows = self._conn.execute(
                "SELECT DISTINCT app FROM syncs WHERE app != '' ORDER BY app"
            ).fetchall()
        return [str(app) for (app,) in rows]

    def last_healthy_before(self, app: str, revision: str) -> str | None:
        """Rollback's default target: the newest other revision that synced Succeeded and Healthy
        before the latest sync of `revision` (before any sync at all if `revision` never synced)."""
        if self._conn is None:
            return None
        with self._lock:
            (bound,) = self._conn.execute(
                "SELECT MAX(id) FROM syncs WHERE app = ? AND revision = ?", (app, revision)
            ).fetchone()
            row = self._conn.execute(
                "SELECT revision FROM syncs WHERE app = ? AND revision != ? AND result = 'Succeeded'"
                " AND health = 'Healthy' AND (? IS NULL OR id < ?) ORDER BY id DESC LIMIT 1",
                (app, revision, bound, bound),
            ).fetchone()
        return row[0] if row else None

    def last_outcome(self, app: str) -> SyncRecord | None:
        """How the app's latest sync to a revision ended: self-heal rows and syncs cut short by a
        crash say nothing of whether its revision deploys, and a `check` of another branch says
        nothing of the branch the app follows."""
        if self._conn is None:
            return None
        here, params = "", [app, INTERRUPTED]
        if self.cluster and self._version >= 3:
            here, params = " AND cluster IN (?, '')", [*params, self.cluster]
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {self._columns} FROM syncs WHERE app = ? AND ended IS NOT NULL"
                f" AND trigger NOT IN ('drift', 'removed', 'check') AND message != ?{here} ORDER BY id DESC LIMIT 1",
                params,
            ).fetchall()
        return _record(rows[0], ()) if rows else None

    def under_way(self, app: str) -> SyncRecord | None:
        """The app's sync that a running agent is carrying out now (a watch in another process),
        if any: its record says Running and the agent that began it is alive."""
        if self._conn is None:
            return None
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {self._columns} FROM syncs WHERE app = ? AND result = 'Running' ORDER BY id DESC",
                (app,),
            ).fetchall()
        alive = [record for record in (_record(row, ()) for row in rows) if record.running]
        return alive[0] if alive else None

    def deployed(self, app: str) -> SyncRecord | None:
        """The latest finished sync that did not fail: what the cluster should be running."""
        if self._conn is None:
            return None
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {self._columns} FROM syncs WHERE app = ? AND ended IS NOT NULL"
                " AND result NOT IN ('Failed', 'Running') AND trigger != 'removed' ORDER BY id DESC LIMIT 1",
                (app,),
            ).fetchall()
            found = self._with_objects(rows)
        return found[0] if found else None

    def _with_objects(self, rows: list[tuple[Any, ...]]) -> list[SyncRecord]:
        if not rows:
            return []
        ids = [row[0] for row in rows]
        by_sync: dict[int, list[ObjectOutcome]] = {int(i): [] for i in ids}
        placeholders = ",".join("?" * len(ids))
        for sync_id, key, action, sync_status, health, message in self._db().execute(
            "SELECT sync_id, key, action, sync_status, health, message FROM objects"
            f" WHERE sync_id IN ({placeholders}) ORDER BY sync_id, seq",
            ids,
        ):
            by_sync[sync_id].append(ObjectOutcome(key, action, sync_status, health, message))
        return [_record(row, tuple(by_sync[int(row[0])])) for row in rows]


class History(HistoryReader):
    """The sync history of one sandbox, written by its agent. Safe to share between threads."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        private_dir(self.path.parent)
        self._lock = threading.RLock()
        self._owner = f"{os.getpid()}:{uuid.uuid4().hex}"
        # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE) so a writer takes the
        # write lock up front instead of failing to upgrade a read lock halfway through.
        self._conn = sqlite3.connect(
            str(self.path), timeout=10.0, isolation_level=None, check_same_thread=False
        )
        os.chmod(self.path, 0o600)  # sync messages name objects and files: the user's only
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL is durable across process crashes in WAL mode, which is what restarts need.
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._migrate()
            self._columns = _COLUMNS
            with _live_lock:
                _live_owners.add(self._owner)
            self._mark_interrupted()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        with self._lock:
            with _live_lock:
                _live_owners.discard(self._owner)
            self._db().close()

    def __enter__(self) -> History:
        return self

    # -- writing ---------------------------------------------------------------------------

    def start(self, app: str, revision: str, author: str, subject: str, trigger: str) -> int:
        """Record that a sync began; returns its id for `finish`."""
        if trigger not in TRIGGERS:
            raise ValueError(f"unknown sync trigger {trigger!r}; expected one of {sorted(TRIGGERS)}")
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO syncs (app, revision, author, subject, trigger, started, ended,"
                " result, health, message, owner, cluster) VALUES (?, ?, ?, ?, ?, ?, NULL, 'Running', ?, '', ?, ?)",
                (app, revision, author, subject, trigger, time.time(), "Unknown", self._owner, self.cluster),
            )
            sync_id = cur.lastrowid
        assert sync_id is not None
        return sync_id

    def finish(
        self, sync_id: int, result: str, health: str, message: str, objects: Iterable[ObjectOutcome]
    ) -> None:
        """Record how a running sync ended, with what happened to each object."""
        if result not in FINAL_RESULTS:
            raise ValueError(f"a sync cannot finish as {result!r}; expected one of {sorted(FINAL_RESULTS)}")
        rows = []
        for seq, outcome in enumerate(objects):
            if outcome.action not in ACTIONS:
                raise ValueError(
                    f"{outcome.key}: unknown action {outcome.action!r}; expected one of {sorted(ACTIONS)}"
                )
            # str() because callers pass SyncStatus/Health members, whose str() is the value.
            rows.append(
                (
                    sync_id,
                    seq,
                    str(outcome.key),
                    outcome.action,
                    str(outcome.sync_status),
                    str(outcome.health),
                    outcome.message,
                )
            )
        with self._write() as conn:
            row = conn.execute("SELECT result FROM syncs WHERE id = ?", (sync_id,)).fetchone()
            if row is None:
                raise KeyError(f"no sync with id {sync_id}")
            if row[0] != "Running":
                raise ValueError(f"sync {sync_id} already finished ({row[0]})")
            conn.execute(
                "UPDATE syncs SET ended = ?, result = ?, health = ?, message = ? WHERE id = ?",
                (time.time(), result, str(health), message, sync_id),
            )
            conn.executemany(
                "INSERT INTO objects (sync_id, seq, key, action, sync_status, health, message)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def fold(self, sync_id: int, into: int) -> None:
        """A running sync ended in the very failure ``into`` recorded: drop its row and count one
        more attempt of ``into`` instead, so a retried failure is one row, not one a minute."""
        with self._write() as conn:
            conn.execute("DELETE FROM objects WHERE sync_id = ?", (sync_id,))
            conn.execute("DELETE FROM syncs WHERE id = ? AND result = 'Running'", (sync_id,))
            conn.execute(
                "UPDATE syncs SET attempts = attempts + 1, ended = ? WHERE id = ?", (time.time(), into)
            )

    def update_health(self, sync_id: int, health: str) -> None:
        """The health a finished sync's revision reached later (it is often Progressing at first)."""
        with self._write() as conn:
            conn.execute(
                "UPDATE syncs SET health = ? WHERE id = ? AND result != 'Running'", (str(health), sync_id)
            )

    # -- internals -------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._db()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _migrate(self) -> None:
        with self._write() as conn:
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path} was written by a newer gitops-sandbox (history schema {version}, "
                    f"this version understands up to {SCHEMA_VERSION}); upgrade, or move the file aside"
                )
            for step in range(version, SCHEMA_VERSION):
                # executescript() would COMMIT our transaction, so run statements one by one.
                for statement in _MIGRATIONS[step].split(";"):
                    if statement.strip():
                        conn.execute(statement)
            if version != SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def interrupt_running(self, why: str = INTERRUPTED) -> int:
        """End this recorder's syncs still Running as Failed (the agent is stopping: Ctrl-C,
        SIGTERM, SIGHUP); how many."""
        with self._write() as conn:
            done = conn.execute(
                "UPDATE syncs SET result = 'Failed', ended = ?, message = ? WHERE result = 'Running' AND owner = ?",
                (time.time(), why, self._owner),
            )
            return int(done.rowcount)

    def _mark_interrupted(self) -> None:
        """Fail syncs left Running by a process (or History) that is gone.

        Syncs whose recorder is still alive (the agent, while a CLI opens the same file) are
        left alone: marking them would report a failure that did not happen.
        """
        with self._write() as conn:
            running = conn.execute("SELECT id, owner FROM syncs WHERE result = 'Running'").fetchall()
            stale = [(time.time(), sync_id) for sync_id, owner in running if not _owner_alive(owner)]
            conn.executemany(
                f"UPDATE syncs SET result = 'Failed', ended = ?, message = '{INTERRUPTED}' WHERE id = ?",
                stale,
            )


# Every read takes the owner too: a Running row whose recorder is gone reads as interrupted,
# though only a writer (the next agent) records that.
_COLUMNS_V1 = "id, app, revision, author, subject, trigger, started, ended, result, health, message, 1, owner"
_COLUMNS = (
    "id, app, revision, author, subject, trigger, started, ended, result, health, message, attempts, owner"
)


def _record(row: tuple[Any, ...], objects: tuple[ObjectOutcome, ...]) -> SyncRecord:
    (
        sync_id,
        app,
        revision,
        author,
        subject,
        trigger,
        started,
        ended,
        result,
        health,
        message,
        attempts,
        owner,
    ) = row
    if result == "Running" and not _owner_alive(str(owner)):
        result, message = "Failed", INTERRUPTED
    return SyncRecord(
        id=int(sync_id),
        app=str(app),
        revision=str(revision),
        author=str(author),
        subject=str(subject),
        trigger=str(trigger),
        started=float(started),
        ended=None if ended is None else float(ended),
        result=str(result),
        health=str(health),
        message=str(message),
        objects=objects,
        attempts=int(attempts),
    )


def _owner_alive(owner: str) -> bool:
    pid_text, _, _token = owner.partition(":")
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if pid == os.getpid():
        with _live_lock:
            return owner in _live_owners
    return _pid_alive(pid)


def _pid_alive(pid: int) -> bool:
    if os.name != "posix":
        # os.kill(pid, 0) terminates the process on Windows; without a safe probe, treat the
        # recorder as gone, which is right after a crash and only mislabels a concurrent sync.
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True
