"""Closing proposals: one path for votes, reads and the deadline sweep.

`settle` counts the votes inside the caller's write transaction, asks `shared.rules.voting.resolve`
whether the proposal is decided, and closes it with `UPDATE … WHERE status = 'open' RETURNING`, so exactly
one process records the close (and sends the notices) however many race to it. The notices are posted
as the acting Actor's (its time and team secret), so they verify when the team has a secret — also
when the closer is the background sweep (servers/coordination/consensus.py `CLOSING`).
"""

from __future__ import annotations

import json

from shared.actor import Actor
from shared.db.connection import Database, Row, Tx
from shared.rules.voting import ABSTAIN, Counts, Decision, resolve
from shared.store import events
from shared.store.mail import send as messages
from shared.store.proposals import dialect

ELECTORS = "SELECT agent_id FROM proposal_electors WHERE proposal_id = ?"
OPEN = "SELECT * FROM proposals WHERE id = ? AND status = 'open'"


def counts(tx: Tx, row: Row) -> Counts:
    """The ballot box of a proposal row, read in one statement (inside a write, or through `db.read`)."""
    options: list[str] = json.loads(row["options"])
    found = tx.fetchone(
        "SELECT (SELECT count(*) FROM proposal_electors WHERE proposal_id = :id) AS electorate,"
        f" (SELECT {dialect.of(tx).json_object_agg('choice', 'n')} FROM"
        "  (SELECT choice, count(*) AS n FROM votes WHERE proposal_id = :id GROUP BY choice) AS c) AS votes",
        {"id": row["id"]},
    )
    assert found is not None
    by_choice: dict[str, int] = json.loads(found["votes"] or "{}")
    return Counts(
        options=tuple(options),
        votes=tuple(int(by_choice.get(o, 0)) for o in options),
        abstain=int(by_choice.get(ABSTAIN, 0)),
        electorate=int(found["electorate"]),
        quorum=int(row["quorum"]),
        rule=row["rule"],
    )


def electors(tx: Tx, proposal_id: int) -> list[str]:
    """The ids of a proposal's electors."""
    return [str(r["agent_id"]) for r in tx.execute(ELECTORS, (proposal_id,))]


def settle(tx: Tx, row: Row, actor: Actor, *, by: str | None, trigger: str) -> Decision | None:
    """Close the proposal if it is decided (settled, everyone voted, or past its deadline); idempotent.

    `actor` is whoever's call (or sweep) this is: its `now` is the closing time and its secret signs the
    notices. `by` is the agent the close is recorded against (the voter whose vote settled it), or None
    for a close by the deadline or a read, recorded as "system". Returns the decision when this call
    closed it, None when it stays open or was already closed.
    """
    now = actor.now
    c = counts(tx, row)
    decision = resolve(c, deadline_passed=now >= row["deadline"])
    if decision is None:
        return None
    closed = tx.fetchone(
        "UPDATE proposals SET status = ?, outcome = ?, outcome_reason = ?, closed_at = ?"
        " WHERE id = ? AND status = 'open' RETURNING id, proposer_id, title",
        (decision.status, decision.option, decision.reason, now, row["id"]),
    )
    if closed is None:
        return None
    pid = int(closed["id"])
    tally = dict(zip(c.options, c.votes, strict=True))
    events.record(
        tx,
        now=now,
        agent_id=by,
        agent_name=None if by else "system",
        kind="proposal.closed",
        object_type="proposal",
        object_id=pid,
        data={
            "status": decision.status,
            "outcome": decision.option,
            "trigger": trigger,
            "votes": tally,
            "abstain": c.abstain,
            "electorate": c.electorate,
        },
    )
    outcome = f": {decision.option}" if decision.option else ""
    messages.post_notice(
        tx,
        actor,
        recipients=[*electors(tx, pid), str(closed["proposer_id"])],
        subject=f"Proposal {pid} {decision.status}{outcome}: {closed['title']}",
        body=f"Proposal {pid} ({closed['title']}) closed as {decision.status}{outcome}. {decision.reason}.",
        ref_type="proposal",
        ref_id=pid,
    )
    return decision


def _decided(tx: Tx, proposal_id: int, now: float) -> bool:
    """Is the proposal open and ready to close (past its deadline, or settled by its votes)?"""
    row = tx.fetchone(OPEN, (proposal_id,))
    if row is None:
        return False
    return now >= row["deadline"] or resolve(counts(tx, row), deadline_passed=False) is not None


def _settle_open(tx: Tx, proposal_id: int, actor: Actor) -> bool:
    fresh = tx.fetchone(OPEN, (proposal_id,))
    if fresh is None:
        return False
    trigger = "deadline" if actor.now >= fresh["deadline"] else "read"
    return settle(tx, fresh, actor, by=None, trigger=trigger) is not None


async def settle_if_due(db: Database, proposal_id: int, actor: Actor) -> bool:
    """A read's part in resolution: close the proposal if it is decided. True if this call closed it.

    Checks with one read first, so reading an undecided proposal never takes the write lock.
    """
    if not await db.read(_decided, proposal_id, actor.now):
        return False
    return await db.write(_settle_open, proposal_id, actor)


def _close_due(tx: Tx, actor: Actor) -> list[int]:
    due = tx.execute("SELECT id FROM proposals WHERE status = 'open' AND deadline <= ? ORDER BY id", (actor.now,))
    return [int(r["id"]) for r in due if _settle_open(tx, int(r["id"]), actor)]


async def close_due(db: Database, actor: Actor) -> list[int]:
    """Close every open proposal whose deadline has passed (the sweep and every listing call this).

    Returns the ids this call closed. Takes the write lock only when there is something to close.
    """
    if not await db.scalar("SELECT 1 FROM proposals WHERE status = 'open' AND deadline <= ? LIMIT 1", (actor.now,)):
        return []
    return await db.write(_close_due, actor)
