"""Is the shared state healthy? Checks of the file (integrity, schema, WAL, disk) and of the work (stuck
and lapsed tasks, overdue acknowledgements, proposals past their deadline, crashing tools), each
failing check a reason with a stable code and a sentence naming the fix. Every figure is read from the
database, the file system or this process, at the time of the call.

Reason codes (documented in the README): integrity, schema_mismatch, disk_full, disk_low, wal_large,
write_lock_stopped, no_agents_online, stuck_tasks, lapsed_leases, overdue_acks, proposals_past_deadline,
internal_errors, and database_unavailable (from `unavailable`).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import anyio.to_thread

from shared import __version__
from shared.actor import Actor
from shared.config import Settings
from shared.db import holders
from shared.db.connection import Database, Tx
from shared.models.monitoring import DatabaseInfo, Health, HealthReason, HealthStatus, ProcessInfo, WorkInfo
from shared.rules import counts
from shared.rules.clock import iso
from shared.store.mail import send as messages
from shared.store.tasks.queries import LAPSED_IDS, UNMET_DEPS
from shared.store.team import dialect, metrics
from shared.store.team.agents import live_session_sql, live_sessions_sql
from shared.store.team.dialect import QUICK_CHECK, count_if

MIB = 1024 * 1024
Severity = Literal["degraded", "unhealthy"]


def ready_since(d: dialect.Sqlite) -> str:
    """When an open task became ready: created or released, scheduled time passed, last dependency done."""
    return d.greatest(
        "t.updated_at",
        "COALESCE(t.not_before, 0)",
        "COALESCE((SELECT max(dt.completed_at) FROM task_deps d JOIN tasks dt ON dt.id = d.depends_on"
        " WHERE d.task_id = t.id), 0)",
    )


SCAN_CAP = counts.CAP
"""Health looks at this many ready tasks at most; `tasks_ready` past it reads 1,001 ("1,000 or more")."""


@dataclass(frozen=True)
class Limits:
    """Thresholds of the degraded and unhealthy conditions."""

    stuck_after: float = 3600.0
    wal_large_bytes: int = 64 * MIB
    disk_low_bytes: int = 500 * MIB
    disk_full_bytes: int = 50 * MIB
    internal_errors_per_hour: int = 1

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        """The thresholds with the configurable ones (ROUNDTABLE_STUCK_AFTER) from settings."""
        return cls(stuck_after=settings.stuck_after)


def _duration(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


async def run_integrity_check(db: Database, *, now: float) -> str:
    """Run PRAGMA quick_check now (it reads the whole file) and record its result for every process's
    health calls; returns the result ('ok' or the damage found). On PostgreSQL there is no file to check:
    'skipped', nothing recorded."""
    if db.engine == "postgresql":
        return "skipped"
    began = time.perf_counter()
    if isinstance(db.place, Path):
        result = await anyio.to_thread.run_sync(_quick_check_apart, db.place)
    else:
        rows = await db.fetchall(QUICK_CHECK)
        result = "; ".join(str(r[0]) for r in rows) or "ok"
    await db.write_one(
        "INSERT INTO integrity_checks(id, checked_at, seconds, result) VALUES (1, ?, ?, ?)"
        " ON CONFLICT(id) DO UPDATE SET checked_at = excluded.checked_at, seconds = excluded.seconds,"
        " result = excluded.result",
        (now, time.perf_counter() - began, result),
    )
    return result


def _quick_check_apart(path: Path) -> str:
    """QUICK_CHECK on a read-only connection of its own, on a worker thread: the process's connection serves
    every call of this server, and the check reads the whole file (7 s for 770 MB under load) — a reader of
    its own in WAL mode keeps both the calls and other processes' writes going meanwhile."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
        try:
            rows = conn.execute(QUICK_CHECK).fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:  # not a database any more, or unreadable: that is the finding
        return f"{type(exc).__name__}: {exc}"
    return "; ".join(str(r[0]) for r in rows) or "ok"


async def last_integrity_check(db: Database) -> tuple[str, float] | None:
    """The last recorded integrity check: (result, when), or None when none ran on this file yet."""
    row = await db.fetchone("SELECT result, checked_at FROM integrity_checks WHERE id = 1")
    return (str(row["result"]), float(row["checked_at"])) if row else None


async def integrity_due(db: Database, *, now: float, every: float) -> bool:
    """Whether the background integrity check should run: none recorded, or the last older than `every`."""
    last = await last_integrity_check(db)
    return last is None or last[1] <= now - every


