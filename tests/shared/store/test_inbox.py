"""Unread counts for the whole team at once agree with each agent's own count."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shared.db.connection import Database
from shared.errors import InvalidArgument
from shared.store.mail import inbox
from shared.store.mail import send as messages
from tests.agents import join, mail
from tests.conftest import FakeClock

pytestmark = [pytest.mark.anyio, pytest.mark.engines("sqlite", "postgresql")]


async def test_the_team_unread_counts_equal_each_agents_own(db: Database, clock: FakeClock) -> None:
    ana, bo, cy = await join(db, clock, "ana"), await join(db, clock, "bo"), await join(db, clock, "cy")
    sender = replace(ana, now=clock(), per_minute=1000)
    for expires in (None, clock() + 60):
        out = messages.Outgoing(subject="", body="all hands", expires_at=expires)
        await messages.broadcast(db, sender, out)
    read_by_bo = await mail(db, clock, ana, ["bo", "cy"])
    await mail(db, clock, cy, ["ana", "bo"])
    await inbox.mark_read(db, bo.at(clock()), [read_by_bo, 1])  # a direct message and a broadcast
    clock.advance(120)  # the second broadcast has expired
    counts = await inbox.unread_counts(db, now=clock())
    for me in (ana, bo, cy):
        assert counts.get(me.id, 0) == await inbox.unread_count(db, me.at(clock())), me.name
    assert [counts.get(me.id, 0) for me in (ana, bo, cy)] == [1, 1, 2]


async def test_acknowledging_up_to_an_id_takes_what_is_owed_in_bounded_batches(
    db: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    ana, bo = await join(db, clock, "ana"), await join(db, clock, "bo")
    sent = [await mail(db, clock, ana, ["bo"]) for _ in range(7)]
    first = await messages.acknowledge(db, bo.at(clock()), [sent[0]], None)
    assert (first.fresh, first.already, first.more) == ([sent[0]], [], False)
    monkeypatch.setattr(messages, "ACK_MAX", 4)
    batch = await messages.acknowledge(db, bo.at(clock()), [], sent[-1])
    assert (batch.fresh, batch.already, batch.more) == (sent[1:5], [], True)  # the oldest owed; none listed twice
    rest = await messages.acknowledge(db, bo.at(clock()), [], sent[-1])
    assert (rest.fresh, rest.more) == (sent[5:], False)
    done = await messages.acknowledge(db, bo.at(clock()), [], sent[-1])
    assert (done.fresh, done.already, done.more) == ([], [], False)
    assert (await messages.acknowledge(db, bo.at(clock()), sent[:2], None)).already == sent[:2]


async def test_a_pattern_followed_before_the_stricter_rules_is_still_dropped(db: Database, clock: FakeClock) -> None:
    ana = await join(db, clock, "ana")
    await db.write_one(
        "INSERT INTO topic_subscriptions(agent_id, pattern, created_at) VALUES (?, 'build..**', ?)", (ana.id, clock())
    )
    with pytest.raises(InvalidArgument, match="empty part between dots"):
        await messages.set_subscription(db, ana.at(clock()), "build..**", subscribe=True)
    await messages.set_subscription(db, ana.at(clock()), "build..**", subscribe=False)
    assert await messages.subscriptions(db, ana) == []
