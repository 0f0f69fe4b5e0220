"""Reading proposals: the list (awaiting the reader's vote first) and one proposal in full.

Reads never decide anything themselves: callers run `settle.close_due` / `settle.settle_if_due` first, so a
proposal past its deadline is closed by the same code a vote would use before it is shown. The reader is an
Actor (`:me` marks its own vote and whether a proposal awaits it).
"""

from __future__ import annotations

import json
from typing import Literal

from shared.actor import Actor
from shared.db.connection import Database, Row, Tx
from shared.errors import NotFound
from shared.models.consensus import (
    Evidence,
    Improvement,
    OptionCount,
    Proposal,
    ProposalSummary,
    Tally,
    Vote,
)
from shared.rules.clock import iso
from shared.store.proposals import dialect
from shared.store.proposals.settle import counts

Which = Literal["open", "closed", "all"]

_SUMMARY = """
SELECT p.*, COALESCE(a.name, p.proposer_id) AS proposer,
  (SELECT count(*) FROM votes v WHERE v.proposal_id = p.id) AS votes_cast,
  (SELECT count(*) FROM proposal_electors e WHERE e.proposal_id = p.id) AS electorate_size,
  (SELECT v.choice FROM votes v WHERE v.proposal_id = p.id AND v.agent_id = :me) AS your_vote,
  (p.status = 'open'
   AND EXISTS (SELECT 1 FROM proposal_electors e WHERE e.proposal_id = p.id AND e.agent_id = :me)
   AND NOT EXISTS (SELECT 1 FROM votes v WHERE v.proposal_id = p.id AND v.agent_id = :me)) AS awaiting
FROM proposals p LEFT JOIN agents a ON a.id = p.proposer_id
"""

_ORDER = {
    "open": "p.status = 'open' ORDER BY awaiting DESC, p.deadline, p.id",
    "closed": "p.status != 'open' ORDER BY p.closed_at DESC, p.id DESC",
    "all": "TRUE ORDER BY p.status = 'open' DESC, awaiting DESC, COALESCE(p.closed_at, p.deadline) DESC, p.id DESC",
}


def _summary(row: Row) -> ProposalSummary:
    return ProposalSummary(
        id=row["id"],
        kind=row["kind"],
        title=row["title"],
        status=row["status"],
        outcome=row["outcome"],
        proposer=row["proposer"],
        options=json.loads(row["options"]),
        rule=row["rule"],
        deadline=iso(row["deadline"]) or "",
        votes_cast=row["votes_cast"],
        electorate_size=row["electorate_size"],
        quorum=row["quorum"],
        your_vote=row["your_vote"],
        awaiting_your_vote=bool(row["awaiting"]),
    )


async def summaries(db: Database, actor: Actor, which: Which = "open", limit: int = 20) -> list[ProposalSummary]:
    rows = await db.fetchall(f"{_SUMMARY} WHERE {_ORDER[which]} LIMIT :limit", actor.params(limit=limit))
    return [_summary(r) for r in rows]


async def get(db: Database, proposal_id: int, actor: Actor) -> Proposal:
    """One proposal in full (tally, electors, votes, evidence), read in one snapshot."""
    return await db.read(_get, proposal_id, actor)


def _get(tx: Tx, proposal_id: int, actor: Actor) -> Proposal:
    row = tx.fetchone(f"{_SUMMARY} WHERE p.id = :id", actor.params(id=proposal_id))
    if row is None:
        raise NotFound(f"proposal {proposal_id} does not exist; list proposals with consensus_list()")
    electors = tx.execute(
        "SELECT e.agent_id, COALESCE(a.name, e.agent_id) AS name, v.agent_id IS NOT NULL AS voted"
        " FROM proposal_electors e LEFT JOIN agents a ON a.id = e.agent_id"
        " LEFT JOIN votes v ON v.proposal_id = e.proposal_id AND v.agent_id = e.agent_id"
        f" WHERE e.proposal_id = ? ORDER BY COALESCE(a.name, e.agent_id) {dialect.CASELESS}",
        (proposal_id,),
    )
    votes = tx.execute(
        "SELECT v.*, COALESCE(a.name, v.agent_id) AS name FROM votes v LEFT JOIN agents a ON a.id = v.agent_id"
        " WHERE v.proposal_id = ? ORDER BY v.cast_at, name",
        (proposal_id,),
    )
    evidence = tx.execute(
        "SELECT x.*, COALESCE(a.name, x.agent_id) AS name FROM proposal_evidence x"
        " LEFT JOIN agents a ON a.id = x.agent_id WHERE x.proposal_id = ? ORDER BY x.id",
        (proposal_id,),
    )
    c = counts(tx, row)
    details = json.loads(row["details"])
    summary = _summary(row)
    return Proposal(
        **summary.model_dump(),
        description=row["description"],
        improvement=Improvement(**details) if row["kind"] == "improvement" else None,
        electorate=row["electorate"],
        electors=[str(e["name"]) for e in electors],
        not_voted=[str(e["name"]) for e in electors if not e["voted"]],
        tally=Tally(
            options=[OptionCount(option=o, votes=n) for o, n in zip(c.options, c.votes, strict=True)],
            abstain=c.abstain,
            cast=c.cast,
            not_voted=c.remaining,
            electorate=c.electorate,
            quorum=c.quorum,
        ),
        votes=[
            Vote(
                agent=v["name"],
                choice=v["choice"],
                rationale=v["rationale"],
                cast_at=iso(v["cast_at"]) or "",
                changed=v["changes"],
            )
            for v in votes
        ],
        outcome_reason=row["outcome_reason"],
        created_at=iso(row["created_at"]) or "",
        closed_at=iso(row["closed_at"]),
        evidence=[
            Evidence(
                id=x["id"],
                agent=x["name"],
                command=x["command"],
                directory=x["directory"],
                exit_code=x["exit_code"],
                timed_out=bool(x["timed_out"]),
                duration_seconds=round(x["duration"], 3),
                output_tail=x["output_tail"],
                output_bytes=x["output_bytes"],
                created_at=iso(x["created_at"]) or "",
            )
            for x in evidence
        ],
    )
