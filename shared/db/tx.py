"""The statements of one transaction on a plain `sqlite3` connection, and BEGIN IMMEDIATE…COMMIT around a
function of them. Kept apart from connection.py (aiosqlite, anyio) so a short-lived process — the Claude
Code hook, servers/cli/hook.py — reads and writes the file with the same Tx and nothing heavier."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

Params = Sequence[Any] | dict[str, Any]
Row = sqlite3.Row
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def locks_its_rows(fn: F) -> F:
    """Mark a write function that locks the rows it changes itself (`SELECT … FOR UPDATE [SKIP LOCKED]`, or an
    UPDATE that re-checks its condition on the row), so on PostgreSQL it runs without the team's writer lock
    (shared/db/pgsql.py TEAM_LOCK) until it draws a new row's id (its event, a notice): it takes the lock then, so
    ids are drawn and committed in one order (pgsql.PgTx). SQLite serializes every write anyway; the mark changes
    nothing there."""
    fn.locks_its_rows = True  # type: ignore[attr-defined]
    return fn


class Tx:
    """The statements of one write transaction. It runs on the connection's thread, all of it in one
    hop, so it has no awaits: a write function is plain Python around its SQL. `engine` names the engine
    ("sqlite" here, "postgresql" for shared/db/pgsql.py's PgTx): the areas' dialects answer by it."""

    engine = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Params = ()) -> list[Row]:
        """Run one statement and return its rows (RETURNING rows for writes)."""
        return self._conn.execute(sql, params).fetchall()

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        row: Row | None = self._conn.execute(sql, params).fetchone()
        return row

    def scalar(self, sql: str, params: Params = ()) -> Any:
        row = self.fetchone(sql, params)
        return None if row is None else row[0]

    def executemany(self, sql: str, params: Iterable[Params]) -> None:
        self._conn.executemany(sql, params)


def atomic(conn: sqlite3.Connection, body: Callable[[Tx], T], *, begun: bool = False) -> T:
    """BEGIN IMMEDIATE (unless the caller has `begun` it), the body, COMMIT; ROLLBACK on any exception, also
    when COMMIT itself fails.

    Runs as one job with no await inside: nothing else this process sends to the connection can land inside
    the transaction, and a caller cancelled meanwhile cannot leave it open.
    """
    if not begun:
        conn.execute("BEGIN IMMEDIATE")
    try:
        result = body(Tx(conn))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return result
