"""The database helper: PRAGMAs, migrations (idempotent, concurrent, refused when newer), rollbacks."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from shared.db.connection import PAGE_SIZE, Database, Tx, load_migrations, split_statements
from shared.errors import SchemaTooNew

pytestmark = pytest.mark.anyio


async def test_connections_use_wal_normal_sync_foreign_keys_and_a_busy_timeout(db: Database) -> None:
    assert await db.scalar("PRAGMA journal_mode") == "wal"
    assert await db.scalar("PRAGMA synchronous") == 1  # NORMAL
    assert await db.scalar("PRAGMA foreign_keys") == 1
    assert await db.scalar("PRAGMA busy_timeout") >= 5000
    assert await db.scalar("PRAGMA journal_size_limit") > 0


async def test_a_new_file_has_small_pages_and_an_older_file_keeps_its_own(db: Database, tmp_path: Path) -> None:
    assert await db.scalar("PRAGMA page_size") == PAGE_SIZE == 2048
    older = tmp_path / "older.db"
    with closing(sqlite3.connect(older)) as conn:  # as a file created before: SQLite's 4 KiB pages, in WAL
        conn.execute("PRAGMA page_size = 4096")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("CREATE TABLE kept (x)")
    reopened = await Database.open(older)
    try:
        assert await reopened.scalar("PRAGMA page_size") == 4096
        assert await reopened.schema_version() == load_migrations()[-1][0]
    finally:
        await reopened.close()


async def test_migrations_applied_twice_change_nothing(db: Database, db_path: Path) -> None:
    latest = load_migrations()[-1][0]
    assert await db.schema_version() == latest
    before = await db.fetchall("SELECT version, applied_at FROM schema_migrations ORDER BY version")
    assert await db.migrate() == latest
    after = await db.fetchall("SELECT version, applied_at FROM schema_migrations ORDER BY version")
    assert [tuple(r) for r in before] == [tuple(r) for r in after]


async def test_four_connections_migrating_a_new_file_at_once_all_come_up(db_path: Path) -> None:
    opened: list[Database] = []

    async def open_one() -> None:
        opened.append(await Database.open(db_path))

    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(open_one)
    try:
        counts = await opened[0].fetchall("SELECT version, count(*) FROM schema_migrations GROUP BY version")
        assert all(row[1] == 1 for row in counts)
    finally:
        for database in opened:
            await database.close()


async def test_a_database_from_a_newer_schema_is_refused_untouched(db: Database, db_path: Path) -> None:
    await db.write_one("INSERT INTO schema_migrations(version, name, applied_at) VALUES (9999, 'future', 0)")
    size_before = db_path.stat().st_size
    with pytest.raises(SchemaTooNew, match="upgrade Roundtable"):
        await Database.open(db_path)
    assert await db.scalar("SELECT count(*) FROM schema_migrations WHERE version = 9999") == 1
    assert db_path.stat().st_size == size_before


async def test_a_failing_write_transaction_rolls_back_everything(db: Database) -> None:
    def boom(tx: Tx) -> None:
        tx.execute("INSERT INTO events(ts, kind) VALUES (1, 'x')")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await db.write(boom)
    assert await db.scalar("SELECT count(*) FROM events") == 0


async def test_a_read_sent_during_a_write_sees_all_of_it(db: Database) -> None:
    seen: list[int] = []

    def count(tx: Tx) -> int:
        return int(tx.scalar("SELECT count(*) FROM events"))

    async def read() -> None:
        seen.append(await db.read(count))

    def two(tx: Tx) -> None:
        tx.execute("INSERT INTO events(ts, kind) VALUES (1, 'x')")
        tx.execute("INSERT INTO events(ts, kind) VALUES (2, 'y')")

    async with anyio.create_task_group() as tg:
        tg.start_soon(db.write, two)
        await anyio.lowlevel.checkpoint()  # the write is queued; the read comes after it, never inside it
        tg.start_soon(read)
    assert seen == [2]


def test_statement_splitting_keeps_trigger_bodies_whole() -> None:
    script = """
    -- a comment
    CREATE TABLE a (x);
    CREATE TRIGGER t AFTER INSERT ON a BEGIN
        INSERT INTO a VALUES (1);
        INSERT INTO a VALUES (2);
    END;
    """
    statements = split_statements(script)
    assert len(statements) == 2
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END;")


async def test_a_new_database_file_is_created_user_only(tmp_path: Path) -> None:
    import os

    path = tmp_path / "new.db"
    old = os.umask(0o022)
    try:
        db = await Database.open(path)
        await db.close()
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o600


async def test_an_integer_sqlite_cannot_hold_is_refused_cleanly(db: Database) -> None:
    from shared.errors import InvalidArgument

    with pytest.raises(InvalidArgument, match="too large"):
        await db.fetchall("SELECT * FROM tasks WHERE id = ?", (2**63,))
    with pytest.raises(InvalidArgument, match="too large"):
        await db.read(lambda tx: tx.execute("SELECT * FROM tasks WHERE id = ?", (2**64,)))


async def test_migration_0009_rebuilds_the_search_indexes_with_stemming(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for version, _name, sql in load_migrations():
        if version == 9:
            continue  # a file of the release before: every migration but 0009, rows already indexed
        for statement in split_statements(sql):
            conn.execute(statement)
    conn.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
    )
    conn.executemany(
        "INSERT INTO schema_migrations VALUES (?, ?, 0)", [(v, n) for v, n, _ in load_migrations() if v != 9]
    )
    agent = "INSERT INTO agents(id, name, created_at, last_seen) VALUES ('a1', 'ana', 0, 0)"
    conn.execute(agent)
    conn.execute(
        "INSERT INTO knowledge(kind, title, title_key, body, tags, author_id, author_name, created_at)"
        " VALUES ('note', 'Locked database', 'locked database', 'writers', '', 'a1', 'ana', 0)"
    )
    conn.commit()
    assert conn.execute("SELECT count(*) FROM knowledge_fts WHERE knowledge_fts MATCH 'lock'").fetchone() == (0,)
    conn.close()
    db = await Database.open(path)
    try:
        assert await db.scalar("SELECT count(*) FROM knowledge_fts WHERE knowledge_fts MATCH 'lock'") == 1
        assert await db.schema_version() == load_migrations()[-1][0]
    finally:
        await db.close()
