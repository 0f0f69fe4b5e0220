"""On PostgreSQL a follower by id ("everything after id N": `roundtable tail`, event_log's `since`, the dashboard's
feed, the channel push's inbox.arrivals) sees every row: no row commits after a row with a higher id.

A claim locks its own rows and runs without the team's writer lock (`locks_its_rows`), yet records an event
(task.claimed) and, taking over a lapsed claim, posts system notices. Each test holds such a claim still right
after its id was drawn (a trigger of the test's own waits for a lock the test holds: the claim's real code and
transaction, stopped where a slow network or a loaded machine may stop it), lets a write under the team lock
commit meanwhile, lets the follower read, then lets the claim go on. Before ids were drawn in commit order the
follower had read past the later id and never saw the claim's row."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from io import StringIO
from typing import Any

import anyio
import psycopg
import pytest

from servers.cli import team
from servers.dashboard import views
from shared.db.connection import Database
from shared.db.place import PostgresUrl
from shared.store import events
from shared.store.mail import inbox
from shared.store.tasks import changes
from shared.store.tasks import queue as store
from tests.agents import join, mail
from tests.conftest import FakeClock

pytestmark = pytest.mark.anyio

LATCH = 734_001
"""The advisory lock key of the test's latch (no Roundtable lock uses it)."""


@asynccontextmanager
async def latch(url: str, table: str, when: str, *, event: str = "INSERT") -> AsyncIterator[Latch]:
    """A trigger AFTER INSERT (or `event`) ON `table` for rows matching `when`, which waits for a lock this block
    holds: the writing transaction stops right after its row (and its id) is in, until `release` (or the block's
    end)."""
    holder = await psycopg.AsyncConnection.connect(url, autocommit=True)
    try:
        await holder.execute(
            "CREATE FUNCTION test_latch() RETURNS trigger LANGUAGE plpgsql AS"
            f" $$ BEGIN PERFORM pg_advisory_xact_lock_shared({LATCH}); RETURN NULL; END $$"
        )
        await holder.execute(
            f"CREATE TRIGGER test_latch AFTER {event} ON {table} FOR EACH ROW WHEN ({when})"
            " EXECUTE FUNCTION test_latch()"
        )
        await holder.execute(f"SELECT pg_advisory_lock({LATCH})")
        yield Latch(holder)
    finally:
        await holder.close()


class Latch:
    def __init__(self, holder: psycopg.AsyncConnection[Any]) -> None:
        self._holder = holder

    async def stopped(self) -> None:
        """Until a transaction is stopped at the latch."""
        waiting = f"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = {LATCH} AND NOT granted"
        with anyio.fail_after(10):
            while not (await (await self._holder.execute(waiting)).fetchone() or [0])[0]:
                await anyio.sleep(0.005)

    async def release(self) -> None:
        await self._holder.execute(f"SELECT pg_advisory_unlock({LATCH})")


async def opened(url: str) -> Database:
    return await Database.open(PostgresUrl(url))


async def committed_or_waiting(done: anyio.Event, url: str) -> None:
    """Until the other write committed (`done`) or waits for a lock (the team's, which the stopped claim holds
    once ids are drawn in commit order)."""
    waiting = f"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid <> {LATCH} AND NOT granted"
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as look:
        with anyio.fail_after(10):
            while not done.is_set() and not (await (await look.execute(waiting)).fetchone() or [0])[0]:
                await anyio.sleep(0.005)


async def trail_page(db: Database, cursor: int) -> tuple[list[int], int]:
    """event_log(since=…), as the monitoring server and `roundtable tail` read it."""
    found = await events.page(db, events.EventFilter(), limit=100, since=cursor)
    return [e.id for e in found.events], found.next_cursor if found.next_cursor is not None else cursor


async def tail(db: Database, cursor: int) -> tuple[list[int], int]:
    """`roundtable tail`'s printing of what is new (servers/cli/team.py)."""
    out = StringIO()
    before = await events.page(db, events.EventFilter(), limit=100, since=cursor)
    cursor_after = await team.print_new(db, events.EventFilter(), cursor, out)
    printed = len([line for line in out.getvalue().splitlines() if line.strip()])
    assert printed == len(before.events)
    return [e.id for e in before.events], cursor_after


async def dashboard_feed(db: Database, cursor: int) -> tuple[list[int], int]:
    """The dashboard's event feed (servers/dashboard/views.py, what its live buffer reads)."""
    found, after, gap = await views.feed(db, cursor)
    assert not gap
    return [int(e["id"]) for e in found], after


