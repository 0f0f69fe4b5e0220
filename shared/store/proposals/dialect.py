"""The SQL of the proposals area that differs between engines, named once per engine: `of(tx)` gives it.

Everything else the area's SQL uses (RETURNING, ON CONFLICT … DO UPDATE with `excluded` and the target's
columns qualified by its table, EXISTS, COALESCE) is common to SQLite and PostgreSQL.
"""

from __future__ import annotations

from shared.db.dialects import by_engine

CASELESS = "COLLATE NOCASE"
"""Compare or order names without regard to case, as agent names are matched (on PostgreSQL the ICU collation
`nocase` of shared/db/migrations_pg/0016_schema.sql)."""


class Sqlite:
    @staticmethod
    def json_list(alias: str) -> str:
        """A FROM item: the elements of a JSON array bound as one text parameter (`?`), one row per element as
        `<alias>.value` — how a list of agent ids (or names) reaches a query as a single parameter."""
        return f"json_each(?) {alias}"

    @staticmethod
    def json_object_agg(key: str, value: str) -> str:
        """An aggregate: the grouped rows as one JSON object text {key: value, …} (NULL when there are none)."""
        return f"json_group_object({key}, {value})"

    @staticmethod
    def as_number(condition: str) -> str:
        """A condition as 1 or 0, to add to a counter (SQLite's comparisons are already integers)."""
        return f"({condition})"


class Postgres(Sqlite):
    @staticmethod
    def json_list(alias: str) -> str:
        return f"json_array_elements_text(CAST(? AS json)) AS {alias}(value)"

    @staticmethod
    def json_object_agg(key: str, value: str) -> str:
        return f"CAST(json_object_agg({key}, {value}) AS text)"

    @staticmethod
    def as_number(condition: str) -> str:
        return f"CAST(({condition}) AS INTEGER)"


SQLITE = Sqlite()
POSTGRES = Postgres()


of = by_engine(SQLITE, POSTGRES)
