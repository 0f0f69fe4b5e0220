"""The SQLite-specific pieces of the task queue's SQL, named so another engine can supply its own.

Tags, required capabilities and dependency lists travel as JSON arrays of strings or ids; tags match
without regard to case, and text filters use LIKE, which SQLite compares case-insensitively for ASCII.
Everything else in shared/store/tasks is plain SQL. The seam is described in docs/ARCHITECTURE.md.
"""

from __future__ import annotations

from shared.rules.quoting import LIKE_ESCAPE


def json_values(array: str, alias: str) -> str:
    """A FROM item yielding one row per element of the JSON array `array`, its element as `<alias>.value`."""
    return f"json_each({array}) {alias}"


def json_array_of(expression: str) -> str:
    """An aggregate: the values of `expression` over the group as a JSON array text ('[]' for no rows)."""
    return f"json_group_array({expression})"


def equal_ignoring_case(left: str, right: str) -> str:
    """True when the two texts are equal ignoring (ASCII) case."""
    return f"{left} = {right} COLLATE NOCASE"


def contains_ignoring_case(column: str, pattern: str) -> str:
    """True when `column` matches the LIKE `pattern` (shared.rules.quoting.like_contains) ignoring case."""
    return f"{column} LIKE {pattern} ESCAPE '{LIKE_ESCAPE}'"
