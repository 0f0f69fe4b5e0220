"""Tool-call metrics: samples written in batches, hourly rollups, and per-tool latency statistics.

Every tool call of every server becomes one `tool_calls` row (which tool, whose call, when, how long,
the error kind) — never its arguments. The instrumentation (shared/frame/instrument.py) buffers them in
memory and writes each batch in one write with one executemany (`record_calls`), never a transaction per
call. The readers take a `Tx`, so that `report` reads what performance_metrics shows in one snapshot.

Bounded: the same write counts each call into `tool_call_hours` — one row per hour, server, tool, agent,
error kind and latency bucket (migration 0018) — so the hours hold every call and `roll_up` only drops the
samples older than the raw retention (default a day, or beyond MAX_SAMPLES) and the hours older than the
metrics retention (default 30 days). Percentiles over a window whose calls are all still samples, at most
EXACT_MAX of them, are exact (nearest rank over the samples); over a longer or busier window they are
estimated from the hours' latency histogram (buckets 25 % wide; the estimate is the bucket's geometric
middle, within ±12 %), which reads a few rows per tool and hour however many calls there were.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.db.connection import Database, Row, Tx
from shared.errors import NotFound
from shared.rules import toolsets
from shared.rules.clock import iso
from shared.store.team import dialect
from shared.store.team.dialect import count_if

if TYPE_CHECKING:  # the result models load where a report is built, not when a server starts and records
    from shared.models.monitoring import Metrics, SlowCall, ToolStats, Totals

Sample = tuple[float, str | None, str, str, float, str | None]
"""(started at, agent id, server, tool, seconds, error kind or None)."""

BUCKET_FLOOR = 1e-4
BUCKET_RATIO = 1.25
BUCKET_MAX = 100
MAX_SAMPLES = 500_000
"""Raw samples beyond this many (newest kept) are dropped early, whatever their age (their hours keep them)."""
MESSAGE_TOOLS = ("message_send", "message_broadcast")


def bucket(seconds: float) -> int:
    """The latency histogram bucket of a duration: 0 up to 0.1 ms, then 25 % wider per bucket."""
    if not seconds > BUCKET_FLOOR:
        return 0
    return min(BUCKET_MAX, math.ceil(math.log(seconds / BUCKET_FLOOR) / math.log(BUCKET_RATIO) - 1e-9))


def bucket_middle(index: int) -> float:
    """A representative duration of a bucket (its geometric middle)."""
    if index <= 0:
        return BUCKET_FLOOR
    return float(BUCKET_FLOOR * BUCKET_RATIO ** (index - 0.5))


def by_the_hour(samples: Sequence[Sample]) -> list[tuple[float, str, str, str, str, int, int, float, float]]:
    """A batch as rows of `tool_call_hours`: (hour, server, tool, agent or '', error or '', bucket, calls,
    seconds, max seconds), the hour as migration 0018 counts the samples before it."""
    found: dict[tuple[float, str, str, str, str, int], list[float]] = {}
    for ts, agent, server, tool, secs, error in samples:
        key = (math.floor(ts / 3600) * 3600.0, server, tool, agent or "", error or "", bucket(secs))
        row = found.setdefault(key, [0, 0.0, 0.0])
        row[0], row[1], row[2] = row[0] + 1, row[1] + secs, max(row[2], secs)
    return [(*key, int(calls), total, most) for key, (calls, total, most) in found.items()]


def _record(tx: Tx, samples: Sequence[Sample], latest: dict[str, float]) -> None:
    tx.executemany(
        "INSERT INTO tool_calls(ts, agent_id, server, tool, seconds, bucket, error) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(ts, agent, server, tool, secs, bucket(secs), error) for ts, agent, server, tool, secs, error in samples],
    )
    tx.executemany(  # calls and seconds summed into the hour's row, its maximum kept
        "INSERT INTO tool_call_hours(hour, server, tool, agent_id, error, bucket, calls, seconds, max_seconds)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(hour, server, tool, agent_id, error, bucket) DO UPDATE SET"
        " calls = tool_call_hours.calls + excluded.calls, seconds = tool_call_hours.seconds + excluded.seconds,"
        f" max_seconds = {dialect.of(tx).greatest('tool_call_hours.max_seconds', 'excluded.max_seconds')}",
        by_the_hour(samples),
    )
    tx.executemany(
        f"UPDATE agents SET last_active = {dialect.of(tx).greatest('COALESCE(last_active, 0)', '?')} WHERE id = ?",
        [(ts, agent) for agent, ts in latest.items()],
    )


async def record_calls(db: Database, samples: Sequence[Sample]) -> None:
    """Write a batch of samples (one executemany, one write), count them into their hours and move each caller's
    last activity forward."""
    if not samples:
        return
    latest: dict[str, float] = {}
    for ts, agent, *_ in samples:
        if agent is not None:
            latest[agent] = max(ts, latest.get(agent, ts))
    await db.write(_record, samples, latest)


def samples_cover(tx: Tx, q: Query) -> bool:
    """Whether the window's percentiles can be exact: every call its hours counted is still a sample (none was
    dropped by age or by the cap), and they are at most EXACT_MAX. Both counts are bounded: the samples'
    stops at EXACT_MAX + 1, and the hours' sum reads a few rows per tool and hour."""
    raw_where, params = q.where("c.ts", whole_hours=True)
    params["until"] = math.ceil(q.until / 3600) * 3600  # the samples of the same whole hours
    some = f"SELECT 1 FROM tool_calls c WHERE {raw_where} LIMIT {EXACT_MAX + 1}"
    samples = int(tx.scalar(f"SELECT count(*) FROM ({some}) AS s", params))
    if samples > EXACT_MAX:
        return False
    hour_where, params = q.where("c.hour", whole_hours=True)
    counted = tx.scalar(f"SELECT COALESCE(sum(c.calls), 0) FROM tool_call_hours c WHERE {hour_where}", params)
    return samples == int(counted or 0)


