"""The engine-specific pieces of the task queue's SQL, named once per engine: `of(tx)` gives the engine's.

Tags, required capabilities and dependency lists travel as JSON arrays of strings or ids; tags match
without regard to case, and text filters ignore case. Everything else in shared/store/tasks is plain SQL
common to SQLite and PostgreSQL. The seam is described in docs/ARCHITECTURE.md.
"""

from __future__ import annotations

from shared.db.dialects import PostgresIds, SqliteIds, by_engine
from shared.rules.quoting import LIKE_ESCAPE


class Sqlite(SqliteIds):
    """SQLite's forms (JSON1, COLLATE NOCASE, LIKE that ignores ASCII case)."""

    FOR_THE_TAKE = ""
    """Appended to the take's row read: nothing on SQLite, whose write lock already keeps the row as read."""
    FOR_THE_TAKE_OF_ANY = ""
    """The same, for a read of several candidates of which the first free one is taken."""

    @staticmethod
    def json_values(array: str, alias: str) -> str:
        """A FROM item yielding one row per element of the JSON array `array`, as `<alias>.value` (text)."""
        return f"json_each({array}) {alias}"

    @staticmethod
    def json_array_of(expression: str) -> str:
        """An aggregate: the values of `expression` over the group as a JSON array text ('[]' for no rows)."""
        return f"json_group_array({expression})"

    @staticmethod
    def json_pair(first: str, second: str) -> str:
        """The two values as a JSON array of two, to be collected by json_array_of."""
        return f"json_array({first}, {second})"

    @staticmethod
    def equal_ignoring_case(left: str, right: str) -> str:
        """True when the two texts are equal ignoring case."""
        return f"{left} = {right} COLLATE NOCASE"

    @staticmethod
    def least(*values: str) -> str:
        """The smallest of several values in one row."""
        return f"min({', '.join(values)})"

    @staticmethod
    def contains_ignoring_case(column: str, pattern: str) -> str:
        """True when `column` matches the LIKE `pattern` (shared.rules.quoting.like_contains) ignoring case."""
        return f"{column} LIKE {pattern} ESCAPE '{LIKE_ESCAPE}'"


class Postgres(PostgresIds, Sqlite):
    """PostgreSQL's forms: JSON arrays through json_array_elements_text, ILIKE, the ICU collation `nocase`
    (made by shared/db/migrations_pg/0016_schema.sql), and row locks for the take at READ COMMITTED."""

    FOR_THE_TAKE = " FOR UPDATE OF t"
    """The take locks the row it re-checked (waiting for a claimer holding it, then re-checking the newest row)."""
    FOR_THE_TAKE_OF_ANY = " FOR UPDATE OF t SKIP LOCKED"
    """Of several candidates, skip those another claimer is taking: no double claim and no false "none ready"."""

    @staticmethod
    def json_values(array: str, alias: str) -> str:
        return f"json_array_elements_text(CAST({array} AS json)) AS {alias}(value)"

    @staticmethod
    def json_array_of(expression: str) -> str:
        return f"COALESCE(CAST(json_agg({expression}) AS text), '[]')"

    @staticmethod
    def json_pair(first: str, second: str) -> str:
        return f"json_build_array({first}, {second})"

    @staticmethod
    def least(*values: str) -> str:
        return f"LEAST({', '.join(values)})"

    @staticmethod
    def contains_ignoring_case(column: str, pattern: str) -> str:
        return f"{column} ILIKE {pattern} ESCAPE '{LIKE_ESCAPE}'"


SQLITE = Sqlite()
POSTGRES = Postgres()


of = by_engine(SQLITE, POSTGRES)


# The SQLite forms under their old names, for the readers not yet made engine-aware.
json_values = SQLITE.json_values
json_array_of = SQLITE.json_array_of
equal_ignoring_case = SQLITE.equal_ignoring_case
contains_ignoring_case = SQLITE.contains_ignoring_case
