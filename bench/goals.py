"""Issue 17's goals in one place: each bench module records what it measured against its goal here, and
`python -m bench` prints every goal at the end in one table — measured figure, ratio to the goal, pass or
FAIL, and the load average when it was measured. A goal whose module did not run, or that only a `--full`
run measures, says so instead of disappearing."""

from __future__ import annotations

import os
from dataclasses import dataclass

from servers import SERVER_KINDS


@dataclass(frozen=True)
class Goal:
    key: str
    text: str
    module: str
    full_only: bool = False


LATENCY_TOOLS = ("task_claim", "message_send", "message_query", "knowledge_query", "agent_status")

GOALS: tuple[Goal, ...] = (
    *(Goal(f"latency.{t}", f"{t} p50 ≤ 1.3x the no-op floor (stdio, interleaved)", "latency") for t in LATENCY_TOOLS),
    Goal("growth.ready_p99", "task_list(ready) p99 ≤ 5 ms at 100,000 tasks", "growth"),
    Goal("claims.store16", "store claims at 16 processes ≥ 0.5x raw sqlite3", "claims"),
    Goal("growth.sends", "store sends ≥ 5,000/s", "growth"),
    Goal("delivery.p50", "delivery send → message_wait p50 ≤ 15 ms", "delivery"),
    Goal("delivery.p99", "delivery send → message_wait p99 ≤ 60 ms", "delivery"),
    Goal("claims.mcp16", "MCP claims at 16 client processes ≥ 0.8x a bare MCPServer no-op", "claims"),
    Goal("growth.flat", "growth: every call at the largest size run within 2x of 1,000", "growth"),
    Goal("growth.p50", "growth: every call ≤ 20 ms p50 at the largest size run", "growth"),
    Goal("growth.flat_1m", "growth: every call at 1,000,000 within 2x of 1,000", "growth", full_only=True),
    Goal("growth.p50_1m", "growth: every call ≤ 20 ms p50 at 1,000,000", "growth", full_only=True),
    Goal("dashboard.viewers", "dashboard CPU per commit with 20 open streams ≤ 2x with 1 (interleaved)", "dashboard"),
    *(Goal(f"startup.{k}", f"cold start of roundtable-{k} ≤ 1.15x a bare MCPServer", "startup") for k in SERVER_KINDS),
)
_KEYS = {g.key for g in GOALS}


@dataclass(frozen=True)
class Measured:
    figure: str
    ratio: float
    ok: bool
    load: float


_measured: dict[str, Measured] = {}


def record(key: str, figure: str, ratio: float, ok: bool) -> None:
    """What a module measured for goal `key`: the figure in words, its ratio to the goal, and the verdict."""
    if key not in _KEYS:
        raise KeyError(f"no goal {key!r} in bench.goals.GOALS")
    _measured[key] = Measured(figure, ratio, ok, os.getloadavg()[0])


def verdict(ok: bool) -> str:
    return "pass" if ok else "FAIL"


def summary(ran: set[str]) -> str:
    """The goals table: every goal of issue 17, measured or the reason it was not."""
    from bench.common import table

    rows: list[list[object]] = []
    passed = failed = 0
    for goal in GOALS:
        got = _measured.get(goal.key)
        if got is not None:
            rows.append([goal.text, got.figure, f"{got.ratio:.2f}", verdict(got.ok), f"{got.load:.1f}"])
            passed, failed = passed + got.ok, failed + (not got.ok)
        elif goal.module not in ran:
            rows.append([goal.text, f"not run (bench.{goal.module} left out by --only)", "", "not run", ""])
        elif goal.full_only:
            rows.append([goal.text, "not run (use --full)", "", "not run", ""])
        else:
            rows.append([goal.text, "not measured at this run's sizes", "", "not run", ""])
    title = f"Issue 17's goals in this run: {passed} pass, {failed} FAIL, {len(GOALS) - passed - failed} not run"
    return table(title, ["goal", "measured", "ratio to the goal", "verdict", "load average"], rows) + (
        "\nRatio to the goal: the measured figure over the goal's bound (≤ 1 passes a ceiling, ≥ 1 a floor). "
        "Load average: the machine's 1-minute load when the figure was taken (2 cores).\n"
    )


def reset() -> None:
    _measured.clear()
