"""The statements of one PostgreSQL transaction, in the same shape as shared/db/tx.py's Tx: the stores write one
SQL text for both engines, with `?` and `:name` parameters, and this module hands psycopg its form.

What is translated, once per distinct statement (cached), and nothing else:
- parameters: `?` becomes `%s`, `:name` becomes `%(name)s` (a `::type` cast stays), a literal `%` doubles;
- `INDEXED BY <index>`, SQLite's planner hint, is dropped: PostgreSQL's planner chooses from statistics.
Everything engine-specific beyond that is named in the areas' dialects (shared/store/<area>/dialect.py), which
answer per engine (`dialect.of(tx)`).

Kept apart from postgres.py (the pool, the listener) so a short-lived process (the Claude Code hook) runs the
same Tx on one plain psycopg connection.
"""

from __future__ import annotations

import contextlib
import functools
import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar, cast

import psycopg
from psycopg.rows import RowMaker
from psycopg.types.numeric import Int8Dumper

from shared.db.tx import Params, Row, Tx
from shared.errors import InvalidArgument, Unavailable

T = TypeVar("T")

LOCK_TIMEOUT_S = 10
"""Seconds a statement waits for a lock another session holds (the team lock, a task row) before it is refused:
SQLite's busy timeout, so a stuck or stopped holder (or a psql session left in an open transaction) costs the
others a one-line refusal, never a call that waits forever."""
IDLE_IN_TRANSACTION_S = 30
"""Seconds one of our sessions may sit in an open transaction between statements before the server ends it
(our transactions run whole in one call, in milliseconds): a process stopped (SIGSTOP) or hung in the middle of
a write loses it, and the locks it held, instead of holding the team's writer lock for as long as it is stopped."""
SESSION_OPTIONS = f"-c lock_timeout={LOCK_TIMEOUT_S}s -c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_S}s"
"""The settings of every session this code opens for the stores (the pool's, the hook's)."""

POOL_CONNECTIONS = 8
"""Connections one process's pool keeps at most (shared/db/postgres.py POOL_SIZE); its LISTEN connection is one more."""

CHANNEL = "roundtable"
"""The LISTEN/NOTIFY channel every commit that changes the team is announced on (shared/db/postgres.py)."""

_TOKEN = re.compile(
    r"'(?:[^']|'')*'"  # a string literal, copied as it is
    r'|"(?:[^"]|"")*"'  # a quoted identifier
    r"|::"  # a cast, not a parameter
    r"|:(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<q>\?)"
    r"|(?P<pct>%)"
    r"|(?P<hint>\bINDEXED\s+BY\s+[A-Za-z_][A-Za-z0-9_]*)",
    re.IGNORECASE,
)


@functools.lru_cache(maxsize=4096)
def translate(sql: str) -> str:
    """The psycopg form of a statement written for both engines (see the module docstring)."""

    def one(m: re.Match[str]) -> str:
        if m.group("name"):
            return f"%({m.group('name')})s"
        if m.group("q"):
            return "%s"
        if m.group("pct"):
            return "%%"
        if m.group("hint"):
            return ""
        return m.group(0).replace("%", "%%")  # psycopg reads % inside literals too

    return _TOKEN.sub(one, sql)


class PgRow(tuple[Any, ...]):
    """A row read by index or by column name, like sqlite3.Row (and `dict(row)` works the same)."""

    _names: dict[str, int]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            try:
                return tuple.__getitem__(self, self._names[key])
            except KeyError:
                raise IndexError(f"No item with that key: {key!r}") from None
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


@functools.lru_cache(maxsize=1024)
def _row_class(names: tuple[str, ...]) -> type[PgRow]:
    index: dict[str, int] = {}
    for i, name in enumerate(names):
        index.setdefault(name, i)
    return type("Row", (PgRow,), {"_names": index, "__slots__": ()})


def row_factory(cursor: psycopg.Cursor[Any]) -> RowMaker[Row]:
    """psycopg's row factory giving PgRow rows."""
    description = cursor.description
    if description is None:
        return lambda values: cast(Row, PgRow(values))
    kind = _row_class(tuple(c.name for c in description))
    return lambda values: cast(Row, kind(values))


def _bound(params: Params) -> Params:
    """Parameters as psycopg binds them: a bool as the integer SQLite stores (columns are integers here)."""
    if isinstance(params, dict):
        return {k: int(v) if isinstance(v, bool) else v for k, v in params.items()}
    return [int(v) if isinstance(v, bool) else v for v in params]


_DRAWS_IDS = re.compile(r"\bINSERT\s+INTO\b|\bnextval\s*\(", re.IGNORECASE)


