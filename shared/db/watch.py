"""The one change watcher: wakes whoever waits when another connection commits to the shared database.

On PostgreSQL (shared/db/postgres.py) the version is the count of NOTIFYs other processes' commits sent to this
process's LISTEN connection, and the wake-up is that notification itself: no polling, no datagram.

SQLite bumps `PRAGMA data_version` on this connection whenever *another* connection commits (a call
costs microseconds). One poll per process serves every waiter — resource notifications, `message_wait`,
`roundtable tail` — and it polls only while someone waits: with nobody waiting a round sleeps until someone
starts to, so an idle server process is not woken at all. A commit made through this process's own
connection does not move it: code that commits and wants listeners told calls `nudge` (over HTTP every
commit does, through `Database.on_commit`: one process serves every agent there).

Other processes push a wake-up after each commit (shared/db/wakeup.py, a datagram to each process's
socket beside the database): `watch_round` waits for one, or POLL_SECONDS at most, and then polls, so a
commit elsewhere is seen within a fraction of a millisecond; where wake-ups are unavailable, polling alone
serves, as before.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable

import anyio

POLL_SECONDS = 0.05


class Doorbell:
    """Sleep until someone comes: a sleeper awaits `wait()`, whoever comes calls `ring()` (a no-op when nobody
    sleeps). The event is made by the first sleeper, so in the event loop that awaits it."""

    def __init__(self) -> None:
        self._event: anyio.Event | None = None

    def ring(self) -> None:
        if self._event is not None:
            self._event.set()
            self._event = None

    async def wait(self) -> None:
        if self._event is None:
            self._event = anyio.Event()
        await self._event.wait()


class ChangeWatcher:
    """Run `watch_round()` in a loop (a background job); iterate `changes()` to wait for commits."""

    def __init__(
        self, version: Callable[[], Awaitable[int]], wake: Callable[[float], Awaitable[bool]] | None = None
    ) -> None:
        self._version = version
        self._wake = wake
        self._last: int | None = None
        self._seq = 0
        self._changed = anyio.Event()
        self._waiters = 0
        self._someone = Doorbell()  # rung when the first waiter comes

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

    def nudge(self) -> None:
        """Wake every waiter now, as a commit by another process would: for a change this process knows of
        and its own connection does not show (a newcomer to look for; over HTTP, another agent's commit made
        here). Nudges made while the waiters were busy are folded into one wake-up, as commits are."""
        if self._waiters:
            self._seq += 1
            self._changed.set()
            self._changed = anyio.Event()

    async def watch_round(self, seconds: float = POLL_SECONDS) -> None:
        """One round of the background watch: wait `seconds`, or less when another process announces a
        commit (only while someone waits), then poll. On SQLite a round is POLL_SECONDS (the datagram is a
        hint); on PostgreSQL NOTIFY is exact and `version` counts the notifications, so a round waits for one
        as long as the database's `watch_seconds` and polling costs no statement. While nobody waits, a round
        lasts until someone starts to (nothing to look for, nothing to wake)."""
        if not self._waiters:
            self._last = None
            await self._someone.wait()
            return
        if self._wake is not None:
            await self._wake(seconds)
        else:
            await anyio.sleep(min(seconds, POLL_SECONDS))
        await self.poll()

    async def changes(self) -> AsyncGenerator[None, None]:
        """Yield at once (look now), then once after each commit by another process, for as long as the
        caller iterates. Commits made while the caller was busy are folded into one wake-up, never lost."""
        self._waiters += 1
        self._someone.ring()
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
