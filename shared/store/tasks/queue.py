"""Changing tasks: create, claim, and the sweep that returns lapsed claims to the queue; the helpers that
changes.py builds updates and completions from.

Every change is one write transaction, run in one hop by `Database.write` (docs/ARCHITECTURE.md): a
sync function that changes the task and appends its events (shared.store.events) and notices
(messages.post_notice, signed with the acting Actor's team secret) in the same commit. A claim picks
its task in a read snapshot from index ranges without what it can never claim, and takes it inside the
write transaction after re-checking the row (BEGIN IMMEDIATE), so no task is ever held by two agents.
Task events are written here (`record`, `record_lapse`), `task.claimed` and `task.lease_lapsed`
included; no trigger writes them (shared/db/migrations/0007_claim_events_by_the_store.sql).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from shared.actor import Actor
from shared.db.connection import Database, Row, Tx, locks_its_rows
from shared.db.dialects import id_list
from shared.errors import Conflict, Forbidden, InvalidArgument, NotFound
from shared.models.tasks import FINAL_STATUSES, Task
from shared.rules import quoting, visible
from shared.rules.clock import iso, relative
from shared.store import events, quotas
from shared.store.mail import send as messages
from shared.store.tasks import dialect
from shared.store.tasks.dialect import Sqlite
from shared.store.tasks.queries import LAPSED, LAPSED_IDS, UNMET_DEPS, columns, get, to_task
from shared.store.tasks.states import claimable

MAX_DEPENDENCIES = 50


@dataclass(frozen=True)
class NewTask:
    title: str
    description: str = ""
    priority: int = 1
    tags: Sequence[str] = ()
    requires: Sequence[str] = ()
    assignee_id: str | None = None
    depends_on: Sequence[int] = ()
    not_before: float | None = None
    repeat_every: float | None = None
    max_attempts: int = 3
    lease_seconds: float = 900.0


@dataclass(frozen=True)
class TaskChange:
    progress: int | None = None
    note: str | None = None
    status: str | None = None  # "open" (release / unblock), "blocked", "cancelled"
    reason: str | None = None
    extend_lease: float | None = None
    priority: int | None = None
    add_depends_on: Sequence[int] = field(default_factory=tuple)
    remove_depends_on: Sequence[int] = field(default_factory=tuple)


def record(tx: Tx, actor: Actor, kind: str, task_id: int, **data: object) -> None:
    """Append a task event by `actor`, at its time, inside the change's transaction."""
    events.record(tx, now=actor.now, agent_id=actor.id, kind=kind, object_type="task", object_id=task_id, data=data)


def record_lapse(tx: Tx, actor: Actor, lapse: Lapse, *, now: str) -> None:
    """The one writer of `task.lease_lapsed`: the holder's claim lapsed and the task is `now` open or failed.
    The event is the holder's (its agent is the holder, whose claim it was), not that of whoever noticed;
    written by the sweep and by a claim that takes over a lapsed claim, never both for one lapse."""
    events.record(
        tx,
        now=actor.now,
        agent_id=lapse.holder_id,
        kind="task.lease_lapsed",
        object_type="task",
        object_id=lapse.task_id,
        data={"holder": lapse.holder_name, "now": now, "why": lapse.why, "noticed_by": actor.name},
    )


LAPSE_COLUMNS = (
    "t.id, t.title, t.holder, t.created_by, t.note, t.progress, t.lease_expires_at,"
    " COALESCE((SELECT name FROM agents WHERE id = t.holder), 'an agent no longer known') AS holder_name"
)
"""What a lapse notice tells, read before the claim is cleared (`Lapse.of`)."""


