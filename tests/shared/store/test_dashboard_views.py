"""The dashboard's own reads: the team's mail as a whole, latency per tool over time, and the feed a page
resumes from after a reconnect."""

from __future__ import annotations

import pytest

from servers.dashboard import views
from shared.actor import Actor
from shared.config import Settings
from shared.db.connection import Database
from shared.store import events
from shared.store.mail import overview
from shared.store.team import metrics, timeline
from tests.agents import join, mail
from tests.conftest import FakeClock

pytestmark = [pytest.mark.anyio, pytest.mark.engines("sqlite", "postgresql")]


async def test_the_mail_overview_shows_every_message_with_each_recipients_state(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    ana = await join(db, clock, "ana")
    await join(db, clock, "bo")
    await join(db, clock, "cy")
    first = await mail(db, clock, ana, ["bo", "cy"], ack_within=60)
    second = await mail(db, clock, ana, ["bo"])
    clock.advance(120)
    at = Actor.looking(settings, clock())
    page = await db.read(overview.page, at, limit=10)
    assert [m.id for m in page.messages] == [second, first]
    owed = page.messages[1]
    assert (owed.sender, owed.ack_required, owed.recipient_count, owed.overdue_count) == ("ana", True, 2, 2)
    assert [(r.name, r.read, r.acked, r.overdue) for r in owed.recipients] == [
        ("bo", False, False, True),
        ("cy", False, False, True),
    ]
    older = await db.read(overview.page, at, limit=1)
    assert older.next_before == second
    rest = await db.read(overview.page, at, limit=1, before=older.next_before)
    assert [m.id for m in rest.messages] == [first] and rest.next_before is None


async def test_the_timeline_gives_p50_and_p95_per_tool_per_slot(db: Database, clock: FakeClock) -> None:
    ana = await join(db, clock, "ana")
    start = clock()
    fast = [(start + 10 + i * 0.01, ana.id, "coordination", "task_list", 0.001, None) for i in range(100)]
    slow = [(start + 3000 + i * 0.01, ana.id, "coordination", "task_claim", 0.1, None) for i in range(10)]
    await metrics.record_calls(db, fast + slow)
    chart = await db.read(timeline.series, since=start, until=start + 3600, slots=12)
    assert [t.tool for t in chart.tools] == ["task_list", "task_claim"]
    listing, claiming = chart.tools
    assert listing.points[0].calls == 100 and all(p.calls == 0 for p in listing.points[1:])
    assert listing.points[0].p50_ms == pytest.approx(1.0, rel=0.13)
    assert claiming.points[10].p95_ms == pytest.approx(100.0, rel=0.13)
    assert claiming.points[0].p50_ms is None


async def test_the_feed_resumes_after_the_last_event_it_sent(db: Database, clock: FakeClock) -> None:
    await join(db, clock, "ana")
    first, cursor, gap = await views.feed(db, None)
    assert not gap and cursor == first[-1]["id"]

    async def more(n: int) -> None:
        def write(tx):  # type: ignore[no-untyped-def]
            for i in range(n):
                events.record(tx, now=clock(), agent_id=None, kind="test.tick", object_type="t", object_id=i)

        await db.write(write)

    await more(3)
    missed, resumed, gap = await views.feed(db, cursor)
    assert [e["id"] for e in missed] == [cursor + 1, cursor + 2, cursor + 3] and not gap
    assert resumed == cursor + 3
    await more(views.FEED_RESUME_MAX + 5)
    newest, _, gap = await views.feed(db, resumed)
    assert gap and len(newest) == views.FEED_PAGE  # too many missed: the feed starts over from the newest
