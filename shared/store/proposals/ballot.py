"""Proposals and votes: opening a proposal over a fixed electorate, casting and changing votes.

Every change is one BEGIN IMMEDIATE transaction. A vote settles the proposal in its own transaction
(consensus_settle.settle, the same path reads and the deadline sweep use).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.db.connection import Database, Row, Transaction
from shared.errors import Conflict, Forbidden, InvalidArgument, NotFound
from shared.rules.clock import iso
from shared.rules.voting import ABSTAIN, Decision, Rule
from shared.store import events
from shared.store.mail import legacy as mail_legacy
from shared.store.proposals.settle import ELECTORS, settle
from shared.store.team.agents import live_session_sql

MAX_ELECTORATE = 200
MIN_OPTIONS, MAX_OPTIONS = 2, 10


@dataclass(frozen=True)
class Caller:
    """Who acts, when, and what the settings say about presence and signing."""

    agent_id: str
    now: float
    presence_timeout: float = 30.0
    secret: str | None = field(default=None, repr=False)


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
    if any(not o for o in cleaned):
        raise InvalidArgument("options must not be empty strings")
    if len({o.lower() for o in cleaned}) != len(cleaned):
        raise InvalidArgument(f"options must be distinct (ignoring case): {list(cleaned)}")
    if not MIN_OPTIONS <= len(cleaned) <= MAX_OPTIONS:
        raise InvalidArgument(f"give {MIN_OPTIONS} to {MAX_OPTIONS} options, not {len(cleaned)}")
    if ABSTAIN in {o.lower() for o in cleaned}:
        raise InvalidArgument("'abstain' is always available to voters; leave it out of options")
    return cleaned


async def _names(tx: Transaction, ids: Sequence[str]) -> list[str]:
    rows = await tx.execute(
        "SELECT COALESCE(a.name, j.value) AS name FROM json_each(?) j LEFT JOIN agents a ON a.id = j.value"
        " ORDER BY name COLLATE NOCASE",
        (json.dumps(list(ids)),),
    )
    return [str(r["name"]) for r in rows]


async def _electorate(tx: Transaction, spec: NewProposal, caller: Caller) -> tuple[str, list[str]]:
    """The electors' ids and how they were chosen; observers never vote."""
    if spec.voters and spec.role:
        raise InvalidArgument("give either voters (names) or role, not both")
    if spec.voters:
        wanted = list(dict.fromkeys(v.strip() for v in spec.voters if v.strip()))
        rows = await tx.execute(
            "SELECT a.id, a.name, a.role FROM json_each(?) j JOIN agents a ON a.name = j.value", (json.dumps(wanted),)
        )
        found = {str(r["name"]).lower(): r for r in rows}
        missing = [n for n in wanted if n.lower() not in found]
        if missing:
            known = await tx.execute("SELECT name FROM agents ORDER BY last_seen DESC LIMIT 50")
            names = ", ".join(str(r["name"]) for r in known) or "none yet"
            raise NotFound(f"no agent is named {', '.join(map(repr, missing))}; known agents: {names}")
        observers = sorted(str(r["name"]) for r in rows if r["role"] == "observer")
        if observers:
            raise InvalidArgument(f"{', '.join(observers)} are observers (read-only) and cannot vote; leave them out")
        return "named", sorted({str(r["id"]) for r in rows})
    sql = f"SELECT a.id FROM agents a WHERE {live_session_sql('a.id')} AND a.role != 'observer'"
    params: dict[str, Any] = {"live_after": caller.now - caller.presence_timeout}
    if spec.role:
        sql += " AND a.role = :role"
        params["role"] = spec.role
    ids = sorted(str(r["id"]) for r in await tx.execute(sql, params))
    if not ids:
        who = f"no {spec.role} is" if spec.role else "nobody who may vote is"
        raise InvalidArgument(f"{who} present to vote; name the electors with voters=[...] instead")
    return (f"role:{spec.role}" if spec.role else "present"), ids


