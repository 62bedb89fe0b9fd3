"""Sync history on real SQLite files: persistence, rollback targets, crashes, threads."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from sandbox.agent.history import (
    SCHEMA_VERSION,
    History,
    HistoryReader,
    ObjectOutcome,
    SyncRecord,
    path_for_repo,
)
from sandbox.cluster.local import LocalRuntime
from sandbox.model import Health, ObjectKey, SyncStatus

REPO_ROOT = Path(__file__).resolve().parent.parent


def _sync(
    history: History, app: str, revision: str, result: str, health: str, trigger: str = "commit"
) -> int:
    sync_id = history.start(app, revision, "Ada <ada@example.com>", f"change {revision}", trigger)
    history.finish(sync_id, result, health, f"{result} at {revision}", [])
    return sync_id


def test_records_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "state" / "history.sqlite"
    key = ObjectKey("apps", "Deployment", "web", "api")
    outcomes = [
        ObjectOutcome(str(key), "created", SyncStatus.SYNCED, Health.PROGRESSING),
        ObjectOutcome("ConfigMap web/settings", "configured", "Synced", "Healthy", "data.mode changed"),
        ObjectOutcome("Service web/old", "pruned", "Orphaned", "Missing"),
    ]
    with History(path) as history:
        sync_id = history.start("web", "abc123", "Ada <ada@example.com>", "Scale api", "commit")
        history.finish(sync_id, "Succeeded", Health.HEALTHY, "3 objects applied", outcomes)
        running_id = history.start("web", "def456", "Ada <ada@example.com>", "Bump image", "manual")
        before = history.get(sync_id)

    with History(path) as reopened:
        after = reopened.get(sync_id)
        assert after == before
        assert after is not None
        assert after.app == "web" and after.revision == "abc123" and after.trigger == "commit"
        assert after.subject == "Scale api" and after.author == "Ada <ada@example.com>"
        assert after.result == "Succeeded" and after.health == "Healthy"
        assert after.message == "3 objects applied"
        assert after.ended is not None and after.ended >= after.started
        # Enum members are stored as their plain values, in the order given.
        assert after.objects == (
            ObjectOutcome("Deployment.apps web/api", "created", "Synced", "Progressing"),
            outcomes[1],
            outcomes[2],
        )
        assert [r.id for r in reopened.records()] == [running_id, sync_id]
        assert reopened.get(9999) is None


def test_records_are_newest_first_filtered_by_app_and_limited(tmp_path: Path) -> None:
    with History(tmp_path / "h.sqlite") as history:
        ids = [_sync(history, app, f"r{i}", "Succeeded", "Healthy") for i, app in enumerate("abab")]
        assert [r.id for r in history.records()] == ids[::-1]
        assert [r.revision for r in history.records("a")] == ["r2", "r0"]
        assert [r.id for r in history.records(limit=2)] == ids[:1:-1]
        assert history.records("nobody") == []


def test_last_healthy_before_skips_failures_and_degraded_and_later_syncs(tmp_path: Path) -> None:
    with History(tmp_path / "h.sqlite") as history:
        _sync(history, "web", "r1", "Succeeded", "Healthy")
        _sync(history, "other", "x9", "Succeeded", "Healthy")  # another app's history never counts
        _sync(history, "web", "r2", "Succeeded", "Healthy")
        _sync(history, "web", "r3", "Failed", "Degraded")
        _sync(history, "web", "r4", "Succeeded", "Progressing")  # succeeded but never became healthy
        _sync(history, "web", "r5", "Degraded", "Degraded")
        _sync(history, "web", "r2", "Failed", "Unknown")  # r2 again, failing this time
        _sync(history, "web", "r6", "Failed", "Degraded")
        _sync(history, "web", "r7", "Succeeded", "Healthy")  # after r6: not a rollback target for it

        # r6 is broken: go back to the newest revision that was healthy before it.
        assert history.last_healthy_before("web", "r6") == "r2"
        # Never r2 itself, even though r2 was healthy once.
        assert history.last_healthy_before("web", "r2") == "r1"
        assert history.last_healthy_before("web", "r1") is None
        # The bound is the latest sync of the revision: r7 counts for a revision never synced.
        assert history.last_healthy_before("web", "never-synced") == "r7"
        assert history.last_healthy_before("other", "x9") is None


def test_last_healthy_before_uses_latest_sync_of_revision_after_rollback(tmp_path: Path) -> None:
    with History(tmp_path / "h.sqlite") as history:
        _sync(history, "web", "r1", "Succeeded", "Healthy")
        _sync(history, "web", "r2", "Failed", "Degraded")
        _sync(history, "web", "r1", "Succeeded", "Healthy", trigger="rollback")
        _sync(history, "web", "r3", "Succeeded", "Healthy")
        _sync(history, "web", "r2", "Failed", "Degraded", trigger="manual")
        assert history.last_healthy_before("web", "r2") == "r3"


def test_deployed_is_latest_finished_sync_that_did_not_fail(tmp_path: Path) -> None:
    with History(tmp_path / "h.sqlite") as history:
        assert history.deployed("web") is None
        _sync(history, "web", "r1", "Succeeded", "Healthy")
        degraded = _sync(history, "web", "r2", "Degraded", "Degraded")
        _sync(history, "web", "r3", "Failed", "Degraded")
        history.start("web", "r4", "Ada", "still going", "commit")
        deployed = history.deployed("web")
        assert deployed is not None and deployed.id == degraded and deployed.revision == "r2"


def test_interrupted_sync_marked_failed_on_open(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    history = History(path)
    done = _sync(history, "web", "r1", "Succeeded", "Healthy")
    crashed = history.start("web", "r2", "Ada", "mid-sync", "commit")
    history.close()  # never finished, as when the process dies mid-sync

    with History(path) as reopened:
        record = reopened.get(crashed)
        assert record is not None
        assert record.result == "Failed" and record.message == "interrupted"
        assert record.ended is not None
        untouched = reopened.get(done)
        assert untouched is not None and untouched.result == "Succeeded"
        with pytest.raises(ValueError, match="already finished"):
            reopened.finish(crashed, "Succeeded", "Healthy", "", [])


def test_sync_of_a_crashed_process_is_interrupted_but_a_live_one_is_not(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from sandbox.agent.history import History\n"
        "h = History(Path(sys.argv[1]))\n"
        "print(h.start('web', 'r9', 'Ada', 'slow sync', 'commit'), flush=True)\n"
        "sys.stdin.read()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    agent = subprocess.Popen(
        [sys.executable, "-c", script, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert agent.stdout is not None
        sync_id = int(agent.stdout.readline())
        # A second reader (the CLI while the agent runs) must not fail the agent's live sync.
        with History(path) as reader:
            live = reader.get(sync_id)
            assert live is not None and live.result == "Running" and live.running
    finally:
        agent.kill()
        agent.wait()

    # Looking (`history`) before any agent opens the file again already says it was cut short,
    # and writes nothing: the row stays Running on disk until a writer records it.
    with HistoryReader(path) as looking:
        seen = looking.get(sync_id)
        assert seen is not None and seen.result == "Failed" and seen.message == "interrupted"
        assert looking.records()[0].result == "Failed"
        assert looking.under_way("web") is None
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT result FROM syncs WHERE id = ?", (sync_id,)).fetchone() == ("Running",)

    with History(path) as after_crash:
        record = after_crash.get(sync_id)
        assert record is not None and record.result == "Failed" and record.message == "interrupted"


def test_second_instance_in_same_process_leaves_open_instances_running_syncs(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    with History(path) as agent:
        sync_id = agent.start("web", "r1", "Ada", "working", "commit")
        with History(path) as reader:
            record = reader.get(sync_id)
            assert record is not None and record.result == "Running"
        agent.finish(sync_id, "Succeeded", "Healthy", "ok", [])


def test_concurrent_writes_from_threads(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    threads_n, per_thread = 8, 40
    errors: list[BaseException] = []
    stop = threading.Event()

    with History(path) as history:

        def worker(n: int) -> None:
            try:
                for i in range(per_thread):
                    sync_id = history.start(f"app{n}", f"rev{i}", "Ada", f"sync {i}", "commit")
                    objects = [
                        ObjectOutcome(f"ConfigMap ns/cm{j}", "configured", "Synced", "Healthy")
                        for j in range(3)
                    ]
                    history.finish(sync_id, "Succeeded", "Healthy", f"{n}/{i}", objects)
            except BaseException as exc:  # surfaced by the main thread below
                errors.append(exc)

        def reader() -> None:
            try:
                while not stop.is_set():
                    for record in history.records(limit=20):
                        assert record.running or len(record.objects) == 3
            except BaseException as exc:
                errors.append(exc)

        readers = [threading.Thread(target=reader) for _ in range(2)]
        writers = [threading.Thread(target=worker, args=(n,)) for n in range(threads_n)]
        for t in readers + writers:
            t.start()
        for t in writers:
            t.join()
        stop.set()
        for t in readers:
            t.join()
        assert errors == []

    with History(path) as reopened:
        records = reopened.records(limit=1000)
        assert len(records) == threads_n * per_thread
        assert len({r.id for r in records}) == len(records)
        assert all(r.result == "Succeeded" and len(r.objects) == 3 for r in records)
        for n in range(threads_n):
            # Each thread's syncs are recorded in the order that thread ran them.
            assert [r.revision for r in reopened.records(f"app{n}")] == [
                f"rev{i}" for i in reversed(range(per_thread))
            ]


def test_schema_version_and_wal_mode_are_set(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    History(path).close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_refuses_history_from_a_newer_version(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(RuntimeError, match="newer gitops-sandbox"):
        History(path)


def test_bad_values_are_rejected_before_anything_is_written(tmp_path: Path) -> None:
    with History(tmp_path / "h.sqlite") as history:
        with pytest.raises(ValueError, match="trigger"):
            history.start("web", "r1", "Ada", "s", "push")
        sync_id = history.start("web", "r1", "Ada", "s", "commit")
        with pytest.raises(ValueError, match="cannot finish as 'Running'"):
            history.finish(sync_id, "Running", "Healthy", "", [])
        with pytest.raises(ValueError, match="unknown action"):
            history.finish(
                sync_id, "Succeeded", "Healthy", "", [ObjectOutcome("x", "exploded", "Synced", "Healthy")]
            )
        with pytest.raises(KeyError):
            history.finish(12345, "Succeeded", "Healthy", "", [])
        record = history.get(sync_id)
        assert record == SyncRecord(
            id=sync_id,
            app="web",
            revision="r1",
            author="Ada",
            subject="s",
            trigger="commit",
            started=record.started if record else 0.0,
            ended=None,
            result="Running",
            health="Unknown",
            message="",
            objects=(),
        )
        assert [r.id for r in history.records()] == [sync_id]


def test_default_path_is_in_the_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITOPS_SANDBOX_STATE_DIR", str(tmp_path / "state"))
    with History() as history:
        assert history.path == tmp_path / "state" / "history.sqlite"
        assert history.path.exists()


def test_a_history_of_schema_1_is_migrated_and_its_rows_count_one_attempt(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    conn = sqlite3.connect(path)
    from sandbox.agent.history import _SCHEMA_V1

    conn.executescript(_SCHEMA_V1 + "PRAGMA user_version = 1;")
    conn.execute(
        "INSERT INTO syncs (app, revision, author, subject, trigger, started, ended, result, health, message, owner)"
        " VALUES ('web', 'abc', 'Ada', 'first', 'commit', 1.0, 2.0, 'Succeeded', 'Healthy', '', 'gone:1')"
    )
    conn.commit()
    conn.close()
    with History(path) as history:
        (record,) = history.records("web")
        assert record.attempts == 1 and record.revision == "abc"


def test_a_repeated_failure_folds_into_the_first_record_with_a_count(tmp_path: Path) -> None:
    with History(tmp_path / "h.sqlite") as history:
        first = _sync(history, "web", "bad", "Failed", "Healthy")
        again = history.start("web", "bad", "Ada", "change bad", "retry")
        history.fold(again, into=first)
        (record,) = history.records("web")
        assert record.id == first and record.attempts == 2 and record.result == "Failed"
        assert history.count() == 1


def test_the_reader_never_creates_or_writes_a_history(tmp_path: Path) -> None:
    path = tmp_path / "none" / "h.sqlite"
    with HistoryReader(path) as reader:
        assert reader.records() == [] and reader.deployed("web") is None and reader.count() == 0
    assert not path.parent.exists()
    with History(path) as history:
        _sync(history, "web", "abc", "Succeeded", "Healthy")
    with HistoryReader(path) as reader:
        assert [r.revision for r in reader.records()] == ["abc"]
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader._db().execute("DELETE FROM syncs")


@pytest.mark.parametrize(
    "entry",
    [
        "{name: web, path: ../outside}",
        "{name: web, path: /etc}",
        "{name: Not_A_Label, path: web}",
        "{name: web, path: web, source: helm, values: [../../secret.yaml]}",
    ],
)
def test_an_invalid_sandbox_yaml_entry_of_an_app_that_never_ran_is_a_failed_sync_in_the_history(
    tmp_path: Path, local_runtime: LocalRuntime, entry: str
) -> None:
    from clikit import Cli
    from gitkit import commit, git

    repo = tmp_path / "env"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    head = commit(repo, {"sandbox.yaml": f"apps:\n  - {entry}\n", "web/cm.yaml": "apiVersion: v1\nkind: ConfigMap\n"
                         "metadata: {name: a}\n", "web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n"},
                  "an invalid entry")  # fmt: skip
    cli = Cli(repo, tmp_path / "state", local_runtime)
    synced = cli("sync")
    assert synced.returncode == 1
    rows = cli.history_rows()
    failed = [r for r in rows if r["result"] == "Failed" and r["revision"] == head]
    assert failed, rows
    assert "sandbox.yaml" in failed[0]["message"], failed
    again = cli("sync")
    assert again.returncode == 1
    assert len([r for r in cli.history_rows() if r["revision"] == head]) == len(failed) + len(failed), (
        "each failed sync is recorded, once per sync"
    )


def _web_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """An env repo of one app, web, and the state dir its history goes to; its head."""
    from gitkit import commit, git

    monkeypatch.setenv("GITOPS_SANDBOX_STATE_DIR", str(tmp_path / "state"))
    repo = tmp_path / "env"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    return repo, commit(
        repo, {"web/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"}, "web"
    )


def _history_cli(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`gitops-sandbox history` of ``repo``, with the state dir the test set."""
    return subprocess.run([sys.executable, "-m", "sandbox.cli", "history", "-C", str(repo), *args],
                          capture_output=True, text=True, env=dict(os.environ))  # fmt: skip