@functools.lru_cache(maxsize=4096)
def draws_ids(sql: str) -> bool:
    """Whether a statement may draw a new row's id from a sequence (an INSERT, an explicit nextval). A false
    "yes" (the words inside a literal) only takes the team lock a statement early."""
    return _DRAWS_IDS.search(sql) is not None


class PgTx(Tx):
    """The statements of one transaction on a psycopg connection, with Tx's methods and answers.

    `ids_in_commit_order`: the transaction began without the team lock (a `locks_its_rows` write); it takes the
    lock before its first statement that draws an id (`draws_ids`) and holds it to its COMMIT, as every other
    write does from its start. So on PostgreSQL, as on SQLite, every new row's id is drawn by the one writer
    holding the team lock, and rows commit in the order of their ids: a follower that has seen id N will never
    see a row below N commit later (docs/ARCHITECTURE.md, "PostgreSQL")."""

    engine = "postgresql"

    def __init__(self, conn: psycopg.Connection[Any], *, ids_in_commit_order: bool = False) -> None:
        self._pg = conn  # deliberately not Tx.__init__ (no sqlite3)
        self._lock_before_ids = ids_in_commit_order
        self.took_team_lock = False
        """Whether this transaction took the team lock itself, before drawing its first id."""

    def _before(self, sql: str) -> None:
        if self._lock_before_ids and draws_ids(sql):
            with statement_errors():
                self._pg.execute(UNDER_THE_TEAM_LOCK)
            self._lock_before_ids = False
            self.took_team_lock = True

    def execute(self, sql: str, params: Params = ()) -> list[Row]:
        self._before(sql)
        with statement_errors():
            cur = self._pg.execute(translate(sql), _bound(params))
            return cur.fetchall() if cur.description is not None else []

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        rows = self.execute(sql, params)
        return rows[0] if rows else None

    def executemany(self, sql: str, params: Iterable[Params]) -> None:
        batch = [_bound(p) for p in params]
        if not batch:
            return
        self._before(sql)
        with statement_errors(), self._pg.cursor() as cur:
            cur.executemany(translate(sql), batch)


@contextlib.contextmanager
def statement_errors() -> Iterator[None]:
    """What a statement's failure means to the caller: a lost or refused connection is Unavailable (with the
    fix), a number PostgreSQL cannot hold is the caller's mistake (as on SQLite); any other error is a bug in
    our SQL and stays as it is."""
    try:
        yield
    except (OverflowError, psycopg.errors.NumericValueOutOfRange):
        raise InvalidArgument(
            "a number is too large (the limit is 2^63-1 = 9223372036854775807); pass an id or count as listed"
        ) from None
    except psycopg.errors.TransactionRollback as exc:  # a deadlock or a serialization failure: nothing was written
        raise Unavailable(
            f"Shared database error ({type(exc).__name__}): this write collided with another and was rolled back;"
            " retry it. Nothing was changed by this call."
        ) from exc
    except psycopg.errors.LockNotAvailable as exc:  # lock_timeout: another session holds what this needs
        raise Unavailable(
            f"Shared database busy: another session has held a lock this call needs for over {LOCK_TIMEOUT_S} s"
            " (a stopped or stuck Roundtable process, or a psql session left in an open transaction: see"
            " pg_stat_activity); retry in a moment. Nothing was changed by this call."
        ) from exc
    except psycopg.errors.IdleInTransactionSessionTimeout as exc:  # this process paused mid-transaction
        raise Unavailable(
            f"Shared database error (idle-in-transaction timeout): this process paused for over"
            f" {IDLE_IN_TRANSACTION_S} s in the middle of a write (stopped, or the machine overloaded), so the"
            " PostgreSQL server ended its transaction and let go of its locks; retry it. Nothing was changed by"
            " this call."
        ) from exc
    except psycopg.errors.QueryCanceled as exc:  # pg_cancel_backend, or a statement_timeout set on the server
        raise Unavailable(
            f"Shared database error ({str(exc).strip().splitlines()[0]}): the PostgreSQL server cancelled this"
            " call's statement (an administrator's pg_cancel_backend, or a statement_timeout set for the"
            " database or its user); retry it. Nothing was changed by this call."
        ) from exc
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        raise unavailable(exc) from exc


class Stale(Unavailable):
    """The connection was found lost at BEGIN (the server restarted, or ended the session, since it was last
    used): nothing of the transaction reached the server, so the call may run again on another connection."""


def begin(conn: psycopg.Connection[Any], sql: str = "BEGIN") -> None:
    """Begin a transaction; Stale when the connection turns out to be lost (a pooled one the server dropped)."""
    try:
        with statement_errors():
            conn.execute(sql)
    except Unavailable as exc:
        if conn.closed:
            raise Stale(str(exc)) from exc.__cause__
        raise


