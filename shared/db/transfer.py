"""`roundtable copy`: a team's SQLite file moved into a PostgreSQL database, whole or not at all.

The file is read through a snapshot (SQLite's backup into a temporary file, so servers may keep writing to
it meanwhile), brought to this Roundtable's schema there, never in place. The target is migrated, then every
table of the team is copied in one transaction, parents before children (the foreign keys of the target's
catalog decide the order), each with its ids: the target's id sequences continue after the highest id the file
ever gave (SQLite's AUTOINCREMENT counter included), so no id is given twice. While rows go in, the target's
own triggers are paused (the file's rows already hold what they keep, e.g. tasks.unmet_deps) and a column
that refers to its own table (a reply to a later message, an entry superseded by a newer one) is filled in a
second pass. The rows of every table are counted on both sides before the commit: any difference, or any
error, rolls the whole copy back.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import psycopg
from psycopg import sql

from shared.db import holders
from shared.db.connection import Database, read_only_uri
from shared.db.pgsql import CONNECT_TIMEOUT_S, LOCK_TIMEOUT_S, TEAM_LOCK
from shared.db.place import PostgresUrl
from shared.errors import InvalidArgument

SKIPPED = {
    "schema_migrations": "the target records its own migrations",
    "integrity_checks": "a check of the SQLite file, not part of the team",
    "search_indexed": "how far the file's full-text index of mail reaches; PostgreSQL indexes each message as written",
}
"""Tables of the file that are not copied, and why."""
BATCH = 2_000
LOCK_WAIT_S = LOCK_TIMEOUT_S
"""Seconds the copy waits for a lock another process holds, then gives up in one line: the file's (SQLite's busy
timeout: a process holding it exclusively), or, in the target, the team's writer lock or a table another session
has in use (TRUNCATE for --replace, pausing triggers). The stores' lock timeout (shared/db/pgsql.py)."""


@dataclass(frozen=True)
class Counted:
    """One table: the rows the file holds, and the rows the target holds after the copy."""

    table: str
    source: int
    copied: int


class CopyRefused(InvalidArgument):
    """The copy cannot start (no file, a target holding a team, a table it has no place for); nothing was written."""


class CopyFailed(RuntimeError):
    """The copy went wrong on its way and was rolled back whole."""


@contextmanager
def snapshot(path: Path) -> Iterator[sqlite3.Connection]:
    """A consistent, migrated copy of the team's file in a temporary folder (the file itself is only read)."""
    if not path.is_file():
        raise CopyRefused(f"there is no SQLite file at {path}; name the team's file with --from")
    with tempfile.TemporaryDirectory(prefix="roundtable-copy-") as folder:
        copy = Path(folder) / "snapshot.db"
        try:
            with closing(sqlite3.connect(read_only_uri(path), uri=True, timeout=LOCK_WAIT_S)) as source:
                source.execute("SELECT count(*) FROM sqlite_master").fetchone()
                with closing(sqlite3.connect(copy)) as target:
                    source.backup(target)
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF != sqlite3.SQLITE_BUSY:
                raise CopyRefused(
                    f"{path} cannot be read as a SQLite database ({exc}); is it the team's file?"
                ) from None
            found = holders.holder(None, path)
            who = f"by {found.shown()}; {found.fix()}" if found else "by another process; retry when it lets go"
            raise CopyRefused(f"{path} stayed locked for over {LOCK_WAIT_S} s {who}") from None
        except sqlite3.DatabaseError as exc:
            raise CopyRefused(f"{path} cannot be read as a SQLite database ({exc}); is it the team's file?") from None
        anyio.run(_migrate, copy)
        with closing(sqlite3.connect(copy)) as conn:
            yield conn


async def _migrate(place: Path | PostgresUrl) -> None:
    await (await Database.open(place)).close()


def team_tables(source: sqlite3.Connection) -> list[str]:
    """The file's own tables (no SQLite internals, no full-text index tables, none of SKIPPED)."""
    listed = source.execute("PRAGMA table_list").fetchall()  # (schema, name, type, ncol, wr, strict)
    return sorted(
        name
        for schema, name, kind, *_ in listed
        if schema == "main" and kind == "table" and not name.startswith("sqlite_") and name not in SKIPPED
    )


