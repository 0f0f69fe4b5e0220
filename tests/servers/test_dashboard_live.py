"""The dashboard's live streams in one process: one computation per change for every stream, the newest state
for a stream that fell behind, and every event after a stream's last one (servers/dashboard/live.py).

The dashboard runs as `roundtable dashboard` runs it (its read-only connection, its change watcher); the team
is changed through the stores on another connection, as another process's servers would."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from contextlib import AsyncExitStack, aclosing
from typing import Any

import anyio
import pytest

from servers.dashboard.app import Dashboard
from shared.config import Settings
from shared.db.connection import Database
from shared.store import events
from shared.store.tasks import queue
from tests.agents import join
from tests.conftest import FakeClock

pytestmark = [pytest.mark.anyio, pytest.mark.engines("sqlite", "postgresql")]


def _parsed(message: str) -> dict[str, Any]:
    data = next(line for line in message.splitlines() if line.startswith("data: "))
    found: dict[str, Any] = json.loads(data[len("data: ") :])
    return found


async def _next(stream: AsyncGenerator[str, None]) -> dict[str, Any]:
    with anyio.fail_after(20):
        return _parsed(await anext(stream))


def _titles(message: dict[str, Any]) -> set[str]:
    return {t["title"] for c in message["state"]["board"]["columns"] for t in c["tasks"]}


async def _event_ids_after(db: Database, since: int) -> list[int]:
    rows = await db.fetchall("SELECT id FROM events WHERE id > ? ORDER BY id", (since,))
    return [int(r["id"]) for r in rows]


async def test_twenty_streams_see_one_change_through_one_computation(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    # every open stream computed the team's whole state after each commit: 20 viewers, 20 computations
    ana = await join(db, clock, "ana")
    dash = Dashboard(settings, loopback=True)
    async with dash.running(), AsyncExitStack() as stack:
        streams = [await stack.enter_async_context(aclosing(dash.broadcast.messages(None, None))) for _ in range(20)]
        firsts: list[dict[str, Any]] = [{}] * len(streams)

        async def first(i: int) -> None:
            firsts[i] = await _next(streams[i])

        async with anyio.create_task_group() as tg:
            for i in range(len(streams)):
                tg.start_soon(first, i)
        assert all(m["fresh"] for m in firsts)
        before = dash.broadcast.computed
        await queue.create(db, ana, queue.NewTask(title="seen by every viewer"))
        updates = []
        for stream in streams:
            message = await _next(stream)
            while "seen by every viewer" not in _titles(message):
                message = await _next(stream)
            updates.append(message)
        assert dash.broadcast.computed == before + 1
        assert all(u == updates[0] for u in updates)
        assert [e["kind"] for e in updates[0]["events"]] == ["task.created"]


async def test_a_stream_that_fell_behind_gets_the_newest_state_with_every_event_it_missed(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    ana = await join(db, clock, "ana")
    dash = Dashboard(settings, loopback=True)
    async with (
        dash.running(),
        aclosing(dash.broadcast.messages(None, None)) as fast,
        aclosing(dash.broadcast.messages(None, None)) as slow,
    ):
        await _next(fast)
        behind = await _next(slow)
        for n in range(5):  # the slow stream sends nothing meanwhile (its browser is not reading)
            await queue.create(db, ana, queue.NewTask(title=f"task {n}"))
            message = await _next(fast)
            while f"task {n}" not in _titles(message):
                message = await _next(fast)
        caught_up = await _next(slow)  # one message: the newest state, not the first of a queue
        assert caught_up["state"] == message["state"]
        assert {f"task {n}" for n in range(5)} <= _titles(caught_up)
        cursor = max(e["id"] for e in behind["events"])
        assert [e["id"] for e in caught_up["events"]] == await _event_ids_after(db, cursor)
        assert (caught_up["fresh"], caught_up["gap"]) == (False, False)


async def test_a_stream_resumed_from_further_back_than_the_shared_buffer_misses_no_event(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    ana = await join(db, clock, "ana")

    def progress(tx: Any) -> None:
        for n in range(150):
            events.record(
                tx, now=clock(), agent_id=ana.id, kind="task.progress", object_type="task", object_id=n, data={}
            )

    await db.write(progress)
    every = await _event_ids_after(db, 0)
    dash = Dashboard(settings, loopback=True)
    async with (
        dash.running(),
        aclosing(dash.broadcast.messages(None, None)) as newcomer,
        aclosing(dash.broadcast.messages(every[9], None)) as far,
        aclosing(dash.broadcast.messages(every[-5], None)) as near,
    ):
        page = await _next(newcomer)
        assert [e["id"] for e in page["events"]] == every[-50:]  # the newest page, oldest first
        assert [e["id"] for e in (await _next(far))["events"]] == every[10:]
        assert [e["id"] for e in (await _next(near))["events"]] == every[-4:]
        await queue.create(db, ana, queue.NewTask(title="after the reconnect"))
        new = await _event_ids_after(db, every[-1])
        for stream in (newcomer, far, near):
            message = await _next(stream)
            while "after the reconnect" not in _titles(message):
                message = await _next(stream)
            assert [e["id"] for e in message["events"]] == new
