"""The send rate check (O(1), migration 0017): ROUNDTABLE_SEND_RATE messages at once, then one every
60/RATE seconds as the allowance refills; a refused send writes nothing and says when to try again."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shared.actor import Actor
from shared.db.connection import Database
from shared.errors import RateLimited
from shared.store.mail import send as messages
from tests.agents import join
from tests.conftest import FakeClock

pytestmark = [pytest.mark.anyio, pytest.mark.engines("sqlite", "postgresql")]

OUT = messages.Outgoing(subject="", body="hello")


async def sends(db: Database) -> int:
    return int(await db.scalar("SELECT count(*) FROM messages"))


async def send(db: Database, clock: FakeClock, sender: Actor) -> None:
    await messages.send(db, replace(sender, now=clock(), per_minute=6), ["bo"], OUT)


async def test_a_burst_of_the_rate_passes_and_the_next_is_refused_with_the_wait(db: Database, clock: FakeClock) -> None:
    ana = await join(db, clock, "ana")
    await join(db, clock, "bo")
    for _ in range(6):
        await send(db, clock, ana)
    with pytest.raises(RateLimited, match="send again in 10 s"):
        await send(db, clock, ana)
    assert await sends(db) == 6  # the refused one wrote nothing


async def test_the_allowance_refills_one_message_per_interval(db: Database, clock: FakeClock) -> None:
    ana = await join(db, clock, "ana")
    await join(db, clock, "bo")
    for _ in range(6):
        await send(db, clock, ana)
    clock.advance(9)
    with pytest.raises(RateLimited, match="send again in 1 s"):
        await send(db, clock, ana)
    clock.advance(1)
    await send(db, clock, ana)  # 60/6 = 10 s after the burst, one more
    with pytest.raises(RateLimited):
        await send(db, clock, ana)
    clock.advance(60)
    for _ in range(6):  # a quiet minute gives the whole allowance back, never more
        await send(db, clock, ana)
    with pytest.raises(RateLimited):
        await send(db, clock, ana)
    assert await sends(db) == 13


async def test_over_any_long_stretch_no_more_than_the_rate_goes_out(db: Database, clock: FakeClock) -> None:
    ana = await join(db, clock, "ana")
    await join(db, clock, "bo")
    sent = 0
    for _ in range(600):  # ten minutes, trying every second
        try:
            await send(db, clock, ana)
            sent += 1
        except RateLimited:
            pass
        clock.advance(1)
    assert sent <= 6 + 6 * 10  # the first burst, then 6 a minute


async def test_the_limit_is_each_agents_own(db: Database, clock: FakeClock) -> None:
    ana, bo = await join(db, clock, "ana"), await join(db, clock, "bo")
    for _ in range(6):
        await send(db, clock, ana)
    await messages.send(db, replace(bo, now=clock(), per_minute=6), ["ana"], OUT)
    assert await sends(db) == 7


async def test_a_clock_set_back_gives_a_fresh_allowance_not_a_lock_out(db: Database, clock: FakeClock) -> None:
    ana = await join(db, clock, "ana")
    await join(db, clock, "bo")
    for _ in range(6):
        await send(db, clock, ana)
    clock.advance(-3600)  # the system clock was set back an hour
    for _ in range(6):
        await send(db, clock, ana)
    with pytest.raises(RateLimited, match="send again in 10 s"):
        await send(db, clock, ana)
