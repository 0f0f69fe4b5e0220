"""How each area picks its SQL dialect: `of = by_engine(SQLITE, POSTGRES)` in the area's dialect module, then
`dialect.of(tx)` (or of a Database) gives the forms for the engine it runs on."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar


class HasEngine(Protocol):
    engine: str
    """"sqlite" or "postgresql" (a Tx, a Database)."""


D = TypeVar("D")


def by_engine(sqlite: D, postgres: D) -> Callable[[HasEngine], D]:
    """The area's `of`: its PostgreSQL dialect for a Tx or Database on PostgreSQL, else its SQLite one."""

    def of(where: HasEngine) -> D:
        """The dialect of the engine a Tx or a Database runs on."""
        return postgres if where.engine == "postgresql" else sqlite

    return of


def id_list(ids: Iterable[int]) -> str:
    """The value to bind for an `each_id` parameter: the ids as one JSON array (both engines)."""
    return json.dumps([int(i) for i in ids])


class SqliteIds:
    """A list of ids bound as one parameter, so a statement's text is the same whatever the ids: its prepared
    form is reused (Python's sqlite3 caches statements by their text; a statement with the ids written into
    it was prepared again on every call, 150 µs for the receipts of message_send)."""

    @staticmethod
    def each_id(ids: str) -> str:
        """The rows (one integer `value` column) of the id list bound as `ids` (see `id_list`), for
        `column IN (each_id(...))`: each id is one index seek."""
        return f"SELECT value FROM json_each({ids})"


class PostgresIds(SqliteIds):
    @staticmethod
    def each_id(ids: str) -> str:
        return f"SELECT CAST(j.value AS BIGINT) AS value FROM json_array_elements_text(CAST({ids} AS json)) AS j(value)"