@dataclass(frozen=True)
class Lapse:
    """A claim that lapsed, as it was when it lapsed: whose it was, why, and the holder's last report."""

    task_id: int
    title: str
    holder_id: str
    holder_name: str
    created_by: str
    note: str | None
    progress: int
    lease_ran_out: bool

    @classmethod
    def of(cls, row: Row, now: float) -> Lapse:
        return cls(
            task_id=int(row["id"]),
            title=str(row["title"]),
            holder_id=str(row["holder"]),
            holder_name=str(row["holder_name"]),
            created_by=str(row["created_by"]),
            note=row["note"],
            progress=int(row["progress"]),
            lease_ran_out=row["lease_expires_at"] < now,
        )

    @property
    def why(self) -> str:
        return "lease ran out" if self.lease_ran_out else "holder offline"

    def because(self) -> str:
        if self.lease_ran_out:
            return f"{self.holder_name}'s lease ran out (extend it with task_update(extend_lease=...) for long work)"
        return f"{self.holder_name} went offline (its sessions stopped heartbeating: the window closed or crashed)"

    def report(self) -> str:
        note = f'last note: "{self.note}"' if self.note else "no note"
        return f"{self.holder_name} had reported {self.progress}% progress, {note}."


def tell_about_lapse(tx: Tx, actor: Actor, lapse: Lapse, *, now: str, taken_by: str | None = None) -> None:
    """A system notice to the holder and the creator that the claim lapsed (why, and the holder's last
    note and progress), or was taken over by `taken_by`; inside the lapse's transaction. The taker of a
    claim is not told what it did; a lapse found by a sweep is news to holder and creator whoever swept
    (often the holder's own server, whose sweep job finds its own lease run out)."""
    if taken_by is not None and lapse.holder_id == actor.id:
        return  # the holder took its own lapsed claim back: nothing happened to its work
    what = f"Task {lapse.task_id} ({lapse.title})"
    if taken_by is not None:
        subject = f"Task {lapse.task_id} was taken over by {taken_by}: {lapse.title}"
        after = f"{taken_by} claimed it and holds it now."
    elif now == "failed":
        subject = f"Task {lapse.task_id} failed, its claim lapsed: {lapse.title}"
        after = "It was the last attempt, so the task failed."
    else:
        subject = f"Claim on task {lapse.task_id} lapsed: {lapse.title}"
        after = "It is back in the queue for anyone to claim."
    body = f"{what}: the claim lapsed because {lapse.because()}. {lapse.report()} {after}"
    holder_body = body + (
        f" If you are still on it, stop and coordinate with {taken_by}."
        if taken_by is not None
        else f" Claim it again with task_claim(task_id={lapse.task_id}) if you are still on it."
    )
    swept = taken_by is None
    if swept or lapse.holder_id != actor.id:
        messages.post_notice(
            tx,
            actor,
            recipients=[lapse.holder_id],
            subject=subject,
            body=holder_body,
            ref_type="task",
            ref_id=lapse.task_id,
        )
    if lapse.created_by != lapse.holder_id and (swept or lapse.created_by != actor.id):
        messages.post_notice(
            tx,
            actor,
            recipients=[lapse.created_by],
            subject=subject,
            body=body,
            ref_type="task",
            ref_id=lapse.task_id,
        )


def check_dependencies(tx: Tx, task_id: int | None, depends_on: Sequence[int]) -> None:
    """Refuse unknown ids, tasks that ended undone (cancelled, failed), self-dependencies and cycles, naming
    the offending ids."""
    wanted = sorted(set(depends_on))
    if len(wanted) > MAX_DEPENDENCIES:
        raise InvalidArgument(f"a task may depend on at most {MAX_DEPENDENCIES} tasks; split it up")
    if not wanted:
        return
    each = dialect.of(tx).each_id(":ids")
    found = {
        int(r["id"]): r["status"]
        for r in tx.execute(f"SELECT id, status FROM tasks WHERE id IN ({each})", {"ids": id_list(wanted)})
    }
    missing = [i for i in wanted if i not in found]
    if missing:
        raise NotFound(
            f"depends_on names tasks that do not exist: [{quoting.few(missing)}]; check the ids with task_list()"
        )
    ended = [f"{i} ({found[i]})" for i in wanted if found[i] in ("cancelled", "failed")]
    if ended:
        raise Conflict(
            f"depends_on names tasks that will never be done: {', '.join(ended)}, so this task would never be"
            " ready; leave them out, or depend on a new task that does their work"
        )
    if task_id is None:
        return
    if task_id in wanted:
        raise InvalidArgument(f"task {task_id} cannot depend on itself")
    cycle = tx.fetchone(
        f"WITH RECURSIVE reach(id) AS (SELECT CAST(j.value AS BIGINT) FROM {dialect.of(tx).json_values(':deps', 'j')}"
        " UNION SELECT d.depends_on FROM task_deps d JOIN reach r ON d.task_id = r.id)"
        " SELECT 1 FROM reach WHERE id = :task",
        {"deps": json.dumps(wanted), "task": task_id},
    )
    if cycle is not None:
        raise InvalidArgument(
            f"adding {wanted} to task {task_id}'s dependencies would make a cycle (one of them already waits on "
            f"task {task_id}); remove that dependency instead ({','.join(map(str, wanted))} → {task_id})"
        )


