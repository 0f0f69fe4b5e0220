"""`roundtable status` and `roundtable tail` against a real database file: what they print, their exit
codes, following new events live and stopping cleanly on Ctrl-C, and that looking changes nothing: the file
is opened read-only, never created, migrated or written."""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import os
import select
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from contextlib import closing
from pathlib import Path
from typing import Any

import anyio
import pytest

from servers.cli import team
from shared.actor import Actor
from shared.config import Settings
from shared.db.connection import Database, latest_version, load_migrations, read_only_uri, split_statements
from shared.db.place import parse_place
from shared.store import events
from shared.store.tasks import queue as tasks
from shared.store.team import agents
from tests.agents import join
from tests.browser import Dashboard
from tests.conftest import FakeClock
from tests.direct import direct
from tests.stdio import ROOT


def roundtable(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "servers.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "NO_COLOR": "1", **env},
    )


def test_status_with_an_invalid_setting_names_it_and_exits_2(tmp_path: Path) -> None:
    done = roundtable("status", "--db", str(tmp_path / "team.db"), ROUNDTABLE_PRESENCE_TIMEOUT="soon")
    assert done.returncode == 2 and "ROUNDTABLE_PRESENCE_TIMEOUT" in done.stderr


def seed(db_path: Path | str) -> None:
    """Two agents present now; ana holds one task and another waits in the queue."""

    async def build() -> None:
        clock = FakeClock(time.time())
        db = await Database.open(parse_place(str(db_path)))
        try:
            ana = await join(db, clock, "ana")
            await join(db, clock, "bo")
            viewer = ana.at(clock())
            first = await tasks.create(db, viewer, tasks.NewTask(title="write the docs"))
            await tasks.create(db, viewer, tasks.NewTask(title="review the docs"))
            assert await tasks.claim(db, viewer, task_id=first, lease=600) == first
        finally:
            await db.close()

    anyio.run(build)


def test_status_on_a_missing_database_says_how_to_get_one(tmp_path: Path) -> None:
    done = roundtable("status", "--db", str(tmp_path / "nothing.db"))
    assert done.returncode == 2
    assert "no Roundtable database" in done.stderr and "roundtable demo" in done.stderr
    assert not (tmp_path / "nothing.db").exists()