FULL = ("too many clients already", "remaining connection slots are reserved", "too many connections for")
"""What the server says when it refuses a connection for want of a slot (SQLSTATE 53300, which psycopg does not
carry on a failed connect): max_connections reached, the last slots kept for superusers, or a role's or a
database's CONNECTION LIMIT reached."""


def unavailable(exc: BaseException) -> Unavailable:
    """A PostgreSQL connection problem in terms a person can act on."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if any(said in first for said in FULL):
        return Unavailable(
            f"Shared database error ({_reason(first)}): {full_fix(first)}. Nothing was changed by this call."
        )
    return Unavailable(
        f"Shared database error ({first}): the PostgreSQL server cannot be reached or refused the connection; "
        "check that it runs and that ROUNDTABLE_DB's URL, user and password are right (roundtable doctor). "
        "Nothing was changed by this call."
    )


def _reason(first: str) -> str:
    """The server's own words of a failed connect ("FATAL:  sorry, too many clients already"), without the address."""
    return " ".join(first.rsplit(" failed: ", 1)[-1].split())


def full_fix(first: str) -> str:
    """What to do about a server out of connection slots (FULL), by which limit it named."""
    if "connections for role" in first or "connections for database" in first:
        which = "role" if "for role" in first else "database"
        return (
            f"the PostgreSQL server refused a new connection: that {which}'s CONNECTION LIMIT is reached; run fewer"
            f" Roundtable processes (each holds up to {POOL_CONNECTIONS + 1} connections), or raise it as a superuser"
            f" (ALTER {which.upper()} … CONNECTION LIMIT …)"
        )
    if "reserved" in first:
        slots = "all its connection slots but those it keeps for superusers (superuser_reserved_connections) are"
    else:
        slots = "all its connection slots (max_connections) are"
    return (
        f"the PostgreSQL server refused a new connection: {slots} in use;"
        f" run fewer processes on it (each Roundtable process holds up to {POOL_CONNECTIONS + 1} connections:"
        " roundtable doctor counts them), or raise max_connections in postgresql.conf and restart the server (or"
        " put PgBouncer in front)"
    )


TEAM_LOCK = "SELECT pg_advisory_xact_lock(hashtext('roundtable'))"
"""The team's writer lock: what SQLite's BEGIN IMMEDIATE gives every write, for the writes that need it
(docs/ARCHITECTURE.md, "PostgreSQL"). Held to the end of the transaction."""
NOTIFY = f"SELECT pg_notify('{CHANNEL}', %s)"
"""Announce the commit to every listener (delivered at COMMIT, never on rollback); the payload is the writing
process's token, so it does not wake itself (as SQLite's data_version does not move for its own commits)."""


ROW_WAIT_MS = 100
"""Once a write holds the team lock, how long one of its statements may wait for a lock another session holds (a
task row, or a table a CREATE INDEX or VACUUM FULL has). Whoever locks rows without the team lock (a claim, a
one-statement write) holds them for milliseconds; past this the write lets the team lock go and tries again
(`atomic`), so a row or table held from outside (a psql session's FOR UPDATE left open) never holds every other
write of the team behind it."""
UNDER_THE_TEAM_LOCK = f"{TEAM_LOCK}; SET LOCAL lock_timeout = '{ROW_WAIT_MS}ms'"
"""The team lock, waited for up to LOCK_TIMEOUT_S, then the short wait for anything else (one round trip)."""
NOTIFY_UNDER_THE_TEAM_LOCK = f"SELECT pg_notify('{CHANNEL}', %s), set_config('lock_timeout', '{LOCK_TIMEOUT_S}s', true)"
"""NOTIFY, and the usual lock wait back for the COMMIT: a notifying commit queues for the server's notification
lock behind the other notifying commits (claims' too), which the short wait must not refuse."""


class _RowBusy(Exception):
    """A statement under the team lock waited ROW_WAIT_MS for a lock another session holds (a row's, or a
    table's); rolled back."""


