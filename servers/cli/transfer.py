"""`roundtable copy --from FILE --to postgresql://…`: move a one-machine team into PostgreSQL (shared/db/transfer.py
does the copying); this prints the per-table counts, or the one line that says why nothing was copied."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import psycopg

from servers.cli.render import mark, paint, table
from shared.db.place import PostgresUrl, parse_place, shown
from shared.errors import RoundtableError


def run(source: str, target: str, *, replace: bool = False) -> int:
    """Exit 0 when every table was copied with matching counts; 1 when the copy was refused or rolled back;
    2 when the arguments name no SQLite file or no PostgreSQL database."""
    from shared.db import transfer  # psycopg's pool and the migrations: only for this command

    logging.getLogger("psycopg.pool").setLevel(logging.CRITICAL)  # its retries; the one line below says why

    where_from, where_to = parse_place(source), _place(target)
    if isinstance(where_from, PostgresUrl):
        return _refuse(f"--from takes the team's SQLite file; {where_from.shown} is a PostgreSQL database", 2)
    if where_to is None:
        return _refuse(f"--to takes a PostgreSQL URL such as postgresql://user@host/team, not {target!r}", 2)
    try:
        counts = transfer.copy_team(Path(where_from), where_to, replace=replace)
    except transfer.CopyRefused as exc:
        return _refuse(f"{exc}; nothing was copied")
    except transfer.CopyFailed as exc:
        return _refuse(f"the copy failed and was rolled back whole: {exc}")
    except RoundtableError as exc:  # the target cannot be reached or migrated: the copy never began
        return _refuse(str(exc))
    except psycopg.Error as exc:
        said = (getattr(exc.diag, "message_primary", None) or str(exc)).strip().splitlines()[0]
        detail = getattr(exc.diag, "message_detail", None)
        return _refuse(f"the copy failed and was rolled back whole: {said}" + (f" ({detail})" if detail else ""))
    out = sys.stdout
    rows = [[c.table, f"{c.source:,}", f"{c.copied:,}", mark(c.source == c.copied, out)] for c in counts]
    total = sum(c.copied for c in counts)
    print(f"Copied the team in {where_from} into {shown(where_to)}, in one transaction:")
    print(table(["table", "in the file", "copied", ""], rows, out))
    print(paint(f"{total:,} rows in {len(counts)} tables, every count checked.", "green", out))
    print(
        f"Next: point every server at it (ROUNDTABLE_DB={shown(where_to)} or --db) and stop the ones on the file;"
        " what they write to the file from now on stays there."
    )
    return 0


def _place(raw: str) -> PostgresUrl | None:
    try:
        place = parse_place(raw)
    except ValueError:
        return None
    return place if isinstance(place, PostgresUrl) else None


def _refuse(line: str, code: int = 1) -> int:
    print(f"roundtable copy: {line}", file=sys.stderr)
    return code
