"""`roundtable status` and `roundtable tail`: the team at a glance, and the audit trail as it happens.

Both read the shared file through the same store functions the monitoring server uses; neither needs a
server running. Both open it read-only (shared/db/connection.py `Database.open(read_only=True)`): they never
create, migrate or write it, so looking at a team changes nothing about it. `tail` learns of new commits
from the one change watcher (shared/db/watch.py).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from pathlib import Path
from typing import TextIO

import anyio

from servers.cli.render import paint, plain, table
from shared.actor import Actor
from shared.config import Settings
from shared.db.connection import Database, folder_given, latest_version
from shared.db.place import PostgresUrl
from shared.db.watch import ChangeWatcher
from shared.errors import NotFound, RoundtableError, from_sqlite, is_file_problem
from shared.models.monitoring import Event, TeamSummary
from shared.rules import names
from shared.rules.counts import shown
from shared.store import events
from shared.store.team import agents, health, summary

HEALTH_STYLE = {"healthy": "green", "degraded": "yellow", "unhealthy": "red"}
PRESENCE_STYLE = {"online": "green", "idle": "yellow", "offline": "dim"}
BATCH = 200
NAMES_SHOWN = 10
"""Known agents named when `tail --agent` names nobody; `roundtable status` lists them all."""


class NoDatabase(Exception):
    """There is nothing to show at the path: no file, no Roundtable schema, or one this code cannot read."""


PROJECT_DB = ".roundtable/roundtable.db"
"""A project's team file, from the project folder (servers/cli/clientconfig.py PROJECT_DB, without its ./)."""

UPGRADE_HINT = "start any Roundtable server on it (each brings the schema up to date at start-up)"


@asynccontextmanager
async def opened(settings: Settings) -> AsyncIterator[Database]:
    """The team's file, opened read-only: never created, never migrated, never written.

    A file with an older schema is shown as far as it can be (the health then names schema_mismatch);
    what it lacks is reported as its schema version with the fix, not as a traceback.
    """
    path = settings.db
    if isinstance(path, PostgresUrl):
        async with _opened_server(path) as db:
            yield db
        return
    if not path.exists():
        project = Path.cwd() / PROJECT_DB
        if project.is_file():  # in a project `roundtable install claude-code` set up: its team is there
            raise NoDatabase(
                f"there is no Roundtable database at {path}; this project's team is in {PROJECT_DB} (where "
                f"`roundtable install claude-code` puts it): add --db {PROJECT_DB}"
            )
        raise NoDatabase(
            f"there is no Roundtable database at {path} yet: start a client with the Roundtable "
            "servers, run `roundtable demo --db <path>`, or point --db / ROUNDTABLE_DB at your team's file"
        )
    if problem := folder_given(path):
        raise NoDatabase(problem)
    try:
        db = await Database.open(path, migrate=False, read_only=True)
        version = await db.schema_version()
    except sqlite3.Error as exc:
        if not is_file_problem(exc):
            raise
        raise from_sqlite(exc) from exc
    latest = latest_version()
    try:
        if version == 0:
            raise NoDatabase(
                f"{path} holds no Roundtable schema (an empty file, or another program's database): point --db / "
                f"ROUNDTABLE_DB at your team's file, or {UPGRADE_HINT}"
            )
        if version > latest:
            raise NoDatabase(
                f"{path} has schema version {version}, but this Roundtable knows only up to {latest}; upgrade "
                "Roundtable (uvx --refresh …). The file was not modified."
            )
        try:
            yield db
        except sqlite3.OperationalError as exc:
            if version == latest or is_file_problem(exc):
                raise
            raise NoDatabase(
                f"{path} has schema version {version}, older than this Roundtable's {latest}, and cannot be shown "
                f"as it is ({exc}): {UPGRADE_HINT}. The file was not modified."
            ) from exc
    finally:
        with anyio.CancelScope(shield=True):  # stopped by Ctrl-C or a cancel: still close the connection
            await db.close()


@asynccontextmanager
async def _opened_server(place: PostgresUrl) -> AsyncIterator[Database]:
    """A PostgreSQL team, opened for looking (read-only sessions), with the same refusals as a file's. The
    pool's own warnings of each failed connection attempt are not printed: the one refusal line says why."""
    logging.getLogger("psycopg.pool").setLevel(logging.CRITICAL)
    db = await Database.open(place, migrate=False, read_only=True)
    try:
        version, latest = await db.schema_version(), db.latest_version()
        if version == 0:
            raise NoDatabase(f"{place.shown} holds no Roundtable schema yet: {UPGRADE_HINT}")
        if version > latest:
            raise NoDatabase(
                f"{place.shown} has schema version {version}, but this Roundtable knows only up to {latest}; "
                "upgrade Roundtable (uvx --refresh …). The database was not modified."
            )
        yield db
    finally:
        with anyio.CancelScope(shield=True):
            await db.close()


async def read_summary(settings: Settings) -> TeamSummary:
    async with opened(settings) as db:
        return await summary.team_summary(db, Actor.looking(settings, time.time()), health.Limits.of(settings))


