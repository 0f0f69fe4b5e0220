"""The SQL of the proposals area that is SQLite's own, named once so another engine can supply its own.

Everything else the area's SQL uses (RETURNING, ON CONFLICT … DO UPDATE with `excluded`, EXISTS,
COALESCE) is common to SQLite and PostgreSQL.
"""

from __future__ import annotations

JSON_LIST = "json_each(?)"
"""A table of the elements of a JSON array bound as one text parameter, one row per element in `value`:
how a list of agent ids (or names) reaches a query as a single parameter."""

CASELESS = "COLLATE NOCASE"
"""Compare or order names without regard to (ASCII) case, as agent names are matched."""


def json_object_agg(key: str, value: str) -> str:
    """An aggregate: the grouped rows as one JSON object text {key: value, …} (NULL when there are none)."""
    return f"json_group_object({key}, {value})"


def as_number(condition: str) -> str:
    """A condition as 1 or 0, to add to a counter (SQLite's comparisons are already integers)."""
    return f"({condition})"