async def create(db: Database, actor: Actor, spec: NewTask) -> int:
    """Insert a task with its dependencies; tell the assignee. Returns the new id."""
    visible.require("title", spec.title, "give it words")
    return await db.write(_create, actor, spec)


def _create(tx: Tx, actor: Actor, spec: NewTask) -> int:
    quotas.open_tasks(tx, actor)
    if spec.assignee_id is not None:  # an observer never claims: the task could never be taken
        who = tx.fetchone("SELECT name, role FROM agents WHERE id = ?", (spec.assignee_id,))
        if who is not None and who["role"] == "observer":
            raise InvalidArgument(
                f"{who['name']} is an observer (read-only) and cannot claim tasks; assign a worker or an admin,"
                " or leave assignee out"
            )
    check_dependencies(tx, None, spec.depends_on)
    row = tx.fetchone(
        "INSERT INTO tasks(title, description, priority, tags, requires, created_by, assignee, lease_seconds,"
        " not_before, repeat_every, max_attempts, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            spec.title,
            spec.description,
            spec.priority,
            json.dumps(list(spec.tags)),
            json.dumps(list(spec.requires)),
            actor.id,
            spec.assignee_id,
            spec.lease_seconds,
            spec.not_before,
            spec.repeat_every,
            spec.max_attempts,
            actor.now,
            actor.now,
        ),
    )
    assert row is not None
    task_id = int(row["id"])
    tx.executemany(
        "INSERT INTO task_deps(task_id, depends_on) VALUES (?, ?)", [(task_id, d) for d in set(spec.depends_on)]
    )
    record(tx, actor, "task.created", task_id, priority=spec.priority, depends_on=sorted(spec.depends_on))
    if spec.assignee_id and spec.assignee_id != actor.id:
        messages.post_notice(
            tx,
            actor,
            recipients=[spec.assignee_id],
            subject=f"Task {task_id} assigned to you: {spec.title}",
            body=f"Task {task_id} ({spec.title}) was assigned to you. Claim it with task_claim(task_id={task_id}).",
            ref_type="task",
            ref_id=task_id,
            counted=True,
        )
    return task_id


def schedule_next(tx: Tx, actor: Actor, row: Row) -> int | None:
    """For a repeating task that finished, create its next occurrence at the next slot after now."""
    every = row["repeat_every"]
    if not every:
        return None
    slot = (row["not_before"] or row["created_at"]) + every
    if slot <= actor.now:
        slot += math.floor((actor.now - slot) / every + 1) * every
    new = tx.fetchone(
        "INSERT INTO tasks(title, description, priority, tags, requires, created_by, assignee, lease_seconds,"
        " not_before, repeat_every, series_id, max_attempts, created_at, updated_at)"
        " SELECT title, description, priority, tags, requires, created_by, assignee, lease_seconds, :slot,"
        " repeat_every, COALESCE(series_id, id), max_attempts, :now, :now FROM tasks WHERE id = :id RETURNING id",
        {"slot": slot, "now": actor.now, "id": row["id"]},
    )
    assert new is not None
    record(tx, actor, "task.repeated", int(new["id"]), previous=row["id"], not_before=iso(slot))
    return int(new["id"])


