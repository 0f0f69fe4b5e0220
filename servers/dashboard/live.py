"""The dashboard's live stream, one computation for every viewer: `Broadcast`.

One publisher per process computes the team's state (views.state) once per change, however many streams are
open, and reads the audit events committed since its last look into a buffer of the newest FEED_RESUME_MAX.
A stream sends the newest snapshot it has not sent yet: a burst of commits while it was busy sending (a slow
browser) is one message with the newest state, never a queue of stale ones. Events are incremental, so each
stream takes from the buffer every event after its own cursor (its Last-Event-ID); one that is further behind
than the buffer reaches (a reconnect after a long outage) reads its own once, as views.feed did for every
stream before. A stream's first message is computed after it arrived (never an older state, which may predate
presence going stale); streams arriving together share it.

The publisher follows the change watcher only while a stream is open (with none, the process is not woken),
waits COALESCE_SECONDS after each computation (a burst of commits becomes one), and checks in the same
computation which tokens of the open streams are still valid (one read), so a revoked token's stream ends at
the next change, with nothing more sent.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.abc

from servers.dashboard import views
from shared.config import Settings
from shared.db.connection import Database
from shared.db.watch import ChangeWatcher, Doorbell
from shared.store.team import tokens

log = logging.getLogger("roundtable.dashboard")

COALESCE_SECONDS = 0.15
"""After computing a state, wait this long before the next: a burst of commits becomes one message."""
RETRY_SECONDS = 1.0
"""After a computation failed (the database unavailable), try again this much later; open streams wait."""


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


@dataclass(frozen=True)
class Snapshot:
    """One computation, shared by every stream: the state as JSON (serialized once) and the event buffer."""

    number: int
    state: str
    events: tuple[tuple[int, str], ...]
    """(id, the event as JSON), oldest first: every event after `floor` up to `cursor`."""
    floor: int
    cursor: int
    checked: frozenset[str]
    """The token ids of the open streams when it was computed …"""
    live: frozenset[str]
    """… and those of them still valid."""


class Broadcast:
    """The publisher and the streams that follow it (`messages`). `run` is the publisher's supervisor, for as
    long as the app runs; it computes only while a stream is open."""

    def __init__(self, settings: Settings, db: Callable[[], Database], watcher: Callable[[], ChangeWatcher]) -> None:
        self.settings = settings
        self._db = db
        self._watcher = watcher
        self.latest: Snapshot | None = None
        self._begun = 0
        """The number of the newest computation begun."""
        self._wanted = False
        self._want = Doorbell()
        self._published = anyio.Event()
        self._streams = 0
        self._holders: Counter[str] = Counter()
        self._someone = Doorbell()
        self._scope: anyio.CancelScope | None = None
        self._buffer: list[tuple[int, str]] = []
        self._floor = 0
        self._cursor: int | None = None
        self._failures = 0
        self.computed = 0
        """How many states were computed (for tests and benchmarks)."""

    # -- the publisher --------------------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            while not self._streams:
                await self._someone.wait()
            with anyio.CancelScope() as scope:
                self._scope = scope
                try:
                    async with anyio.create_task_group() as tg:
                        await tg.start(self._follow)  # watching from before the first computation: no commit unseen
                        await self._publish()
                except Exception:  # the watcher's first look failed (the database unavailable): again shortly
                    log.exception("following the team's changes failed; trying again in %.0f s", RETRY_SECONDS)
                    self._fail()
                    await anyio.sleep(RETRY_SECONDS)
            self._scope = None

    async def _follow(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        async with aclosing(self._watcher().changes()) as changes:
            await anext(changes)  # the watcher's "look now": the stream that came asked already
            task_status.started()
            async for _ in changes:
                self._ask()

    def _ask(self) -> None:
        self._wanted = True
        self._want.ring()

    async def _publish(self) -> None:
        while True:
            while not self._wanted:
                await self._want.wait()
            self._wanted = False
            self._begun += 1
            try:
                snapshot = await self._compute(self._begun, frozenset(self._holders))
            except Exception:  # the waiting streams end (their browsers retry); computed again shortly
                log.exception("computing the dashboard's state failed; trying again in %.0f s", RETRY_SECONDS)
                self._fail()
                await anyio.sleep(RETRY_SECONDS)
                continue
            self.latest = snapshot
            self._published.set()
            self._published = anyio.Event()
            await anyio.sleep(COALESCE_SECONDS)

    async def _compute(self, number: int, checked: frozenset[str]) -> Snapshot:
        db = self._db()
        state = await views.state(db, self.settings)
        found, cursor, gap = await views.feed(db, self._cursor)
        fresh = [(int(e["id"]), _compact(e)) for e in found]
        if self._cursor is None or gap:  # the newest page (at first, or when more came than the buffer holds)
            self._buffer = fresh
            self._floor = fresh[0][0] - 1 if fresh else cursor
        else:
            self._buffer += fresh
            if len(self._buffer) > views.FEED_RESUME_MAX:
                self._floor = self._buffer[-views.FEED_RESUME_MAX - 1][0]
                del self._buffer[: -views.FEED_RESUME_MAX]
        self._cursor = cursor
        live = frozenset(await tokens.live_ids(db, sorted(checked))) if checked else frozenset()
        self.computed += 1
        return Snapshot(number, _compact(state), tuple(self._buffer), self._floor, cursor, checked, live)

    def _fail(self) -> None:
        """A computation failed: the streams waiting for one end, as a stream that failed itself did before
        (the page shows it is reconnecting, and its browser's retry asks again)."""
        self._wanted = True
        self._failures += 1
        self._published.set()
        self._published = anyio.Event()

    # -- the streams ----------------------------------------------------------------------------------

    def _enter(self, holder: str | None) -> None:
        self._streams += 1
        if holder is not None:
            self._holders[holder] += 1
        self._someone.ring()
        self._ask()

    def _leave(self, holder: str | None) -> None:
        self._streams -= 1
        if holder is not None:
            self._holders[holder] -= 1
            if not self._holders[holder]:
                del self._holders[holder]
        if not self._streams and self._scope is not None:
            self._scope.cancel()  # nobody watches: stop following the watcher

    async def _at_least(self, number: int) -> Snapshot | None:
        """The newest snapshot once it is `number` or later; None when a computation failed meanwhile."""
        failures = self._failures
        while self.latest is None or self.latest.number < number:
            await self._published.wait()
            if self._failures != failures:
                return None
        return self.latest

    async def messages(self, since: int | None, holder: str | None) -> AsyncGenerator[str, None]:
        """One stream's SSE messages: the newest state with the events after `since` (None: the newest page,
        and the page starts its feed afresh), then again after every change. `holder` is the token id the
        stream was opened with (None for the --token or loopback): once it is found revoked, the stream ends."""
        self._enter(holder)
        try:
            need = self._begun + 1  # computed after this stream arrived
            while True:
                snapshot = await self._at_least(need)
                if snapshot is None:
                    return  # no state to send: the stream ends and the browser retries
                need = snapshot.number + 1
                if holder is not None and holder in snapshot.checked and holder not in snapshot.live:
                    return  # its token was revoked: nothing more (the browser's retry then gets 401)
                events, cursor, fresh = await self._events_after(snapshot, since)
                since = cursor
                body = (
                    f'{{"events":[{",".join(events)}],"fresh":{_compact(fresh[0])},"gap":{_compact(fresh[1])},'
                    f'"state":{snapshot.state}}}'
                )
                yield f"id: {cursor}\nevent: state\ndata: {body}\n\n"
        finally:
            self._leave(holder)

    async def _events_after(self, snapshot: Snapshot, since: int | None) -> tuple[list[str], int, tuple[bool, bool]]:
        """The events this stream sends, the id to resume from, and (fresh, gap) as views.feed tells them."""
        if since is None:
            return [e for _, e in snapshot.events[-views.FEED_PAGE :]], snapshot.cursor, (True, False)
        if since >= snapshot.floor:
            return [e for i, e in snapshot.events if i > since], max(since, snapshot.cursor), (False, False)
        found, cursor, gap = await views.feed(self._db(), since)  # further back than the buffer: its own read
        return [_compact(e) for e in found], cursor, (gap, gap)