async def database_info(db: Database, *, integrity: bool, now: float | None = None) -> DatabaseInfo:
    """The file: schema version, its integrity (run now when `integrity`, else the last background check
    with its age, or 'skipped' before the first), sizes of the file and its WAL, free disk."""
    at = time.time() if now is None else now
    quick, age = "skipped", None
    if db.engine == "postgresql":  # no file to check, no WAL file, the disk is the server's
        return DatabaseInfo(
            path=db.shown,
            schema_version=await db.schema_version(),
            schema_expected=db.latest_version(),
            quick_check=quick,
            size_bytes=await db.size_bytes() or 0,
            wal_bytes=0,
            free_disk_bytes=None,
        )
    if integrity:
        quick, age = await run_integrity_check(db, now=at), 0.0
    else:
        last = await last_integrity_check(db)
        if last is not None:
            quick, age = last[0], round(max(at - last[1], 0.0), 1)
    return DatabaseInfo(
        path=db.shown,
        schema_version=await db.schema_version(),
        schema_expected=db.latest_version(),
        quick_check=quick,
        quick_check_age_seconds=age,
        size_bytes=await db.size_bytes() or 0,
        wal_bytes=_size(Path(db.shown + "-wal")),
        free_disk_bytes=shutil.disk_usage(Path(db.shown).parent).free,
        stopped_writer=await stopped_writer(db),
    )


async def stopped_writer(db: Database) -> str | None:
    """The process holding the file's write lock, named, when it is stopped (every write then waits the busy
    timeout out and is refused); None when the lock is free, its holder runs, or /proc/locks cannot tell."""
    if not isinstance(db.place, Path):
        return None
    found = holders.holder(None, db.place)  # /proc alone: the sessions are read only for a stopped holder
    if found is None or not found.stopped:
        return None
    return replace(found, agents=await db.read(holders.sessions_of, found.pid)).shown()


def _work(tx: Tx, at: Actor, limits: Limits, overdue_acks: int) -> WorkInfo:
    """work_info's figures, read in one snapshot; `overdue_acks` is counted by the mail store."""
    params = at.params(stuck_before=at.now - limits.stuck_after)
    agents = tx.fetchone(
        f"SELECT count(*) AS known, {count_if(live_session_sql('a.id'))} AS online FROM agents a", params
    )
    # Bounded: at most SCAN_CAP open tasks are looked at, the longest unchanged first (a task's ready time is
    # never before its last change, so the oldest ready task is among them unless SCAN_CAP are blocked).
    ready_sql = (
        f"SELECT * FROM (SELECT t.id, {ready_since(dialect.of(tx))} AS since FROM tasks t"
        " INDEXED BY tasks_open_by_update"
        f" WHERE t.status = 'open' AND NOT {UNMET_DEPS} AND (t.not_before IS NULL OR t.not_before <= :now)"
        f" ORDER BY t.updated_at LIMIT {SCAN_CAP + 1}) AS r"
    )
    ready = tx.fetchone(f"SELECT count(*) AS n, min(since) AS oldest FROM ({ready_sql}) AS s", params)
    stuck = tx.execute(
        f"SELECT id FROM ({ready_sql}) AS s WHERE since < :stuck_before ORDER BY since, id LIMIT 20", params
    )
    lapsed = tx.execute(f"SELECT t.id FROM tasks t WHERE t.id IN ({LAPSED_IDS}) ORDER BY t.id LIMIT 20", params)
    late = tx.execute("SELECT id FROM proposals WHERE status = 'open' AND deadline < :now ORDER BY id LIMIT 20", params)
    return WorkInfo(
        agents_known=int(agents["known"] if agents else 0),
        agents_online=int((agents["online"] if agents else 0) or 0),
        tasks_ready=int(ready["n"]) if ready else 0,
        oldest_ready_seconds=round(at.now - ready["oldest"], 1) if ready and ready["oldest"] is not None else None,
        stuck_tasks=[int(r["id"]) for r in stuck],
        lapsed_leases=[int(r["id"]) for r in lapsed],
        overdue_acks=overdue_acks,
        proposals_past_deadline=[int(r["id"]) for r in late],
        internal_errors_last_hour=metrics.internal_errors(tx, since=at.now - 3600),
    )


async def work_info(db: Database, at: Actor, *, limits: Limits) -> WorkInfo:
    """The shared work as `at` sees it: agents here, ready and stuck tasks, lapsed claims, overdue
    acknowledgements (from the mail store), late proposals, crashed tool calls in the last hour."""
    overdue = await messages.overdue_acks(db, now=at.now)
    return await db.read(_work, at, limits, overdue)