def tell_creator_it_failed(tx: Tx, actor: Actor, row: Row, why: str) -> None:
    """A system notice to the task's creator (unless it is `actor`) that the task failed for good."""
    if row["created_by"] != actor.id:
        messages.post_notice(
            tx,
            actor,
            recipients=[row["created_by"]],
            subject=f"Task {row['id']} failed: {row['title']}",
            body=f"Task {row['id']} ({row['title']}) failed after {row['max_attempts']} attempts: {why}",
            ref_type="task",
            ref_id=row["id"],
        )


STRANDED_SHOWN = 10
"""Dependents named in one notice about a dependency that ended undone; the rest are counted."""


def tell_dependents_it_ended(
    tx: Tx, actor: Actor, task_id: int, title: str, status: str, *, answered: bool = True
) -> list[int]:
    """Task `task_id` ended undone (`status`: cancelled or failed), so the unfinished tasks that depend on it can
    never be ready: a system notice to each of their creators naming them and the two ways out — but not to
    `actor` when the call's answer tells it (`answered`; a sweep's answer is about something else). Returns
    their ids, inside the change's transaction."""
    rows = tx.execute(
        "SELECT t.id, t.title, t.created_by FROM task_deps d JOIN tasks t ON t.id = d.task_id"
        " WHERE d.depends_on = ? AND t.status NOT IN ('done', 'failed', 'cancelled') ORDER BY t.id",
        (task_id,),
    )
    by_creator: dict[str, list[Row]] = {}
    for row in rows:
        by_creator.setdefault(str(row["created_by"]), []).append(row)
    for creator, theirs in by_creator.items():
        if answered and creator == actor.id:
            continue
        shown = ", ".join(f"{r['id']} ({r['title']})" for r in theirs[:STRANDED_SHOWN])
        more = f" and {len(theirs) - STRANDED_SHOWN} more" if len(theirs) > STRANDED_SHOWN else ""
        first = theirs[0]["id"]
        messages.post_notice(
            tx,
            actor,
            recipients=[creator],
            subject=f"Task {task_id} {status}: {len(theirs)} of your tasks depend on it",
            body=(
                f"Task {task_id} ({title}) was {status}, so your tasks that depend on it can never become ready:"
                f" {shown}{more}. Drop the dependency with task_update(task_id={first},"
                f" remove_depends_on=[{task_id}]), or cancel the task with task_update(task_id={first},"
                " status='cancelled')."
            ),
            ref_type="task",
            ref_id=task_id,
        )
    return [int(r["id"]) for r in rows]


def stranded_words(task_id: int, stranded: Sequence[int]) -> str:
    """What the caller who ended task `task_id` undone is told about the tasks that depended on it."""
    return (
        f"tasks {list(stranded)} depend on task {task_id} and can never be ready now (their creators were told);"
        f" drop the dependency with task_update(task_id={stranded[0]}, remove_depends_on=[{task_id}]) or cancel them"
    )


def sweep(tx: Tx, actor: Actor) -> list[int]:
    """Return lapsed claims to the queue (or fail them on their last attempt), recording why and telling
    the holder and the creator. Idempotent: each lapsed claim is swept by exactly one transaction — the
    UPDATE re-checks LAPSED on each row it changes, so on PostgreSQL (READ COMMITTED, where it re-reads a row
    another sweeper changed meanwhile) a claim already swept, renewed or taken over is left alone."""
    params = actor.params()
    lapses = {
        int(r["id"]): Lapse.of(r, actor.now)
        for r in tx.execute(f"SELECT {LAPSE_COLUMNS} FROM tasks t WHERE t.id IN ({LAPSED_IDS})", params)
    }
    if not lapses:
        return []
    params["ids"] = id_list(lapses)
    rows = tx.execute(
        "UPDATE tasks AS t SET"
        " status = CASE WHEN t.attempts + 1 >= t.max_attempts THEN 'failed' ELSE 'open' END,"
        " previous_holder = t.holder, holder = NULL, claimed_at = NULL, lease_expires_at = NULL,"
        " attempts = t.attempts + 1, updated_at = :now,"
        " completed_at = CASE WHEN t.attempts + 1 >= t.max_attempts THEN :now END,"
        " result = CASE WHEN t.attempts + 1 >= t.max_attempts"
        "   THEN 'gave up: the claim lapsed on the last attempt' ELSE t.result END"
        f" WHERE t.id IN ({dialect.of(tx).each_id(':ids')}) AND {LAPSED} RETURNING *",
        params,
    )
    for row in rows:
        lapse = lapses[int(row["id"])]
        record_lapse(tx, actor, lapse, now=row["status"])
        tell_about_lapse(tx, actor, lapse, now=row["status"])
        if row["status"] == "failed":
            schedule_next(tx, actor, row)
            tell_dependents_it_ended(tx, actor, int(row["id"]), str(row["title"]), "failed", answered=False)
    return [int(r["id"]) for r in rows]


