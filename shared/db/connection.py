"""One long-lived aiosqlite connection per process, the write-transaction helper and schema migrations.

The SQLite rules of docs/ARCHITECTURE.md, enforced here so no caller has to remember them:
- WAL + synchronous=NORMAL, busy_timeout 10 s, foreign keys on, a bounded WAL file, 2 KiB pages in a new file;
- a write transaction is one function run whole on the connection's thread (`write`), starting with
  BEGIN IMMEDIATE, so the busy handler applies, no read lock is ever upgraded and nothing else this
  process sends lands inside it;
- no read transaction is ever left open (isolation_level None; `read` ends its snapshot in its hop);
- a `read` or `write` runs at once on the event loop's thread when nothing of this process is queued on or
  running in the connection's thread (the usual case: a tool call's reads and writes follow one another),
  and never waits there: on that thread the busy timeout is 0, so a write whose BEGIN IMMEDIATE finds the
  file's write lock taken (or a read that finds the file busy) takes its turn on the connection's thread
  instead, where it waits up to the 10 s busy timeout as before. The hop it saves (~0.1 ms, several ms
  when the machine is loaded) was most of a short call's cost.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import aiosqlite
import anyio

from shared.db import holders
from shared.db.place import Place, PostgresUrl, shown
from shared.db.shipped import latest_version as latest_version
from shared.db.shipped import migration_files
from shared.db.tx import Params as Params
from shared.db.tx import Row as Row
from shared.db.tx import Tx as Tx
from shared.db.tx import atomic as _atomic
from shared.db.tx import locks_its_rows as locks_its_rows
from shared.db.wakeup import Wakeup
from shared.db.watch import POLL_SECONDS
from shared.errors import InvalidArgument, SchemaTooNew, Unavailable, from_sqlite, held_by

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
JOURNAL_SIZE_LIMIT = 32 * 1024 * 1024
PAGE_SIZE = 2048
"""The page size of a file created here (a file keeps the size it was created with). A send writes one page
of each of the ~17 b-trees it touches (message, recipient and event rows and their indexes) into the WAL, and
each checkpoint's fsync carries those bytes: 2 KiB pages halve both against SQLite's 4 KiB, measured at +15 %
store sends at 100,000 rows and a p99 of 1.9 ms against 3 ms; reads of live state at 1M rows cost 0-7 % more
(1 KiB pages: +20-40 %)."""

P = ParamSpec("P")
T = TypeVar("T")


class Database:
    """The process's connection to where the team lives, whatever the engine: `Database.open(place)` gives a
    SqliteDatabase for a file and a PostgresDatabase (shared/db/postgres.py) for a postgresql:// URL. Both
    run the same store functions: `read`/`write` take a plain function of a Tx, the single statements
    `fetchall`/`fetchone`/`scalar`/`write_one` take one statement with `?` or `:name` parameters."""

    engine = "sqlite"
    """"sqlite" or "postgresql": what the areas' dialects answer by (`dialect.of(db)`)."""
    place: Place
    read_only: bool = False
    rejoined = 0
    watch_seconds = POLL_SECONDS
    """How long one round of the change watcher waits for a commit elsewhere before it looks anyway."""
    on_commit: Callable[[], None] | None = None
    """Called after each commit made through this connection, which its own change watcher never sees (over
    HTTP the runtime sets it: one process serves every agent, so its commits are other agents' news)."""

    @classmethod
    async def open(cls, place: Place, *, migrate: bool = True, read_only: bool = False) -> Database:
        """Connect to `place` and (by default) bring its schema up to date (see the engines' `connect`)."""
        if isinstance(place, PostgresUrl):
            from shared.db.postgres import PostgresDatabase  # psycopg is imported only for a PostgreSQL team

            return await PostgresDatabase.connect(place, migrate=migrate, read_only=read_only)
        return await SqliteDatabase.connect(place, migrate=migrate, read_only=read_only)

    @property
    def shown(self) -> str:
        """Where the team lives, as printed (a URL without its password)."""
        return shown(self.place)

    async def close(self) -> None:
        raise NotImplementedError

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        raise NotImplementedError

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def scalar(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    async def read(self, fn: Callable[Concatenate[Tx, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        raise NotImplementedError

    async def write(self, fn: Callable[Concatenate[Tx, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn(tx, *args, **kwargs)` as one write transaction and return what it returned. On PostgreSQL
        `fn` may run more than once (shared/db/pgsql.py `atomic`: an attempt that waited ROW_WAIT_MS for a row is
        rolled back and run again), so it does nothing but its SQL through `tx`: it changes none of its
        arguments and no state of the process, and tells no one; the caller does that with what it returned."""
        raise NotImplementedError

    async def write_one(self, sql: str, params: Params = ()) -> list[Row]:
        raise NotImplementedError

    async def data_version(self) -> int:
        """A number that moves when another process commits (for change detection)."""
        raise NotImplementedError

    async def wait_for_change(self, seconds: float) -> bool:
        """Until another process's commit is announced to this one (True), or `seconds` pass (False)."""
        raise NotImplementedError

    async def migrate(self) -> int:
        raise NotImplementedError

    async def schema_version(self) -> int:
        raise NotImplementedError

    async def size_bytes(self) -> int | None:
        """The database's size on disk (None when it cannot be read)."""
        raise NotImplementedError

    def latest_version(self) -> int:
        """The newest schema version this code ships for this engine."""
        return latest_version()

    # A SQLite file can be deleted, replaced or lose its -wal/-shm under us; a server's database cannot.
    def file_changed(self) -> bool:
        return False

    def sidecars_changed(self) -> bool:
        return False

    async def rejoin(self) -> bool:
        return False

    async def restore_file(self) -> bool:
        return False


class SqliteDatabase(Database):
    """The process's connection to the shared file."""

    def __init__(self, conn: aiosqlite.Connection, path: Path, *, read_only: bool = False) -> None:
        self._conn = conn
        self.path = path
        self.place = path
        self.read_only = read_only
        # fast_acquire: a free lock is taken without a trip through the event loop (most writes find it free)
        self._lock = anyio.Lock(fast_acquire=True)
        self._files = _watched_names(path)
        self._identity = _file_identity(self._files[0])
        self._sidecars: tuple[tuple[int, int] | None, tuple[int, int] | None] = (None, None)
        self.wakeup: Wakeup | None = None
        self.rejoined = 0
        self._rejoining: anyio.Event | None = None  # set while `_rejoin` swaps connections: reads wait for it
        """How many times this connection found its -wal/-shm files deleted or replaced and rejoined the file."""
        self._queued = 0  # jobs handed to the connection's thread (counted on the event loop's thread) …
        self._done = 0  # … and finished there (counted on that thread): equal when it holds nothing of ours
        self._closing = False
        self.inline_runs = 0
        """Reads and writes run at once on the event loop's thread, with no hop (for tests and benchmarks)."""

    @classmethod
    async def connect(cls, path: Path, *, migrate: bool = True, read_only: bool = False) -> SqliteDatabase:
        """Connect, set the PRAGMAs and (by default) bring the schema up to date.

        `read_only` (with migrate=False) opens an existing file only to look at it, through SQLite's
        `mode=ro` URI: a missing file is FileNotFoundError, never created; no PRAGMA that changes the file is set;
        SQLite refuses every write. The file may have any schema version (see `schema_version`). In WAL
        mode SQLite may still create the empty -wal and -shm files it reads through beside the file.
        """
        if read_only and migrate:
            raise ValueError("a database opened read-only cannot be migrated; pass migrate=False")
        if read_only and not await anyio.Path(path).exists():
            raise FileNotFoundError(f"there is no database at {path}")
        conn = await _connect(path, read_only=read_only)
        try:
            db = cls(conn, path, read_only=read_only)
            if migrate:
                await db.migrate()
        except BaseException:
            await conn.close()
            raise
        db._sidecars = _sidecar_identities(db._files)
        if not read_only:
            db.wakeup = Wakeup.open(path)
        return db

    async def close(self) -> None:
        if self.wakeup is not None:
            self.wakeup.close()
            self.wakeup = None
        self._closing = True
        await self._conn.close()

    def _here(self) -> sqlite3.Connection | None:
        """The raw connection, when a job may run on it here and now, on the event loop's thread: nothing of
        this process is queued on or running in the connection's thread, and it is not being swapped or
        closed. A job run here has no await, so nothing else can reach the connection until it returns."""
        if self._queued != self._done or self._rejoining is not None or self._closing:
            return None
        raw: sqlite3.Connection | None = self._conn._connection
        return raw

    # -- reads ---------------------------------------------------------------------------------
    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """One statement on the connection's thread (a long one, such as quick_check, never holds up the loop)."""
        return await self._run(lambda conn: conn.execute(sql, params).fetchall())

    async def read(self, fn: Callable[Concatenate[Tx, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn(tx, *args, **kwargs)` — several reads that belong together — in one hop, in one read
        transaction (one snapshot), ended before the hop returns. The same functions serve inside writes."""

        def body(conn: sqlite3.Connection) -> T:
            conn.execute("BEGIN")
            try:
                return fn(Tx(conn), *args, **kwargs)
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")

        return await self._here_or_queued(body)

    async def _here_or_queued(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """Run a job that only reads at once on the event loop's thread when `_here` allows it, else (or when
        the file is busy this instant: never waited for here) on the connection's thread."""
        raw = self._here()
        if raw is not None:
            try:
                with _numbers_sqlite_holds():
                    result = job(raw)
                self.inline_runs += 1
                return result
            except sqlite3.OperationalError as exc:
                if not _busy(exc):
                    raise
        return await self._run(job)

    async def data_version(self) -> int:
        """Changes whenever another connection commits to the file (cheap; for change detection)."""
        version: int = await self._here_or_queued(lambda conn: conn.execute("PRAGMA data_version").fetchone()[0])
        return version

    async def wait_for_change(self, seconds: float) -> bool:
        """Until another process pushes its post-commit wake-up (shared/db/wakeup.py), or `seconds` pass."""
        if self.wakeup is None:
            await anyio.sleep(seconds)
            return False
        return await self.wakeup.wait(seconds)

    async def size_bytes(self) -> int | None:
        try:
            return self.path.stat().st_size
        except OSError:
            return None

    # -- writes --------------------------------------------------------------------------------
    async def write(self, fn: Callable[Concatenate[Tx, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn(tx, *args, **kwargs)` as one write transaction, in one hop to the database thread.

        The file's write lock is held for that one hop only, and nothing else this process asks of the
        connection (another call's read) can run inside it. `fn` must not block on anything but SQL.
        A caller cancelled before its turn writes nothing; once the transaction has begun it commits or
        rolls back whole on the thread, whatever happens to the caller, so none is ever left open.
        """

        abandoned = False

        def body(tx: Tx) -> T:
            self._same_sidecars()
            return fn(tx, *args, **kwargs)

        def job(conn: sqlite3.Connection) -> T:
            if abandoned:  # the caller went away before its turn came: write nothing
                raise anyio.get_cancelled_exc_class()()
            _begin_waiting(conn, self.path)
            return _atomic(conn, body, begun=True)

        for turn in range(REJOINS):
            try:
                async with self._writing():
                    raw = self._here()
                    if raw is not None and _begin_if_free(raw):
                        # Begun here with the lock free: the rest has no await, so it commits or rolls back whole.
                        self.inline_runs += 1
                        with _numbers_sqlite_holds():
                            result = _atomic(raw, body, begun=True)
                    else:
                        try:
                            result = await self._run(job)
                        except BaseException:
                            abandoned = True
                            raise
                break
            except _SidecarsMoved:  # rolled back: the next turn rejoins the files first, and runs it again
                abandoned = False
                if turn == REJOINS - 1:
                    raise Unavailable(KEPT_MOVING) from None
        self._committed()
        return result

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[None]:
        """This process's turn for one write: its lock, with the -wal/-shm rejoined first if they changed. A
        write that waited the busy timeout out is refused naming the lock's holder (`_busy_refusal`), once the
        turn is over."""
        try:
            async with self._lock:
                if self.sidecars_changed():
                    await self._rejoin()
                yield
        except sqlite3.OperationalError as exc:
            if not _busy(exc):
                raise
            raise await self._busy_refusal(exc) from exc

    async def _run(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """Run `job` with the raw sqlite3 connection on aiosqlite's thread, as one queued call.

        Every use of the connection goes through here (or runs inline, see `_here`): it counts the jobs
        queued and finished, so the inline path never runs while one is pending. On the thread the busy
        timeout is 10 s (a write waits there for the file's write lock); on the event loop's thread it is 0.
        aiosqlite has no public way to run a function on its thread; `_execute` and `_conn` are the
        private pair it uses itself, used here and nowhere else.
        """
        if self._rejoining is not None:
            await self._rejoining.wait()
        raw = self._conn._conn  # raises when the connection is closed, before anything is queued

        def counted(conn: sqlite3.Connection) -> T:
            try:
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                try:
                    return job(conn)
                finally:
                    conn.execute("PRAGMA busy_timeout = 0")
            finally:
                self._done += 1  # on the connection's thread, once the job is over (even if its caller left)

        self._queued += 1
        with _numbers_sqlite_holds():
            result: T = await self._conn._execute(counted, raw)  # type: ignore[no-untyped-call]
        return result

    async def write_one(self, sql: str, params: Params = ()) -> list[Row]:
        """A single-statement write (its own transaction, one hop), e.g. UPDATE … RETURNING."""

        def body(tx: Tx) -> list[Row]:
            self._same_sidecars()
            return tx.execute(sql, params)

        def job(conn: sqlite3.Connection) -> list[Row]:
            _begin_waiting(conn, self.path)
            return _atomic(conn, body, begun=True)

        for turn in range(REJOINS):
            try:
                async with self._writing():
                    rows = await self._run(job)
                break
            except _SidecarsMoved:
                if turn == REJOINS - 1:
                    raise Unavailable(KEPT_MOVING) from None
        self._committed()
        return rows

    def _same_sidecars(self) -> None:
        """Inside a write, once BEGIN IMMEDIATE holds the write lock: refuse to go on (_SidecarsMoved, rolled back)
        when the -wal/-shm were deleted or replaced since `_writing` looked. A write that waited for the lock
        across the deletion would commit into the deleted -wal after another process saved it into the file and
        reconnected; folding that commit in later, over the new -wal's, lost it and damaged the file (6 servers
        creating tasks while the files were deleted: acknowledged tasks missing, integrity_check failing)."""
        if self.sidecars_changed():
            raise _SidecarsMoved
        if self.file_changed():  # followed on the heartbeat (runtime): restored from an open copy, or reconnected
            raise Unavailable(FILE_MOVED)

    async def _busy_refusal(self, exc: sqlite3.OperationalError) -> Unavailable:
        """A write that waited the busy timeout out: the usual one-line refusal, naming the process that holds
        the write lock, its agent and whether it is stopped, where /proc/locks tells (Linux; shared/db/holders.py).
        Read only now, after the wait: a write that gets the lock pays nothing for it."""
        try:
            found = await self.read(holders.holder, self.path)
        except sqlite3.Error:
            found = None
        if found is None:
            return from_sqlite(exc)
        return held_by(exc, found.shown(), found.fix())

    def _committed(self) -> None:
        """After a commit: push a wake-up to the other processes' change watchers (and this one's, on_commit)."""
        if self.wakeup is not None:
            self.wakeup.notify()
        if self.on_commit is not None:
            self.on_commit()

    # -- the file under us ----------------------------------------------------------------------
    def file_changed(self) -> bool:
        """True when the path no longer names the file this connection has open (deleted or replaced)."""
        return _file_identity(self._files[0]) != self._identity

    def sidecars_changed(self) -> bool:
        """True when the -wal or -shm file this connection uses was deleted or replaced under it (two stats).

        While a connection is open SQLite never deletes them, so a change is someone else's doing. Until it is
        noticed this process (and every process opened before the deletion) commits into the deleted -wal,
        which a process opened after it cannot see: the team is split and those commits would be lost."""
        if self._sidecars == (None, None) or _sidecar_identities(self._files) == self._sidecars:
            return False
        return not self.file_changed()  # a deleted or replaced database file is restored or followed (runtime)

    async def rejoin(self) -> bool:
        """If the -wal/-shm files were deleted or replaced: fold every commit still in the deleted -wal into the
        database file, then reconnect, so this process shares the files that the path names now. True if it
        rejoined. Every write checks first (`write`, `write_one`), and the heartbeat calls this."""
        async with self._lock:
            if not self.sidecars_changed():
                return False
            await self._rejoin()
            return True

    async def _rejoin(self) -> None:
        """Under the lock: checkpoint the old -wal into the file (it holds commits already acknowledged) until all of
        it is there, close, and connect again (SQLite makes new -wal/-shm files or joins those others made).

        Only a whole checkpoint lets this process write on: every process that opened the file before the deletion
        rejoins at about the same time, and a checkpoint that meets another's (SQLite answers busy at once, with no
        busy wait) or a reader's leaves frames behind. Connecting then, this process wrote over a file those frames
        were still being copied into, and the frames folded in later went over its commits: acknowledged writes
        lost, the file damaged. A rejoin that cannot finish within the busy timeout is refused and tried again by
        the next write or heartbeat; a connection closed by one whose reconnect failed is connected again."""
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while self._conn._connection is not None:  # (None: closed by a rejoin that could not reconnect)
            checkpoint = await self.fetchall("PRAGMA wal_checkpoint(TRUNCATE)")
            if not (checkpoint and checkpoint[0][0]):
                break
            if time.monotonic() > deadline:
                raise Unavailable(NOT_SAVED)
            await anyio.sleep(0.01)
        # Close before connecting again: a second connection of this process to the same file would share the
        # old connection's (deleted) -shm. Closing does not delete the new -wal that others may have made: SQLite
        # deletes it only when no other connection holds the file, and then the path names none of theirs.
        self._rejoining = anyio.Event()
        try:
            await self._conn.close()  # (the thread ends with it: nothing of ours is left queued)
            while True:
                try:
                    self._conn = await _connect(self.path, read_only=self.read_only)
                    break
                except sqlite3.Error:
                    if time.monotonic() > deadline:
                        raise
                    await anyio.sleep(0.05)
        finally:
            self._rejoining.set()
            self._rejoining = None
        self._sidecars = _sidecar_identities(self._files)
        self.rejoined += 1
        log.warning(
            "%s-wal/-shm were deleted or replaced while in use; saved their commits into the file and reconnected",
            self.path,
        )

    async def restore_file(self) -> bool:
        """Write this connection's copy back to the path if the file was deleted; True if we restored it.

        The open connection still holds every committed row of a deleted file. The copy goes to a
        temporary name first and is linked into place only if nobody restored it meanwhile.
        """
        if self.path.exists():
            return False
        temporary = self.path.with_name(f".{self.path.name}.restore-{os.getpid()}")
        target = sqlite3.connect(temporary, check_same_thread=False)
        try:
            async with self._lock:
                # Fold the WAL into the (deleted) file first: the restored copy then starts with an
                # empty WAL, and no frame of the old file is replayed onto the new one.
                await self.fetchall("PRAGMA wal_checkpoint(TRUNCATE)")
                await self._run(lambda conn: conn.backup(target))
        finally:
            target.close()
        try:
            os.link(temporary, self.path)
        except FileExistsError:
            return False
        finally:
            temporary.unlink(missing_ok=True)
        # The -wal/-shm beside the path are still the deleted file's, shared by every connection opened before the
        # deletion: the restored file's connections must not join them. The last of the deleted file's connections
        # to close would fold the restored file's frames into the deleted one and remove them (writes into the
        # deleted file are refused meanwhile: `_same_sidecars`). Unlinked, the restored file gets its own.
        if _sidecar_identities(self._files) == self._sidecars:
            for name in self._files[1:]:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name)
        return True

    # -- schema --------------------------------------------------------------------------------
    async def migrate(self) -> int:
        """Apply the numbered migrations this code knows and the file lacks; return the schema version.

        Runs under BEGIN IMMEDIATE, so servers starting together on a new file apply each migration once.
        A file written by a newer schema is refused untouched.
        """
        known = load_migrations()
        return await self.write(_apply_migrations, known, self.path)

    async def schema_version(self) -> int:
        """The newest migration applied to the file; 0 when it has none (a file opened without migrating
        that no Roundtable server has set up: empty, or another program's)."""
        if await self.scalar("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'") is None:
            return 0
        return int(await self.scalar("SELECT COALESCE(MAX(version), 0) FROM schema_migrations") or 0)


REJOINS = 5
"""Turns a write takes when it finds the -wal/-shm changed under it each time (rejoining before each)."""
KEPT_MOVING = (
    "the database's -wal/-shm files were deleted or replaced again and again while this write waited its turn; "
    "stop whatever is deleting them, then retry. Nothing was changed by this call."
)


FILE_MOVED = (
    "the database file was deleted or replaced under this server; it is being restored from the open copy or "
    "followed: retry in a moment. Nothing was changed by this call."
)
NOT_SAVED = (
    "the database's -wal/-shm files were deleted; the commits still in the deleted -wal could not all be saved into "
    "the file within 10 s (another process is reading or saving them); retry in a moment. Nothing was changed by "
    "this call."
)


class _SidecarsMoved(Exception):
    """Raised inside a write whose -wal/-shm changed after `_writing` looked: rolled back, rejoined, run again."""


def _begin_if_free(conn: sqlite3.Connection) -> bool:
    """BEGIN IMMEDIATE at once if no other connection holds the file's write lock (True), without waiting for
    it (the busy timeout is 0 off the connection's thread; False: nothing was begun, and the caller takes its
    turn on the connection's thread, where it waits up to the busy timeout)."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if not _busy(exc):
            raise
        return False
    return True


WAIT_SLICE_MS = 1_000
"""A write waits for the file's write lock in slices of this long, looking at the lock's holder between them."""


def _begin_waiting(conn: sqlite3.Connection, path: Path) -> None:
    """BEGIN IMMEDIATE on the connection's thread, waiting up to the busy timeout (BUSY_TIMEOUT_MS) for the
    write lock in slices of WAIT_SLICE_MS. Between slices the lock's holder is looked up (holders.py, Linux's
    /proc/locks; nothing elsewhere): a process that is stopped (SIGSTOP, Ctrl-Z, a debugger) will not let go
    while it stays stopped, so the wait ends there, busy, and the refusal naming it (`_busy_refusal`) comes after
    one slice instead of the whole timeout. A write that gets the lock within the first slice looks up
    nothing."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    try:
        while True:
            left_ms = int((deadline - time.monotonic()) * 1000)
            conn.execute(f"PRAGMA busy_timeout = {max(min(WAIT_SLICE_MS, left_ms), 0)}")
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not _busy(exc) or left_ms <= WAIT_SLICE_MS:
                    raise
                pid = holders.write_lock_pid(path)
                if pid is not None and holders.process(pid)[0] in holders.STOPPED:
                    raise
    finally:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")


def _busy(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY (and its extended codes): another connection holds what this statement needs right now."""
    return getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY


async def _connect(path: Path, *, read_only: bool) -> aiosqlite.Connection:
    """A connection with this module's PRAGMAs (read-only: through a `mode=ro` URI, setting nothing). It ends
    with a busy timeout of 0, the event loop's side: `_run` sets the 10 s one around each job on the thread.
    check_same_thread is off because jobs also run on the event loop's thread, never two at once (`_here`)."""
    if read_only:
        pending = aiosqlite.connect(read_only_uri(path), isolation_level=None, uri=True, check_same_thread=False)
    else:
        _create_user_only(path)
        pending = aiosqlite.connect(str(path), isolation_level=None, check_same_thread=False)
    try:
        conn = await pending
    except BaseException:
        await _worker_stopped(pending)
        raise
    try:
        conn.row_factory = sqlite3.Row
        await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if read_only:
            await conn.execute("PRAGMA schema_version")  # reads the header: not a database fails here
        else:
            await conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # a new file's; a no-op on an existing one
            await _enter_wal(conn)
            await conn.execute("PRAGMA synchronous = NORMAL")
            await conn.execute("PRAGMA foreign_keys = ON")
            await conn.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")
            # Opens (or joins) the -wal and -shm. Read whole: a statement left unfinished would keep a read
            # snapshot open, and the next BEGIN IMMEDIATE would fail at once instead of waiting its turn.
            await conn.execute_fetchall("SELECT 1 FROM sqlite_master LIMIT 1")
        await conn.execute("PRAGMA busy_timeout = 0")
    except BaseException:
        await conn.close()
        raise
    return conn


def _watched_names(path: Path) -> tuple[str, str, str]:
    """The database file's name and its -wal and -shm files' names, as strings: every write stats all three
    (`sidecars_changed`), and a stat of a string costs a fraction of a Path's."""
    name = os.fspath(path)
    return name, name + "-wal", name + "-shm"


def _sidecar_identities(files: tuple[str, str, str]) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
    """The identities of the -wal and -shm files of `files` (`_watched_names`; None where there is none)."""
    return _file_identity(files[1]), _file_identity(files[2])


async def _enter_wal(conn: aiosqlite.Connection) -> None:
    """Switch a connection to WAL. On a new file that several processes open at once, the switch can
    answer "database is locked" without consulting the busy handler; it is retried for up to the busy
    timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            await conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            await anyio.sleep(0.01)


def _apply_migrations(tx: Tx, known: list[tuple[int, str, str]], path: Path) -> int:
    latest = known[-1][0] if known else 0
    tx.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
    )
    applied = {int(r[0]) for r in tx.execute("SELECT version FROM schema_migrations")}
    current = max(applied, default=0)
    if current > latest:
        raise SchemaTooNew(
            f"{path} has schema version {current}, but this Roundtable knows only up to "
            f"{latest}; upgrade Roundtable (uvx --refresh …) or point ROUNDTABLE_DB at another file. "
            "The file was not modified."
        )
    for version, name, sql in known:
        if version in applied:
            continue
        for statement in split_statements(sql):
            tx.execute(statement)
        tx.execute(
            "INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, ?)",
            (version, name, time.time()),
        )
        log.info("applied migration %04d_%s", version, name)
    return max(current, latest)


@contextlib.contextmanager
def _numbers_sqlite_holds() -> Iterator[None]:
    """An argument SQLite cannot bind (an int of 2^63 or more: OverflowError) is the caller's mistake, not an
    internal error: refuse it with the fix. Every statement passes through here (reads, writes, one hop)."""
    try:
        yield
    except OverflowError:
        raise InvalidArgument(
            "a number is too large (the limit is 2^63-1 = 9223372036854775807); pass an id or count as listed"
        ) from None


def _create_user_only(path: Path) -> None:
    """A new database file is created readable and writable by this user only (0600), whatever the umask;
    SQLite gives its -wal and -shm files the same mode. An existing file is left as it is."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError:
        return  # the folder is missing or not writable: connecting reports it with the fix
    os.close(fd)


async def _worker_stopped(pending: aiosqlite.Connection) -> None:
    """Wait for the worker thread of a connection that failed to open. aiosqlite queues its stop without waiting,
    so a command that gives up at once (serve, status, token) closed its event loop first and the thread printed
    "RuntimeError: Event loop is closed" tracebacks under the one-line reason."""
    thread = getattr(pending, "_thread", None)  # aiosqlite 0.22 keeps its worker here; absent: nothing to wait
    if thread is not None and thread.is_alive():
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):
            await anyio.to_thread.run_sync(thread.join, abandon_on_cancel=True)


def folder_given(path: Path) -> str | None:
    """What is wrong when a database path names a folder (`--db .roundtable` for `--db .roundtable/roundtable.db`:
    SQLite would call it a disk I/O error and suggest the disk is full), with the fix; None otherwise."""
    if not path.is_dir():
        return None
    fix = f"point --db / ROUNDTABLE_DB at the team's file, e.g. {path / 'roundtable.db'}"
    return f"{path} is a folder, not a database file; {fix}"


def explain_open_failure(place: Place, exc: BaseException, *, retrying: bool = True) -> str:
    """Why the database could not be opened, in terms a person can act on; `retrying` says a server goes on
    trying (an MCP server does; a command that gives up on the first failure passes False)."""
    then = " The server keeps retrying." if retrying else ""
    if isinstance(place, PostgresUrl):
        return f"Cannot open the shared database {place.shown}: {exc}.{then}"
    path = place
    folder = path.parent
    try:
        read_only_fs = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        read_only_fs = False
    if folder_problem := folder_given(path):
        why = folder_problem
    elif read_only_fs:
        why = f"{folder} is on a read-only file system; remount it writable or set ROUNDTABLE_DB to a writable place"
    elif folder.exists() and not os.access(folder, os.W_OK):
        why = f"the folder {folder} is read-only for this user (SQLite needs to create files beside the database)"
    elif path.exists() and not os.access(path, os.R_OK | os.W_OK):
        why = f"{path} is read-only for this user; make it readable and writable"
    elif isinstance(exc, sqlite3.Error):
        return str(from_sqlite(exc))
    else:
        why = f"{exc}; fix the path or its permissions, or set ROUNDTABLE_DB"
    return f"Cannot open the shared database {path}: {why}.{then}"


def read_only_uri(path: Path) -> str:
    """The `file:` URI that opens `path` read-only (sqlite3.connect(..., uri=True)); never creates it."""
    return f"{path.absolute().as_uri()}?mode=ro"


def _file_identity(path: str | Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def load_migrations(folder: str = "migrations") -> list[tuple[int, str, str]]:
    """The migration files `NNNN_name.sql` shipped in shared/db/`folder`, in order."""
    found = [(v, e.name[5:-4], e.read_text(encoding="utf-8")) for v, e in migration_files(folder)]
    versions = [v for v, _, _ in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration numbers in shared/db/{folder}: {versions}")
    return found


def split_statements(script: str) -> list[str]:
    """Split a SQL script into complete statements (trigger bodies stay whole)."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        if not buffer and (not line.strip() or line.lstrip().startswith("--")):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        raise ValueError(f"incomplete SQL statement at end of migration: {buffer.strip()[:80]!r}")
    return statements