def tool_names(tx: Tx) -> list[str]:
    """Every tool name with a recorded call, as samples or rollups."""
    rows = tx.execute("SELECT tool FROM tool_calls UNION SELECT tool FROM tool_call_hours ORDER BY 1")
    return [str(r[0]) for r in rows]


def ever_called(tx: Tx, tool: str) -> bool:
    return bool(
        tx.scalar(
            "SELECT EXISTS (SELECT 1 FROM tool_calls WHERE tool = ?) OR EXISTS (SELECT 1 FROM tool_call_hours"
            " WHERE tool = ?)",
            (tool, tool),
        )
    )


OLD_SAMPLES = (
    "id IN (SELECT id FROM tool_calls WHERE ts < :cutoff"
    " UNION SELECT id FROM tool_calls WHERE id <= (SELECT max(id) FROM tool_calls) - :cap)"
)
"""Samples to drop: older than the cutoff (the ts index) or beyond the newest MAX_SAMPLES (the rowid)."""


def _drop(tx: Tx, params: dict[str, Any], expired_before: float) -> int:
    dropped = len(tx.execute(f"DELETE FROM tool_calls WHERE {OLD_SAMPLES} RETURNING 1", params))
    tx.execute("DELETE FROM tool_call_hours WHERE hour < ?", (expired_before,))
    return dropped


async def roll_up(db: Database, *, now: float, raw_retention: float, retention: float) -> int:
    """Drop the samples older than `raw_retention` (whole hours) or beyond MAX_SAMPLES — their hours counted
    them when they were written — and the hours older than `retention`, never an hour whose samples are
    still kept (a raw retention longer than `retention` keeps their hours too). Returns how many samples were
    dropped. Safe to run from every process at once (one write, one hop). With nothing to drop it costs two
    index probes and takes no write lock for the samples."""
    cutoff = math.floor((now - raw_retention) / 3600) * 3600
    params = {"cutoff": cutoff, "cap": MAX_SAMPLES}
    expired_before = min(now - retention, cutoff)
    if not await db.scalar(f"SELECT EXISTS (SELECT 1 FROM tool_calls WHERE {OLD_SAMPLES})", params):
        await db.write_one("DELETE FROM tool_call_hours WHERE hour < ?", (expired_before,))
        return 0
    return await db.write(_drop, params, expired_before)