def test_status_in_a_project_whose_team_is_in_its_folder_names_the_db_to_give(tmp_path: Path) -> None:
    project = tmp_path / "my-app"
    (project / ".roundtable").mkdir(parents=True)
    seed(project / ".roundtable" / "roundtable.db")  # where `roundtable install claude-code` puts the team
    for command in ("status", "tail"):
        done = subprocess.run(
            [sys.executable, "-m", "servers.cli", command, "--db", str(tmp_path / "default.db")],
            capture_output=True, text=True, timeout=60, cwd=project,
            env={**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr
        assert "this project's team is in .roundtable/roundtable.db" in done.stderr
        assert done.stderr.rstrip().endswith("add --db .roundtable/roundtable.db"), done.stderr


@pytest.mark.engines("sqlite", "postgresql")
def test_status_shows_agents_tasks_and_health(db_url: str) -> None:
    db = db_url
    seed(db)
    done = roundtable("status", "--db", str(db))
    assert done.returncode in (0, 1), done.stderr
    out = done.stdout
    assert str(db) in out and "ana" in out and "bo" in out and "online" in out
    assert "open 1" in out and "claimed 1" in out and "ready to claim: 1" in out
    summary = json.loads(roundtable("status", "--db", str(db), "--json").stdout)
    assert {a["name"]: a["claims"] for a in summary["agents"]} == {"ana": 1, "bo": 0}
    assert summary["tasks"] == {"open": 1, "claimed": 1}
    assert summary["health"] in ("healthy", "degraded", "unhealthy")


def test_an_agents_words_cannot_drive_the_operators_terminal(tmp_path: Path) -> None:
    # An activity (agent_register, any agent) went to `status` as written: ESC sequences cleared the
    # screen or retitled the window, and U+202E reversed what followed; tail's JSON let C1 and bidi controls by.
    db = tmp_path / "team.db"
    hostile = "idle \x1b[2J\x1b]0;pwned\x07 \u202eevil\u202c \x9b31m"

    async def build() -> None:
        clock = FakeClock(time.time())
        database = await Database.open(db)
        try:
            ana = await join(database, clock, "ana")
            await agents.update_profile(database, ana.at(clock()), activity=hostile)
        finally:
            await database.close()

    anyio.run(build)
    status = roundtable("status", "--db", str(db)).stdout
    tail = roundtable("tail", "--db", str(db), "--no-follow").stdout
    for out in (status, tail):
        assert not any(c in out for c in "\x1b\x07\u202e\u202c\x9b"), out
    assert "idle \\x1b[2J\\x1b]0;pwned\\x07 \\u202eevil\\u202c \\x9b31m" in status, status
    assert "\\u202eevil" in tail, tail


def test_a_postgresql_password_in_the_url_is_shown_to_nobody_who_looks(postgres_url: str) -> None:
    # Where the team lives is printed by status and shown in the dashboard's header: a URL's
    # user:password@ was masked, libpq's ?password=… was not, so every observer with the dashboard's token
    # read the database's password (and with it could write the team's tables past every role).
    secret = "hunter2-not-for-observers"
    url = f"{postgres_url}?sslmode=disable&password={secret}"
    seed(url)
    done = roundtable("status", "--db", url)
    assert "sslmode=disable&password=***" in done.stdout and secret not in done.stdout + done.stderr
    with Dashboard(url) as dash, urllib.request.urlopen(dash.url + "api/state", timeout=10) as answer:
        state = json.loads(answer.read())
    assert secret not in json.dumps(state) and state["db"].endswith("sslmode=disable&password=***"), state["db"]
    assert secret not in dash.banner, dash.banner


@pytest.mark.engines("sqlite", "postgresql")
def test_tail_prints_the_latest_events_oldest_first_and_filters_by_kind(db_url: str) -> None:
    db = db_url
    seed(db)
    done = roundtable("tail", "--db", str(db), "--no-follow", "--kind", "task.")
    assert done.returncode == 0, done.stderr
    kinds = [line.split()[2] for line in done.stdout.splitlines()]
    assert kinds == ["task.created", "task.created", "task.claimed"]


@pytest.mark.engines("sqlite", "postgresql")
def test_tail_of_an_agent_nobody_has_says_so_with_the_known_names(db_url: str) -> None:
    seed(db_url)
    done = roundtable("tail", "--db", db_url, "--agent", "nobody", "--no-follow")  # following, refused the same
    assert done.returncode == 2 and done.stdout == ""
    line, rest = done.stderr.split("\n", 1)
    assert rest == "" and line.startswith("roundtable tail: no agent is named 'nobody'; known agents: ")
    assert sorted(line.rsplit(": ", 1)[1].split(", ")) == ["ana", "bo"]
    with direct(db_url) as conn:  # bo is on the team with nothing in the trail (pruned): followed, not refused
        conn.execute("DELETE FROM events WHERE agent_name = ?", ("bo",))
    quiet = roundtable("tail", "--db", db_url, "--agent", "BO", "--no-follow")
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")


def test_tail_of_an_unknown_agent_names_ten_and_points_to_status(tmp_path: Path, capsys: Any) -> None:
    db_path = tmp_path / "team.db"

    async def crowd() -> None:
        clock = FakeClock(time.time())
        db = await Database.open(parse_place(str(db_path)))
        try:
            for n in range(12):
                clock.advance(1)
                await join(db, clock, f"worker-{n}")
        finally:
            await db.close()

    anyio.run(crowd)
    wanted = events.EventFilter(agent="worker-99")
    assert team.tail(Settings(db=db_path), wanted, backlog=5, keep_following=False) == 2
    shown = ", ".join(f"worker-{n}" for n in range(11, 1, -1))  # the ten seen last, newest first
    assert capsys.readouterr().err == (
        f"roundtable tail: no agent is named 'worker-99'; known agents: {shown}, … (roundtable status lists them all)\n"
    )


def read_until(proc: subprocess.Popen[str], needle: str, seconds: float = 30) -> str:
    """What the process prints until it contains `needle` (bounded in time). Reads the pipe itself: a
    buffered readline could swallow two lines while select waits for more."""
    assert proc.stdout is not None
    seen = ""
    decoder = codecs.getincrementaldecoder("utf-8")()
    deadline = time.monotonic() + seconds
    while needle not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"{needle!r} not printed; got {seen!r}"
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 65536)
            assert chunk, f"process ended before printing {needle!r}; got {seen!r}"
            seen += decoder.decode(chunk)
    return seen


@pytest.mark.engines("sqlite", "postgresql")
def test_tail_follows_new_events_live_and_stops_cleanly_on_ctrl_c(db_url: str) -> None:
    """On PostgreSQL the new event is printed on its NOTIFY (on a file, at the next 50 ms look)."""
    db = db_url
    seed(db)
    proc = subprocess.Popen(
        [sys.executable, "-m", "servers.cli", "tail", "--db", str(db), "-n", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        read_until(proc, "following")

        async def add() -> None:
            database = await Database.open(parse_place(db))
            try:
                now = time.time()
                viewer = Actor(id="named:bo", name="bo", now=now)
                await tasks.create(database, viewer, tasks.NewTask(title="a new one"))
            finally:
                await database.close()

        anyio.run(add)
        assert "task.created" in read_until(proc, "task.created")
        proc.send_signal(signal.SIGINT)
        _, errors = proc.communicate(timeout=30)
        assert proc.returncode == 0 and "Traceback" not in errors, errors
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_status_judges_stuck_tasks_by_the_configured_stuck_after(tmp_path: Path) -> None:
    db_path = tmp_path / "team.db"
    seed(db_path)  # "review the docs" is ready and nobody claims it
    assert "stuck_tasks" not in anyio.run(team.read_summary, Settings(db=db_path)).reasons
    impatient = Settings(db=db_path, stuck_after=0.001)  # as ROUNDTABLE_STUCK_AFTER would set it
    assert "stuck_tasks" in anyio.run(team.read_summary, impatient).reasons


def test_tail_loses_no_event_committed_while_it_prints_the_last_ones(tmp_path: Path, monkeypatch: Any) -> None:
    db_path = tmp_path / "team.db"
    seed(db_path)
    real_page = events.page
    committed = False

    async def page_then_another_process_commits(*args: Any, **kwargs: Any) -> Any:
        nonlocal committed
        found = await real_page(*args, **kwargs)
        if not committed:
            committed = True
            other = await Database.open(db_path)
            try:
                await other.write(events.record, now=time.time(), agent_id=None, kind="test.in_between")
            finally:
                await other.close()
        return found

    monkeypatch.setattr(events, "page", page_then_another_process_commits)
    out = io.StringIO()

    async def watch() -> None:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(
                    lambda: team.follow(
                        Settings(db=db_path), events.EventFilter(), backlog=2, keep_following=True, out=out
                    )
                )
                while "test.in_between" not in out.getvalue():
                    await anyio.sleep(0.05)
                tg.cancel_scope.cancel()

    anyio.run(watch)
    assert out.getvalue().count("test.in_between") == 1


def test_status_and_tail_on_a_file_that_is_not_a_database_say_so_without_a_traceback(
    tmp_path: Path, capsys: Any
) -> None:
    garbage = tmp_path / "notes.db"
    garbage.write_text("these are my notes, not a database " * 50)
    settings = Settings(db=garbage)
    assert team.status(settings, as_json=False) == 2
    assert team.tail(settings, events.EventFilter(), backlog=5, keep_following=False) == 2
    errors = capsys.readouterr().err
    assert errors.count("the file is not a SQLite database") == 2 and "Traceback" not in errors


def test_status_and_tail_on_a_folder_say_it_is_a_folder_and_name_the_file(tmp_path: Path, capsys: Any) -> None:
    # `--db .roundtable` (the folder, not the file in it) was reported as a disk I/O error: "disk full …".
    folder = tmp_path / ".roundtable"
    folder.mkdir()
    settings = Settings(db=folder)
    assert team.status(settings, as_json=False) == 2
    assert team.tail(settings, events.EventFilter(), backlog=5, keep_following=False) == 2
    errors = capsys.readouterr().err
    assert errors.count(f"{folder} is a folder, not a database file") == 2
    assert f"e.g. {folder / 'roundtable.db'}" in errors and "disk" not in errors and "Traceback" not in errors


def fingerprint(db: Path) -> tuple[str, int, list[tuple[Any, ...]]]:
    """The file's bytes (as a hash), its mtime and its schema_migrations rows, read without writing."""
    with closing(sqlite3.connect(read_only_uri(db), uri=True)) as conn:
        migrations = [tuple(r) for r in conn.execute("SELECT * FROM schema_migrations ORDER BY version")]
    return hashlib.sha256(db.read_bytes()).hexdigest(), db.stat().st_mtime_ns, migrations


def nothing_written_beside(db: Path) -> bool:
    """No write went to the WAL: SQLite may create an empty -wal to read through, nothing more."""
    wal = db.with_name(db.name + "-wal")
    return not wal.exists() or wal.stat().st_size == 0


def test_status_and_tail_leave_the_file_exactly_as_it_was(tmp_path: Path) -> None:
    db = tmp_path / "team.db"
    seed(db)  # closed by its last connection: the WAL is folded in and gone
    before = fingerprint(db)
    assert roundtable("status", "--db", str(db)).returncode in (0, 1)
    assert roundtable("status", "--db", str(db), "--json").returncode in (0, 1)
    assert roundtable("tail", "--db", str(db), "--no-follow").returncode == 0
    assert fingerprint(db) == before
    assert nothing_written_beside(db)


def old_schema(db: Path, version: int) -> None:
    """A file as a Roundtable that knew only the first `version` migrations left it."""
    with closing(sqlite3.connect(db)) as conn:
        conn.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
        )
        for number, name, sql in load_migrations()[:version]:
            for statement in split_statements(sql):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?, 0)", (number, name))
        conn.commit()


def test_status_on_an_older_schema_names_its_version_and_never_migrates_it(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    old_schema(db, 3)
    before = fingerprint(db)
    done = roundtable("status", "--db", str(db))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"schema version 3, older than this Roundtable's {latest_version()}" in done.stderr
    assert "start any Roundtable server on it" in done.stderr and "not modified" in done.stderr
    tailed = roundtable("tail", "--db", str(db), "--no-follow")
    assert tailed.returncode == 0, tailed.stderr  # the audit trail is there since the first migration
    assert fingerprint(db) == before
    assert max(v for v, *_ in before[2]) == 3


def test_status_on_an_empty_file_says_it_holds_no_roundtable_schema_and_leaves_it_empty(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    db.touch()
    done = roundtable("status", "--db", str(db))
    assert done.returncode == 2 and "holds no Roundtable schema" in done.stderr
    assert db.stat().st_size == 0


def test_status_on_a_newer_schema_asks_for_an_upgrade_and_leaves_the_file(tmp_path: Path) -> None:
    db = tmp_path / "team.db"
    seed(db)
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (9999, 'future', 0)")
        conn.commit()
    before = fingerprint(db)
    done = roundtable("status", "--db", str(db))
    assert done.returncode == 2 and "upgrade Roundtable" in done.stderr
    assert fingerprint(db) == before


def test_a_read_only_database_never_creates_the_file_and_refuses_writes(tmp_path: Path) -> None:
    missing = tmp_path / "nothing.db"

    async def open_missing() -> None:
        with pytest.raises(FileNotFoundError):
            await Database.open(missing, migrate=False, read_only=True)
        with pytest.raises(ValueError, match="migrate=False"):
            await Database.open(missing, read_only=True)

    anyio.run(open_missing)
    assert list(tmp_path.iterdir()) == []
    seed(tmp_path / "team.db")

    async def write_to_it() -> None:
        db = await Database.open(tmp_path / "team.db", migrate=False, read_only=True)
        try:
            assert db.read_only and await db.schema_version() == latest_version()
            with pytest.raises(sqlite3.OperationalError, match="readonly"):
                await db.write(events.record, now=time.time(), agent_id=None, kind="test.refused")
        finally:
            await db.close()

    anyio.run(write_to_it)
