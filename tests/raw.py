"""Reading and writing the team's tables behind the servers' back (tampering tests, pruning by hand), on either
engine: a plain sqlite3 connection to the file, or a plain psycopg connection to the PostgreSQL database."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from shared.db import pgsql
from shared.db.place import Place, PostgresUrl, parse_place


class Raw:
    """`execute(sql, params)` → the rows (tuples), with SQLite's `?` parameters on both engines."""

    def __init__(self, conn: Any, engine: str) -> None:
        self._conn, self.engine = conn, engine

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self.engine == "postgresql":
            cur = self._conn.execute(pgsql.translate(sql), list(params))
            return [tuple(r) for r in cur.fetchall()] if cur.description else []
        return [tuple(r) for r in self._conn.execute(sql, params).fetchall()]

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        rows = self.execute(sql, params)
        return rows[0] if rows else None


@contextmanager
def connected(place: Place | str) -> Iterator[Raw]:
    """One connection to `place`, every statement committed as it runs."""
    where = parse_place(place) if isinstance(place, str) else place
    if isinstance(where, PostgresUrl):
        conn = pgsql.connect(where.url)
        try:
            yield Raw(conn, "postgresql")
        finally:
            conn.close()
        return
    with sqlite3.connect(where, isolation_level=None) as lite:
        yield Raw(lite, "sqlite")