def atomic(conn: psycopg.Connection[Any], body: Callable[[Tx], T], *, origin: str, serialize: bool = True) -> T:
    """BEGIN, the team lock (unless `serialize` is off: the body locks the rows it changes itself, and takes the
    team lock only before it draws an id: PgTx's `ids_in_commit_order`), the body, the notification, COMMIT;
    ROLLBACK on any exception (nothing is notified then).

    Under the team lock a statement waits at most ROW_WAIT_MS for a lock another session holds: the write is then
    rolled back, which lets the team lock go, and runs again a moment later, for up to LOCK_TIMEOUT_S in all, then
    is refused in one line. The other writes of the team go on meanwhile. (Taking the rows before the team lock
    would need to know them before the body runs; NOWAIT would refuse a write whenever a claim held its task for a
    millisecond.) Nothing of a rolled-back attempt stays: the body runs again from the start."""
    deadline = time.monotonic() + LOCK_TIMEOUT_S
    pause, left = 0.02, None
    while True:
        try:
            return _attempt(conn, body, origin=origin, serialize=serialize, team_wait=left)
        except _RowBusy as busy:
            if time.monotonic() + pause >= deadline:
                raise Unavailable(
                    "Shared database busy: another session has held a row or a table this write needs for over"
                    f" {LOCK_TIMEOUT_S} s (a psql session or another client left in an open transaction, a CREATE"
                    " INDEX, VACUUM FULL or ALTER TABLE under way, or a stuck process: see pg_stat_activity and"
                    " pg_locks); the team's other writes went on meanwhile. Retry in a moment, or end that"
                    " session. Nothing was changed by this call."
                ) from busy.__cause__
            time.sleep(pause)  # outside any transaction: the team lock is free for the others meanwhile
            pause = min(pause * 2, 0.5)
            left = deadline - time.monotonic()


def _attempt(
    conn: psycopg.Connection[Any],
    body: Callable[[Tx], T],
    *,
    origin: str,
    serialize: bool,
    team_wait: float | None = None,
) -> T:
    """One try of `atomic`; `team_wait`: on a retry, the seconds left of the whole wait, the most the team lock is
    waited for this time (the first try waits the session's LOCK_TIMEOUT_S)."""
    begin(conn)
    locked = False
    tx = PgTx(conn, ids_in_commit_order=not serialize)
    try:
        if serialize:
            with statement_errors():
                if team_wait is not None:
                    conn.execute(f"SET LOCAL lock_timeout = '{max(int(team_wait * 1000), 1)}ms'")
                conn.execute(UNDER_THE_TEAM_LOCK)
            locked = True
        try:
            result = body(tx)
        except Unavailable as exc:
            if (locked or tx.took_team_lock) and isinstance(exc.__cause__, psycopg.errors.LockNotAvailable):
                raise _RowBusy() from exc.__cause__
            raise
        locked = locked or tx.took_team_lock
        with statement_errors():
            conn.execute(NOTIFY_UNDER_THE_TEAM_LOCK if locked else NOTIFY, (origin,))
            conn.execute("COMMIT")
    except BaseException:
        if not conn.closed and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.execute("ROLLBACK")
        raise
    return result


def snapshot(conn: psycopg.Connection[Any], body: Callable[[Tx], T]) -> T:
    """Reads that belong together, in one snapshot (REPEATABLE READ, read only), ended before returning."""
    begin(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    try:
        return body(PgTx(conn))
    finally:
        if not conn.closed and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.execute("ROLLBACK")


def configure(conn: psycopg.Connection[Any]) -> None:
    """Every Python int is sent as a BIGINT, as SQLite stores it (psycopg would pick the smallest type that
    holds the value, and a `SELECT ?` beside a BIGINT column would then differ in type)."""
    conn.adapters.register_dumper(int, Int8Dumper)


CONNECT_TIMEOUT_S = 10
"""Seconds `connect` waits for the server's answer (psycopg's own default is 130 s: a hung server held the
hook past Claude Code's timeout)."""


def connect(url: str, **kwargs: Any) -> psycopg.Connection[Row]:
    """A plain autocommit connection with PgRow rows, BIGINT ints and the pool's session settings (the hook's),
    given up after CONNECT_TIMEOUT_S when the server does not answer."""
    kwargs.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
    with statement_errors():
        conn = psycopg.connect(url, autocommit=True, row_factory=row_factory, options=SESSION_OPTIONS, **kwargs)
    configure(conn)
    return conn


def split_statements(script: str) -> Iterator[str]:
    """A PostgreSQL migration script in statements: split at `;` at a line's end, outside `$$` bodies."""
    buffer: list[str] = []
    in_body = False
    for line in script.splitlines():
        if not buffer and (not line.strip() or line.lstrip().startswith("--")):
            continue
        buffer.append(line)
        in_body ^= line.count("$$") % 2 == 1
        if not in_body and line.rstrip().endswith(";"):
            yield "\n".join(buffer).strip()
            buffer = []
    if "".join(buffer).strip():
        raise ValueError(f"incomplete SQL statement at end of migration: {' '.join(buffer)[:80]!r}")
