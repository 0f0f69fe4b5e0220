"""Tool latency over time, for the dashboard's chart: p50 and p95 per tool in equal slots of a recent window.

Read from the raw samples of the window (`tool_calls_by_ts`), grouped by tool, slot and latency bucket in
SQL, so what comes back is at most one row per tool, slot and bucket whatever the number of calls; a percentile
is the nearest rank over those buckets, each counted at its geometric middle (within ±12 %, as
performance_metrics' histogram estimate). A window older than the raw retention has no samples left: the
chart then shows nothing for it, and performance_metrics answers from the hourly rollups.
"""

from __future__ import annotations

import math
from collections import defaultdict

from shared.db.connection import Tx
from shared.models.dashboard import SeriesPoint, Timeline, ToolSeries
from shared.rules.clock import iso
from shared.store.team import dialect
from shared.store.team.metrics import bucket_middle

TOOLS_SHOWN = 8


def _rank(buckets: dict[int, int], total: int, fraction: float) -> float:
    wanted = max(1, math.ceil(total * fraction))
    seen = 0
    for index in sorted(buckets):
        seen += buckets[index]
        if seen >= wanted:
            return round(bucket_middle(index) * 1000, 2)
    return round(bucket_middle(max(buckets)) * 1000, 2)


def series(tx: Tx, *, since: float, until: float, slots: int = 12) -> Timeline:
    """p50/p95 per slot for the busiest TOOLS_SHOWN tools between `since` and `until`."""
    width = (until - since) / slots
    rows = tx.execute(
        f"SELECT tool, {dialect.of(tx).whole('(ts - :since) / :width')} AS slot, bucket, count(*) AS n"
        " FROM tool_calls INDEXED BY tool_calls_by_ts WHERE ts >= :since AND ts < :until GROUP BY 1, 2, 3",
        {"since": since, "until": until, "width": width},
    )
    found: dict[str, dict[int, dict[int, int]]] = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        found[str(r["tool"])][min(int(r["slot"]), slots - 1)][int(r["bucket"])] = int(r["n"])
    totals = {tool: sum(sum(b.values()) for b in by_slot.values()) for tool, by_slot in found.items()}
    busiest = sorted(totals, key=lambda t: (-totals[t], t))[:TOOLS_SHOWN]
    tools = []
    for tool in busiest:
        points = []
        for slot in range(slots):
            buckets = found[tool].get(slot, {})
            n = sum(buckets.values())
            points.append(
                SeriesPoint(
                    at=iso(since + slot * width) or "",
                    calls=n,
                    p50_ms=_rank(buckets, n, 0.5) if n else None,
                    p95_ms=_rank(buckets, n, 0.95) if n else None,
                )
            )
        tools.append(ToolSeries(tool=tool, calls=totals[tool], points=points))
    return Timeline(since=iso(since) or "", until=iso(until) or "", slot_seconds=width, tools=tools)
