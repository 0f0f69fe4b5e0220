"""The one runner of background jobs: `every(seconds, job)`, with one error policy.

Every server process runs a few jobs beside its tool calls (heartbeat, metrics flush, lease sweep,
proposal closing, pruning, the change watcher). Each is a plain `async def job(rt)` doing one round;
`every` repeats it, skips the round while the database is not open (`Runtime.is_open`), and logs a
failed round instead of letting it end the server. A round that fails because the file or the lock
misbehaved is retried at the next tick.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

import anyio

from shared.errors import RoundtableError

if TYPE_CHECKING:
    from shared.frame.runtime import Runtime

log = logging.getLogger("roundtable.jobs")

Job = Callable[["Runtime"], Awaitable[object]]
Background = Callable[["Runtime"], Coroutine[Any, Any, None]]
Interval = float | Callable[["Runtime"], float]

# What a round may fail with and the server shrug off: the file or its lock (sqlite3.Error), a domain
# refusal (RoundtableError), or a connection closed under us by a reopen (ValueError).
SURVIVABLE = (sqlite3.Error, RoundtableError, ValueError)


def every(seconds: Interval, job: Job, *, what: str, needs_db: bool = True, at_start: bool = False) -> Background:
    """A background task running `job(rt)` every `seconds` (a number, or read from the runtime).

    With `needs_db` (the default) a round is skipped while the database is not open; the heartbeat,
    which is what opens it, passes False. With `at_start` the first round runs at once, not after one
    interval.
    """

    async def run(rt: Runtime) -> None:
        wait = not at_start
        while True:
            if wait:
                await anyio.sleep(seconds(rt) if callable(seconds) else seconds)
            wait = True
            if needs_db and not rt.is_open:
                continue
            try:
                await job(rt)
            except SURVIVABLE as exc:
                log.warning("%s failed: %s", what, exc)

    run.__name__ = f"every_{what.replace(' ', '_')}"
    return run