async def sweep_lapsed(db: Database, actor: Actor) -> list[int]:
    """Run the sweep on its own (the coordination server does this in the background)."""
    return await db.write(sweep, actor)


@functools.cache
def claim_set(d: Sqlite) -> str:
    """The UPDATE that takes a task for :me (the WHERE is the caller's)."""
    return (
        "UPDATE tasks AS t SET status = 'claimed', holder = :me, claimed_at = :now,"
        f" lease_expires_at = :now + {d.least('COALESCE(:lease, t.lease_seconds)', ':lease_age')}, progress = 0,"
        " updated_at = :now, attempts = t.attempts + CASE WHEN t.status = 'claimed' THEN 1 ELSE 0 END,"
        " previous_holder = CASE WHEN t.status = 'claimed' THEN t.holder"
        "   WHEN t.previous_holder = :me THEN NULL ELSE t.previous_holder END"
    )


@functools.cache
def takeable(d: Sqlite) -> str:
    """Open, or a lapsed claim with attempts left (taking it over counts the lapse), and claimable by :me."""
    return f"(t.status = 'open' OR ({LAPSED} AND t.attempts + 1 < t.max_attempts)) AND {claimable(d)}"


TAKEABLE = takeable(dialect.SQLITE)
CANDIDATES = 8
"""How many of the best takeable tasks one snapshot offers the take: a claimer that loses the best one to
another claimer takes the next without reading the queue again."""
QUEUE_RANGES = {
    "anyone": "tasks_queue_for_anyone WHERE t.status = 'open' AND t.unmet_deps = 0 AND t.assignee IS NULL"
    " AND t.requires = '[]'",
    "assigned": "tasks_queue_assigned WHERE t.status = 'open' AND t.unmet_deps = 0 AND t.assignee IS NOT NULL"
    " AND t.assignee = :me",
    "requiring": "tasks_queue_requiring WHERE t.status = 'open' AND t.unmet_deps = 0 AND t.assignee IS NULL"
    " AND t.requires != '[]'",
}
"""The open queue as three disjoint index ranges (migration 0014). None holds a task assigned to someone
else or waiting on a dependency (`unmet_deps`, kept by triggers), and the range of tasks requiring
capabilities is read only for a caller that declared some."""


@functools.cache
def best(d: Sqlite, *, requiring: bool, limit: int) -> str:
    """The ids of the best `limit` takeable tasks for :me, best first (priority, then age): the queue's ranges
    and the lapsed claims with attempts left, each read in index order and stopped at `limit`."""
    ranges = [QUEUE_RANGES["anyone"], QUEUE_RANGES["assigned"]] + ([QUEUE_RANGES["requiring"]] if requiring else [])
    parts = [
        f" SELECT * FROM (SELECT t.id, t.priority FROM tasks t INDEXED BY {where} AND {claimable(d)}"
        f"  ORDER BY t.priority DESC, t.id LIMIT {limit}) AS r"
        for where in ranges
    ]
    parts.append(
        f" SELECT * FROM (SELECT t.id, t.priority FROM tasks t WHERE t.id IN ({LAPSED_IDS})"
        f"  AND t.attempts + 1 < t.max_attempts AND {claimable(d)} ORDER BY t.priority DESC, t.id LIMIT {limit}) AS l"
    )
    return "SELECT id FROM (" + " UNION ALL".join(parts) + f") AS b ORDER BY priority DESC, id LIMIT {limit}"


