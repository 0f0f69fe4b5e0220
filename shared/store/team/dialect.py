"""The SQLite-specific SQL of the team stores (agents, presence, health, metrics) and the audit trail,
named in one place so another engine can later supply its own forms without touching a tool.

Everything else those stores write is plain SQL (RETURNING and ON CONFLICT included). Percentiles are
ranked in Python (shared/store/team/metrics.py), not with an engine's window or percentile functions.
"""

from __future__ import annotations

NOCASE = "COLLATE NOCASE"
"""Compare or order text without regard to ASCII case (agent names)."""

QUICK_CHECK = "PRAGMA quick_check(3)"
"""The file's integrity check: rows of damage found (at most three), or one row 'ok'."""

ROWS_CHANGED = "SELECT changes()"
"""How many rows the previous statement of this connection changed."""


def greatest(*values: str) -> str:
    """The largest of several values in one row (SQLite's scalar max; elsewhere GREATEST)."""
    return f"max({', '.join(values)})"


def count_if(condition: str) -> str:
    """An aggregate counting the rows where `condition` holds (SQLite sums booleans as 0/1)."""
    return f"sum({condition})"


def json_array_of(value: str) -> str:
    """An aggregate collecting `value` of each row into a JSON array (text)."""
    return f"json_group_array({value})"


def json_field(column: str, key: str) -> str:
    """The top-level `key` of the JSON object stored as text in `column`."""
    return f"json_extract({column}, '$.{key}')"


def hour_of(column: str) -> str:
    """The start of the hour a unix time falls in, as a REAL (CAST truncates toward zero in SQLite)."""
    return f"CAST({column} / 3600 AS INTEGER) * 3600.0"
