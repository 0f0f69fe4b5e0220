"""The team's database opened directly by a test, past the stores, on either engine: `with direct(place) as
conn: conn.execute("SELECT … WHERE id = ?", (1,))`. The SQL is written once, with `?` parameters, and reaches
PostgreSQL through the engine's own translation (shared/db/pgsql.py); each statement commits on its own."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, Protocol

from shared.db.place import Place, PostgresUrl, parse_place


class Rows(Protocol):
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Direct(Protocol):
    """What the invariant checks need of a connection: `execute(sql, params)` giving rows as tuples."""

    engine: str

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows: ...


class _Sqlite:
    engine = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        return self.conn.execute(sql, tuple(params))


class _Postgres:
    engine = "postgresql"

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        from shared.db.pgsql import translate

        return self.conn.execute(translate(sql), tuple(params))  # type: ignore[no-any-return]


@contextmanager
def direct(place: Place | str) -> Iterator[Direct]:
    """A plain connection to the team's database at `place` (a Place, a path or a URL), closed after."""
    where = parse_place(place) if isinstance(place, str) else place
    if isinstance(where, PostgresUrl):
        import psycopg

        with psycopg.connect(where.url, autocommit=True) as conn:
            yield _Postgres(conn)
        return
    with closing(sqlite3.connect(Path(where), isolation_level=None, timeout=10)) as conn:
        yield _Sqlite(conn)
