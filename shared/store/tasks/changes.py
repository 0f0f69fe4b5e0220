"""Changing a task someone holds or created: progress, release, block, cancel, lease extension, and
completion with retries and repeats. Every change is one write transaction (`Database.write`, one hop)
that sweeps lapsed claims first, so a holder whose claim lapsed is told so instead of silently
overwriting someone else's work. Admins (the acting Actor's role) may manage any task."""

from __future__ import annotations

from dataclasses import dataclass

from shared.actor import Actor
from shared.db.connection import Database, Row, Tx
from shared.errors import Conflict, Forbidden, InvalidArgument
from shared.models.tasks import FINAL_STATUSES
from shared.rules.clock import iso
from shared.store.tasks.queue import (
    TaskChange,
    check_dependencies,
    locked_task,
    record,
    require_holder,
    schedule_next,
    stranded_words,
    sweep,
    tell_creator_it_failed,
    tell_dependents_it_ended,
)

MAX_LEASE = 7 * 86400


def _may_manage(row: Row, actor: Actor) -> bool:
    """Creators and admins manage a task's definition (priority, dependencies, cancel, unblock)."""
    return actor.is_admin or row["created_by"] == actor.id


async def update(db: Database, actor: Actor, task_id: int, change: TaskChange) -> list[str]:
    """Apply a change; returns what changed, in words. Refuses changes that make no sense, with the reason."""
    return await db.write(_update, actor, task_id, change)


def _update(tx: Tx, actor: Actor, task_id: int, change: TaskChange) -> list[str]:
    if change.reason and change.status not in ("blocked", "cancelled"):
        raise InvalidArgument("reason goes with status='blocked' or 'cancelled'; to note progress use note=...")
    if change.extend_lease is not None and change.status is not None:  # the status gives the claim up: no lease
        raise InvalidArgument(
            f"extend_lease keeps your claim and status={change.status!r} gives it up; pass one of them"
        )
    if change.progress is not None and change.status == "open":  # a release starts the task over at 0
        raise InvalidArgument(
            "status='open' gives the task back with its progress reset to 0; leave out progress, or drop status"
            " to report progress and keep it"
        )
    sweep(tx, actor)
    row = locked_task(tx, task_id)
    if row["status"] in FINAL_STATUSES:
        raise Conflict(f"task {task_id} is {row['status']} and cannot change; create a new task with task_create")
    sets: dict[str, object] = {}
    said: list[str] = []
    touches_claim = change.progress is not None or change.note is not None or change.extend_lease is not None
    if touches_claim:
        require_holder(row, actor, admin=actor.is_admin, action="update")
    if change.progress is not None:
        sets["progress"] = change.progress
        said.append(f"progress {change.progress}%")
    if change.note is not None:
        sets["note"] = change.note
        said.append("note saved")
    if change.extend_lease is not None:
        if change.extend_lease > MAX_LEASE:
            raise InvalidArgument(f"extend_lease is at most {MAX_LEASE // 86400} days; extend again later")
        wanted = actor.now + change.extend_lease
        cap = row["claimed_at"] + actor.limits.lease_age
        until = min(wanted, cap)
        sets["lease_expires_at"] = until
        if until < wanted:
            said.append(
                f"lease extended only to {iso(until)}: a claim lasts at most {actor.limits.lease_age / 3600:g} h "
                f"from when it was taken ({iso(row['claimed_at'])}), renewals included (ROUNDTABLE_MAX_LEASE_AGE), "
                "and lapses then as usual; finish before, or release it so the queue can hand it out again"
            )
        else:
            said.append(f"lease extended to {iso(until)}")
    if change.priority is not None:
        if not _may_manage(row, actor):
            raise Forbidden(f"only task {task_id}'s creator or an admin may change its priority")
        sets["priority"] = change.priority
        said.append("priority changed")
    if change.add_depends_on:
        if not _may_manage(row, actor):
            raise Forbidden(f"only task {task_id}'s creator or an admin may change its dependencies")
        check_dependencies(tx, task_id, change.add_depends_on)
        tx.executemany(
            "INSERT INTO task_deps(task_id, depends_on) VALUES (?, ?) ON CONFLICT DO NOTHING",
            [(task_id, d) for d in change.add_depends_on],
        )
        said.append(f"now depends on {sorted(set(change.add_depends_on))}")
    if change.remove_depends_on:
        said.append(_remove_dependencies(tx, row, actor, change))
    if change.status is not None:
        said.append(_status_change(row, actor, change, sets))
    if not said:
        raise InvalidArgument(
            "nothing to change; pass progress, note, status, extend_lease, priority, add_depends_on or"
            " remove_depends_on"
        )
    if sets:
        sets["updated_at"] = actor.now
        assignments = ", ".join(f"{column} = :{column}" for column in sets)
        tx.execute(f"UPDATE tasks SET {assignments} WHERE id = :id", {**sets, "id": task_id})
    kind = {"open": "task.released", "blocked": "task.blocked", "cancelled": "task.cancelled"}.get(
        change.status or "", "task.updated"
    )
    if kind == "task.released" and row["status"] == "blocked":
        kind = "task.unblocked"
    record(tx, actor, kind, task_id, changes=said)
    ended = kind == "task.cancelled"
    if ended and (stranded := tell_dependents_it_ended(tx, actor, task_id, row["title"], "cancelled")):
        said.append(stranded_words(task_id, stranded))
    return said