def test_history_says_how_many_tries_a_repeated_failure_took_not_the_span_between_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, head = _web_repo(tmp_path, monkeypatch)
    with History(path_for_repo(repo)) as history:
        first = _sync(history, "web", head, "Failed", "Healthy")
        with history._write() as conn:  # the first try an hour ago
            conn.execute("UPDATE syncs SET started = started - 3600 WHERE id = ?", (first,))
        history.fold(history.start("web", head, "Ada", "web", "retry"), into=first)
        once = _sync(history, "web", head, "Succeeded", "Healthy")

    shown = _history_cli(repo)

    assert shown.returncode == 0, shown.stderr
    rows = {line.split()[0]: line for line in shown.stdout.splitlines()[1:]}
    assert "2 tries" in rows[str(first)], shown.stdout
    assert "3600" not in rows[str(first)], shown.stdout
    assert "tries" not in rows[str(once)] and "s " in rows[str(once)], shown.stdout


def test_a_sync_held_back_by_another_app_took_no_time_in_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, head = _web_repo(tmp_path, monkeypatch)
    with History(path_for_repo(repo)) as history:
        held = history.start("web", head, "Ada", "web", "startup")
        history.finish(
            held, "Failed", "Unknown", "not synced: its parent did not apply it: apps: sync failed", []
        )

    shown = _history_cli(repo)

    row = next(line for line in shown.stdout.splitlines()[1:] if line.split()[0] == str(held))
    assert "0.00s" not in row and " - " in row, row


def test_history_says_when_it_shows_only_the_newest_syncs_and_how_to_see_them_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, head = _web_repo(tmp_path, monkeypatch)
    with History(path_for_repo(repo)) as history:
        for _ in range(4):
            _sync(history, "web", head, "Succeeded", "Healthy")
        _sync(history, "api", head, "Succeeded", "Healthy")

    cut = _history_cli(repo, "--limit", "3")
    assert len(cut.stdout.splitlines()) == 4, cut.stdout  # a header and three rows: the note is apart
    assert cut.stderr == "note: the newest 3 of 5 syncs; --limit 5 shows them all\n", cut.stderr
    one_app = _history_cli(repo, "--limit", "3", "--app", "web")
    assert one_app.stderr == "note: the newest 3 of 4 syncs; --limit 4 shows them all\n", one_app.stderr
    whole = _history_cli(repo, "--limit", "5")
    assert whole.stderr == "" and len(whole.stdout.splitlines()) == 6, whole.stderr