@dataclass(frozen=True)
class Query:
    """Which calls to look at: a window, optional server/tool/agent filters, per-agent grouping."""

    since: float
    until: float
    server: str | None = None
    tool: str | None = None
    agent_id: str | None = None
    by_agent: bool = False

    def where(self, time_column: str, *, whole_hours: bool = False) -> tuple[str, dict[str, Any]]:
        """SQL conditions on table alias `c`; rollups (whole_hours) include the hour the window starts in."""
        since = self.hour_start if whole_hours else self.since
        key = "since_hour" if whole_hours else "since"
        parts = [f"{time_column} >= :{key} AND {time_column} < :until"]
        params: dict[str, Any] = {key: since, "until": self.until}
        for column, value in (("server", self.server), ("tool", self.tool), ("agent_id", self.agent_id)):
            if value is not None:
                parts.append(f"c.{column} = :{column}")
                params[column] = value
        return " AND ".join(parts), params

    @property
    def hour_start(self) -> float:
        """Where a window counted from rollups begins: the start of the hour `since` falls in."""
        return math.floor(self.since / 3600) * 3600

    def agent_column(self, column: str = "COALESCE(c.agent_id, '')") -> str:
        return column if self.by_agent else "''"


def _names(tx: Tx) -> dict[str, str]:
    return {str(r["id"]): str(r["name"]) for r in tx.execute("SELECT id, name FROM agents")}


def _stats(row: Row | dict[str, Any], errors: dict[str, int], names: dict[str, str], by_agent: bool) -> ToolStats:
    from shared.models.monitoring import ToolStats

    calls = int(row["calls"])
    agent = str(row["agent_id"])
    return ToolStats(
        server=row["server"],
        tool=row["tool"],
        agent=(names.get(agent, agent) or None) if by_agent else None,
        calls=calls,
        errors=errors,
        error_rate=round(sum(errors.values()) / calls, 4) if calls else 0.0,
        mean_ms=round(row["total"] / calls * 1000, 3) if calls else 0.0,
        p50_ms=round(row["p50"] * 1000, 3),
        p95_ms=round(row["p95"] * 1000, 3),
        p99_ms=round(row["p99"] * 1000, 3),
        max_ms=round(row["max"] * 1000, 3),
    )


