"""Domain errors. Stores raise these; the tool layer (shared/tooling.py) turns them into ToolErrors.

Every message says what is wrong and what to do next, because a model reads it and must recover.
"""

from __future__ import annotations

import sqlite3


class RoundtableError(Exception):
    """Base of every error a caller can act on. `kind` names it in metrics."""

    kind = "error"


class InvalidArgument(RoundtableError):
    kind = "invalid_argument"


class NotFound(RoundtableError):
    kind = "not_found"


class Conflict(RoundtableError):
    kind = "conflict"


class Forbidden(RoundtableError):
    kind = "forbidden"


class RateLimited(RoundtableError):
    kind = "rate_limited"


class Unavailable(RoundtableError):
    """The shared database cannot do what was asked right now (read-only, full, locked, damaged)."""

    kind = "unavailable"


class SchemaTooNew(Unavailable):
    kind = "schema_too_new"


FILE_PROBLEMS = (
    "readonly",
    "read-only",
    "full",
    "locked",
    "busy",
    "not a database",
    "malformed",
    "corrupt",
    "unable to open",
    "disk i/o",
    "no such table",
)


def is_file_problem(exc: sqlite3.Error) -> bool:
    """True when the error is about the database file (a condition to report), not a bug in our SQL."""
    text = str(exc).lower()
    return any(marker in text for marker in FILE_PROBLEMS)


def from_sqlite(exc: sqlite3.Error) -> Unavailable:
    """Translate an sqlite3 error about the file itself into a message that names the fix."""
    text = str(exc).lower()
    if "readonly" in text or "read-only" in text:
        hint = "the database file or its folder is read-only; make it writable by this user"
    elif "full" in text:
        hint = "the disk holding the database is full; free space"
    elif "locked" in text or "busy" in text:
        hint = "another process held the write lock for over 10 s; retry in a moment"
    elif "not a database" in text or "malformed" in text or "corrupt" in text:
        hint = "the file is not a usable SQLite database; point ROUNDTABLE_DB at another file or restore it"
    elif "unable to open" in text or "no such table" in text or "disk i/o" in text:
        hint = "the database file is missing or unreadable (was it deleted?); restart the server to recreate it"
    else:
        hint = "retry; if it persists run `roundtable doctor`"
    return Unavailable(f"Shared database error ({exc}): {hint}. Nothing was changed by this call.")
