"""The team in a PostgreSQL database: a psycopg connection pool for the stores, one LISTEN connection for the
change watcher, and the PostgreSQL migrations (shared/db/migrations_pg/) applied under an advisory lock.

The stores' functions run unchanged: `write(fn)` runs the plain function `fn(tx)` on a worker thread, on a
pooled connection, inside BEGIN … COMMIT at READ COMMITTED. It takes the team's writer lock first
(`pg_advisory_xact_lock`, what SQLite's single writer gives every write) unless `fn` is marked
`locks_its_rows` (the claim: its rows are taken with FOR UPDATE SKIP LOCKED; it takes the team lock only before
it draws a new row's id, so rows commit in the order of their ids). It ends with
`pg_notify('roundtable', <this process>)`, delivered to every listener at COMMIT and never on rollback.
`read(fn)` runs in one REPEATABLE READ READ ONLY snapshot. See docs/ARCHITECTURE.md, "PostgreSQL".
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from contextlib import aclosing
from typing import Any, Concatenate, ParamSpec, TypeVar

import anyio
import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from shared.db import connection, pgsql
from shared.db.connection import Database
from shared.db.place import PostgresUrl
from shared.db.tx import Params, Row, Tx, locks_its_rows
from shared.errors import SchemaTooNew, Unavailable

MIGRATIONS = "migrations_pg"
"""PostgreSQL's own numbered migrations, beside SQLite's shared/db/migrations (loaded by the same code)."""

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

POOL_SIZE = pgsql.POOL_CONNECTIONS
"""Connections one process keeps at most (the stores' calls run on worker threads, one connection each)."""
CONNECT_TIMEOUT = 10
"""Seconds to wait for the server (connecting) or for a free pooled connection."""
LISTEN_ROUND = 5.0
"""The change watcher's round on PostgreSQL: a NOTIFY wakes it at once; the round only bounds how long it
waits before looking at whether anyone still waits."""
MIGRATION_WAIT_S = 600
"""Seconds a starting server waits for the migration lock (another process migrating) or a table a migration
alters, in place of the stores' short lock_timeout."""
MIGRATION_LOCK = "SELECT pg_advisory_xact_lock(hashtext('roundtable.migrations'))"


class PostgresDatabase(Database):
    """The process's connections to the team's PostgreSQL database."""

    engine = "postgresql"
    watch_seconds = LISTEN_ROUND
    place: PostgresUrl

    def __init__(self, place: PostgresUrl, pool: ConnectionPool[Any], *, read_only: bool) -> None:
        self.place = place
        self.read_only = read_only
        self._pool = pool
        self.origin = f"{secrets.token_hex(6)}"
        """This process's token in its notifications' payload: its own commits do not wake its watcher."""
        self._listener: psycopg.AsyncConnection[Any] | None = None
        self._listening = anyio.Lock()
        self._notified = 0

    @classmethod
    async def connect(cls, place: PostgresUrl, *, migrate: bool = True, read_only: bool = False) -> PostgresDatabase:
        """Open the pool (failing with Unavailable and the fix when the server cannot be reached) and, by
        default, bring the schema up to date. `read_only` sessions refuse every write
        (default_transaction_read_only)."""
        if read_only and migrate:
            raise ValueError("a database opened read-only cannot be migrated; pass migrate=False")
        options = pgsql.SESSION_OPTIONS + (" -c default_transaction_read_only=on" if read_only else "")
        pool: ConnectionPool[Any] = ConnectionPool(
            place.url,
            min_size=1,
            max_size=POOL_SIZE,
            kwargs={
                "autocommit": True,
                "row_factory": pgsql.row_factory,
                "options": options,
                "connect_timeout": CONNECT_TIMEOUT,
            },
            timeout=CONNECT_TIMEOUT,
            configure=pgsql.configure,
            open=False,
            name="roundtable",
        )
        try:
            await anyio.to_thread.run_sync(_open_pool, pool, place.url)
        except BaseException:
            await anyio.to_thread.run_sync(pool.close)
            raise
        db = cls(place, pool, read_only=read_only)
        try:
            if migrate:
                await db.migrate()
        except BaseException:
            await db.close()
            raise
        return db

    async def close(self) -> None:
        async with self._listening:
            if self._listener is not None:
                await self._listener.close()
                self._listener = None
        await anyio.to_thread.run_sync(self._pool.close)

    # -- one function on a pooled connection, on a worker thread ---------------------------------
    async def _run(self, job: Callable[[psycopg.Connection[Any]], T]) -> T:
        def on_thread() -> T:
            for attempt in range(POOL_SIZE + 1):
                try:
                    with self._pool.connection() as conn:  # a lost connection goes back as BAD: the pool drops it
                        return job(conn)
                except pgsql.Stale:
                    # after a server restart every pooled connection is lost: try the next (a new one in the
                    # end); nothing of the call reached the server
                    if attempt == POOL_SIZE:
                        raise
                except PoolTimeout as exc:
                    raise self._no_connection(exc) from exc
            raise AssertionError("unreachable")

        return await anyio.to_thread.run_sync(on_thread)

    def _no_connection(self, exc: PoolTimeout) -> Unavailable:
        """Why no pooled connection came within CONNECT_TIMEOUT (the pool's error says only "timeout"): every one
        of this process's connections was busy, or the pool could not open another, for the reason one direct
        attempt is told (the server out of connection slots, down, or refusing this user)."""
        stats = self._pool.get_stats()
        if stats.get("pool_size", 0) >= POOL_SIZE and not stats.get("pool_available", 0):
            return Unavailable(
                f"Shared database busy: all {POOL_SIZE} of this process's connections to the PostgreSQL server were"
                f" in use by its other calls for {CONNECT_TIMEOUT} s; retry in a moment. Nothing was changed by this"
                " call."
            )
        try:
            psycopg.connect(self.place.url, connect_timeout=CONNECT_TIMEOUT).close()
        except psycopg.Error as direct:
            return pgsql.unavailable(direct)
        return pgsql.unavailable(exc)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return await self._run(lambda conn: pgsql.PgTx(conn).execute(sql, params))

    async def read(self, fn: Callable[Concatenate[Tx, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._run(lambda conn: pgsql.snapshot(conn, lambda tx: fn(tx, *args, **kwargs)))

    async def write(self, fn: Callable[Concatenate[Tx, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn(tx, …)` as one write transaction on a worker thread: begun, it commits or rolls back whole
        there whatever happens to the caller (a cancelled caller leaves nothing open)."""
        serialize = not getattr(fn, "locks_its_rows", False)
        result = await self._run(
            lambda conn: pgsql.atomic(conn, lambda tx: fn(tx, *args, **kwargs), origin=self.origin, serialize=serialize)
        )
        if self.on_commit is not None:  # this process's own NOTIFY does not wake its watcher
            self.on_commit()
        return result

    async def write_one(self, sql: str, params: Params = ()) -> list[Row]:
        """A single-statement write, without the team lock: one statement is atomic, and an UPDATE … WHERE
        re-checks its condition on each row it changes (the newest version, at READ COMMITTED). An INSERT takes
        the team lock first, as every statement drawing an id does (pgsql.PgTx)."""

        @locks_its_rows
        def one(tx: Tx) -> list[Row]:
            return tx.execute(sql, params)

        return await self.write(one)

    # -- changes: LISTEN on one connection of its own -----------------------------------------
    async def data_version(self) -> int:
        """How many notifications of other processes' commits this process has received (no statement)."""
        return self._notified

    async def wait_for_change(self, seconds: float) -> bool:
        """Until a NOTIFY of another process's commit arrives (True), or `seconds` pass (False). The LISTEN
        connection is made at the first wait; the caller then reads the tables (a notification is not durable:
        what committed before the LISTEN is found by that read, what commits after wakes this). A wait that
        makes the LISTEN returns True at once, so that read happens now."""
        async with self._listening:
            if self._listener is None or self._listener.closed:
                # what committed before the LISTEN was announced to nobody: the waiters look now, not a round
                # (LISTEN_ROUND) later, as a push of mail committed meanwhile was
                await self._listen()
                return True
            listener = await self._listen()
            got = False
            try:
                with anyio.move_on_after(seconds):
                    # psycopg's notifies() generator is closed before anything closes its connection (aclosing):
                    # closing the connection under a live generator deadlocks.
                    async with aclosing(listener.notifies()) as arrivals:
                        async for note in arrivals:
                            if note.payload != self.origin:
                                self._notified += 1
                                got = True
                                break
            except psycopg.OperationalError as lost:  # the server restarted or ended the session
                log.warning("the LISTEN connection was lost (%s); listening again", str(lost).splitlines()[0])
                await listener.close()
                self._listener = None
                self._notified += 1  # what committed meanwhile was not announced: waiters look once
                return True
            return got

    async def _listen(self) -> psycopg.AsyncConnection[Any]:
        if self._listener is not None and not self._listener.closed:
            return self._listener
        try:
            conn = await psycopg.AsyncConnection.connect(
                self.place.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT
            )
        except psycopg.OperationalError as exc:
            raise pgsql.unavailable(exc) from exc
        await conn.execute(f"LISTEN {pgsql.CHANNEL}")
        self._listener = conn
        self._notified += 1  # anything may have committed while nobody listened: waiters look once
        return conn

    # -- schema ------------------------------------------------------------------------------
    async def migrate(self) -> int:
        """Apply the PostgreSQL migrations this code knows and the database lacks, under an advisory lock
        (servers starting together on a new database apply each once); a newer schema is refused untouched."""
        known = load_migrations()
        return await self._run(lambda conn: _migrate(conn, known, self.place))

    async def schema_version(self) -> int:
        if await self.scalar("SELECT to_regclass('schema_migrations')") is None:
            return 0
        return int(await self.scalar("SELECT COALESCE(MAX(version), 0) FROM schema_migrations") or 0)

    async def size_bytes(self) -> int | None:
        return int(await self.scalar("SELECT pg_database_size(current_database())"))

    def latest_version(self) -> int:
        return latest_version()


def _open_pool(pool: ConnectionPool[Any], url: str) -> None:
    try:
        pool.open(wait=True, timeout=CONNECT_TIMEOUT)
    except (PoolTimeout, psycopg.OperationalError) as exc:
        # the pool's own error says only "timeout"; one direct attempt names the real reason
        try:
            psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT).close()
        except psycopg.Error as direct:
            raise pgsql.unavailable(direct) from direct
        raise pgsql.unavailable(exc) from exc


def _migrate(conn: psycopg.Connection[Any], known: list[tuple[int, str, str]], place: PostgresUrl) -> int:
    latest = known[-1][0] if known else 0
    with pgsql.statement_errors():
        conn.execute("BEGIN")
    try:
        # migrations may take long on a big database: a starting server waits for another's whole, not lock_timeout
        conn.execute(f"SET LOCAL lock_timeout = '{MIGRATION_WAIT_S}s'")
        conn.execute(MIGRATION_LOCK)
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
        )
        applied = {int(r[0]) for r in conn.execute("SELECT version FROM schema_migrations").fetchall()}
        current = max(applied, default=0)
        if current > latest:
            raise SchemaTooNew(
                f"{place.shown} has schema version {current}, but this Roundtable knows only up to {latest}; "
                "upgrade Roundtable (uvx --refresh …) or point ROUNDTABLE_DB at another database. "
                "The database was not modified."
            )
        for version, name, sql in known:
            if version in applied:
                continue
            for statement in pgsql.split_statements(sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations(version, name, applied_at) VALUES (%s, %s, %s)",
                (version, name, time.time()),
            )
            log.info("applied PostgreSQL migration %04d_%s", version, name)
        conn.execute("COMMIT")
    except BaseException:
        if not conn.closed and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.execute("ROLLBACK")
        raise
    return max(current, latest)


def latest_version() -> int:
    """The newest PostgreSQL schema version this code ships (the same number as SQLite's, for one schema)."""
    return connection.latest_version(MIGRATIONS)


def load_migrations() -> list[tuple[int, str, str]]:
    """The PostgreSQL migration files `NNNN_name.sql` in shared/db/migrations_pg, in order."""
    return connection.load_migrations(MIGRATIONS)


__all__ = ["PostgresDatabase", "Unavailable", "latest_version", "load_migrations"]
