"""The one change watcher: wakes whoever waits when another connection commits to the shared file.

SQLite bumps `PRAGMA data_version` on this connection whenever *another* connection commits (a call
costs microseconds). One poll per process serves every waiter — resource notifications, `message_wait`,
`roundtable tail` — and it polls only while someone waits. A commit made through this process's own
connection does not move it: code that commits and wants listeners told publishes directly.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable

import anyio

POLL_SECONDS = 0.05


class ChangeWatcher:
    """Call `poll()` every POLL_SECONDS (a background job); iterate `changes()` to wait for commits."""

    def __init__(self, version: Callable[[], Awaitable[int]]) -> None:
        self._version = version
        self._last: int | None = None
        self._seq = 0
        self._changed = anyio.Event()
        self._waiters = 0

    @property
    def waiting(self) -> int:
        return self._waiters

    async def poll(self) -> None:
        """One look at data_version; wakes every waiter when it moved since the last look."""
        if not self._waiters:
            self._last = None
            return
        version = await self._version()
        if self._last is not None and version != self._last:
            self._seq += 1
            self._changed.set()
            self._changed = anyio.Event()
        self._last = version

    async def changes(self) -> AsyncGenerator[None, None]:
        """Yield at once (look now), then once after each commit by another process, for as long as the
        caller iterates. Commits made while the caller was busy are folded into one wake-up, never lost."""
        self._waiters += 1
        try:
            if self._last is None:
                self._last = await self._version()
            seen = self._seq
            yield
            while True:
                if self._seq == seen:
                    await self._changed.wait()
                seen = self._seq
                yield
        finally:
            self._waiters -= 1