def reasons(d: DatabaseInfo, w: WorkInfo, limits: Limits) -> list[HealthReason]:
    """Every failing check as a reason: a stable code, a severity and what to do."""
    found: list[HealthReason] = []

    def add(code: str, message: str, severity: Severity = "degraded") -> None:
        found.append(HealthReason(code=code, severity=severity, message=message))

    if d.quick_check not in ("ok", "skipped"):
        add(
            "integrity",
            f"PRAGMA quick_check found damage ({d.quick_check[:200]}); stop the servers, restore {d.path} from a "
            "backup (or `sqlite3 … .recover`), or point ROUNDTABLE_DB at a new file",
            "unhealthy",
        )
    if d.schema_version != d.schema_expected:
        add(
            "schema_mismatch",
            f"the file has schema version {d.schema_version} but this server knows {d.schema_expected}; "
            "upgrade Roundtable everywhere (uvx --refresh …) and restart the clients",
            "unhealthy",
        )
    free = f"{(d.free_disk_bytes or 0) / MIB:.0f} MiB free"
    if d.free_disk_bytes is None:
        pass  # PostgreSQL: the server's disk is its administrator's to watch
    elif d.free_disk_bytes < limits.disk_full_bytes:
        add(
            "disk_full",
            f"the disk holding the database has {free}; writes will fail soon — free space now",
            "unhealthy",
        )
    elif d.free_disk_bytes < limits.disk_low_bytes:
        add(
            "disk_low",
            f"the disk holding the database has {free} (below {limits.disk_low_bytes // MIB} MiB); "
            "free space before writes start failing",
        )
    if d.wal_bytes > limits.wal_large_bytes:
        add(
            "wal_large",
            f"the write-ahead log is {d.wal_bytes / MIB:.0f} MiB (over {limits.wal_large_bytes // MIB} MiB): a "
            "long-running reader blocks checkpoints; close tools that keep the file open (sqlite3 shells, "
            "browsers), or restart the clients",
        )
    if d.stopped_writer:
        pid = d.stopped_writer.split()[1]
        add(
            "write_lock_stopped",
            f"the write lock is held by {d.stopped_writer}: every write waits 10 s and is refused while it "
            f"stays stopped; `kill -CONT {pid}` to let it go on, or end it",
            "unhealthy",
        )
    if w.agents_known and not w.agents_online:
        add(
            "no_agents_online",
            f"none of the {w.agents_known} known agents is online; nobody will pick up work "
            "until a client starts its Roundtable servers",
        )
    if w.stuck_tasks:
        add(
            "stuck_tasks",
            f"{len(w.stuck_tasks)} ready task(s) waited over {_duration(limits.stuck_after)} for a claimer "
            f"(oldest {_duration(w.oldest_ready_seconds or 0)}: tasks {w.stuck_tasks[:5]}); start a worker, check "
            "their `requires` against agents' capabilities (agent_register) and their assignee, or cancel them",
        )
    if w.lapsed_leases:
        add(
            "lapsed_leases",
            f"claims on tasks {w.lapsed_leases[:5]} are past their lease or their holder left, and were not "
            "returned to the queue yet: no coordination server is sweeping. Start one (any client's "
            "roundtable-coordination), or they return at the next task_claim/task_update",
        )
    if w.overdue_acks:
        add(
            "overdue_acks",
            f"{w.overdue_acks} acknowledgement(s) are past their deadline; agent_status shows "
            "who owes them — remind them with message_send or re-send with a longer ack_within",
        )
    if w.proposals_past_deadline:
        add(
            "proposals_past_deadline",
            f"proposals {w.proposals_past_deadline[:5]} are open past their deadline: no coordination server is "
            "closing them. Start one, or read them with consensus_list(proposal_id=…), which closes them",
        )
    if w.internal_errors_last_hour >= limits.internal_errors_per_hour:
        add(
            "internal_errors",
            f"{w.internal_errors_last_hour} tool call(s) crashed in the last hour (a bug, not bad input); see "
            "performance_metrics for which tool and the servers' stderr log for the traceback, and report it",
        )
    return found


def status_of(found: list[HealthReason]) -> HealthStatus:
    if any(r.severity == "unhealthy" for r in found):
        return "unhealthy"
    return "degraded" if found else "healthy"


async def check(
    db: Database,
    at: Actor,
    *,
    limits: Limits | None = None,
    integrity: bool = True,
    process: ProcessInfo | None = None,
) -> Health:
    """The health of the shared state as `at` sees it (plus `process`, the answering server, when given)."""
    limits = limits or Limits()
    d = await database_info(db, integrity=integrity, now=at.now)
    w = await work_info(db, at, limits=limits)
    found = reasons(d, w, limits)
    return Health(
        status=status_of(found),
        reasons=found,
        checked_at=iso(at.now) or "",
        database=d,
        work=w,
        process=process,
    )


def unavailable(failure: str, *, now: float, process: ProcessInfo | None = None) -> Health:
    """Health when the database could not be opened at all."""
    reason = HealthReason(code="database_unavailable", severity="unhealthy", message=failure)
    return Health(
        status="unhealthy", reasons=[reason], checked_at=iso(now) or "", database=None, work=None, process=process
    )


async def live_sessions(db: Database, at: Actor) -> int:
    """How many server processes (of every agent) are live, as `at` sees it."""
    return int(await db.scalar(f"SELECT count(*) {live_sessions_sql()}", at.params()))


def process_info(*, server: str, uptime: float, connections: int, tools: int) -> ProcessInfo:
    """This process: version, uptime, live sessions, tool count, memory (RSS) and CPU."""
    import psutil  # only when asked: not on the path of a server's start

    me = psutil.Process()
    cpu = me.cpu_times()
    cpu_seconds = cpu.user + cpu.system
    lifetime = max(time.time() - me.create_time(), 1e-3)
    return ProcessInfo(
        server=server,
        version=__version__,
        pid=os.getpid(),
        uptime_seconds=round(uptime, 1),
        connections=connections,
        tools=tools,
        memory_rss_bytes=me.memory_info().rss,
        cpu_seconds=round(cpu_seconds, 3),
        cpu_percent=round(100 * cpu_seconds / lifetime, 2),
    )
