"""Evidence on improvement proposals: the results of sandbox runs (shared/sandbox.py), attached with their
event in one write."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.actor import Actor
from shared.db.connection import Database, Row, Tx
from shared.errors import Conflict, InvalidArgument, NotFound
from shared.store import events

if TYPE_CHECKING:  # a run's result is only read here; the sandbox loads when a test runs
    from shared.sandbox import Run


async def target(db: Database, proposal_id: int) -> Row:
    """The improvement proposal a sandbox run will be attached to; refused before anything runs."""
    row = await db.fetchone("SELECT id, kind, status, title FROM proposals WHERE id = ?", (proposal_id,))
    if row is None:
        raise NotFound(
            f"proposal {proposal_id} does not exist; open one with consensus_propose(kind='improvement') first"
        )
    if row["kind"] != "improvement":
        raise InvalidArgument(
            f"proposal {proposal_id} is a decision, not an improvement; sandbox evidence belongs to improvements "
            "(consensus_propose(kind='improvement'))"
        )
    if row["status"] != "open":
        raise Conflict(f"proposal {proposal_id} is already closed ({row['status']}); evidence can no longer sway it")
    return row


def _attach(tx: Tx, proposal_id: int, run: Run, actor: Actor) -> int:
    row = tx.fetchone(
        "INSERT INTO proposal_evidence(proposal_id, agent_id, command, directory, exit_code, timed_out, duration,"
        " output_tail, output_bytes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            proposal_id,
            actor.id,
            run.command,
            run.directory,
            run.exit_code,
            int(run.timed_out),
            run.duration,
            run.output_tail,
            run.output_bytes,
            actor.now,
        ),
    )
    assert row is not None
    events.record(
        tx,
        now=actor.now,
        agent_id=actor.id,
        kind="proposal.evidence",
        object_type="proposal",
        object_id=proposal_id,
        data={
            "evidence": int(row["id"]),
            "program": run.program,
            "exit_code": run.exit_code,
            "timed_out": run.timed_out,
            "duration": round(run.duration, 3),
        },
    )
    return int(row["id"])


async def attach(db: Database, proposal_id: int, run: Run, actor: Actor) -> int:
    """Record a sandbox run against a proposal, with its event, in one transaction. Returns the evidence id."""
    return await db.write(_attach, proposal_id, run, actor)
