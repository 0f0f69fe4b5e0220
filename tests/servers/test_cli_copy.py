"""`roundtable copy --from FILE --to postgresql://…` on a real PostgreSQL: the demo's team plus the edge cases
(a dependency still unmet, a claim, a reply, acknowledgements, a superseded entry, a token) arrive row for
row and answer the same there; a target holding a team is refused; a copy that fails leaves nothing behind."""

from __future__ import annotations

import io
import re
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import anyio
import psycopg
import pytest
from mcp import Client

from servers import coordination, knowledge, messaging
from servers.cli.demo import play
from shared.config import Settings
from shared.db.connection import Database
from shared.db.place import Place, PostgresUrl
from shared.db.transfer import SKIPPED, team_tables
from shared.store.team import tokens
from tests.http import make_token
from tests.stdio import ROOT

pytestmark = pytest.mark.anyio


def data(result: Any) -> Any:
    assert not result.is_error, result.content[0].text
    return result.structured_content


def roundtable_copy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "servers.cli", "copy", *args], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def as_agent(place: Place, name: str, module: Any) -> Client:
    return Client(module.build_server(Settings(db=place, agent=name)))


async def edge_cases(db: Path) -> dict[str, int]:
    """What the demo does not leave behind, made through the tools: the ids the checks look for."""
    made: dict[str, int] = {}
    async with as_agent(db, "ana", coordination) as ana, as_agent(db, "bo", coordination) as bo:
        first = data(await ana.call_tool("task_create", {"title": "schema first", "priority": "urgent"}))["task"]["id"]
        made["waiting"] = data(
            await ana.call_tool("task_create", {"title": "then the API — ünïcode ✓", "depends_on": [first]})
        )["task"]["id"]
        made["held"] = data(await bo.call_tool("task_claim", {"task_id": first}))["task"]["id"]
    async with as_agent(db, "ana", messaging) as ana, as_agent(db, "bo", messaging) as bo:
        asked = data(await ana.call_tool("message_send", {"to": ["bo"], "body": "ok?", "ack_required": True}))
        made["asked"] = asked["message"]["id"]
        data(await bo.call_tool("message_acknowledge", {"ids": [made["asked"]]}))
        reply = data(await bo.call_tool("message_send", {"to": ["ana"], "body": "yes", "reply_to": made["asked"]}))
        made["reply"] = reply["message"]["id"]
    async with as_agent(db, "ana", knowledge) as ana:
        old = data(await ana.call_tool("knowledge_add", {"title": "deploy", "body": "by hand", "tags": ["ops"]}))
        new = data(
            await ana.call_tool(
                "knowledge_add", {"title": "deploy", "body": "zebracorn pipeline", "supersedes": old["entry"]["id"]}
            )
        )
        made["old_entry"], made["new_entry"] = old["entry"]["id"], new["entry"]["id"]
    return made


def steady(answer: Any) -> Any:
    """An answer without its relative times ("12 s ago", an entry's age "14s"), which move while the test runs."""
    if isinstance(answer, dict):
        return {k: "…" if k == "age" else steady(v) for k, v in answer.items()}
    if isinstance(answer, list):
        return [steady(v) for v in answer]
    return "… ago" if isinstance(answer, str) and re.fullmatch(r"\S+ \S+ ago", answer) else answer


def rows_of(conn: Any, table: str, key: list[str], columns: list[str]) -> list[tuple[Any, ...]]:
    names = ", ".join(f'"{c}"' for c in columns)
    order = ", ".join(f'"{c}"' for c in key) or names
    return [tuple(r) for r in conn.execute(f'SELECT {names} FROM "{table}" ORDER BY {order}').fetchall()]


def assert_same_rows(source: Path, url: str) -> None:
    """Every table of the file, row for row and column for column, in the target."""
    with closing(sqlite3.connect(source)) as file, psycopg.connect(url) as pg:
        for table in team_tables(file):
            info = file.execute(f'PRAGMA table_info("{table}")').fetchall()
            columns = [r[1] for r in info]
            key = [r[1] for r in sorted(info, key=lambda r: r[5]) if r[5]]
            assert rows_of(file, table, key, columns) == rows_of(pg, table, key, columns), table