def render_summary(s: TeamSummary, settings: Settings, out: TextIO) -> str:
    health = paint(s.health, HEALTH_STYLE.get(s.health, "bold"), out)
    lines = [f"{paint('Roundtable', 'bold', out)} team at {settings.db} — {health}"]
    if s.reasons:
        lines.append(f"  reasons: {', '.join(s.reasons)} (details: network_health on the monitoring server)")
    lines += ["", paint("Agents", "bold", out)]
    rows = [
        (a.name, paint(a.presence, PRESENCE_STYLE.get(a.presence, "bold"), out), a.claims, plain(a.activity or "-"))
        for a in s.agents
    ]
    lines.append(table(["agent", "presence", "claims", "activity"], rows, out))
    order = ["open", "claimed", "blocked", "done", "failed", "cancelled"]
    counts = [f"{k} {shown(s.tasks[k])}" for k in [*order, *sorted(set(s.tasks) - set(order))] if s.tasks.get(k)]
    lines += [
        "",
        f"{paint('Tasks', 'bold', out)}      {' · '.join(counts) or 'none'}; ready to claim: {shown(s.ready_tasks)}",
        f"{paint('Proposals', 'bold', out)}  {s.open_proposals} open",
        f"{paint('Mail', 'bold', out)}       {shown(s.unread_messages)} unread, "
        f"{s.overdue_acks} acknowledgement(s) overdue",
    ]
    return "\n".join(lines)


def refuse(message: str, *, as_json: bool, out: TextIO = sys.stdout) -> None:
    """Why status cannot show the team: one line on stderr, or {"error": …} on stdout under --json."""
    if as_json:
        print(json.dumps({"error": message}), file=out)
    else:
        print(f"roundtable status: {message}", file=sys.stderr)


def status(settings: Settings, *, as_json: bool, out: TextIO = sys.stdout) -> int:
    """Print the team summary; 0 when healthy, 1 when degraded or unhealthy, 2 when there is no database."""
    try:
        s = anyio.run(read_summary, settings)
    except (NoDatabase, RoundtableError) as exc:
        refuse(str(exc), as_json=as_json, out=out)
        return 2
    print(s.model_dump_json(indent=2) if as_json else render_summary(s, settings, out), file=out)
    return 0 if s.health == "healthy" else 1


def render_event(e: Event, out: TextIO) -> str:
    at = e.at[11:19] if len(e.at) >= 19 else e.at
    what = f"{e.object_type} {e.object_id}" if e.object_type else ""
    data = plain(json.dumps(e.data, ensure_ascii=False, separators=(", ", ": "))) if e.data else ""
    if len(data) > 120:
        data = data[:117] + "..."
    return "  ".join(
        [paint(at, "dim", out), (e.agent or "-").ljust(16), paint(e.kind.ljust(22), "cyan", out), what.ljust(16), data]
    ).rstrip()


async def print_new(db: Database, f: events.EventFilter, cursor: int, out: TextIO) -> int:
    """Print every matching event after `cursor`, oldest first; return the cursor past the last one."""
    while True:
        found = await events.page(db, f, limit=BATCH, since=cursor)
        for e in found.events:
            print(render_event(e, out), file=out, flush=True)
        if found.next_cursor is not None:
            cursor = found.next_cursor
        if len(found.events) < BATCH:
            return cursor


async def watch(watcher: ChangeWatcher, db: Database) -> None:
    """The change watcher's rounds for as long as the tail follows: a poll every POLL_SECONDS on a SQLite file
    (opened read-only, it binds no wake-up socket), each NOTIFY at once on PostgreSQL."""
    while True:
        await watcher.watch_round(db.watch_seconds)


async def check_agent(db: Database, name: str) -> None:
    """`tail --agent NAME`: a name neither in the trail nor on the team is refused with the known names (an agent
    on the team with no events yet is followed: its first one comes)."""
    if await events.names_an_actor(db, name):
        return
    try:
        await agents.id_by_name(db, name)
    except NotFound:
        known = await db.read(agents.known_names, NAMES_SHOWN + 1)
        if len(known) > NAMES_SHOWN:
            known = [*known[:NAMES_SHOWN], "… (roundtable status lists them all)"]
        raise names.unknown("agent", [name], known) from None


async def follow(settings: Settings, f: events.EventFilter, *, backlog: int, keep_following: bool, out: TextIO) -> None:
    """Print the last `backlog` events, then (when following) every new one as it is committed."""
    async with opened(settings) as db:
        if f.agent:
            await check_agent(db, f.agent)
        # Where following starts is fixed before the backlog is read: whatever commits meanwhile comes next
        # (the watcher's first wake-up is at once, and reads everything after this cursor).
        cursor = await events.latest_id(db)
        recent = await events.page(db, f, limit=backlog, before=cursor + 1) if backlog else None
        for e in reversed(recent.events if recent else []):
            print(render_event(e, out), file=out, flush=True)
        if not keep_following:
            return
        print(paint(f"— following {settings.db} (Ctrl-C to stop) —", "dim", out), file=out, flush=True)
        watcher = ChangeWatcher(db.data_version, db.wait_for_change)
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch, watcher, db)
            async with aclosing(watcher.changes()) as changes:
                async for _ in changes:
                    cursor = await print_new(db, f, cursor, out)


def tail(settings: Settings, f: events.EventFilter, *, backlog: int, keep_following: bool) -> int:
    try:
        anyio.run(lambda: follow(settings, f, backlog=backlog, keep_following=keep_following, out=sys.stdout))
    except KeyboardInterrupt:
        return 0
    except (NoDatabase, RoundtableError) as exc:
        print(f"roundtable tail: {exc}", file=sys.stderr)
        return 2
    return 0
