"""The engine-specific SQL of the team stores (agents, presence, health, metrics) and the audit trail, named
once per engine: `of(tx)` gives the engine's forms.

Everything else those stores write is plain SQL (RETURNING and ON CONFLICT included). Percentiles are
ranked in Python (shared/store/team/metrics.py), not with an engine's window or percentile functions.
"""

from __future__ import annotations

from shared.db.dialects import by_engine

NOCASE = "COLLATE NOCASE"
"""Compare or order text without regard to case (agent names): SQLite's collation, and on PostgreSQL the ICU
collation of that name made by shared/db/migrations_pg/0016_schema.sql."""

QUICK_CHECK = "PRAGMA quick_check(3)"
"""The file's integrity check (SQLite only): rows of damage found (at most three), or one row 'ok'."""


def count_if(condition: str) -> str:
    """An aggregate counting the rows where `condition` holds (NULL over no rows, as sum is; both engines)."""
    return f"sum(CASE WHEN {condition} THEN 1 ELSE 0 END)"


class Sqlite:
    """SQLite's forms."""

    @staticmethod
    def greatest(*values: str) -> str:
        """The largest of several values in one row (SQLite's scalar max)."""
        return f"max({', '.join(values)})"

    @staticmethod
    def json_array_of(value: str) -> str:
        """An aggregate collecting `value` of each row into a JSON array (text; '[]' over no rows)."""
        return f"json_group_array({value})"

    @staticmethod
    def json_field(column: str, key: str) -> str:
        """The top-level `key` of the JSON object stored as text in `column`."""
        return f"json_extract({column}, '$.{key}')"

    @staticmethod
    def whole(expression: str) -> str:
        """A non-negative number without its fraction, as an integer."""
        return f"CAST({expression} AS INTEGER)"


class Postgres(Sqlite):
    """PostgreSQL's forms (its CAST to an integer rounds, so truncation is spelled out)."""

    @staticmethod
    def greatest(*values: str) -> str:
        return f"GREATEST({', '.join(values)})"

    @staticmethod
    def json_array_of(value: str) -> str:
        return f"COALESCE(CAST(json_agg({value}) AS text), '[]')"

    @staticmethod
    def json_field(column: str, key: str) -> str:
        return f"(CAST({column} AS json) ->> '{key}')"

    @staticmethod
    def whole(expression: str) -> str:
        return f"CAST(trunc({expression}) AS BIGINT)"


SQLITE = Sqlite()
POSTGRES = Postgres()


of = by_engine(SQLITE, POSTGRES)