async def test_a_demo_team_with_its_edge_cases_is_copied_row_for_row_and_works_on_postgresql(
    tmp_path: Path, postgres_url: str
) -> None:
    db = tmp_path / "team.db"
    played = io.StringIO()
    assert (await play(db, played, shared_db=True)).code == 0, played.getvalue()
    made = await edge_cases(db)
    token = await make_token(db, "bo")

    done = roundtable_copy("--from", str(db), "--to", postgres_url)
    assert done.returncode == 0, done.stderr
    with closing(sqlite3.connect(db)) as file:
        tables = team_tables(file)
        expected = {t: file.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    printed = {line.split()[0]: line.split()[1:3] for line in done.stdout.splitlines()[2:] if line.split()[:1] in (
        [[t] for t in tables]
    )}  # fmt: skip
    assert printed == {t: [f"{n:,}", f"{n:,}"] for t, n in expected.items()}, done.stdout
    assert all(expected[t] for t in ("agents", "tasks", "task_deps", "messages", "message_recipients", "events"))
    assert all(expected[t] for t in ("proposals", "votes", "knowledge", "skills", "tokens", "tool_calls"))
    assert not set(SKIPPED) & set(printed) and "every count checked" in done.stdout
    assert_same_rows(db, postgres_url)
    with closing(sqlite3.connect(db)) as file:
        (highest,) = file.execute("SELECT max(id) FROM tasks").fetchone()

    team = PostgresUrl(postgres_url)
    pg = await Database.open(team)
    try:
        assert (await tokens.verify(pg, token)) is not None  # bo's token speaks for bo there too
    finally:
        await pg.close()
    async with as_agent(team, "ana", coordination) as ana:
        refused = await ana.call_tool("task_claim", {"task_id": made["waiting"]})
        assert refused.is_error and "waits on" in refused.content[0].text  # its dependency is still unmet
        later = data(await ana.call_tool("task_create", {"title": "made on postgresql"}))["task"]["id"]
        assert later == highest + 1  # ids continue after the highest the file gave
    async with as_agent(team, "ana", knowledge) as ana:
        found = data(await ana.call_tool("knowledge_query", {"text": "zebracorn"}))
        assert [h["id"] for h in found["hits"]] == [made["new_entry"]]  # the search vector was computed there
    for look in (
        (coordination, "task_list", {"task_id": made["held"]}),
        (coordination, "task_list", {"task_id": made["waiting"]}),
        (messaging, "message_query", {"thread": made["asked"], "mark_read": False}),
        (coordination, "consensus_list", {}),
        (knowledge, "knowledge_get", {"entry_id": made["old_entry"]}),
        (knowledge, "skill_list", {}),
    ):
        answers = []
        for place in (db, team):
            async with as_agent(place, "ana", look[0]) as ana:
                answers.append(data(await ana.call_tool(look[1], look[2])))
        assert steady(answers[0]) == steady(answers[1]), look[1:]


async def test_a_target_holding_a_team_is_refused_unless_told_to_replace_it(tmp_path: Path, postgres_url: str) -> None:
    db = tmp_path / "team.db"
    async with as_agent(db, "ana", coordination) as ana:
        data(await ana.call_tool("task_create", {"title": "one"}))
    assert roundtable_copy("--from", str(db), "--to", postgres_url).returncode == 0
    async with as_agent(PostgresUrl(postgres_url), "ana", coordination) as ana:
        data(await ana.call_tool("task_create", {"title": "made there since"}))

    again = roundtable_copy("--from", str(db), "--to", postgres_url)
    assert again.returncode == 1 and again.stdout == ""
    [line] = again.stderr.splitlines()
    assert "already holds a team (agents 1, events" in line and "--replace" in line and "nothing was copied" in line
    with psycopg.connect(postgres_url) as pg:
        assert pg.execute("SELECT count(*) FROM tasks").fetchone() == (2,)

    replaced = roundtable_copy("--from", str(db), "--to", postgres_url, "--replace")
    assert replaced.returncode == 0, replaced.stderr
    assert_same_rows(db, postgres_url)


async def test_a_copy_that_fails_midway_leaves_nothing_in_the_target(tmp_path: Path, postgres_url: str) -> None:
    db = tmp_path / "team.db"
    async with as_agent(db, "ana", messaging) as ana:
        data(await ana.call_tool("message_broadcast", {"body": "hello"}))
    with closing(sqlite3.connect(db)) as conn, conn:  # a receipt of a message that is not there (no FK check here)
        conn.execute("INSERT INTO message_recipients(agent_id, message_id) VALUES ('named:ana', 999)")
    failed = roundtable_copy("--from", str(db), "--to", postgres_url)
    assert failed.returncode == 1 and failed.stdout == ""
    [line] = failed.stderr.splitlines()
    assert "rolled back whole" in line and "message_recipients" in line, line
    with closing(sqlite3.connect(db)) as file, psycopg.connect(postgres_url) as pg:
        for table in team_tables(file):
            assert pg.execute(f'SELECT count(*) FROM "{table}"').fetchone() == (0,), table


def test_the_arguments_name_a_file_and_a_postgresql_database_or_the_fix(tmp_path: Path, postgres_url: str) -> None:
    not_a_db = tmp_path / "notes.txt"
    not_a_db.write_text("hello " * 1000)
    cases = [
        (["--from", str(tmp_path / "none.db"), "--to", postgres_url], 1, "there is no SQLite file at"),
        (["--from", str(not_a_db), "--to", postgres_url], 1, "cannot be read as a SQLite database"),
        (["--from", str(not_a_db), "--to", str(tmp_path / "other.db")], 2, "--to takes a PostgreSQL URL"),
        (["--from", postgres_url, "--to", postgres_url], 2, "--from takes the team's SQLite file"),
    ]
    for args, code, said in cases:
        done = roundtable_copy(*args)
        assert done.returncode == code and said in done.stderr and len(done.stderr.splitlines()) == 1, (args, done)


async def test_an_unreachable_target_is_one_line_naming_it(tmp_path: Path) -> None:
    db = tmp_path / "team.db"
    await (await Database.open(db)).close()
    started = time.monotonic()
    done = roundtable_copy("--from", str(db), "--to", "postgresql://nobody@127.0.0.1:1/team")
    assert done.returncode == 1 and time.monotonic() - started < 30
    [line] = done.stderr.splitlines()
    assert "cannot be reached" in line and "Nothing was changed" in line, line


HOLD_THE_FILE = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA locking_mode = EXCLUSIVE")
conn.execute("BEGIN EXCLUSIVE")
print("holding", flush=True)
sys.stdin.readline()
"""


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="names the holder from Linux's /proc/locks")
def test_a_file_another_process_holds_exclusively_is_waited_for_a_stated_time_then_one_line(tmp_path: Path) -> None:
    """The file's snapshot waited SQLite's busy timeout for a process holding the file exclusively, then called it
    "cannot be read as a SQLite database … is it the team's file?". It says it waited 10 s and who holds it."""
    db = tmp_path / "team.db"

    async def made() -> None:
        await (await Database.open(db)).close()

    anyio.run(made)
    with subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_FILE, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
            done = roundtable_copy("--from", str(db), "--to", "postgresql://nobody@127.0.0.1:1/team")
        finally:
            holder.kill()
    assert done.returncode == 1, done
    [line] = done.stderr.splitlines()
    assert "stayed locked for over 10 s" in line and f"process {holder.pid} (python" in line, line
    assert "nothing was copied" in line, line


async def test_a_target_whose_team_lock_another_session_holds_is_waited_for_a_stated_time_then_one_line(
    tmp_path: Path, postgres_url: str
) -> None:
    """The copy's connection had no lock timeout: a session holding the team's writer lock on the target (a server
    mid-write, a psql session left in an open transaction) made `roundtable copy` wait as long as it stayed. It
    gives up after 10 s in one line naming the cause, and copies once the session has ended."""
    db = tmp_path / "team.db"
    await (await Database.open(db)).close()
    with psycopg.connect(postgres_url, autocommit=True) as holder:
        holder.execute("BEGIN")
        holder.execute("SELECT pg_advisory_xact_lock(hashtext('roundtable'))")
        done = roundtable_copy("--from", str(db), "--to", postgres_url)
        assert done.returncode == 1, done
        [line] = done.stderr.splitlines()
        assert "held a lock the copy needs for over 10 s" in line and "pg_stat_activity" in line, line
        holder.execute("ROLLBACK")
    assert roundtable_copy("--from", str(db), "--to", postgres_url).returncode == 0
