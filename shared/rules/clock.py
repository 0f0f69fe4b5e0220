"""Time as the application sees it: a clock callable (injectable in tests) and ISO rendering."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], float]
"""Returns unix seconds. Every stored time comes from one, so tests can move time without sleeping."""

system_clock: Clock = time.time


def iso(ts: float | None) -> str | None:
    """Unix seconds as an ISO 8601 UTC string with second precision (None stays None)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def relative(ts: float | None, now: float) -> str | None:
    """How far `ts` is from `now` in words a model can act on: "in 14 min", "3 min ago", "just now".

    Seconds under a minute, minutes under two hours, hours under two days, then days (rounded down);
    None stays None.
    """
    if ts is None:
        return None
    delta = ts - now
    span = abs(delta)
    if span < 5:
        return "just now"
    if span < 60:
        amount = f"{int(span)} s"
    elif span < 7200:
        amount = f"{int(span // 60)} min"
    elif span < 2 * 86400:
        amount = f"{int(span // 3600)} h"
    else:
        amount = f"{int(span // 86400)} days"
    return f"in {amount}" if delta > 0 else f"{amount} ago"
