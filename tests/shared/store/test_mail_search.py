"""Mail's search index filled in the background (shared/store/mail/search.py): a message is found by its words
from the moment it is sent, before the indexer reaches it and after, a long unindexed tail is indexed by the
search that meets it, and deletions keep the index whole."""

from __future__ import annotations

from dataclasses import replace

import anyio
import anyio.lowlevel
import pytest

from shared.actor import Actor
from shared.db.connection import Database
from shared.store.mail import inbox, search
from shared.store.mail import send as messages
from tests.agents import join
from tests.conftest import FakeClock

pytestmark = [pytest.mark.anyio, pytest.mark.engines("sqlite", "postgresql")]


async def send(db: Database, clock: FakeClock, sender: Actor, body: str) -> int:
    out = messages.Outgoing(subject="", body=body)
    message_id, _ = await messages.send(db, replace(sender, now=clock(), per_minute=1000), ["bo"], out)
    return message_id


async def found(db: Database, clock: FakeClock, reader: Actor, text: str) -> list[int]:
    f = inbox.InboxFilter(unread_only=False, text=text)
    page, _ = await inbox.page(db, reader.at(clock()), f, limit=100, after=0)
    return [m.id for m in page]


async def pending(db: Database) -> int:
    """Messages not in the index yet (none on PostgreSQL, which indexes each in its INSERT)."""
    if db.engine == "postgresql":
        return 0
    return int(await db.scalar(f"SELECT count(*) FROM messages WHERE id > ({search.MARK})"))


async def test_a_message_is_found_before_and_after_it_is_indexed(db: Database, clock: FakeClock) -> None:
    ana, bo = await join(db, clock, "ana"), await join(db, clock, "bo")
    early = await send(db, clock, ana, "deploying the release tonight")
    await search.index_pending(db)
    late = await send(db, clock, ana, "the release is deployed")
    other = await send(db, clock, ana, "lunch at noon")
    assert await pending(db) == (0 if db.engine == "postgresql" else 2)
    assert await found(db, clock, bo, "deploy release") == [early, late]  # one indexed, one in the tail (stems)
    assert await found(db, clock, bo, "lunch") == [other]
    assert await search.index_pending(db) == (0 if db.engine == "postgresql" else 2)
    assert await pending(db) == 0
    assert await found(db, clock, bo, "deploy release") == [early, late]
    assert await found(db, clock, bo, "lunch") == [other]


async def test_the_indexer_works_in_batches_and_a_long_tail_is_indexed_by_the_search(
    db: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    ana, bo = await join(db, clock, "ana"), await join(db, clock, "bo")
    sent = [await send(db, clock, ana, f"report number {i}") for i in range(7)]
    monkeypatch.setattr(search, "BATCH", 3)
    monkeypatch.setattr(search, "TAIL_MAX", 4)
    if db.engine == "sqlite":
        assert await db.write(search.index_batch, 3) == 3
        assert await pending(db) == 4
        await send(db, clock, ana, "report number 7")  # a tail of 5: past TAIL_MAX
    else:
        await send(db, clock, ana, "report number 7")
    assert len(await found(db, clock, bo, "report")) == 8
    assert await pending(db) == 0  # the search indexed the tail first
    assert sent[0] in await found(db, clock, bo, "report")


@pytest.mark.engines("sqlite")
async def test_the_indexer_lets_the_process_answer_calls_between_its_batches(
    db: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that finds the lock free takes it without yielding, so a catch-up of many batches would hold
    the event loop for all of them: it yields between batches instead."""
    ana, _ = await join(db, clock, "ana"), await join(db, clock, "bo")
    for i in range(12):
        await send(db, clock, ana, f"report number {i}")
    monkeypatch.setattr(search, "BATCH", 3)
    indexing_done = False
    turns_during = 0

    async def index() -> None:
        nonlocal indexing_done
        assert await search.index_pending(db) == 12
        indexing_done = True

    async def other_call() -> None:
        nonlocal turns_during
        while not indexing_done:
            turns_during += 1
            await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as tg:
        tg.start_soon(index)
        tg.start_soon(other_call)
    assert turns_during >= 4  # one turn at least after each of the 4 batches


async def test_deleted_messages_leave_the_index_whole_and_no_indexed_id_is_given_again(
    db: Database, clock: FakeClock
) -> None:
    ana, bo = await join(db, clock, "ana"), await join(db, clock, "bo")
    await send(db, clock, ana, "kept message")
    newest = await send(db, clock, ana, "indexed then deleted")
    await search.index_pending(db)
    unindexed = await send(db, clock, ana, "deleted before indexing")
    await db.write_one("DELETE FROM messages WHERE id IN (?, ?)", (newest, unindexed))
    again = await send(db, clock, ana, "a new message")
    assert again > newest  # past the index's mark, so the indexer reaches it
    await search.index_pending(db)
    assert await found(db, clock, bo, "deleted") == []
    assert await found(db, clock, bo, "new") == [again]
    assert await found(db, clock, bo, "kept") == [1]
    if db.engine == "sqlite":
        await db.write_one("INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)")