@functools.cache
def has_capabilities(d: Sqlite) -> str:
    return f"SELECT EXISTS (SELECT 1 FROM agents a, {d.json_values('a.capabilities', 'c')} WHERE a.id = :me)"


async def claim(db: Database, actor: Actor, task_id: int | None, lease: float | None) -> int | None:
    """Atomically claim a task (the given one, or the best ready one). Returns its id, or None when no
    task is ready; raises with the reason when the given task cannot be claimed (`claim_task`)."""
    task = await claim_task(db, actor, task_id, lease)
    return None if task is None else task.id


async def claim_task(db: Database, actor: Actor, task_id: int | None, lease: float | None) -> Task | None:
    """Atomically claim a task (the given one, or the best ready one). Returns it as the claimer sees it
    right after the take (read in the same write), or None when no task is ready; raises with the reason
    when the given task cannot be claimed.

    The best ready task is picked in a read snapshot, outside the write lock, from index ranges that hold
    nothing the caller can never claim (tasks assigned to others; tasks requiring capabilities when it has
    none); the write transaction then only re-checks its few candidates by id (`TAKEABLE`, on the row, under
    the lock) and takes the first that is still takeable, recording the claim (and the lapse, when it takes
    over a lapsed claim). So the lock is held for a few primary-key reads whatever waits in the queue, and
    two claimers can never both win: the take re-checks under the write lock. A claimer that lost every
    candidate to others picks again in the same transaction, under the lock (from the same index ranges),
    rather than reading and queueing for the lock once more.
    The reason a given task could not be taken is read after, in one snapshot.
    """
    if task_id is None:
        candidates = await db.read(_candidates, actor)
        if not candidates:
            return None
        row = await db.write(_shown, _take_first, actor, candidates, lease, pick_again=True)
    else:
        row = await db.write(_shown, _claim, actor, task_id, lease)
        if row is None:
            return await db.read(_explain_unclaimable, actor, task_id)
    return None if row is None else to_task(row, actor.now)


@locks_its_rows
def _shown(
    tx: Tx,
    /,
    take: Callable[..., int | None],
    actor: Actor,
    *args: object,
    **kwargs: object,
) -> Row | None:
    """Run the take `take(tx, actor, ...)` and read the task it took in the same write (its row: it becomes a
    Task outside, after the commit), so the claimer's answer needs no further hop."""
    taken = take(tx, actor, *args, **kwargs)
    if taken is None:
        return None
    return tx.fetchone(f"SELECT {columns(dialect.of(tx))} FROM tasks t WHERE t.id = :id", actor.params(id=taken))


def _candidates(tx: Tx, actor: Actor) -> list[int]:
    """The best few takeable tasks for `actor`, best first (in a read snapshot: no lock is held)."""
    params = actor.params()
    d = dialect.of(tx)
    requiring = bool(tx.scalar(has_capabilities(d), params))
    return [int(r["id"]) for r in tx.execute(best(d, requiring=requiring, limit=CANDIDATES), params)]


@locks_its_rows
def _take_first(
    tx: Tx, actor: Actor, candidates: list[int], lease: float | None, *, pick_again: bool = False
) -> int | None:
    """In the write: take the first candidate that is still takeable by `actor` (re-checked on its row by id;
    on PostgreSQL the row is locked as it is read, and a candidate another claimer is taking is skipped), or
    None when others took them all meanwhile — unless `pick_again`: then pick and take under the lock
    (`_claim`) in this same transaction."""
    params = actor.params(lease=lease, lease_age=actor.limits.lease_age)
    d = dialect.of(tx)
    recheck = _recheck(d)
    for task_id in candidates:
        params["id"] = task_id
        target = tx.fetchone(recheck, params)
        if target is not None:
            return _take(tx, actor, target, params)
    return _claim(tx, actor, None, lease) if pick_again else None


