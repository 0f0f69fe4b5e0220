"""`roundtable doctor`: check what Roundtable needs on this machine and say what to fix.

On a PostgreSQL team (a postgresql:// URL) the database checks are servers/cli/doctor_postgres.py's, and the
servers start on a new temporary SQLite file: the team's database is only looked at.

It looks at the team's file read-only, and starts each server, as a client would, on a temporary copy of
it: a server registers its agent, a session and events where it runs, and the doctor is no member of the
team (the next `roundtable status` must not count it). The copy also shows that the servers open and
migrate this file's contents. Without a readable file the servers start on a new temporary one.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
from mcp import Client
from mcp.client.stdio import stdio_client

from servers import SERVER_KINDS
from servers.cli.launch import last_lines, server_params
from servers.cli.render import mark, paint
from shared.db.connection import latest_version, read_only_uri
from shared.db.place import Place, PostgresUrl


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def check_python() -> Check:
    ok = sys.version_info >= (3, 11)
    return Check("Python", ok, sys.version.split()[0], "" if ok else "install Python 3.11 or newer")


UV_INSTALL = "install uv (https://docs.astral.sh/uv/): `pip install uv`, or see its site for other installers"


def check_uv() -> Check:
    uvx = shutil.which("uvx")
    return Check(
        "uv / uvx",
        uvx is not None,
        uvx or "not found",
        "" if uvx else UV_INSTALL,
    )


def check_database(db: Path) -> list[Check]:
    folder = db.parent
    checks = []
    if not folder.exists():
        parent = next((p for p in folder.parents if p.exists()), Path("/"))
        ok = os.access(parent, os.W_OK)
        checks.append(
            Check("database folder", ok, f"{folder} (will be created)", "" if ok else f"make {parent} writable")
        )
        return checks
    writable = os.access(folder, os.W_OK)
    mode = stat.S_IMODE(folder.stat().st_mode)
    checks.append(
        Check("database folder", writable, f"{folder} (mode {mode:o})", "" if writable else f"chmod u+w {folder}")
    )
    if mode & 0o077:
        checks.append(Check("folder privacy", True, f"others can read {folder}", f"optional: chmod 700 {folder}"))
    if not db.exists():
        checks.append(Check("database file", True, f"{db} does not exist yet; the first server creates it"))
        return checks
    if not os.access(db, os.R_OK | os.W_OK):
        checks.append(Check("database file", False, f"{db} is not readable and writable", f"chmod u+rw {db}"))
        return checks
    try:
        with closing(sqlite3.connect(read_only_uri(db), uri=True, timeout=5)) as conn:
            quick = conn.execute("PRAGMA quick_check").fetchone()[0]
            version = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0]
    except sqlite3.Error as exc:
        checks.append(
            Check("database file", False, f"{db}: {exc}", "move the file away or set ROUNDTABLE_DB to another path")
        )
        return checks
    latest = latest_version()
    checks.append(Check("integrity", quick == "ok", str(quick), "" if quick == "ok" else "restore from a backup"))
    newer = version > latest
    checks.append(
        Check(
            "schema version",
            not newer,
            f"{version} (this Roundtable knows up to {latest})",
            "upgrade Roundtable: uvx --refresh --from <source> roundtable-coordination" if newer else "",
        )
    )
    return checks


@contextmanager
def scratch_database(db: Path | None) -> Iterator[tuple[Path, str]]:
    """A temporary database for the servers to start on, and what it is: a copy of the file `db` (SQLite's
    backup, read-only on `db`, so it is consistent while the team writes), or a new file when `db` does not
    exist or cannot be read (check_database reports why), or is None (a PostgreSQL team, which the doctor only
    looks at). The folder is removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="roundtable-doctor-") as folder:
        scratch = Path(folder) / "doctor.db"
        what = "a new temporary database" if db is not None else "a new temporary SQLite file"
        if db is not None and db.exists():
            try:
                with (
                    closing(sqlite3.connect(read_only_uri(db), uri=True, timeout=5)) as source,
                    closing(sqlite3.connect(scratch)) as target,
                ):
                    source.backup(target)
                what = f"a temporary copy of {db.name}"
            except sqlite3.Error:
                scratch.unlink(missing_ok=True)
        yield scratch, what


async def check_server(kind: str, db: Path, what: str = "") -> Check:
    """Start the server as a client would on `db` (`what` it is, for the report) and list its tools."""
    params = server_params(kind, db, "roundtable-doctor", role="observer", log_level="ERROR")
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as errors:
        try:
            with anyio.fail_after(30):
                async with Client(stdio_client(params, errlog=errors)) as client:
                    tools = (await client.list_tools()).tools
        except Exception:  # any failure to start or answer is what this check reports
            last = last_lines(errors, 1) or ["no output"]
            return Check(
                f"roundtable-{kind}",
                False,
                f"did not answer: {last[0][:200]}",
                f"run `python -m servers.{kind}` to see the whole error",
            )
    elapsed = time.perf_counter() - started
    on = f" on {what}" if what else ""
    return Check(f"roundtable-{kind}", True, f"answers, {len(tools)} tools, started in {elapsed:.1f}s{on}")


def run(db: Place) -> int:
    checks = [check_python(), check_uv()]
    if isinstance(db, PostgresUrl):
        from servers.cli.doctor_postgres import check_postgres  # psycopg: only for a PostgreSQL team

        checks += check_postgres(db)
    else:
        checks += check_database(db)
    with scratch_database(db if isinstance(db, Path) else None) as (scratch, what):
        for kind in SERVER_KINDS:
            checks.append(anyio.run(check_server, kind, scratch, what))
    width = max(len(c.name) for c in checks)
    for c in checks:
        line = f"{mark(c.ok)} {c.name.ljust(width)}  {c.detail}"
        print(line)
        if c.fix:
            print(f"  {' ' * width}  {paint('fix: ' + c.fix, 'yellow' if c.ok else 'red')}")
    failed = [c for c in checks if not c.ok]
    print(paint(f"\n{len(failed)} problem(s) found." if failed else "\nAll good.", "red" if failed else "green"))
    return 1 if failed else 0