def copy_team(source_file: Path, target: PostgresUrl, *, replace: bool = False) -> list[Counted]:
    """Copy the team in `source_file` into `target` in one transaction; the per-table counts, all checked.

    Refused (CopyRefused, nothing written) when the target already holds rows, unless `replace`, which
    deletes what it holds in the same transaction."""
    with snapshot(source_file) as source:
        tables = team_tables(source)
        anyio.run(_migrate, target)
        try:
            # commits at the end, or rolls back whole; a lock it waits for is waited for LOCK_WAIT_S at most
            with psycopg.connect(
                target.url,
                autocommit=False,
                connect_timeout=CONNECT_TIMEOUT_S,
                options=f"-c lock_timeout={LOCK_WAIT_S}s",
            ) as conn:
                return _copy(source, conn, tables, replace=replace, target=target)
        except psycopg.errors.LockNotAvailable:
            raise CopyFailed(
                f"another session of {target.shown} held a lock the copy needs for over {LOCK_WAIT_S} s (a Roundtable"
                " server writing there holds the team's writer lock, a reader or a psql session left in an open"
                " transaction holds the tables: see pg_stat_activity); stop the servers on the target or end that"
                " session, then copy again"
            ) from None


def _copy(
    source: sqlite3.Connection,
    conn: psycopg.Connection[Any],
    tables: Sequence[str],
    *,
    replace: bool,
    target: PostgresUrl,
) -> list[Counted]:
    conn.execute(TEAM_LOCK)  # the team's writer lock: no server writes while the copy runs
    columns = {t: [r[1] for r in source.execute(f'PRAGMA table_info("{t}")')] for t in tables}
    _check_places(conn, columns)
    held = [(t, n) for t in tables if (n := _count(conn, t))]
    if held and not replace:
        shown = ", ".join(f"{t} {n}" for t, n in held[:6]) + (" …" if len(held) > 6 else "")
        raise CopyRefused(
            f"{target.shown} already holds a team ({shown}): copy into an empty database, "
            "or pass --replace to delete what it holds first"
        )
    references = _references(conn)
    order = _parents_first(references, tables)
    if held:
        conn.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY").format(sql.SQL(", ").join(map(sql.Identifier, order))))
    paused = _with_triggers(conn, order)
    for table in paused:
        conn.execute(sql.SQL("ALTER TABLE {} DISABLE TRIGGER USER").format(sql.Identifier(table)))
    for table in order:
        own = {c for child, parent, cols in references if child == parent == table for c in cols}
        _copy_table(source, conn, table, columns[table], own)
    for table in paused:
        conn.execute(sql.SQL("ALTER TABLE {} ENABLE TRIGGER USER").format(sql.Identifier(table)))
    _continue_ids(source, conn, order)
    counts = [
        Counted(t, int(source.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]), _count(conn, t)) for t in tables
    ]
    wrong = [c for c in counts if c.source != c.copied]
    if wrong:
        raise CopyFailed("the counts differ: " + ", ".join(
            f"{c.table} {c.source} in the file, {c.copied} copied" for c in wrong
        ))  # fmt: skip
    return counts


def _count(conn: psycopg.Connection[Any], table: str) -> int:
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
    return int(row[0]) if row else 0


def _target_columns(conn: psycopg.Connection[Any]) -> dict[str, set[str]]:
    """The target's writable columns per table (generated columns, such as the search vectors, are left out)."""
    rows = conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND is_generated = 'NEVER'"
    ).fetchall()
    found: dict[str, set[str]] = {}
    for table, column in rows:
        found.setdefault(table, set()).add(column)
    return found


def _check_places(conn: psycopg.Connection[Any], columns: dict[str, list[str]]) -> None:
    """Every table and column of the file has its place in the target, or the copy would lose it."""
    places = _target_columns(conn)
    missing = [t for t in columns if t not in places]
    missing += [f"{t}.{c}" for t, cs in columns.items() if t in places for c in cs if c not in places[t]]
    if missing:
        raise CopyRefused(
            f"the target has no place for {', '.join(missing[:6])}: the file comes from another Roundtable "
            "version; copy with the Roundtable that wrote the file"
        )


References = list[tuple[str, str, list[str]]]