@functools.cache
def _recheck(d: Sqlite) -> str:
    """One candidate :id read again under the write lock, if it is still takeable by :me."""
    return f"SELECT t.id, t.status, t.holder FROM tasks t WHERE t.id = :id AND {takeable(d)}{d.FOR_THE_TAKE_OF_ANY}"


@locks_its_rows
def _claim(tx: Tx, actor: Actor, task_id: int | None, lease: float | None) -> int | None:
    """Pick and take in the write: the given task (on PostgreSQL waiting for a claimer that holds its row, then
    re-checking it), or, when every snapshot's candidates were lost to other claimers, the best one: the first
    of the best few still takeable (FOR UPDATE SKIP LOCKED on PostgreSQL, so none is taken twice and a task
    another claimer holds does not hide the next one)."""
    params = actor.params(lease=lease, lease_age=actor.limits.lease_age)
    d = dialect.of(tx)
    if task_id is None and not d.FOR_THE_TAKE_OF_ANY:
        # SQLite, under its write lock: the best one, from the same index ranges as a snapshot's pick (so the
        # lock is held for a bounded read), re-checked on its row. Nobody else can take it meanwhile.
        for candidate in _candidates(tx, actor):
            target = tx.fetchone(_recheck(d), {**params, "id": candidate})
            if target is not None:
                return _take(tx, actor, target, params)
        return None
    if task_id is None:
        # PostgreSQL: the queue in order, skipping the rows other claimers are taking right now — however many
        # they are, so the answer is never a false "none ready".
        target = tx.fetchone(
            f"SELECT t.id, t.status, t.holder FROM tasks t WHERE {takeable(d)}"
            f" ORDER BY t.priority DESC, t.id LIMIT 1{d.FOR_THE_TAKE_OF_ANY}",
            params,
        )
    else:
        target = tx.fetchone(
            f"SELECT t.id, t.status, t.holder FROM tasks t WHERE t.id = :id AND {takeable(d)}{d.FOR_THE_TAKE}",
            {**params, "id": task_id},
        )
    if target is None:
        return None
    return _take(tx, actor, target, params)


def _take(tx: Tx, actor: Actor, target: Row, params: dict[str, object]) -> int:
    """Take `target`, found takeable by `actor` inside this write transaction, and record the claim."""
    lapse = None
    if target["status"] == "claimed":
        found = tx.fetchone(f"SELECT {LAPSE_COLUMNS} FROM tasks t WHERE t.id = ?", (target["id"],))
        assert found is not None
        lapse = Lapse.of(found, actor.now)
    taken = tx.execute(
        f"{claim_set(dialect.of(tx))} WHERE t.id = :id RETURNING id, attempts, lease_expires_at",
        {**params, "id": target["id"]},
    )[0]
    if lapse is not None:
        record_lapse(tx, actor, lapse, now="open")
        tell_about_lapse(tx, actor, lapse, now="open", taken_by=actor.name)
    record(
        tx,
        actor,
        "task.claimed",
        taken["id"],
        lease_until=iso(taken["lease_expires_at"]),
        attempt=taken["attempts"] + 1,
    )
    return int(taken["id"])


def _explain_unclaimable(tx: Tx, actor: Actor, task_id: int) -> Task:
    """Raise the precise reason a specific task could not be claimed; the task when we already hold it."""
    task = get(tx, actor, task_id)
    pick = "pick another with task_claim() or task_list(ready_only=true)"
    if task.status == "claimed":
        if task.holder is not None and tx.scalar("SELECT holder FROM tasks WHERE id = ?", (task_id,)) == actor.id:
            return task
        ends = f" ({task.lease_ends})" if task.lease_ends else ""
        raise Conflict(f"task {task_id} is claimed by {task.holder} until {task.lease_expires_at}{ends}; {pick}")
    if task.status in FINAL_STATUSES:
        raise Conflict(f"task {task_id} is {task.status}; {pick}")
    if task.status == "blocked":
        raise Conflict(f"task {task_id} is blocked: {task.blocked_reason}; unblock it with task_update first")
    if task.stuck_on:
        raise Conflict(
            f"task {task_id} depends on tasks {task.stuck_on}, which were cancelled or failed, so it can never be"
            f" claimed; its creator can drop them with task_update(task_id={task_id},"
            f" remove_depends_on={task.stuck_on}), or {pick}"
        )
    if task.waiting_on:
        raise Conflict(f"task {task_id} waits on tasks {task.waiting_on}, not done yet; {pick}")
    if task.not_before is not None and task.not_before > (iso(actor.now) or ""):
        raise Conflict(f"task {task_id} is scheduled for {task.not_before}; {pick}")
    if task.assignee is not None:
        raise Forbidden(f"task {task_id} is assigned to {task.assignee}; {pick}")
    raise Forbidden(
        f"task {task_id} requires capabilities {task.requires}; if you have them, declare them with "
        f"agent_register(capabilities=[...]), otherwise {pick}"
    )


