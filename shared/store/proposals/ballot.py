"""Proposals and votes: opening a proposal over a fixed electorate, casting and changing votes.

Each change is one write transaction in one hop (`Database.write`): opening a proposal with its
electors, event and "vote requested" notice; a vote with its event and, when the vote settles the
proposal, the close (`settle.settle`, the same path reads and the deadline sweep use).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.actor import Actor
from shared.db.connection import Database, Row, Tx
from shared.errors import Conflict, Forbidden, InvalidArgument, NotFound
from shared.rules import visible
from shared.rules.clock import iso
from shared.rules.voting import ABSTAIN, Decision, Rule
from shared.store import events, quotas
from shared.store.mail import send as messages
from shared.store.proposals import dialect
from shared.store.proposals.settle import electors, settle
from shared.store.team import agents

MAX_ELECTORATE = 200
MIN_OPTIONS, MAX_OPTIONS = 2, 10


@dataclass(frozen=True)
class NewProposal:
    title: str
    options: tuple[str, ...]
    rule: Rule
    deadline: float
    description: str = ""
    kind: str = "decision"
    quorum: int | None = None
    voters: Sequence[str] = ()  # agent names; empty means "the agents present now" (or `role`)
    role: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Cast:
    """What a vote did."""

    choice: str
    changed: bool
    closed: Decision | None


def check_options(options: Sequence[str]) -> tuple[str, ...]:
    """2-10 distinct options (case-insensitively), none of them the reserved word 'abstain'."""
    cleaned = tuple(" ".join(o.split()) for o in options)
    for number, option in enumerate(cleaned, 1):
        visible.require(f"option {number}", option, "give each option words")
    if len({o.lower() for o in cleaned}) != len(cleaned):
        raise InvalidArgument(f"options must be distinct (ignoring case): {list(cleaned)}")
    if not MIN_OPTIONS <= len(cleaned) <= MAX_OPTIONS:
        raise InvalidArgument(f"give {MIN_OPTIONS} to {MAX_OPTIONS} options, not {len(cleaned)}")
    if ABSTAIN in {o.lower() for o in cleaned}:
        raise InvalidArgument("'abstain' is always available to voters; leave it out of options")
    return cleaned


def names(tx: Tx, ids: Sequence[str]) -> list[str]:
    """The agents' names (an id whose agent is gone stands for itself), ordered without regard to case."""
    rows = tx.execute(
        f"SELECT COALESCE(a.name, j.value) AS name FROM {dialect.of(tx).json_list('j')}"
        f" LEFT JOIN agents a ON a.id = j.value ORDER BY COALESCE(a.name, j.value) {dialect.CASELESS}",
        (json.dumps(list(ids)),),
    )
    return [str(r["name"]) for r in rows]


def _electorate(tx: Tx, spec: NewProposal, actor: Actor) -> tuple[str, list[str]]:
    """The electors' ids and how they were chosen; observers never vote."""
    if spec.voters and spec.role:
        raise InvalidArgument("give either voters (names) or role, not both")
    if spec.voters:
        wanted = list(dict.fromkeys(v.strip() for v in spec.voters if v.strip()))
        ids = sorted(set(agents.ids_by_names(tx, wanted).values()))
        observers = sorted(
            str(r["name"])
            for r in tx.execute(
                f"SELECT a.name FROM {dialect.of(tx).json_list('j')} JOIN agents a ON a.id = j.value"
                " WHERE a.role = 'observer'",
                (json.dumps(ids),),
            )
        )
        if observers:
            raise InvalidArgument(f"{', '.join(observers)} are observers (read-only) and cannot vote; leave them out")
        return "named", ids
    sql = f"SELECT a.id FROM agents a WHERE {agents.live_session_sql('a.id')} AND a.role != 'observer'"
    if spec.role:
        sql += " AND a.role = :role"
    ids = sorted(str(r["id"]) for r in tx.execute(sql, actor.params(role=spec.role)))
    if not ids:
        who = f"no {spec.role} is" if spec.role else "nobody who may vote is"
        raise InvalidArgument(f"{who} present to vote; name the electors with voters=[...] instead")
    return (f"role:{spec.role}" if spec.role else "present"), ids


