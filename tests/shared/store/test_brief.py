"""The orientation brief (start_here, roundtable://me) for a new agent, a busy agent and an observer."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shared.db.connection import Database
from shared.store import brief
from shared.store.tasks import queue as tasks
from tests.agents import join, mail
from tests.conftest import FakeClock

pytestmark = [pytest.mark.anyio, pytest.mark.engines("sqlite", "postgresql")]


async def test_a_new_agent_is_told_who_it_is_and_that_nothing_waits(db: Database, clock: FakeClock) -> None:
    ana = await join(db, clock, "ana")
    b = await brief.of(db, replace(ana, now=clock()))
    assert (b.you, b.holding, b.mail, b.votes, b.unread) == ("ana, a worker", [], [], [], 0)
    assert "Nothing waits for you" in b.next_action
    assert len(b.model_dump_json()) < 1600  # well under 400 tokens


async def test_a_busy_agent_sees_claims_with_time_left_mail_and_what_to_do_first(
    db: Database, clock: FakeClock
) -> None:
    ana, bo = await join(db, clock, "ana"), await join(db, clock, "bo")
    held = await tasks.create(db, replace(bo, now=clock()), tasks.NewTask(title="port the parser"))
    await tasks.claim(db, replace(ana, now=clock()), held, 840.0)
    assigned = await tasks.create(db, replace(bo, now=clock()), tasks.NewTask(title="review", assignee_id=ana.id))
    await mail(db, clock, bo, ["ana"], ack_within=3600)
    clock.advance(1)
    b = await brief.of(db, replace(ana, now=clock()))
    assert [(t.id, t.lease_ends) for t in b.holding] == [(held, "in 13 min")]
    assert [(t.id, t.ready) for t in b.assigned] == [(assigned, True)]
    senders = sorted(m.sender for m in b.mail)
    assert senders == ["bo", "system"] and b.owe_acks == 1 and b.unread == 2
    assert "named:" not in b.model_dump_json()
    assert b.next_action.startswith("Read your mail")


async def test_an_observer_is_told_it_only_looks(db: Database, clock: FakeClock) -> None:
    eve = await join(db, clock, "eve", role="observer")
    b = await brief.of(db, replace(eve, now=clock()))
    assert b.you == "eve, an observer" and "observer" in b.next_action


def test_an_unread_count_past_the_cap_is_told_as_people_read_it() -> None:
    from shared.rules import counts

    b = dict(unread=counts.CAP + 1, role="worker", holding=[], mail=[], votes=[], owe_acks=0, assigned=[])
    assert "Read your 1,000+ unread" in brief.next_action(b | {"ready_tasks": 0}, [])
    assert "Read your 1,000+ unread" in brief.next_action(b | {"ready_tasks": 0, "role": "observer"}, [])