async def propose(db: Database, spec: NewProposal, caller: Caller) -> tuple[int, list[str]]:
    """Open a proposal, fix its electorate and ask each elector to vote. Returns (id, elector names)."""
    options = check_options(spec.options)
    async with db.write_legacy() as tx:
        how, electors = await _electorate(tx, spec, caller)
        if len(electors) > MAX_ELECTORATE:
            raise InvalidArgument(f"the electorate has {len(electors)} agents; at most {MAX_ELECTORATE} may vote")
        size = len(electors)
        quorum = size // 2 + 1 if spec.quorum is None else spec.quorum
        if not 1 <= quorum <= size:
            raise InvalidArgument(
                f"quorum={quorum} is more than the {size} electors ({', '.join(await _names(tx, electors))}); "
                f"use a quorum between 1 and {size}, or leave it out for a majority of them ({size // 2 + 1})"
            )
        row = await tx.fetchone(
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
                caller.agent_id,
                json.dumps(spec.details, sort_keys=True),
                caller.now,
                spec.deadline,
            ),
        )
        assert row is not None
        pid = int(row["id"])
        await tx.executemany(
            "INSERT INTO proposal_electors(proposal_id, agent_id) VALUES (?, ?)", [(pid, e) for e in electors]
        )
        await events.record_legacy(
            tx,
            now=caller.now,
            agent_id=caller.agent_id,
            kind="proposal.proposed",
            object_type="proposal",
            object_id=pid,
            data={"kind": spec.kind, "rule": spec.rule, "quorum": quorum, "electorate": how, "electors": size},
        )
        choices = ", ".join([*options, ABSTAIN])
        await mail_legacy.post_notice_legacy(
            tx,
            recipients=electors,
            subject=f"Vote requested: {spec.title}",
            body=(
                f"Proposal {pid} ({spec.kind}): {spec.title}\nChoices: {choices}. Rule: {spec.rule.replace('_', ' ')}"
                f", quorum {quorum} of {size}. Closes by {iso(spec.deadline)} or as soon as it is settled.\n"
                f"Read it with consensus_list(proposal_id={pid}); vote with consensus_vote(proposal_id={pid}, "
                f'choice="{options[0]}", rationale="why").'
            ),
            ref_type="proposal",
            ref_id=pid,
            now=caller.now,
            secret=caller.secret,
        )
        return pid, await _names(tx, electors)


def _closed_error(row: Row) -> Conflict:
    outcome = f": {row['outcome']}" if row["outcome"] else ""
    return Conflict(
        f"proposal {row['id']} is closed ({row['status']}{outcome}, at {iso(row['closed_at'])}); votes are no "
        f"longer accepted. Read the result with consensus_list(proposal_id={row['id']})."
    )


async def vote(db: Database, proposal_id: int, choice: str, rationale: str | None, caller: Caller) -> Cast:
    """Cast or change the caller's vote, then close the proposal if that settled it.

    A vote after the deadline closes the proposal (as any read would) and is refused once that is committed.
    """
    async with db.write_legacy() as tx:
        row = await tx.fetchone("SELECT * FROM proposals WHERE id = ?", (proposal_id,))
        if row is None:
            raise NotFound(f"proposal {proposal_id} does not exist; see open proposals with consensus_list()")
        if row["status"] != "open":
            raise _closed_error(row)
        if caller.now < row["deadline"]:
            return await _cast(tx, row, choice, rationale, caller)
        await settle(tx, row, caller.now, by=None, trigger="deadline", secret=caller.secret)
    closed = await db.fetchone("SELECT * FROM proposals WHERE id = ?", (proposal_id,))
    assert closed is not None
    outcome = f": {closed['outcome']}" if closed["outcome"] else ""
    raise Conflict(
        f"too late: proposal {proposal_id}'s deadline passed at {iso(closed['deadline'])}, so your vote was not "
        f"counted; it closed as {closed['status']}{outcome}. Read the result with "
        f"consensus_list(proposal_id={proposal_id})."
    )


async def _cast(tx: Transaction, row: Row, choice: str, rationale: str | None, caller: Caller) -> Cast:
    pid = int(row["id"])
    elector = await tx.fetchone(
        "SELECT 1 FROM proposal_electors WHERE proposal_id = ? AND agent_id = ?", (pid, caller.agent_id)
    )
    if elector is None:
        ids = [str(r["agent_id"]) for r in await tx.execute(ELECTORS, (pid,))]
        raise Forbidden(
            f"you are not an elector of proposal {pid}: its electors ({row['electorate']}, fixed when it opened) "
            f"are {', '.join(await _names(tx, ids))}. Only they vote; propose anew to ask a different group."
        )
    options: list[str] = json.loads(row["options"])
    canonical = {o.lower(): o for o in [*options, ABSTAIN]}
    picked = canonical.get(choice.strip().lower())
    if picked is None:
        raise InvalidArgument(
            f"choice={choice!r} is not an option of proposal {pid}; choose one of {', '.join(canonical.values())}"
        )
    before = await tx.fetchone(
        "SELECT choice FROM votes WHERE proposal_id = ? AND agent_id = ?", (pid, caller.agent_id)
    )
    await tx.execute(
        "INSERT INTO votes(proposal_id, agent_id, choice, rationale, cast_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT(proposal_id, agent_id) DO UPDATE SET choice = excluded.choice, rationale = excluded.rationale,"
        " cast_at = excluded.cast_at, changes = changes + (choice != excluded.choice)",
        (pid, caller.agent_id, picked, rationale, caller.now),
    )
    changed = before is not None and before["choice"] != picked
    await events.record_legacy(
        tx,
        now=caller.now,
        agent_id=caller.agent_id,
        kind="proposal.voted",
        object_type="proposal",
        object_id=pid,
        data={"choice": picked, "changed": changed, "again": before is not None},
    )
    closed = await settle(tx, row, caller.now, by=caller.agent_id, trigger="vote", secret=caller.secret)
    return Cast(choice=picked, changed=changed, closed=closed)
