"""Closing proposals: one path for votes, reads and the deadline sweep.

`settle` counts the votes inside the caller's write transaction, asks `resolution.resolve` whether the
proposal is decided, and closes it with `UPDATE … WHERE status = 'open' RETURNING`, so exactly one process
records the close (and sends the notices) however many race to it.
"""

from __future__ import annotations

import json

from shared.db.connection import Database, Row, Transaction
from shared.rules.voting import ABSTAIN, Counts, Decision, resolve
from shared.store import events
from shared.store.mail import legacy as mail_legacy

ELECTORS = "SELECT agent_id FROM proposal_electors WHERE proposal_id = ?"


async def counts(tx: Transaction | Database, row: Row) -> Counts:
    """The ballot box of a proposal row, read in one statement."""
    options: list[str] = json.loads(row["options"])
    found = await tx.fetchone(
        "SELECT (SELECT count(*) FROM proposal_electors WHERE proposal_id = :id) AS electorate,"
        " (SELECT json_group_object(choice, n) FROM"
        "  (SELECT choice, count(*) AS n FROM votes WHERE proposal_id = :id GROUP BY choice)) AS votes",
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


async def settle(
    tx: Transaction, row: Row, now: float, *, by: str | None, trigger: str, secret: str | None = None
) -> Decision | None:
    """Close the proposal if it is decided (settled, everyone voted, or past its deadline); idempotent.

    Returns the decision when this call closed it, None when it stays open or was already closed.
    """
    c = await counts(tx, row)
    decision = resolve(c, deadline_passed=now >= row["deadline"])
    if decision is None:
        return None
    closed = await tx.fetchone(
        "UPDATE proposals SET status = ?, outcome = ?, outcome_reason = ?, closed_at = ?"
        " WHERE id = ? AND status = 'open' RETURNING id, proposer_id, title",
        (decision.status, decision.option, decision.reason, now, row["id"]),
    )
    if closed is None:
        return None
    pid = int(closed["id"])
    tally = dict(zip(c.options, c.votes, strict=True))
    await events.record_legacy(
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
    electors = [str(r["agent_id"]) for r in await tx.execute(ELECTORS, (pid,))]
    outcome = f": {decision.option}" if decision.option else ""
    await mail_legacy.post_notice_legacy(
        tx,
        recipients=[*electors, str(closed["proposer_id"])],
        subject=f"Proposal {pid} {decision.status}{outcome}: {closed['title']}",
        body=f"Proposal {pid} ({closed['title']}) closed as {decision.status}{outcome}. {decision.reason}.",
        ref_type="proposal",
        ref_id=pid,
        now=now,
        secret=secret,
    )
    return decision


async def settle_if_due(db: Database, proposal_id: int, now: float, *, secret: str | None = None) -> bool:
    """A read's part in resolution: close the proposal if it is decided. True if this call closed it.

    Checks with reads first, so reading an undecided proposal never takes the write lock.
    """
    row = await db.fetchone("SELECT * FROM proposals WHERE id = ? AND status = 'open'", (proposal_id,))
    if row is None:
        return False
    if now < row["deadline"] and resolve(await counts(db, row), deadline_passed=False) is None:
        return False
    async with db.write_legacy() as tx:
        fresh = await tx.fetchone("SELECT * FROM proposals WHERE id = ? AND status = 'open'", (proposal_id,))
        if fresh is None:
            return False
        trigger = "deadline" if now >= fresh["deadline"] else "read"
        return await settle(tx, fresh, now, by=None, trigger=trigger, secret=secret) is not None


async def close_due(db: Database, now: float, *, secret: str | None = None) -> list[int]:
    """Close every open proposal whose deadline has passed (the sweep and every listing call this)."""
    rows = await db.fetchall("SELECT id FROM proposals WHERE status = 'open' AND deadline <= ? ORDER BY id", (now,))
    return [int(r["id"]) for r in rows if await settle_if_due(db, int(r["id"]), now, secret=secret)]
