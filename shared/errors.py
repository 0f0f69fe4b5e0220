"""Domain errors. Stores raise these; the tool layer (shared/frame/tool.py) turns them into ToolErrors.

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


class QuotaExceeded(RoundtableError):
    """The acting agent holds as much of something as its quota allows (shared/store/quotas.py)."""

    kind = "quota_exceeded"


class Unavailable(RoundtableError):
    """The shared database cannot do what was asked right now (read-only, full, locked, damaged)."""

    kind = "unavailable"


class SchemaTooNew(Unavailable):
    kind = "schema_too_new"


# SQLite result codes (primary, as sqlite3 exceptions name them) that describe the file or the machine,
# not our SQL: each maps to what a person should do about it.
FILE_PROBLEMS = {
    "SQLITE_READONLY": "the database file or its folder is read-only for this process; make it writable",
    "SQLITE_FULL": "the disk holding the database is full; free space",
    "SQLITE_IOERR": "the database file could not be read or written (disk full, a file size limit or a failing "
    "disk); free space or check the disk",
    "SQLITE_BUSY": "another process held the write lock for over 10 s; retry in a moment",
    "SQLITE_LOCKED": "the database is locked by another operation; retry in a moment",
    "SQLITE_NOTADB": "the file is not a SQLite database; point ROUNDTABLE_DB at another file or restore it",
    "SQLITE_CORRUPT": "the database file is damaged; restore it from a backup or point ROUNDTABLE_DB elsewhere",
    "SQLITE_CANTOPEN": "the database file cannot be opened (missing folder or permissions); check ROUNDTABLE_DB",
    "SQLITE_PERM": "the operating system refused access to the database file; check its permissions",
    "SQLITE_PROTOCOL": "the database lock protocol failed (a network filesystem?); keep the file on a local disk",
}


def _primary(exc: sqlite3.Error) -> str:
    name = getattr(exc, "sqlite_errorname", "") or ""
    return next((code for code in FILE_PROBLEMS if name == code or name.startswith(code + "_")), "")


def is_file_problem(exc: sqlite3.Error) -> bool:
    """True when the error is about the database file or the machine (to report), not a bug in our SQL."""
    return bool(_primary(exc))


def from_sqlite(exc: sqlite3.Error) -> Unavailable:
    """Translate an sqlite3 error about the file itself into a message that names the fix."""
    hint = FILE_PROBLEMS.get(_primary(exc), "retry; if it persists run `roundtable doctor`")
    return Unavailable(f"Shared database error ({exc}): {hint}. Nothing was changed by this call.")


def held_by(exc: sqlite3.Error, holder: str, fix: str) -> Unavailable:
    """A write that waited the busy timeout out, with who holds the write lock (shared/db/holders.py) and the fix."""
    return Unavailable(
        f"Shared database error ({exc}): the write lock is held by {holder} and was not let go within 10 s; "
        f"{fix}. Nothing was changed by this call."
    )


def domain_error(exc: RoundtableError | sqlite3.Error) -> RoundtableError:
    """What the caller is told: a domain error as it is, a problem with the file named with its fix. An
    sqlite3 error that is a bug in our SQL is re-raised, to be logged and reported as an internal error."""
    if isinstance(exc, RoundtableError):
        return exc
    if not is_file_problem(exc):
        raise exc
    return from_sqlite(exc)