def _remove_dependencies(tx: Tx, row: Row, actor: Actor, change: TaskChange) -> str:
    """Delete the named dependency rows (migration 0020 lets go of their unmet count); refuse ids the task does
    not depend on, naming the ones it does."""
    task_id = row["id"]
    if not _may_manage(row, actor):
        raise Forbidden(f"only task {task_id}'s creator or an admin may change its dependencies")
    wanted = sorted(set(change.remove_depends_on))
    if both := sorted(set(wanted) & set(change.add_depends_on)):
        raise InvalidArgument(f"tasks {both} are in both add_depends_on and remove_depends_on; pass each in one")
    current = {int(r[0]) for r in tx.execute("SELECT depends_on FROM task_deps WHERE task_id = ?", (task_id,))}
    if unknown := [i for i in wanted if i not in current]:
        held = f"it depends on {sorted(current)}" if current else "it has no dependencies"
        raise InvalidArgument(f"task {task_id} does not depend on {unknown}; {held}")
    marks = ",".join(str(int(i)) for i in wanted)
    tx.execute(f"DELETE FROM task_deps WHERE task_id = ? AND depends_on IN ({marks})", (task_id,))
    return f"no longer depends on {wanted}"


def _status_change(row: Row, actor: Actor, change: TaskChange, sets: dict[str, object]) -> str:
    """Fill `sets` for a release, unblock, block or cancel; return what happened in words."""
    task_id, status, wanted = row["id"], row["status"], change.status
    release = {"holder": None, "claimed_at": None, "lease_expires_at": None}
    if wanted == "cancelled":
        if not _may_manage(row, actor):
            raise Forbidden(f"only task {task_id}'s creator or an admin may cancel it; release it instead")
        sets.update(release, status="cancelled", completed_at=actor.now, result=change.reason or "cancelled")
        return "cancelled"
    if wanted == "blocked":
        if not change.reason:
            raise InvalidArgument("blocking needs a reason (what or whom the task waits for); pass reason=")
        if status == "claimed":
            require_holder(row, actor, admin=actor.is_admin, action="block")
        elif not _may_manage(row, actor):
            raise Forbidden(f"only task {task_id}'s creator or an admin may block it while nobody holds it")
        sets.update(release, status="blocked", blocked_reason=change.reason, previous_holder=actor.id)
        return f"blocked: {change.reason}"
    if wanted == "open":
        if status == "claimed":
            require_holder(row, actor, admin=actor.is_admin, action="release")
            sets.update(release, status="open", progress=0)
            return "released back to the queue"
        if status == "blocked":
            if not (_may_manage(row, actor) or row["previous_holder"] == actor.id):
                raise Forbidden(f"only whoever blocked task {task_id}, its creator or an admin may unblock it")
            sets.update(status="open", blocked_reason=None, previous_holder=None)
            return "unblocked and back in the queue"
        if row["previous_holder"] == actor.id or not _may_manage(row, actor):
            require_holder(row, actor, admin=False, action="release")  # a release: "your claim lapsed", or not yours
        raise Conflict(f"task {task_id} is already open")
    raise InvalidArgument(f"status {wanted!r} cannot be set here; use open, blocked or cancelled")


@dataclass(frozen=True)
class Completion:
    status: str
    next_occurrence: int | None
    unblocked: list[int]
    stranded: list[int]


async def complete(db: Database, actor: Actor, task_id: int, *, success: bool, result: str) -> Completion:
    """Finish a claim. Success unblocks dependents; failure retries until max_attempts, then fails."""
    return await db.write(_complete, actor, task_id, success, result)


def _complete(tx: Tx, actor: Actor, task_id: int, success: bool, result: str) -> Completion:
    sweep(tx, actor)
    row = locked_task(tx, task_id)
    if row["status"] in FINAL_STATUSES:
        raise Conflict(f"task {task_id} is already {row['status']}")
    require_holder(row, actor, admin=False, action="complete", admins_may=False)
    attempts = row["attempts"] + (0 if success else 1)
    final = success or attempts >= row["max_attempts"]
    status = "done" if success else ("failed" if final else "open")
    updated = tx.fetchone(
        "UPDATE tasks SET status = :status, holder = NULL, claimed_at = NULL, lease_expires_at = NULL,"
        " attempts = :attempts, result = :result, progress = CASE WHEN :success = 1 THEN 100 ELSE progress END,"
        " completed_at = CASE WHEN :final = 1 THEN :now END, updated_at = :now WHERE id = :id RETURNING *",
        {
            "status": status,
            "attempts": attempts,
            "result": result,
            "success": success,
            "final": final,
            "now": actor.now,
            "id": task_id,
        },
    )
    assert updated is not None
    kind = {"done": "task.completed", "failed": "task.failed", "open": "task.retry"}[status]
    record(tx, actor, kind, task_id, attempts=attempts)
    stranded: list[int] = []
    if status == "failed":
        tell_creator_it_failed(tx, actor, updated, result or "no result given")
        stranded = tell_dependents_it_ended(tx, actor, task_id, updated["title"], "failed")
    following = schedule_next(tx, actor, updated) if final else None
    unblocked = _newly_ready_dependents(tx, task_id) if success else []
    return Completion(status=status, next_occurrence=following, unblocked=unblocked, stranded=stranded)


def _newly_ready_dependents(tx: Tx, task_id: int) -> list[int]:
    rows = tx.execute(
        "SELECT d.task_id FROM task_deps d JOIN tasks t ON t.id = d.task_id"
        " WHERE d.depends_on = ? AND t.status = 'open' AND NOT EXISTS ("
        "  SELECT 1 FROM task_deps o JOIN tasks ot ON ot.id = o.depends_on"
        "  WHERE o.task_id = d.task_id AND ot.status != 'done') ORDER BY d.task_id",
        (task_id,),
    )
    return [int(r[0]) for r in rows]
