"""`roundtable doctor`: check what Roundtable needs on this machine and what the clients here would see, and
say what to fix.

It looks at the team's file read-only, and starts each server the clients are configured to run, with the
command and environment the client uses (servers/cli/probe.py), on a temporary copy of it: a server
registers its agent, a session and events where it runs, and the doctor is no member of the team (the next
`roundtable status` must not count it). On a PostgreSQL team (a postgresql:// URL) the database checks are
servers/cli/doctor_postgres.py's, and the servers start on a new temporary SQLite file: the team's database
is only looked at. The copy also shows that the servers open and
migrate this file's contents. Without a readable file the servers start on a new temporary one.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sqlite3
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio

from servers import SERVER_KINDS
from servers.cli import clients, probe
from servers.cli.launch import server_params
from servers.cli.render import mark, paint
from shared.config import default_db_path
from shared.db import holders
from shared.db.connection import latest_version, read_only_uri
from shared.db.place import SCHEMES, Place, PostgresUrl, parse_place, shown
from shared.db.tx import Tx


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
            writer = holders.holder(Tx(conn), db)
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
    if writer is not None:  # held now (Linux's /proc/locks): a stopped holder locks every write out
        checks.append(
            Check("write lock", not writer.stopped, f"held by {writer.shown()}", writer.fix() if writer.stopped else "")
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
    """Start this installation's server as `python -m servers.<kind>` on `db` (`what` it is, for the report)
    and list its tools: what the doctor checks when no client is configured yet."""
    params = server_params(kind, db, "roundtable-doctor", role="observer", log_level="ERROR")
    result = await probe.probe(params.command, list(params.args), params.env or {})
    if not result.ok:
        return Check(
            f"roundtable-{kind}", False, result.problem, f"run `python -m servers.{kind}` to see the whole error"
        )
    on = f" on {what}" if what else ""
    return Check(f"roundtable-{kind}", True, f"answers, {result.tools} tools, started in {result.seconds:.1f}s{on}")


def entry_db(entry: clients.Entry, project: Path) -> Place:
    """The database a configured server opens: its ROUNDTABLE_DB (a PostgreSQL URL, or a file: a relative path
    from where Claude Code starts it, the project folder), else the per-user default."""
    raw = entry.env.get("ROUNDTABLE_DB")
    if not raw:
        return default_db_path(os.environ)
    if raw.strip().lower().startswith(SCHEMES):
        try:
            return parse_place(raw)
        except ValueError:
            return default_db_path(os.environ)  # check_database reports the default; the server reports the URL
    path = Path(raw).expanduser()
    return path if path.is_absolute() else (project / path).resolve()


async def check_entry(
    entry: clients.Entry, scratch: Path, what: str, project: Path, gate: anyio.CapacityLimiter
) -> Check:
    """Start a configured server exactly as its client does (its command, its env on the client's environment,
    from the project folder for Claude Code) on `scratch`, and say what the client would see."""
    name = f"{'desktop' if entry.client == 'claude-desktop' else 'code/' + entry.where.split()[0]} {entry.name}"
    if entry.pending_approval:
        return Check(
            name,
            False,
            "Pending approval: Claude Code does not start it until you approve it",
            "run `claude` here and approve it, or `roundtable install claude-code --scope project --approve`",
        )
    if "connect" in entry.args:
        return Check(name, True, f"forwards to {entry.args[-1]} (not started: it would join the served team)")
    env = probe.scratch_env(probe.client_environment(entry.client, entry.env), str(scratch))
    cwd = str(project) if entry.client == "claude-code" else None
    async with gate:
        result = await probe.probe(entry.command, entry.args, env, cwd=cwd)
    limit = probe.limit()
    if not result.ok:
        return Check(name, False, result.problem, result.fix.replace("<client>", entry.client))
    detail = f"answers in {result.seconds:.1f} s (the client waits {limit:g} s), {result.tools} tools, on {what}"
    if Path(entry.command).name in ("uvx", "uvx.exe"):
        return Check(name, True, detail, f"uvx resolves the packages at every launch (network); {probe.SLOW_FIX}")
    if result.seconds > limit / 2:
        return Check(name, True, detail, f"slow: under load it may miss the limit; {probe.SLOW_FIX}")
    return Check(name, True, detail)


async def check_clients(entries: list[clients.Entry], project: Path) -> list[Check]:
    """Every configured server checked, three at a time (as `claude mcp list` does), each on a scratch copy of
    the database it opens."""
    gate = anyio.CapacityLimiter(3)
    results: dict[int, Check] = {}
    with ExitStack() as stack:
        scratches: dict[Place, tuple[Path, str]] = {}
        for entry in entries:
            db = entry_db(entry, project)
            if db not in scratches:
                scratches[db] = stack.enter_context(scratch_database(db if isinstance(db, Path) else None))

        async def one(i: int, entry: clients.Entry) -> None:
            scratch, what = scratches[entry_db(entry, project)]
            results[i] = await check_entry(entry, scratch, what, project, gate)

        async with anyio.create_task_group() as tg:
            for i, entry in enumerate(entries):
                tg.start_soon(one, i, entry)
    return [results[i] for i in range(len(entries))]


def check_place(place: Place) -> list[Check]:
    """The team's database looked at: a SQLite file read-only, a PostgreSQL database by its own checks."""
    if isinstance(place, PostgresUrl):
        from servers.cli.doctor_postgres import check_postgres  # psycopg: only for a PostgreSQL team

        return check_postgres(place)
    return check_database(place)


def run(db: Place, *, given: bool = False) -> int:
    """`roundtable doctor`: this machine, then every Roundtable server a client here is configured to run
    (Claude Desktop's config, Claude Code's user/local/project scope for this folder), started as that client
    starts it; with no client configured, this installation's own servers. Never on the team's file itself.
    `given`: `db` was asked for (--db, ROUNDTABLE_DB): it is checked too, beside the files the clients use."""
    project = Path.cwd()
    entries, unreadable = clients.configured(project)
    checks = [check_python(), check_uv()]
    for problem in unreadable:
        checks.append(Check("client config", False, problem, "fix or move the file; the client cannot read it either"))
    used = list(dict.fromkeys(entry_db(e, project) for e in entries))
    places = list(dict.fromkeys([db, *used])) if given or not entries else used
    for team_db in places:
        checks += check_place(team_db)
    if given and entries and db not in used:
        theirs = ", ".join(shown(u) for u in used)
        checks.append(
            Check("--db", True, f"no client here is configured with {shown(db)} (they use {theirs})",
                  f"to put a client on that team: roundtable install CLIENT --db {shlex.quote(shown(db))}")
        )  # fmt: skip
    if entries:
        for where in dict.fromkeys(f"{e.client}: {e.where}" for e in entries):
            client, place = where.split(": ", 1)
            label = "Claude Desktop" if client == "claude-desktop" else "Claude Code"
            checks.append(Check(label, True, f"configured in {place}" + (f" of {project}" if "scope" in place else "")))
        checks += anyio.run(check_clients, entries, project)
    else:
        checks.append(
            Check(
                "clients",
                True,
                "no Roundtable server is configured in Claude Desktop or Claude Code here",
                "roundtable install claude-code (or claude-desktop); checking this installation's servers instead",
            )
        )
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
