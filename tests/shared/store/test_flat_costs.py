"""Issue 17: retention in small batches, the integrity check recorded with its age, broadcasts as recipient
rows (also for agents who join later), capped counts, and reads that stay on their indexes."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shared.db.connection import Database
from shared.errors import NotFound
from shared.rules import counts
from shared.store import events, retention
from shared.store.mail import dialect as mail_dialect
from shared.store.mail import inbox
from shared.store.mail import send as messages
from shared.store.tasks import changes
from shared.store.tasks import queries as task_queries
from shared.store.tasks import queue as task_store
from shared.store.team import health
from tests.agents import join, mail
from tests.conftest import FakeClock

pytestmark = [pytest.mark.anyio, pytest.mark.engines("sqlite", "postgresql")]

DAY = 86400.0
KEEP = retention.Retention(events=10 * DAY, messages=10 * DAY, tasks=10 * DAY)


async def test_retention_prunes_old_events_read_and_expired_mail_and_long_finished_tasks(
    db: Database, clock: FakeClock
) -> None:
    ana, bo = await join(db, clock, "ana"), await join(db, clock, "bo")
    read = await mail(db, clock, ana, ["bo"])
    unread = await mail(db, clock, ana, ["bo"])
    owing = await mail(db, clock, ana, ["bo"], ack_within=60)
    await inbox.mark_read(db, bo.at(clock()), [read, owing])
    expiring = messages.Outgoing(subject="", body="soon gone", expires_at=clock() + 60)
    short = await messages.broadcast(db, replace(ana, now=clock(), per_minute=1000), expiring)
    reply = await messages.send(  # the newest message, kept unread: see the id test below for the newest one
        db, replace(bo, now=clock(), per_minute=1000), ["ana"], messages.Outgoing(subject="", body="re", reply_to=read)
    )
    done = await task_store.create(db, ana.at(clock()), task_store.NewTask(title="done long ago"))
    needed = await task_store.create(db, ana.at(clock()), task_store.NewTask(title="failed, still needed"))
    waiting = await task_store.create(db, ana.at(clock()), task_store.NewTask(title="waits", depends_on=[needed]))
    for task_id, success in ((done, True), (needed, False)):
        await db.write_one("UPDATE tasks SET max_attempts = 1 WHERE id = ?", (task_id,))
        assert await task_store.claim(db, bo.at(clock()), task_id, None) == task_id
        await changes.complete(db, bo.at(clock()), task_id, success=success, result="")

    clock.advance(120)  # the broadcast expired; nothing else is old yet
    gone = await retention.prune(db, now=clock(), keep=KEEP)
    assert gone == {"expired_messages": 1}
    assert await db.scalar("SELECT count(*) FROM messages WHERE id = ?", (short,)) == 0

    clock.advance(11 * DAY)
    gone = await retention.prune(db, now=clock(), keep=KEEP)
    assert gone["events"] > 0 and gone["finished_tasks"] == 1
    left = {r[0] for r in await db.fetchall("SELECT id FROM messages")}
    assert read not in left  # read by all: gone
    assert reply[0] in left  # unread by ana: kept, letting go of the message it answered
    assert await db.scalar("SELECT reply_to FROM messages WHERE id = ?", (reply[0],)) is None
    assert unread in left and owing in left  # still unread / still owes an acknowledgement
    assert await db.scalar("SELECT count(*) FROM message_recipients WHERE message_id = ?", (read,)) == 0
    if db.engine == "sqlite":  # PostgreSQL's search vector is a column of the row
        assert await db.scalar("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'gone'") == 0
    tasks = {r[0] for r in await db.fetchall("SELECT id FROM tasks")}
    assert done not in tasks and {needed, waiting} <= tasks
    old_events = "SELECT id FROM events WHERE ts < ?"
    assert [r[0] for r in await db.fetchall(old_events, (clock() - KEEP.events,))] == [  # but the newest
        await db.scalar("SELECT max(id) FROM events")
    ]


async def test_retention_keeps_the_newest_row_so_no_id_is_given_twice_and_no_cursor_skips_a_row(
    db: Database, clock: FakeClock
) -> None:
    ana, bo = await join(db, clock, "ana"), await join(db, clock, "bo")
    gone_soon = messages.Outgoing(
        subject="", body="short-lived", expires_at=clock() + 60, ack_required=True, ack_deadline=clock() + 30
    )
    first, _ = await messages.send(db, replace(ana, now=clock(), per_minute=1000), ["bo"], gone_soon)
    seen = await db.read(inbox.newest_id)  # what a channel's cursor holds, as bo's server pushed it
    task = await task_store.create(db, ana.at(clock()), task_store.NewTask(title="done long ago"))
    assert await task_store.claim(db, bo.at(clock()), task, None) == task
    await changes.complete(db, bo.at(clock()), task, success=True, result="")
    newest_event = await db.scalar("SELECT max(id) FROM events")

    clock.advance(11 * DAY)  # everything is past its retention, the newest row of each table too
    await retention.prune(db, now=clock(), keep=KEEP)
    assert await db.scalar("SELECT max(id) FROM messages") == first
    assert await db.scalar("SELECT max(id) FROM tasks") == task
    assert await db.scalar("SELECT max(id) FROM events") == newest_event
    shown = await inbox.page(db, bo.at(clock()), inbox.InboxFilter(), limit=10, after=0)
    assert shown == ([], False)  # the kept message is past its time: nobody is shown it, nor owes it anything
    assert await inbox.sent(db, ana.at(clock()), limit=10, after=0) == ([], False)
    with pytest.raises(NotFound):
        await inbox.thread(db, bo.at(clock()), first)
    assert await messages.overdue_acks(db, now=clock()) == 0

    later = await mail(db, clock, ana, ["bo"])
    assert later > first and later > seen
    arrived = await db.read(inbox.arrivals, bo.at(clock()), seen, 10)
    assert (arrived.count, [m.id for m in arrived.first]) == (1, [later])  # the cursor that saw `first` meets it
    assert await task_store.create(db, ana.at(clock()), task_store.NewTask(title="new")) > task
    assert await db.scalar("SELECT max(id) FROM events") > newest_event
    gone = await retention.prune(db, now=clock(), keep=KEEP)  # no longer the newest, each may go now
    assert (gone["expired_messages"], gone["finished_tasks"], gone["events"] > 0) == (1, 1, True)


async def test_retention_works_in_batches(db: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    await db.write(
        lambda tx: tx.executemany(
            "INSERT INTO events(ts, kind, data) VALUES (?, 'x.y', '{}')", [(clock() - 30 * DAY,)] * 25
        )
    )
    ana = await join(db, clock, "ana")  # the newest event, recent
    monkeypatch.setattr(retention, "BATCH", 10)
    assert (await retention.prune(db, now=clock(), keep=KEEP, rounds=2))["events"] == 20
    assert (await retention.prune(db, now=clock(), keep=KEEP, rounds=2))["events"] == 5
    assert ana.id  # the agent's own join event is recent and kept
    assert await db.scalar("SELECT count(*) FROM events WHERE kind = 'agent.joined'") == 1


@pytest.mark.engines("sqlite")
async def test_health_reports_the_last_integrity_check_with_its_age(db: Database, clock: FakeClock) -> None:
    await join(db, clock, "ana")
    before = await health.database_info(db, integrity=False, now=clock())
    assert before.quick_check == "skipped" and before.quick_check_age_seconds is None
    assert await health.integrity_due(db, now=clock(), every=3600)
    assert await health.run_integrity_check(db, now=clock()) == "ok"
    clock.advance(90)
    after = await health.database_info(db, integrity=False, now=clock())
    assert after.quick_check == "ok" and after.quick_check_age_seconds == 90.0
    assert not await health.integrity_due(db, now=clock(), every=3600)
    now = await health.database_info(db, integrity=True, now=clock())
    assert now.quick_check == "ok" and now.quick_check_age_seconds == 0.0


async def test_a_broadcast_reaches_agents_who_join_later_through_their_own_rows(db: Database, clock: FakeClock) -> None:
    ana, bo = await join(db, clock, "ana"), await join(db, clock, "bo")
    sender = replace(ana, now=clock(), per_minute=1000)
    live = await messages.broadcast(db, sender, messages.Outgoing(subject="", body="standup", expires_at=clock() + 600))
    old = await messages.broadcast(db, sender, messages.Outgoing(subject="", body="gone", expires_at=clock() + 5))
    clock.advance(10)
    cy = await join(db, clock, "cy")
    for me in (bo, cy):
        found, _ = await inbox.page(db, me.at(clock()), inbox.InboxFilter(), limit=10, after=0)
        assert [m.id for m in found] == [live], me.name
    mine, _ = await inbox.page(db, ana.at(clock()), inbox.InboxFilter(), limit=10, after=0)
    assert mine == []  # the sender does not receive its own broadcast
    rows = await db.fetchall("SELECT agent_id FROM message_recipients WHERE message_id = ?", (old,))
    assert cy.id not in {r[0] for r in rows}  # expired before cy joined


async def test_counts_stop_past_the_cap(db: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    ana, bo = await join(db, clock, "ana"), await join(db, clock, "bo")
    monkeypatch.setattr(inbox, "COUNT_CAP", 3)
    monkeypatch.setattr(task_queries, "TOTAL_CAP", 3)
    for _ in range(6):
        await mail(db, clock, ana, ["bo"])
        await task_store.create(db, ana.at(clock()), task_store.NewTask(title="t"))
    assert await inbox.unread_count(db, bo.at(clock())) == 4
    assert (await inbox.unread_counts(db, now=clock()))[bo.id] == 4
    found, total, _ = await db.read(task_queries.page, ana.at(clock()), task_queries.TaskFilter(), limit=2, cursor=None)
    assert len(found) == 2 and total == 4
    assert counts.shown(1001) == "1,000+" and counts.shown(1000) == "1000"


async def test_event_log_by_kind_prefix_merges_each_kind_newest_first(db: Database, clock: FakeClock) -> None:
    ana = await join(db, clock, "ana")
    for title in ("a", "b", "c"):
        task_id = await task_store.create(db, ana.at(clock()), task_store.NewTask(title=title))
        await task_store.claim(db, ana.at(clock()), task_id, None)
    page = await events.page(db, events.EventFilter(kind="task."), limit=4)
    ids = [e.id for e in page.events]
    assert ids == sorted(ids, reverse=True) and len(ids) == 4 and page.next_cursor == ids[-1]
    assert {e.kind for e in page.events} == {"task.created", "task.claimed"}
    rest = await events.page(db, events.EventFilter(kind="task."), limit=4, before=page.next_cursor)
    assert len(rest.events) == 2 and rest.next_cursor is None
    follow = await events.page(db, events.EventFilter(kind="task."), limit=10, since=0)
    assert [e.id for e in follow.events] == sorted(ids + [e.id for e in rest.events])


def _store_queries() -> list[tuple[str, dict[str, object], str]]:
    params: dict[str, object] = {"me": "x", "now": 1.0, "after": 0, "limit": 20, "live_after": 0.0}
    unread = inbox.mine_ids(inbox.InboxFilter(), params, bounded=True, d=mail_dialect.SQLITE)
    return [
        (unread, params, "message_recipients_unread"),
        ("SELECT id FROM tasks t WHERE t.status = 'open' ORDER BY t.priority DESC, t.id LIMIT 5", {}, "tasks_"),
        ("SELECT id FROM events WHERE kind = 'task.created' ORDER BY id DESC LIMIT 5", {}, "events_by_kind"),
        ("SELECT id FROM messages INDEXED BY messages_by_time WHERE created_at < 5 ORDER BY created_at", {}, "by_time"),
        (messages.OWED_UP_TO, {"me": "x", "up_to": 10, "n": 5}, "message_recipients_owing"),
        (inbox.SENT_PAGE, params, "messages_by_sender (sender_id=? AND id>?)"),
    ]


@pytest.mark.engines("sqlite")
@pytest.mark.parametrize("case", range(6))
async def test_hot_queries_use_their_indexes_without_statistics(db: Database, case: int) -> None:
    sql, params, index = _store_queries()[case]
    plan = " ".join(str(r[3]) for r in await db.fetchall("EXPLAIN QUERY PLAN " + sql, params))
    assert index in plan and "TEMP B-TREE" not in plan, plan


@pytest.mark.engines("sqlite")
async def test_sends_acknowledgements_and_searches_repeat_their_statements_whatever_the_ids(
    db: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The statements of message_send (with its receipts), message_acknowledge and knowledge_query read the
    same whatever ids they are about, so each is prepared once (sqlite3 caches statements by their text; one
    with the ids written into it was prepared again on every call)."""
    from shared.db.tx import Tx
    from shared.store.knowledge import entries
    from shared.store.knowledge import search as knowledge_search

    ana, bo = await join(db, clock, "ana"), await join(db, clock, "bo")
    for word in ("alpha", "beta"):
        for i in range(3):
            new = entries.NewEntry(title=f"{word} {i}", body=f"about {word} number {i}")
            await entries.add(db, ana.at(clock()), new)
    seen: list[str] = []
    execute, fetchone = Tx.execute, Tx.fetchone
    monkeypatch.setattr(Tx, "execute", lambda tx, sql, params=(): seen.append(sql) or execute(tx, sql, params))
    monkeypatch.setattr(Tx, "fetchone", lambda tx, sql, params=(): seen.append(sql) or fetchone(tx, sql, params))

    async def one_round(word: str) -> set[str]:
        seen.clear()
        out = messages.Outgoing(subject="", body=f"about {word}")
        message, _ = await messages.send_shown(db, replace(ana, now=clock(), per_minute=1000), ["bo"], out)
        assert [r.agent for r in message.receipts] == ["bo"]
        await messages.acknowledge(db, bo.at(clock()), [message.id], None)
        found = await knowledge_search.search(db, knowledge_search.Search(text=word), now=clock())
        assert {h.title for h in found.hits} == {f"{word} {i}" for i in range(3)}
        return set(seen)

    assert await one_round("alpha") == await one_round("beta")