@pytest.mark.parametrize("follower", [trail_page, tail, dashboard_feed])
async def test_an_event_a_claim_records_is_followed_though_a_later_one_committed_first(
    postgres_url: str, clock: FakeClock, follower: Callable[[Database, int], Awaitable[tuple[list[int], int]]]
) -> None:
    claimer_db, writer_db, reader_db = [await opened(postgres_url) for _ in range(3)]
    ana = await join(writer_db, clock, "ana")
    bo = await join(writer_db, clock, "bo")
    await store.create(writer_db, ana, store.NewTask(title="take me"))
    start = await events.latest_id(reader_db)
    seen, cursor = await follower(reader_db, start)
    assert seen == []
    created = anyio.Event()
    async with (
        latch(postgres_url, "events", "NEW.kind = 'task.claimed'") as latched,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(store.claim, claimer_db, bo, None, None)
        await latched.stopped()  # the claim drew its event's id and is still in its transaction

        async def create() -> None:  # a write under the team lock, recording task.created
            await store.create(writer_db, ana, store.NewTask(title="later"))
            created.set()

        tg.start_soon(create)
        await committed_or_waiting(created, postgres_url)
        got, cursor = await follower(reader_db, cursor)
        seen += got
        await latched.release()  # the claim and the create then commit
    got, cursor = await follower(reader_db, cursor)
    seen += got
    every = [int(r[0]) for r in await reader_db.fetchall("SELECT id FROM events WHERE id > ? ORDER BY id", (start,))]
    kinds = {str(r[0]) for r in await reader_db.fetchall("SELECT kind FROM events WHERE id > ?", (start,))}
    assert kinds == {"task.claimed", "task.created"}
    assert seen == every, f"the follower saw {seen} of {every}: it read past a row that committed later"
    for db in (claimer_db, writer_db, reader_db):
        await db.close()


async def test_a_takeover_notice_is_pushed_though_later_mail_committed_first(
    postgres_url: str, clock: FakeClock
) -> None:
    """The channel push follows inbox.arrivals(after=…): a notice that committed after later mail was never
    pushed (it stayed unread, but the push is the promise)."""
    claimer_db, writer_db, reader_db = [await opened(postgres_url) for _ in range(3)]
    ana = await join(writer_db, clock, "ana")
    bo = await join(writer_db, clock, "bo")
    cy = await join(writer_db, clock, "cy")
    task = await store.create(writer_db, ana, store.NewTask(title="cy's", lease_seconds=5))
    assert await store.claim(writer_db, cy, task, None) == task
    clock.advance(60)  # cy's lease ran out: bo's claim takes it over and tells cy (and ana, its creator)
    bo, ana, cy = bo.at(clock()), ana.at(clock()), cy.at(clock())
    after = await reader_db.read(inbox.newest_id)
    pushed: list[int] = []

    async def push_round() -> None:  # one round of shared/frame/channel.py `follow` for cy
        nonlocal after
        found = await reader_db.read(inbox.arrivals, cy, after, 10)
        pushed.extend(m.id for m in found.first)
        after = found.last_id

    sent = anyio.Event()
    async with latch(postgres_url, "messages", "NEW.kind = 'system'") as latched, anyio.create_task_group() as tg:
        tg.start_soon(store.claim, claimer_db, bo, None, None)
        await latched.stopped()  # the notice to cy has its id; the claim has not committed

        async def send() -> None:  # mail to cy, a write under the team lock
            await mail(writer_db, clock, ana, ["cy"])
            sent.set()

        tg.start_soon(send)
        await committed_or_waiting(sent, postgres_url)
        await push_round()
        await latched.release()
    await push_round()
    unread = [
        int(r[0])
        for r in await reader_db.fetchall(
            "SELECT message_id FROM message_recipients WHERE agent_id = ? AND message_id > 0 ORDER BY message_id",
            (cy.id,),
        )
    ]
    kinds = [str(r[0]) for r in await reader_db.fetchall("SELECT kind FROM messages ORDER BY id")]
    assert sorted(kinds) == ["direct", "system", "system"], kinds
    assert pushed == unread, f"cy was pushed {pushed} of its mail {unread}: a notice committed late was skipped"
    for db in (claimer_db, writer_db, reader_db):
        await db.close()


async def test_a_claim_waiting_for_the_team_lock_and_a_write_under_it_waiting_for_the_claimed_task_both_go_through(
    postgres_url: str, clock: FakeClock
) -> None:
    """The claim holds its task's row when it asks for the team lock (to record task.claimed); a write holding the
    team lock may be waiting for that row meanwhile. The write lets go after ROW_WAIT_MS and runs again: both
    commit, neither is refused."""
    claimer_db, writer_db = [await opened(postgres_url) for _ in range(2)]
    ana = await join(writer_db, clock, "ana")
    bo = await join(writer_db, clock, "bo")
    task = await store.create(writer_db, ana, store.NewTask(title="wanted twice"))
    row_wait = (
        "SELECT count(*) FROM pg_locks WHERE locktype IN ('transactionid', 'tuple') AND NOT granted"
        " AND pid <> pg_backend_pid()"
    )
    claimed: list[int | None] = []
    updated: list[list[str]] = []
    async with (
        latch(postgres_url, "tasks", "OLD.status = 'open' AND NEW.status = 'claimed'", event="UPDATE") as latched,
        anyio.create_task_group() as tg,
    ):

        async def claim() -> None:
            claimed.append(await store.claim(claimer_db, bo, task, None))

        async def update() -> None:  # the creator's change of priority, under the team lock, on the task's row
            updated.append(await changes.update(writer_db, ana, task, store.TaskChange(priority=3)))

        tg.start_soon(claim)
        await latched.stopped()  # the claim holds the task's row (taken, not yet recorded)
        tg.start_soon(update)
        with anyio.fail_after(8):  # the write, holding the team lock, waits for the row (each try ROW_WAIT_MS)
            while not await writer_db.scalar(row_wait):
                await anyio.sleep(0.005)
        await latched.release()  # the claim goes on to record task.claimed: it asks for the team lock
    assert claimed == [task]
    assert updated and updated[0]
    row = await writer_db.fetchone("SELECT status, holder, priority FROM tasks WHERE id = ?", (task,))
    assert row is not None and (row["status"], row["holder"], row["priority"]) == ("claimed", bo.id, 3)
    kinds = [str(r[0]) for r in await writer_db.fetchall("SELECT kind FROM events ORDER BY id")]
    assert "task.claimed" in kinds
    for db in (claimer_db, writer_db):
        await db.close()
