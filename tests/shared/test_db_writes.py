"""Whole write transactions in one hop: a cancelled caller leaves no transaction open, no read of this
process runs inside a write, and a failing write leaves nothing behind."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import anyio
import pytest

from shared.db.connection import Database, Tx

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