async def test_agent_status_lists_ten_claims_and_counts_the_rest(db: Database, clock: FakeClock) -> None:
    from shared.store.team import presence, summary

    ana = await join(db, clock, "ana")
    for i in range(13):
        task_id = await task_store.create(db, ana.at(clock()), task_store.NewTask(title=f"t{i}"))
        assert await task_store.claim(db, ana.at(clock()), task_id, None) == task_id
    (info,) = await presence.agent_infos(db, ana.at(clock()))
    assert len(info.claims) == presence.CLAIMS_SHOWN and info.more_claims == 3
    team = await summary.team_summary(db, ana.at(clock()))
    assert team.agents[0].claims == 13


BIG = ("tasks", "task_deps", "messages", "message_recipients", "events", "knowledge", "tool_calls")


@pytest.mark.engines("postgresql")
async def test_hot_reads_use_indexes_on_postgresql(
    db: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every statement of the hot reads, agent_status, the summary and health, EXPLAINed on tables of 20,000
    rows of history (analyzed, as autovacuum leaves them): none reads a whole table of history."""
    from shared.db import pgsql
    from shared.store.knowledge import search as knowledge_search
    from shared.store.team import metrics, presence, summary

    ana, bo = await join(db, clock, "ana"), await join(db, clock, "bo")
    old = clock() - 40 * DAY
    history = [
        "INSERT INTO tasks(title, priority, status, created_by, lease_seconds, created_at, updated_at, completed_at)"
        f" SELECT 'done ' || g, g % 4, 'done', '{ana.id}', 900, {old} + g, {old} + g, {old} + g"
        " FROM generate_series(1, 20000) AS g",
        "INSERT INTO task_deps(task_id, depends_on) SELECT id, id - 1 FROM tasks WHERE id % 4 = 0 AND id > 1",
        "INSERT INTO events(ts, kind, data) SELECT"
        f" {old} + g, (ARRAY['task.created', 'task.claimed', 'message.sent'])[g % 3 + 1], '{{}}'"
        " FROM generate_series(1, 20000) AS g",
        "INSERT INTO messages(sender_id, sender_name, kind, subject, body, created_at)"
        f" SELECT '{ana.id}', 'ana', 'direct', 's', 'body ' || g, {old} + g FROM generate_series(1, 20000) AS g",
        f"INSERT INTO message_recipients(agent_id, message_id, read_at) SELECT '{bo.id}', id, created_at + 1"
        " FROM messages",
        "INSERT INTO knowledge(kind, title, title_key, body, author_id, author_name, created_at)"
        f" SELECT 'fact', 'entry ' || g, 'entry ' || g, 'about w' || (g % 13), '{ana.id}', 'ana', {old} + g"
        " FROM generate_series(1, 20000) AS g",
        "INSERT INTO tool_calls(ts, agent_id, server, tool, seconds, bucket)"
        f" SELECT {old} + g, '{ana.id}', 'coordination', 'task_list', 0.001, 0 FROM generate_series(1, 20000) AS g",
    ]
    for sql in history:
        await db.write(lambda tx, sql=sql: tx.execute(sql))
    for _ in range(3):
        await mail(db, clock, ana, ["bo"])
        await task_store.create(db, ana.at(clock()), task_store.NewTask(title="live"))
    await db.write(lambda tx: [tx.execute(f"ANALYZE {table}") for table in BIG])

    seen: list[tuple[str, object]] = []
    real = pgsql.PgTx.execute

    def recording(self: pgsql.PgTx, sql: str, params: object = ()) -> object:
        seen.append((sql, params))
        return real(self, sql, params)  # type: ignore[arg-type]

    monkeypatch.setattr(pgsql.PgTx, "execute", recording)
    me = bo.at(clock())
    await knowledge_search.search(db, knowledge_search.Search(text="w5"), now=clock())
    await inbox.page(db, me, inbox.InboxFilter(unread_only=True), limit=20, after=0)
    await db.read(task_queries.page, me, task_queries.TaskFilter(ready_only=True), limit=20, cursor=None)
    await db.read(task_queries.page, me, task_queries.TaskFilter(), limit=20, cursor=None)
    await events.page(db, events.EventFilter(kind="task."), limit=50)
    await db.read(metrics.report, metrics.Query(since=clock() - 3600, until=clock() + 1), now=clock(), slowest_calls=5)
    await presence.agent_infos(db, me)
    await summary.team_summary(db, me)
    await health.check(db, me, integrity=False)
    monkeypatch.setattr(pgsql.PgTx, "execute", real)
    statements = [(sql, params) for sql, params in seen if sql.lstrip().upper().startswith(("SELECT", "WITH"))]
    assert len(statements) >= 30, len(statements)
    for sql, params in statements:
        plan = [str(r[0]) for r in await db.fetchall("EXPLAIN " + sql, params)]  # type: ignore[arg-type]
        assert not _whole_scans(plan), f"{sql}\n" + "\n".join(plan)


def _whole_scans(plan: list[str]) -> list[str]:
    """The sequential scans of a table of history in a PostgreSQL plan that are not stopped by a LIMIT right
    above them (a Limit over a Seq Scan reads until it has its rows, as an index range does)."""

    def depth(line: str) -> int:  # where a node's arrow is; the top node has none
        return line.index("->") if "->" in line else -1

    found = []
    for i, line in enumerate(plan):
        if not any(f"Seq Scan on {t} " in line + " " for t in BIG):
            continue
        nodes = [p for p in plan[:i] if ("->" in p or not p.startswith(" ")) and depth(p) < depth(line)]
        if not nodes or "Limit" not in nodes[-1]:
            found.append(line)
    return found