def _propose(tx: Tx, spec: NewProposal, options: tuple[str, ...], actor: Actor) -> tuple[int, list[str]]:
    quotas.open_proposals(tx, actor)
    how, chosen = _electorate(tx, spec, actor)
    if len(chosen) > MAX_ELECTORATE:
        raise InvalidArgument(f"the electorate has {len(chosen)} agents; at most {MAX_ELECTORATE} may vote")
    size = len(chosen)
    quorum = size // 2 + 1 if spec.quorum is None else spec.quorum
    if not 1 <= quorum <= size:
        raise InvalidArgument(
            f"quorum={quorum} is more than the {size} electors ({', '.join(names(tx, chosen))}); "
            f"use a quorum between 1 and {size}, or leave it out for a majority of them ({size // 2 + 1})"
        )
    row = tx.fetchone(
        "INSERT INTO proposals(kind, title, description, options, rule, quorum, electorate, proposer_id,"
        " details, created_at, deadline) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            spec.kind,
            spec.title,
            spec.description,
            json.dumps(list(options)),
            spec.rule,
            quorum,
            how,
            actor.id,
            json.dumps(spec.details, sort_keys=True),
            actor.now,
            spec.deadline,
        ),
    )
    assert row is not None
    pid = int(row["id"])
    tx.executemany("INSERT INTO proposal_electors(proposal_id, agent_id) VALUES (?, ?)", [(pid, e) for e in chosen])
    events.record(
        tx,
        now=actor.now,
        agent_id=actor.id,
        kind="proposal.proposed",
        object_type="proposal",
        object_id=pid,
        data={"kind": spec.kind, "rule": spec.rule, "quorum": quorum, "electorate": how, "electors": size},
    )
    choices = ", ".join([*options, ABSTAIN])
    messages.post_notice(
        tx,
        actor,
        recipients=chosen,
        subject=f"Vote requested: {spec.title}",
        body=(
            f"Proposal {pid} ({spec.kind}): {spec.title}\nChoices: {choices}. Rule: {spec.rule.replace('_', ' ')}"
            f", quorum {quorum} of {size}. Closes by {iso(spec.deadline)} or as soon as it is settled.\n"
            f"Read it with consensus_list(proposal_id={pid}); vote with consensus_vote(proposal_id={pid}, "
            f'choice="{options[0]}", rationale="why").'
        ),
        ref_type="proposal",
        ref_id=pid,
        counted=True,
    )
    return pid, names(tx, chosen)


async def propose(db: Database, spec: NewProposal, actor: Actor) -> tuple[int, list[str]]:
    """Open a proposal, fix its electorate and ask each elector to vote. Returns (id, elector names)."""
    visible.require("title", spec.title, "give it words")
    options = check_options(spec.options)
    return await db.write(_propose, spec, options, actor)


def _closed_error(row: Row) -> Conflict:
    outcome = f": {row['outcome']}" if row["outcome"] else ""
    return Conflict(
        f"proposal {row['id']} is closed ({row['status']}{outcome}, at {iso(row['closed_at'])}); votes are no "
        f"longer accepted. Read the result with consensus_list(proposal_id={row['id']})."
    )


def _vote(tx: Tx, proposal_id: int, choice: str, rationale: str | None, actor: Actor) -> Cast | Row:
    """The vote, or — when the deadline has passed — the proposal closed by it (the vote not counted)."""
    row = tx.fetchone("SELECT * FROM proposals WHERE id = ?", (proposal_id,))
    if row is None:
        raise NotFound(f"proposal {proposal_id} does not exist; see open proposals with consensus_list()")
    if row["status"] != "open":
        raise _closed_error(row)
    if actor.now < row["deadline"]:
        return _cast(tx, row, choice, rationale, actor)
    settle(tx, row, actor, by=None, trigger="deadline")
    closed = tx.fetchone("SELECT * FROM proposals WHERE id = ?", (proposal_id,))
    assert closed is not None
    return closed


async def vote(db: Database, proposal_id: int, choice: str, rationale: str | None, actor: Actor) -> Cast:
    """Cast or change the actor's vote, then close the proposal if that settled it.

    A vote after the deadline closes the proposal (as any read would) and is refused once that is committed.
    """
    done = await db.write(_vote, proposal_id, choice, rationale, actor)
    if isinstance(done, Cast):
        return done
    outcome = f": {done['outcome']}" if done["outcome"] else ""
    raise Conflict(
        f"too late: proposal {proposal_id}'s deadline passed at {iso(done['deadline'])}, so your vote was not "
        f"counted; it closed as {done['status']}{outcome}. Read the result with "
        f"consensus_list(proposal_id={proposal_id})."
    )


def _cast(tx: Tx, row: Row, choice: str, rationale: str | None, actor: Actor) -> Cast:
    pid = int(row["id"])
    elector = tx.fetchone("SELECT 1 FROM proposal_electors WHERE proposal_id = ? AND agent_id = ?", (pid, actor.id))
    if elector is None:
        raise Forbidden(
            f"you are not an elector of proposal {pid}: its electors ({row['electorate']}, fixed when it opened) "
            f"are {', '.join(names(tx, electors(tx, pid)))}. Only they vote; propose anew to ask a different group."
        )
    options: list[str] = json.loads(row["options"])
    canonical = {o.lower(): o for o in [*options, ABSTAIN]}
    picked = canonical.get(choice.strip().lower())
    if picked is None:
        raise InvalidArgument(
            f"choice={choice!r} is not an option of proposal {pid}; choose one of {', '.join(canonical.values())}"
        )
    before = tx.fetchone("SELECT choice FROM votes WHERE proposal_id = ? AND agent_id = ?", (pid, actor.id))
    d = dialect.of(tx)
    tx.execute(
        "INSERT INTO votes(proposal_id, agent_id, choice, rationale, cast_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT(proposal_id, agent_id) DO UPDATE SET choice = excluded.choice, rationale = excluded.rationale,"
        f" cast_at = excluded.cast_at, changes = votes.changes + {d.as_number('votes.choice != excluded.choice')}",
        (pid, actor.id, picked, rationale, actor.now),
    )
    changed = before is not None and before["choice"] != picked
    events.record(
        tx,
        now=actor.now,
        agent_id=actor.id,
        kind="proposal.voted",
        object_type="proposal",
        object_id=pid,
        data={"choice": picked, "changed": changed, "again": before is not None},
    )
    closed = settle(tx, row, actor, by=actor.id, trigger="vote")
    return Cast(choice=picked, changed=changed, closed=closed)