def _references(conn: psycopg.Connection[Any]) -> References:
    """(table, the table it refers to, the referring columns) for each foreign key in the target."""
    rows = conn.execute(
        "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text,"
        " array(SELECT a.attname FROM unnest(c.conkey) k JOIN pg_attribute a"
        "       ON a.attrelid = c.conrelid AND a.attnum = k)"
        " FROM pg_constraint c WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace"
    ).fetchall()
    return [(child, parent, list(cols)) for child, parent, cols in rows]


def _parents_first(references: References, tables: Sequence[str]) -> list[str]:
    """The tables in an order where each comes after every other table it refers to."""
    parents: dict[str, set[str]] = {t: set() for t in tables}
    for child, parent, _ in references:
        if child in parents and parent in parents and parent != child:
            parents[child].add(parent)
    order: list[str] = []
    while parents:
        ready = sorted(t for t, ps in parents.items() if not ps - set(order))
        if not ready:
            raise CopyFailed(f"the target's foreign keys form a cycle among {sorted(parents)}")
        order += ready
        for t in ready:
            del parents[t]
    return order


def _with_triggers(conn: psycopg.Connection[Any], tables: Sequence[str]) -> list[str]:
    """The tables among `tables` with triggers of their own (not the foreign keys' internal ones)."""
    rows = conn.execute(
        "SELECT DISTINCT tgrelid::regclass::text FROM pg_trigger WHERE NOT tgisinternal"
        " AND tgrelid::regclass::text = ANY(%s)",
        (list(tables),),
    ).fetchall()
    return sorted(r[0] for r in rows)


def _copy_table(
    source: sqlite3.Connection, conn: psycopg.Connection[Any], table: str, columns: list[str], own: set[str]
) -> None:
    """COPY the file's rows of `table` in; the columns in `own` (referring to the table itself) are set after
    all its rows are in."""
    key = [r[1] for r in sorted(source.execute(f'PRAGMA table_info("{table}")'), key=lambda r: r[5]) if r[5]]
    later = [c for c in columns if c in own]
    names = sql.SQL(", ").join(map(sql.Identifier, columns))
    selected = ", ".join(f'"{c}"' for c in columns)
    rows = source.execute(f'SELECT {selected} FROM "{table}" ORDER BY rowid' if _has_rowid(source, table) else
                          f'SELECT {selected} FROM "{table}"')  # fmt: skip
    blank = [columns.index(c) for c in later]
    with conn.cursor().copy(sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(table), names)) as copy:
        while batch := rows.fetchmany(BATCH):
            for row in batch:
                copy.write_row([None if i in blank else v for i, v in enumerate(row)] if blank else row)
    if not later:
        return
    picked = ", ".join(f'"{c}"' for c in key + later)
    where = " OR ".join(f'"{c}" IS NOT NULL' for c in later)
    pairs = source.execute(f'SELECT {picked} FROM "{table}" WHERE {where}').fetchall()
    update = sql.SQL("UPDATE {} SET {} WHERE {}").format(
        sql.Identifier(table),
        sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in later),
        sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in key),
    )
    with conn.cursor() as cur:
        cur.executemany(update, [tuple(p[len(key) :]) + tuple(p[: len(key)]) for p in pairs])


def _has_rowid(source: sqlite3.Connection, table: str) -> bool:
    try:
        source.execute(f'SELECT rowid FROM "{table}" LIMIT 0')
    except sqlite3.OperationalError:
        return False  # a WITHOUT ROWID table
    return True


def _continue_ids(source: sqlite3.Connection, conn: psycopg.Connection[Any], tables: Sequence[str]) -> None:
    """Each identity column's sequence continues after the highest id the file gave (its rows, or SQLite's
    AUTOINCREMENT counter when rows were deleted since)."""
    given = dict(source.execute("SELECT name, seq FROM sqlite_sequence").fetchall()) if _has_sequences(source) else {}
    identities = conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND is_identity = 'YES' AND table_name = ANY(%s)",
        (list(tables),),
    ).fetchall()
    for table, column in identities:
        (highest,) = source.execute(f'SELECT max("{column}") FROM "{table}"').fetchone()
        last = max(int(highest or 0), int(given.get(table) or 0))
        conn.execute(
            "SELECT setval(pg_get_serial_sequence(%s, %s), %s, %s)",
            (table, column, max(last, 1), last > 0),
        )


def _has_sequences(source: sqlite3.Connection) -> bool:
    return source.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").fetchone() is not None