async def why_nothing_ready(db: Database, actor: Actor) -> str:
    """A sentence on why task_claim() found nothing, for the model's next step."""
    row = await db.fetchone(
        f"SELECT count(*) AS open, sum(CASE WHEN {UNMET_DEPS} THEN 1 ELSE 0 END) AS waiting,"
        " sum(CASE WHEN t.not_before IS NOT NULL AND t.not_before > :now THEN 1 ELSE 0 END) AS scheduled,"
        " min(CASE WHEN t.not_before > :now THEN t.not_before END) AS next_at"
        " FROM tasks t WHERE t.status = 'open'",
        actor.params(),
    )
    if row is None or not row["open"]:
        return "No task is open. Create one with task_create, or wait and try again."
    parts = [f"{row['open']} open task(s) but none ready for you"]
    if row["waiting"]:
        parts.append(f"{row['waiting']} wait on dependencies")
    if row["scheduled"]:
        parts.append(f"{row['scheduled']} are scheduled (next at {iso(row['next_at'])})")
    return "; ".join(parts) + ". Others may be assigned to someone else or need capabilities you lack."


def locked_task(tx: Tx, task_id: int) -> Row:
    """The task's row inside a write, kept as read until the commit (SQLite's write lock; on PostgreSQL the
    row's lock, which a claim taking it waits for or skips)."""
    row = tx.fetchone(
        "SELECT t.*, (SELECT name FROM agents WHERE id = t.holder) AS holder_name FROM tasks t WHERE t.id = ?"
        + dialect.of(tx).FOR_THE_TAKE,
        (task_id,),
    )
    if row is None:
        raise NotFound(f"task {task_id} does not exist; find tasks with task_list()")
    return row


def require_holder(row: Row, actor: Actor, *, admin: bool, action: str, admins_may: bool = True) -> None:
    """Only the current holder (or an admin, where allowed: `admins_may`) may act on a claimed task; say why
    not."""
    task_id, me = row["id"], actor.id
    if row["status"] == "claimed" and row["holder"] == me:
        return
    if admin and row["status"] == "claimed":
        return
    if row["previous_holder"] == me and row["status"] in ("open", "claimed", "failed"):
        now_with = (
            f"it is now held by {row['holder_name']} (lease until {iso(row['lease_expires_at'])},"
            f" {relative(row['lease_expires_at'], actor.now)})"
            if row["status"] == "claimed"
            else f"it is {row['status']} now"
        )
        raise Conflict(
            f"your claim on task {task_id} lapsed (lease ran out or your session stopped heartbeating) and it went "
            f"back to the queue; {now_with}. Stop working on it, or claim it again with task_claim(task_id={task_id})"
        )
    if row["status"] == "claimed":
        who = "its holder or an admin" if admins_may else "its holder"
        instead = (  # an admin was told "only its holder or an admin may complete it"
            f"; as an admin you may release it with task_update(task_id={task_id}, status='open')"
            if actor.is_admin and not admins_may
            else ""
        )
        raise Forbidden(
            f"task {task_id} is claimed by {row['holder_name']} until {iso(row['lease_expires_at'])}"
            f" ({relative(row['lease_expires_at'], actor.now)}); "
            f"only {who} may {action} it{instead}"
        )
    raise Conflict(f"you do not hold task {task_id} (it is {row['status']}); claim it first with task_claim")
