"""How each area picks its SQL dialect: `of = by_engine(SQLITE, POSTGRES)` in the area's dialect module, then
`dialect.of(tx)` (or of a Database) gives the forms for the engine it runs on."""

from __future__ import annotations

from collections.abc import Callable
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
