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
