"""Whole write transactions in one hop: a cancelled caller leaves no transaction open, no read of this
process runs inside a write, and a failing write leaves nothing behind."""

from __future__ import annotations

import sqlite3
import sys
import threading
import time
from pathlib import Path

import anyio
import pytest

from shared.db.connection import Database, SqliteDatabase, Tx

pytestmark = pytest.mark.anyio

SLOW_READ = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 4000000) SELECT count(*) FROM c"


STEPS = 200
"""Statements per test write: spread over one hop each, such a write would last long enough for a read
sent 3 ms after it to land inside it."""


def _note(tx: Tx, text: str) -> int:
    rows = tx.execute("INSERT INTO kv(k, v) VALUES (?, ?) RETURNING rowid", (text, text))
    for _ in range(STEPS):
        tx.execute("UPDATE kv SET v = v WHERE k = ?", (text,))
    tx.execute("UPDATE kv SET v = v || '!' WHERE k = ?", (text,))
    return int(rows[0][0])


def _other_process_writes(path: Path, key: str, busy_ms: int = 200) -> None:
    other = sqlite3.connect(path, timeout=busy_ms / 1000, isolation_level=None)
    try:
        other.execute("INSERT INTO kv(k, v) VALUES (?, 'x')", (key,))
    finally:
        other.close()


@pytest.fixture
async def kv(db: Database) -> Database:
    await db.write(lambda tx: tx.execute("CREATE TABLE kv(k TEXT PRIMARY KEY, v TEXT)"))
    return db


async def test_a_write_cancelled_while_another_process_holds_the_lock_leaves_no_transaction_open(
    kv: Database, db_path: Path
) -> None:
    holder = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    with anyio.move_on_after(0.3):  # the client gives up (notifications/cancelled) while we wait for the lock
        await kv.write(_note, "cancelled")
    holder.execute("COMMIT")
    holder.close()
    # The team can write again at once: this connection is not stuck inside BEGIN IMMEDIATE.
    with anyio.fail_after(5):
        while True:
            try:
                await anyio.to_thread.run_sync(_other_process_writes, db_path, "after")
                break
            except sqlite3.OperationalError:
                await anyio.sleep(0.05)  # our own transaction may still be finishing on its thread
    await kv.write(_note, "next")
    rows = {r["k"]: r["v"] for r in await kv.fetchall("SELECT k, v FROM kv")}
    assert rows["next"] == "next!" and rows["after"] == "x"
    assert rows.get("cancelled") in (None, "cancelled!")  # whole or not at all, never half


async def test_a_slow_read_never_runs_inside_another_calls_write(kv: Database, db_path: Path) -> None:
    read_done = threading.Event()

    async def slow_read() -> None:
        await kv.scalar(SLOW_READ)
        read_done.set()

    async with anyio.create_task_group() as tg:
        write_started = time.monotonic()
        tg.start_soon(kv.write, _note, "first")
        await anyio.sleep(0.003)  # the read arrives 3 ms after the write, as in the attack
        tg.start_soon(slow_read)
        await anyio.sleep(0.2)
        assert not read_done.is_set(), "the read should still be running"
        # While our read runs, another process writes without waiting: we hold no write lock.
        await anyio.to_thread.run_sync(_other_process_writes, db_path, "other", 100)
        assert time.monotonic() - write_started < 10
    assert await kv.scalar("SELECT v FROM kv WHERE k = 'first'") == "first!"


async def test_a_write_that_fails_midway_leaves_nothing_behind(kv: Database) -> None:
    def half(tx: Tx) -> None:
        _note(tx, "half")
        raise ValueError("changed my mind")

    with pytest.raises(ValueError):
        await kv.write(half)
    assert await kv.scalar("SELECT count(*) FROM kv") == 0
    await kv.write(_note, "later")  # and the connection is ready for the next write
    assert await kv.scalar("SELECT count(*) FROM kv") == 1


# --- reads and writes run on the event loop's thread when the connection's thread holds nothing of ours ---

HOLD_THE_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT INTO kv(k, v) VALUES ('holder', 'x')")
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


async def test_a_lone_read_and_write_run_at_once_without_a_hop(kv: Database) -> None:
    assert isinstance(kv, SqliteDatabase)
    before = kv.inline_runs
    await kv.write(lambda tx: tx.execute("INSERT INTO kv(k, v) VALUES ('a', '1')"))
    got = await kv.read(lambda tx: tx.scalar("SELECT v FROM kv WHERE k = 'a'"))
    assert got == "1" and kv.inline_runs == before + 2
    assert await kv.scalar("PRAGMA busy_timeout") == 10_000  # a statement on the thread waits as before


async def test_a_write_while_another_process_holds_the_lock_waits_on_the_thread_not_the_loop(
    kv: Database, db_path: Path
) -> None:
    """The other process holds the write lock for 0.5 s: our write cannot begin at once, so it waits its turn
    on the connection's thread (busy timeout 10 s) and commits after the holder; meanwhile the event loop runs
    on (a ticker keeps ticking)."""
    assert isinstance(kv, SqliteDatabase)
    holder = await anyio.open_process([sys.executable, "-c", HOLD_THE_LOCK, str(db_path), "0.5"])
    try:
        assert holder.stdout is not None
        assert b"holding" in await holder.stdout.receive()
        ticks = 0
        done = anyio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await anyio.sleep(0.02)

        before = kv.inline_runs
        began = time.monotonic()
        async with anyio.create_task_group() as tg:
            tg.start_soon(ticker)
            await kv.write(lambda tx: tx.execute("INSERT INTO kv(k, v) VALUES ('waited', '1')"))
            done.set()
        waited = time.monotonic() - began
    finally:
        with anyio.move_on_after(5):
            await holder.wait()
    assert waited >= 0.3  # it waited for the lock …
    assert ticks >= 5  # … while the loop went on
    assert kv.inline_runs == before  # it neither ran here nor failed at once on the loop's zero busy timeout
    rows = {r["k"] for r in await kv.fetchall("SELECT k FROM kv")}
    assert rows == {"holder", "waited"}


async def test_reads_and_writes_of_many_callers_at_once_all_land_whole(kv: Database) -> None:
    """Callers interleaved with a slow statement on the connection's thread: whoever finds the thread busy
    queues behind it, so no read lands inside a write and no write inside another."""

    async def writer(i: int) -> None:
        await kv.write(lambda tx: _note(tx, f"w{i}"))

    async def reader() -> None:
        count = await kv.read(lambda tx: tx.scalar("SELECT count(*) FROM kv WHERE v NOT LIKE '%!'"))
        assert count == 0  # never a half-written note

    async with anyio.create_task_group() as tg:
        tg.start_soon(kv.fetchall, SLOW_READ)
        for i in range(30):
            tg.start_soon(writer, i)
            tg.start_soon(reader)
    assert await kv.scalar("SELECT count(*) FROM kv") == 30
