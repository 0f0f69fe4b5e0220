"""Tool-call instrumentation shared by every server: the in-memory sample buffer, error kinds, and the
background flush that writes samples in batches and keeps the metrics tables bounded.

The hot path (RoundtableServer.call_tool in shared/frame/runtime.py) only reads two clocks and appends a
tuple to a list. A frame job (FRAME_JOBS in shared/frame/runtime.py) writes the list once a second in one
write with one executemany (and at shutdown), which also moves the agent's last activity forward for
presence. Arguments are never kept.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections import deque
from typing import TYPE_CHECKING

import anyio
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

from shared.errors import RoundtableError
from shared.store.team import metrics

if TYPE_CHECKING:
    from shared.frame.runtime import Runtime

log = logging.getLogger(__name__)

FLUSH_SECONDS = 1.0
ROLL_UP_SECONDS = 300.0
MAX_PENDING = 50_000
"""Samples kept in memory while the database cannot take them; beyond it the oldest are dropped."""
UNKNOWN_TOOL = "(unknown)"
WARN_EVERY = 60.0
"""A failing flush is logged at most once a minute (a read-only file would fail every second)."""


class Recorder:
    """Samples of this process's tool calls not yet written (the newest MAX_PENDING)."""

    def __init__(self) -> None:
        self.pending: deque[metrics.Sample] = deque(maxlen=MAX_PENDING)
        self.warned_at = -WARN_EVERY
        self.next_roll_up = 0.0

    def add(self, sample: metrics.Sample) -> None:
        self.pending.append(sample)

    def take(self) -> list[metrics.Sample]:
        batch = list(self.pending)
        self.pending.clear()
        return batch

    def give_back(self, batch: list[metrics.Sample]) -> None:
        """A batch the database refused: keep it (ahead of newer samples) for the next flush."""
        self.pending = deque([*batch, *self.pending], maxlen=MAX_PENDING)


def error_kind(exc: BaseException) -> str:
    """How a tool call failed, for metrics: a domain error's kind (not_found, invalid_argument, forbidden …),
    'validation' (arguments refused by the schema), 'unavailable' (the database file), 'internal' (a crash),
    'unknown_tool', 'cancelled' or 'protocol'."""
    if isinstance(exc, anyio.get_cancelled_exc_class()):
        return "cancelled"
    if isinstance(exc, UnexpectedToolError):
        return "internal"
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, RoundtableError):
            return cause.kind
        if isinstance(cause, ValidationError):
            return "validation"
        if isinstance(cause, sqlite3.Error):
            return "unavailable"  # only file problems reach a tool as a ToolError (shared/frame/tool.py)
        cause = cause.__cause__
    if isinstance(exc, MCPError):
        return "protocol"
    if isinstance(exc, ToolError) and str(exc).startswith("Unknown tool"):
        return "unknown_tool"
    return "tool_error"


async def flush(rt: Runtime) -> None:
    """Write this process's pending samples now (one transaction, one executemany)."""
    if not rt.recorder.pending or rt._db is None:
        return
    batch = rt.recorder.take()
    try:
        await metrics.record_calls(rt._db, batch)
    except (sqlite3.Error, RoundtableError, ValueError) as exc:  # ValueError: connection closed by a reopen
        rt.recorder.give_back(batch)
        if time.monotonic() - rt.recorder.warned_at >= WARN_EVERY:
            rt.recorder.warned_at = time.monotonic()
            log.warning("writing %d tool-call samples failed (kept for the next try): %s", len(batch), exc)


async def roll_up(rt: Runtime) -> None:
    """Drop old samples (their hours counted them as they were written) and expired hours (any process may)."""
    await metrics.roll_up(
        rt.db,
        now=rt.now(),
        raw_retention=rt.settings.metrics_raw_retention,
        retention=rt.settings.metrics_retention,
    )


async def flush_and_roll_up(rt: Runtime) -> None:
    """One round of the metrics job (each second): flush, and every few minutes roll up."""
    await flush(rt)
    if time.monotonic() >= rt.recorder.next_roll_up:
        rt.recorder.next_roll_up = time.monotonic() + ROLL_UP_SECONDS
        await roll_up(rt)
