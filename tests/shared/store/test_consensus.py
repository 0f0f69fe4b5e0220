"""Proposals and votes through the store: electorates, notices, voting rules, deadlines, closing once."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import pytest

from shared.actor import Actor
from shared.db.connection import Database
from shared.errors import Conflict, Forbidden, InvalidArgument, NotFound
from shared.store.mail import inbox
from shared.store.proposals import ballot as store
from shared.store.proposals import queries as consensus_queries
from shared.store.proposals import settle as closing
from tests.agents import join
from tests.conftest import FakeClock

pytestmark = [pytest.mark.anyio, pytest.mark.engines("sqlite", "postgresql")]

TIMEOUT = 30.0
HOUR = 3600.0


def who(me: Actor, clock: FakeClock, secret: str | None = None) -> Actor:
    return replace(me, now=clock(), presence_timeout=TIMEOUT, secret=secret)


async def propose(db: Database, clock: FakeClock, me: Actor, secret: str | None = None, **kw: Any) -> int:
    spec = store.NewProposal(
        title=kw.pop("title", "ship it?"),
        options=kw.pop("options", ("approve", "reject")),
        rule=kw.pop("rule", "majority"),
        deadline=kw.pop("deadline", clock() + HOUR),
        **kw,
    )
    pid, _ = await store.propose(db, spec, who(me, clock, secret))
    return pid


async def vote(
    db: Database, clock: FakeClock, me: Actor, pid: int, choice: str, why: str | None = None, secret: str | None = None
) -> store.Cast:
    return await store.vote(db, pid, choice, why, who(me, clock, secret))


async def kinds(db: Database, pid: int) -> list[str]:
    rows = await db.fetchall(
        "SELECT kind FROM events WHERE object_type = 'proposal' AND object_id = ? ORDER BY id", (str(pid),)
    )
    return [r["kind"] for r in rows]


async def status(db: Database, pid: int) -> tuple[str, str | None]:
    row = await db.fetchone("SELECT status, outcome FROM proposals WHERE id = ?", (pid,))
    assert row is not None
    return row["status"], row["outcome"]


async def test_the_default_electorate_is_a_snapshot_of_who_is_present(db: Database, clock: FakeClock) -> None:
    gone = await join(db, clock, "gone")
    clock.advance(TIMEOUT + 1)
    ana, bo = await join(db, clock, "ana"), await join(db, clock, "bo")
    await join(db, clock, "watcher", role="observer")
    pid, named = await store.propose(
        db, store.NewProposal("ship it?", ("approve", "reject"), "majority", clock() + HOUR), who(ana, clock)
    )
    assert named == ["ana", "bo"]
    late = await join(db, clock, "late")
    with pytest.raises(Forbidden, match=r"not an elector of proposal \d+: its electors \(present.*are ana, bo"):
        await vote(db, clock, late, pid, "approve")
    with pytest.raises(Forbidden, match="not an elector"):
        await vote(db, clock, gone, pid, "approve")
    p = await consensus_queries.get(db, pid, who(bo, clock))
    assert p.electorate == "present" and p.quorum == 2 and p.awaiting_your_vote
    assert p.not_voted == ["ana", "bo"]


async def test_every_elector_is_sent_one_vote_requested_notice(db: Database, clock: FakeClock) -> None:
    ana, bo = await join(db, clock, "ana"), await join(db, clock, "bo")
    pid = await propose(db, clock, ana)
    rows = await db.fetchall(
        "SELECT m.kind, m.subject, m.body, m.ref_type, m.ref_id, r.agent_id FROM messages m"
        " JOIN message_recipients r ON r.message_id = m.id ORDER BY r.agent_id"
    )
    assert [r["agent_id"] for r in rows] == sorted([ana.id, bo.id])
    assert {(r["kind"], r["ref_type"], r["ref_id"]) for r in rows} == {("system", "proposal", str(pid))}
    assert rows[0]["subject"] == "Vote requested: ship it?"
    assert f"consensus_vote(proposal_id={pid}" in rows[0]["body"]


async def test_named_electors_must_exist_and_may_not_be_observers(db: Database, clock: FakeClock) -> None:
    ana = await join(db, clock, "ana")
    await join(db, clock, "bo")
    await join(db, clock, "watcher", role="observer")
    with pytest.raises(NotFound, match=r"no agent is named 'nobody'; known agents: .*ana"):
        await propose(db, clock, ana, voters=["bo", "nobody"])
    with pytest.raises(InvalidArgument, match="watcher are observers"):
        await propose(db, clock, ana, voters=["bo", "watcher"])
    pid = await propose(db, clock, ana, voters=["BO"])  # names are case-insensitive
    p = await consensus_queries.get(db, pid, who(ana, clock))
    assert p.electors == ["bo"] and p.electorate == "named" and not p.awaiting_your_vote


async def test_a_role_electorate_is_the_present_agents_of_that_role(db: Database, clock: FakeClock) -> None:
    ana = await join(db, clock, "ana", role="admin")
    await join(db, clock, "bo")
    await join(db, clock, "cy", role="admin")
    pid = await propose(db, clock, ana, role="admin")
    assert (await consensus_queries.get(db, pid, who(ana, clock))).electors == ["ana", "cy"]
    with pytest.raises(InvalidArgument, match="either voters"):
        await propose(db, clock, ana, role="admin", voters=["bo"])


async def test_options_and_quorum_are_checked_against_the_electorate(db: Database, clock: FakeClock) -> None:
    ana = await join(db, clock, "ana")
    await join(db, clock, "bo")
    with pytest.raises(InvalidArgument, match="quorum=3 is more than the 2 electors"):
        await propose(db, clock, ana, quorum=3)
    for options, message in [
        (("yes", "YES"), "distinct"),
        (("yes", "abstain"), "'abstain' is always available"),
        (("only",), "give 2 to 10 options"),
        (tuple("abcdefghijk"), "give 2 to 10 options"),
        (("a", "  "), "option 2 is empty; give each option words"),
    ]:
        with pytest.raises(InvalidArgument, match=message):
            await propose(db, clock, ana, options=options)
    assert await db.scalar("SELECT count(*) FROM proposals") == 0  # nothing half-written
    assert await db.scalar("SELECT count(*) FROM messages") == 0


async def test_votes_can_change_while_open_and_rationales_are_kept(db: Database, clock: FakeClock) -> None:
    ana, bo, cy = [await join(db, clock, n) for n in ("ana", "bo", "cy")]
    pid = await propose(db, clock, ana, rule="unanimous", quorum=3)
    first = await vote(db, clock, bo, pid, "Reject", "not yet")
    assert first.choice == "reject" and not first.changed and first.closed is None
    clock.advance(60)
    second = await vote(db, clock, bo, pid, "approve", "convinced by the benchmark")
    assert second.changed and second.closed is None
    with pytest.raises(InvalidArgument, match="choose one of approve, reject, abstain"):
        await vote(db, clock, cy, pid, "maybe")
    p = await consensus_queries.get(db, pid, who(ana, clock))
    assert [(v.agent, v.choice, v.rationale, v.changed) for v in p.votes] == [
        ("bo", "approve", "convinced by the benchmark", 1)
    ]
    assert p.tally.cast == 1 and p.status == "open"


async def test_a_settled_proposal_closes_at_once_and_refuses_further_votes(db: Database, clock: FakeClock) -> None:
    ana, bo, cy, dan, eve = [await join(db, clock, n) for n in ("ana", "bo", "cy", "dan", "eve")]
    pid = await propose(db, clock, ana)
    await vote(db, clock, ana, pid, "approve")
    await vote(db, clock, bo, pid, "approve")
    closing = await vote(db, clock, cy, pid, "approve", "three of five")
    assert closing.closed is not None and closing.closed.key == ("passed", "approve")
    assert "the 2 electors yet to vote could not change it" in closing.closed.reason
    with pytest.raises(Conflict, match=r"is closed \(passed: approve, at .*votes are no longer accepted"):
        await vote(db, clock, dan, pid, "reject")
    assert await kinds(db, pid) == ["proposal.proposed", *["proposal.voted"] * 3, "proposal.closed"]
    event = await db.fetchone("SELECT agent_name, data FROM events WHERE kind = 'proposal.closed'")
    assert event is not None and event["agent_name"] == "cy"
    assert json.loads(event["data"]) == {
        "status": "passed",
        "outcome": "approve",
        "trigger": "vote",
        "votes": {"approve": 3, "reject": 0},
        "abstain": 0,
        "electorate": 5,
    }
    told = await db.fetchall(
        "SELECT r.agent_id FROM messages m JOIN message_recipients r ON r.message_id = m.id"
        " WHERE m.subject LIKE 'Proposal % passed: approve: ship it?'"
    )
    assert {r["agent_id"] for r in told} == {m.id for m in (ana, bo, cy, dan, eve)}


async def test_when_everyone_voted_it_closes_and_a_tie_fails(db: Database, clock: FakeClock) -> None:
    ana, bo = await join(db, clock, "ana"), await join(db, clock, "bo")
    pid = await propose(db, clock, ana)
    await vote(db, clock, ana, pid, "approve")
    tie = await vote(db, clock, bo, pid, "reject")
    assert tie.closed is not None and tie.closed.key == ("failed", None)
    assert tie.closed.reason.startswith("tie: approve and reject have 1 vote each")
    assert await status(db, pid) == ("failed", None)


async def test_abstaining_counts_for_the_quorum_only(db: Database, clock: FakeClock) -> None:
    ana, bo, cy = [await join(db, clock, n) for n in ("ana", "bo", "cy")]
    pid = await propose(db, clock, ana, quorum=3)
    await vote(db, clock, ana, pid, "approve")
    await vote(db, clock, bo, pid, "abstain")
    closed = await vote(db, clock, cy, pid, "abstain")
    assert closed.closed is not None and closed.closed.key == ("passed", "approve")
    p = await consensus_queries.get(db, pid, who(ana, clock))
    assert (p.tally.abstain, p.tally.cast, [o.votes for o in p.tally.options]) == (2, 3, [1, 0])


async def test_an_electorate_of_one_decides_with_one_vote(db: Database, clock: FakeClock) -> None:
    ana = await join(db, clock, "ana")
    pid = await propose(db, clock, ana, rule="two_thirds")
    assert (await vote(db, clock, ana, pid, "reject")).closed is not None
    assert await status(db, pid) == ("rejected", "reject")


async def test_the_deadline_closes_it_and_late_votes_are_refused(db: Database, clock: FakeClock) -> None:
    ana, bo, cy = [await join(db, clock, n) for n in ("ana", "bo", "cy")]
    pid = await propose(db, clock, ana, deadline=clock() + HOUR)
    await vote(db, clock, ana, pid, "approve")
    clock.advance(HOUR)
    with pytest.raises(Conflict, match=r"too late: .*deadline passed at .*closed as failed"):
        await vote(db, clock, bo, pid, "approve")
    assert await status(db, pid) == ("failed", None)  # quorum 2 was not met; the refused vote did not count
    assert await db.scalar("SELECT count(*) FROM votes WHERE proposal_id = ?", (pid,)) == 1
    closed = await db.fetchone("SELECT agent_id, agent_name, data FROM events WHERE kind = 'proposal.closed'")
    assert closed is not None and closed["agent_id"] is None and closed["agent_name"] == "system"
    assert json.loads(closed["data"])["trigger"] == "deadline"
    with pytest.raises(Conflict, match="is closed"):
        await vote(db, clock, cy, pid, "approve")


async def test_a_read_or_the_sweep_closes_what_is_past_its_deadline(db: Database, clock: FakeClock) -> None:
    ana, bo = await join(db, clock, "ana"), await join(db, clock, "bo")
    first = await propose(db, clock, ana, quorum=1)
    second = await propose(db, clock, ana, quorum=1, deadline=clock() + 2 * HOUR)
    await vote(db, clock, bo, first, "approve")
    await vote(db, clock, bo, second, "reject")
    assert await closing.close_due(db, who(ana, clock)) == []
    assert not await closing.settle_if_due(db, first, who(ana, clock))
    clock.advance(HOUR)
    assert await closing.settle_if_due(db, first, who(ana, clock))
    assert not await closing.settle_if_due(db, first, who(ana, clock))  # idempotent
    assert await status(db, first) == ("passed", "approve")
    clock.advance(HOUR)
    assert await closing.close_due(db, who(ana, clock)) == [second]
    assert await status(db, second) == ("rejected", "reject")
    assert (await kinds(db, second)).count("proposal.closed") == 1


async def test_racing_closers_record_exactly_one_close(db: Database, db_path: Path, clock: FakeClock) -> None:
    ana = await join(db, clock, "ana")
    pids = [await propose(db, clock, ana) for _ in range(5)]
    clock.advance(HOUR)
    others = [await Database.open(db_path) for _ in range(4)]
    try:
        closed: list[list[int]] = []

        async def sweep(conn: Database) -> None:
            closed.append(await closing.close_due(conn, who(ana, clock)))

        async with anyio.create_task_group() as tg:
            for conn in [db, *others]:
                tg.start_soon(sweep, conn)
    finally:
        for conn in others:
            await conn.close()
    assert sorted(p for batch in closed for p in batch) == pids
    assert await db.scalar("SELECT count(*) FROM events WHERE kind = 'proposal.closed'") == len(pids)


async def test_the_list_puts_proposals_awaiting_my_vote_first(db: Database, clock: FakeClock) -> None:
    ana, bo = await join(db, clock, "ana"), await join(db, clock, "bo")
    voted = await propose(db, clock, ana, title="voted", deadline=clock() + HOUR)
    not_mine = await propose(db, clock, ana, title="not mine", voters=["ana"], deadline=clock() + 2 * HOUR)
    waiting = await propose(db, clock, ana, title="waiting", deadline=clock() + 3 * HOUR)
    await vote(db, clock, bo, voted, "approve")
    listed = await consensus_queries.summaries(db, who(bo, clock))
    assert [(p.id, p.awaiting_your_vote, p.your_vote) for p in listed] == [
        (waiting, True, None),
        (voted, False, "approve"),
        (not_mine, False, None),
    ]
    await vote(db, clock, ana, not_mine, "approve")
    assert [p.id for p in await consensus_queries.summaries(db, who(bo, clock), "closed")] == [not_mine]
    assert len(await consensus_queries.summaries(db, who(bo, clock), "all")) == 3


async def test_with_a_team_secret_every_proposal_notice_verifies(db: Database, clock: FakeClock) -> None:
    secret = "team-secret"
    ana, bo = await join(db, clock, "ana"), await join(db, clock, "bo")
    by_vote = await propose(db, clock, ana, secret, title="by vote", quorum=1)
    by_read = await propose(db, clock, ana, secret, title="by read", quorum=1)
    by_sweep = await propose(db, clock, ana, secret, title="by sweep")
    late = await propose(db, clock, ana, secret, title="late vote")
    await vote(db, clock, ana, by_vote, "approve", secret=secret)
    await vote(db, clock, bo, by_vote, "approve", secret=secret)  # settles it
    clock.advance(HOUR)
    assert await closing.settle_if_due(db, by_read, who(bo, clock, secret))
    with pytest.raises(Conflict, match="too late"):
        await vote(db, clock, bo, late, "approve", secret=secret)
    assert await closing.close_due(db, who(ana, clock, secret)) == [by_sweep]
    for me in (ana, bo):
        found, _ = await inbox.page(
            db, who(me, clock, secret), inbox.InboxFilter(unread_only=False), limit=100, after=0
        )
        notices = [m for m in found if m.about and m.about.startswith("proposal ")]
        assert len(notices) == 8, [m.subject for m in notices]  # 4 vote requests, 4 closes
        assert all(m.verified is True for m in notices), [(m.subject, m.verified) for m in notices]