def _rank(ordered: Sequence[float], quantile: int) -> float:
    """The nearest-rank percentile of sorted samples."""
    return ordered[max(1, (len(ordered) * quantile + 99) // 100) - 1]


SEEN_SHOWN = 12
"""Tool names a refused tool filter lists (the nearest one is named first)."""
EXACT_MAX = 10_000
"""Past this many samples in the window, percentiles come from the histogram aggregated in SQL (estimates
within ±12 %) instead of ranking every sample in Python, so a busy window costs the same as a quiet one."""


def exact_stats(tx: Tx, q: Query) -> list[ToolStats]:
    """Per tool (and agent): calls, errors by kind, mean, p50/p95/p99 (nearest rank) and max, from samples.

    The samples of the window are read in one pass and ranked here: sorting a list per tool is several
    times cheaper than SQLite's window functions over the same rows (15,000 samples: 27 ms against 68 ms,
    aiosqlite included).
    """
    where, params = q.where("c.ts")
    durations: dict[tuple[str, str, str], list[float]] = {}
    errors: dict[tuple[str, str, str], dict[str, int]] = {}
    for server, tool, agent, seconds, error in tx.execute(
        f"SELECT c.server, c.tool, {q.agent_column()}, c.seconds, c.error FROM tool_calls c WHERE {where}", params
    ):
        key = (server, tool, agent)
        durations.setdefault(key, []).append(seconds)
        if error is not None:
            kinds = errors.setdefault(key, {})
            kinds[error] = kinds.get(error, 0) + 1
    rows: list[dict[str, Any]] = []
    for (server, tool, agent), ordered in durations.items():
        ordered.sort()
        rows.append(
            {
                "server": server,
                "tool": tool,
                "agent_id": agent,
                "calls": len(ordered),
                "total": sum(ordered),
                "max": ordered[-1],
                "p50": _rank(ordered, 50),
                "p95": _rank(ordered, 95),
                "p99": _rank(ordered, 99),
            }
        )
    rows.sort(key=lambda r: (-r["calls"], r["server"], r["tool"]))
    names = _names(tx)
    return [_stats(r, errors.get((r["server"], r["tool"], r["agent_id"]), {}), names, q.by_agent) for r in rows]


def histogram_stats(tx: Tx, q: Query) -> list[ToolStats]:
    """The same figures from the hours the window spans, percentiles estimated from their histogram: a few
    rows per tool and hour, however many calls they counted."""
    hour_where, params = q.where("c.hour", whole_hours=True)
    rows = tx.execute(
        f"SELECT c.server, c.tool, {q.agent_column('c.agent_id')} AS agent_id, c.error, c.bucket,"
        " sum(c.calls) AS calls, sum(c.seconds) AS total, max(c.max_seconds) AS max"
        f" FROM tool_call_hours c WHERE {hour_where} GROUP BY 1, 2, 3, 4, 5",
        params,
    )
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in rows:
        g = groups.setdefault(
            (r["server"], r["tool"], r["agent_id"]),
            {
                "server": r["server"],
                "tool": r["tool"],
                "agent_id": r["agent_id"],
                "calls": 0,
                "total": 0.0,
                "max": 0.0,
                "buckets": {},
                "errors": {},
            },
        )
        g["calls"] += r["calls"]
        g["total"] += r["total"]
        g["max"] = max(g["max"], r["max"])
        g["buckets"][r["bucket"]] = g["buckets"].get(r["bucket"], 0) + r["calls"]
        if r["error"]:
            g["errors"][r["error"]] = g["errors"].get(r["error"], 0) + r["calls"]
    names = _names(tx)
    found = []
    for g in groups.values():
        for name, quantile in (("p50", 50), ("p95", 95), ("p99", 99)):
            g[name] = min(g["max"], _estimate(g["buckets"], g["calls"], quantile))
        found.append(_stats(g, g["errors"], names, q.by_agent))
    return sorted(found, key=lambda s: (-s.calls, s.server, s.tool))


def _estimate(buckets: dict[int, int], calls: int, quantile: int) -> float:
    rank = (calls * quantile + 99) // 100
    seen = 0
    for index in sorted(buckets):
        seen += buckets[index]
        if seen >= rank:
            return bucket_middle(index)
    return 0.0


SLOWEST_SCAN = 20_000
"""How many of all kept samples, slowest first, a busy window's slowest calls are looked for among (an index walk
that reads no row outside the window: 1.7 ms for an hour, 2.8 ms for a day among 1,000,000 samples) before the
window's samples are sorted instead."""


def slowest(tx: Tx, q: Query, limit: int, *, busy: bool = False) -> list[SlowCall]:
    """The slowest calls in the window that are still kept as samples. In a `busy` window (more samples than
    EXACT_MAX, or some dropped) without filters they are looked for among the SLOWEST_SCAN slowest samples
    kept (index tool_calls_by_seconds), so the cost does not grow with the window's calls; when fewer than
    `limit` of those fall in the window (a quiet window after slow ones), the window's samples are sorted as
    for a quiet window. Either way the answer is the same."""
    from shared.models.monitoring import SlowCall

    if limit <= 0:
        return []
    where, params = q.where("c.ts")
    params["limit"] = limit
    pick = "SELECT c.*, COALESCE(a.name, c.agent_id) AS agent FROM tool_calls c LEFT JOIN agents a ON a.id = c.agent_id"
    rows: list[Row] = []
    if busy and (q.server, q.tool, q.agent_id) == (None, None, None):
        top = (
            "SELECT c.id FROM (SELECT id, ts, seconds FROM tool_calls INDEXED BY tool_calls_by_seconds"
            f" ORDER BY seconds DESC LIMIT {SLOWEST_SCAN}) AS c WHERE {where} ORDER BY c.seconds DESC LIMIT :limit"
        )
        rows = tx.execute(f"{pick} WHERE c.id IN ({top}) ORDER BY c.seconds DESC", params)
    if len(rows) < limit:
        rows = tx.execute(f"{pick} WHERE {where} ORDER BY c.seconds DESC LIMIT :limit", params)
    return [
        SlowCall(
            at=iso(r["ts"]) or "",
            server=r["server"],
            tool=r["tool"],
            agent=r["agent"],
            ms=round(r["seconds"] * 1000, 3),
            error=r["error"],
        )
        for r in rows
    ]


BY_AGENTS, NOTICES = count_if("kind != 'system'"), count_if("kind = 'system'")


def totals(tx: Tx, q: Query, tools: Sequence[ToolStats]) -> Totals:
    """Messages sent/received/failed and tasks created/completed/failed in the window, plus tool totals."""
    from shared.models.monitoring import Totals

    window = {"since": q.since, "until": q.until, "agent": q.agent_id}
    mine = "AND (CAST(:agent AS TEXT) IS NULL OR {} = :agent)"
    sent = tx.fetchone(
        f"SELECT {BY_AGENTS} AS agents, {NOTICES} AS notices FROM messages INDEXED BY messages_by_time"
        f" WHERE created_at >= :since AND created_at < :until {mine.format('sender_id')}",
        window,
    )
    received = tx.scalar(
        "SELECT count(*) FROM message_recipients INDEXED BY message_recipients_by_read_time"
        " WHERE read_at >= :since AND read_at < :until"
        f" {mine.format('agent_id')}",
        window,
    )
    tasks = {
        r["kind"]: int(r["n"])
        for r in tx.execute(
            # A claim that lapsed on its last attempt fails the task too (recorded by the sweep).
            "SELECT CASE WHEN kind = 'task.lease_lapsed' THEN 'task.failed' ELSE kind END AS kind, count(*) AS n"
            " FROM events INDEXED BY events_by_time WHERE (kind IN ('task.created', 'task.completed', 'task.failed')"
            f"  OR (kind = 'task.lease_lapsed' AND {dialect.of(tx).json_field('data', 'now')} = 'failed'))"
            f" AND ts >= :since AND ts < :until {mine.format('agent_id')} GROUP BY 1",
            window,
        )
    }
    return Totals(
        tool_calls=sum(t.calls for t in tools),
        tool_errors=sum(sum(t.errors.values()) for t in tools),
        messages_sent=int((sent["agents"] if sent else 0) or 0),
        messages_received=int(received or 0),
        messages_failed=sum(sum(t.errors.values()) for t in tools if t.tool in MESSAGE_TOOLS),
        notices_sent=int((sent["notices"] if sent else 0) or 0),
        tasks_created=tasks.get("task.created", 0),
        tasks_completed=tasks.get("task.completed", 0),
        tasks_failed=tasks.get("task.failed", 0),
    )


def internal_errors(tx: Tx, *, since: float) -> int:
    """Calls that crashed (a bug, not a caller's mistake) since a time."""
    return int(tx.scalar("SELECT count(*) FROM tool_calls WHERE ts >= ? AND error = 'internal'", (since,)))


def report(tx: Tx, q: Query, *, now: float, slowest_calls: int) -> Metrics:
    """Everything performance_metrics shows, from one snapshot (a roll-up by another process cannot fall
    between deciding where percentiles come from and reading them): per-tool figures — exact from the
    samples, or from the hours' histogram once the window is busy or some of its samples were dropped — the
    slowest calls, totals.
    A tool filter naming a tool never called is refused with the tools seen."""
    from shared.models.monitoring import Metrics

    exact = samples_cover(tx, q)
    tools = exact_stats(tx, q) if exact else histogram_stats(tx, q)
    known = (*toolsets.every_tool(), *toolsets.ALIASES)  # one of ours not called yet (or not flushed): empty
    if q.tool is not None and not tools and q.tool not in known and not ever_called(tx, q.tool):
        names = tool_names(tx)
        near = difflib.get_close_matches(q.tool.lower(), sorted({*names, *known}), n=1, cutoff=0.6)
        hint = f"did you mean {near[0]!r}?" if near else "check the spelling."
        shown = ", ".join(names[:SEEN_SHOWN]) + (
            f" and {len(names) - SEEN_SHOWN} more" if len(names) > SEEN_SHOWN else ""
        )
        raise NotFound(
            f"no call of a tool named {q.tool[:60]!r} was ever recorded; {hint} Tools seen: {shown or 'none yet'}"
        )
    return Metrics(
        since=iso(q.since if exact else q.hour_start) or "",
        until=iso(now) or "",
        percentiles_from="samples" if exact else "histogram",
        tools=tools,
        slowest=slowest(tx, q, slowest_calls, busy=not exact),
        totals=totals(tx, q, tools),
    )
