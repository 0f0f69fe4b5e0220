"""Unread counts for the whole team at once agree with each agent's own count."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shared.db.connection import Database
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
