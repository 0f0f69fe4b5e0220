"""Per-agent quotas: what one agent may keep in the shared file, so no agent can grow it without bound.

Each check runs inside the write transaction that would add the row, counts over an index of the
agent's own rows (migration 0014), and refuses the whole call with one line naming the limit, the
setting that sets it and the fix. The limits travel in the acting Actor (shared.config.Limits).
"""

from __future__ import annotations

from shared.actor import Actor
from shared.db.connection import Tx
from shared.errors import QuotaExceeded

RAISE_IT = "or ask whoever runs the servers to raise {setting}. Nothing was changed"


def _count(tx: Tx, sql: str, params: tuple[object, ...], limit: int) -> int:
    """How many rows `sql` selects, counting no further than `limit`."""
    return int(tx.scalar(f"SELECT count(*) FROM ({sql} LIMIT {int(limit)}) AS s", params) or 0)


def open_tasks(tx: Tx, actor: Actor) -> None:
    """Refuse a new task when the actor already has its limit of unfinished tasks it created."""
    limit = actor.limits.open_tasks
    held = _count(
        tx,
        "SELECT 1 FROM tasks INDEXED BY tasks_unfinished_by_creator"
        " WHERE created_by = ? AND status IN ('open', 'claimed', 'blocked')",
        (actor.id,),
        limit,
    )
    if held >= limit:
        raise QuotaExceeded(
            f"{actor.name} already has {limit} unfinished tasks it created, the limit "
            f"(ROUNDTABLE_MAX_OPEN_TASKS={limit}); let some finish or cancel those no longer needed with "
            f'task_update(status="cancelled") first, ' + RAISE_IT.format(setting="ROUNDTABLE_MAX_OPEN_TASKS")
        )


def knowledge(tx: Tx, actor: Actor, size: int) -> None:
    """Refuse a new entry of `size` bytes past the actor's entry count or total size."""
    limits = actor.limits
    row = tx.fetchone(
        "SELECT count(*) AS n, COALESCE(sum(size), 0) AS bytes FROM knowledge INDEXED BY knowledge_author_size"
        " WHERE author_id = ?",
        (actor.id,),
    )
    count, total = (int(row["n"]), int(row["bytes"])) if row is not None else (0, 0)
    fix = "supersede or extend an existing entry rather than adding near-copies, " + RAISE_IT
    if count >= limits.knowledge_entries:
        raise QuotaExceeded(
            f"{actor.name} has written {count} knowledge entries, the limit "
            f"(ROUNDTABLE_MAX_KNOWLEDGE={limits.knowledge_entries}); " + fix.format(setting="ROUNDTABLE_MAX_KNOWLEDGE")
        )
    if total + size > limits.knowledge_bytes:
        raise QuotaExceeded(
            f"{actor.name}'s knowledge entries hold {total} bytes and this one {size} more, past the limit "
            f"(ROUNDTABLE_MAX_KNOWLEDGE_BYTES={limits.knowledge_bytes}); write it shorter, "
            + fix.format(setting="ROUNDTABLE_MAX_KNOWLEDGE_BYTES")
        )


def skill_versions(tx: Tx, actor: Actor) -> None:
    """Refuse a new skill version when the actor's kept versions are at the limit."""
    limit = actor.limits.skill_versions
    kept = _count(tx, "SELECT 1 FROM skills INDEXED BY skills_by_author WHERE author_id = ?", (actor.id,), limit)
    if kept >= limit:
        raise QuotaExceeded(
            f"{actor.name} has written {limit} skill versions that are still kept, the limit "
            f"(ROUNDTABLE_MAX_SKILL_VERSIONS={limit}); old versions go with retention "
            "(ROUNDTABLE_SKILL_VERSIONS_KEPT per skill), so revise fewer times, "
            + RAISE_IT.format(setting="ROUNDTABLE_MAX_SKILL_VERSIONS")
        )


def open_proposals(tx: Tx, actor: Actor) -> None:
    """Refuse a new proposal when the actor's open proposals are at the limit."""
    limit = actor.limits.open_proposals
    held = _count(
        tx,
        "SELECT 1 FROM proposals INDEXED BY proposals_open_by_proposer WHERE proposer_id = ? AND status = 'open'",
        (actor.id,),
        limit,
    )
    if held >= limit:
        raise QuotaExceeded(
            f"{actor.name} already has {limit} open proposals, the limit (ROUNDTABLE_MAX_OPEN_PROPOSALS={limit}); "
            "wait for some to close (their deadline, or every elector voting; see consensus_list) first, "
            + RAISE_IT.format(setting="ROUNDTABLE_MAX_OPEN_PROPOSALS")
        )
