"""Reading tasks: the SQL that decides what is lapsed, ready and visible, and rows → Task models.

Expiry lives here, in SQL evaluated at read time: a claim whose lease expired or whose holder has no
live session (agents.live_session_sql) counts as lapsed, and a lapsed claim shows as open (or failed,
when it used the last attempt) whether or not a sweep has recorded it yet. Every query binds the
acting Actor's parameters (:me, :now, :live_after). The readers take a `Tx`, so they serve inside a
write and, through `Database.read`, on their own.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass

from shared.actor import Actor
from shared.db.connection import Row, Tx
from shared.errors import NotFound
from shared.models.tasks import FINAL_STATUSES, PRIORITIES, Task, TaskLine, TaskStatus
from shared.rules import counts
from shared.rules import cursor as cursors
from shared.rules.clock import iso, relative
from shared.rules.quoting import like_contains
from shared.store.tasks import dialect
from shared.store.tasks.dialect import Sqlite
from shared.store.tasks.states import CLAIMABLE as CLAIMABLE
from shared.store.tasks.states import EFFECTIVE_STATUS as EFFECTIVE_STATUS
from shared.store.tasks.states import LAPSED as LAPSED
from shared.store.tasks.states import LAPSED_IDS as LAPSED_IDS
from shared.store.tasks.states import READY as READY
from shared.store.tasks.states import UNMET_DEPS as UNMET_DEPS
from shared.store.tasks.states import ready
from shared.store.team.live import shown_name


@functools.cache
def columns(d: Sqlite) -> str:
    """What a Task is read from, in dialect `d` (`to_task`)."""
    return f"""
    t.*,
    {EFFECTIVE_STATUS} AS effective_status,
    {ready(d)} AS is_ready,
    (SELECT name FROM agents WHERE id = t.created_by) AS created_by_name,
    (SELECT name FROM agents WHERE id = t.assignee) AS assignee_name,
    (SELECT name FROM agents WHERE id = t.holder) AS holder_name,
    (SELECT {d.json_array_of(d.json_pair("d.depends_on", "dt.status"))} FROM task_deps d
      JOIN tasks dt ON dt.id = d.depends_on WHERE d.task_id = t.id) AS deps
"""


ENDED_UNDONE = frozenset(FINAL_STATUSES) - {"done"}
"""A dependency's statuses that will never be done: its dependents are stuck on it."""


def _dependencies(row: Row) -> dict[str, list[int]]:
    """The row's dependencies (`deps`: [id, status] pairs) as Task's depends_on, waiting_on and stuck_on."""
    pairs = sorted(json.loads(row["deps"]))
    return {
        "depends_on": [dep for dep, _ in pairs],
        "waiting_on": [dep for dep, status in pairs if status != "done"],
        "stuck_on": [dep for dep, status in pairs if status in ENDED_UNDONE],
    }


def _name(name: str | None, agent_id: str) -> str:
    return name or shown_name(agent_id)


def _claim(row: Row) -> tuple[TaskStatus, bool, float | None, str | None]:
    """A row's status as readers see it, whether its claim lapsed, and the lease and holder still in force."""
    status: TaskStatus = row["effective_status"]
    lapsed = status != row["status"]
    holder = None if lapsed or not row["holder"] else _name(row["holder_name"], row["holder"])
    return status, lapsed, None if lapsed else row["lease_expires_at"], holder


def to_task(row: Row, now: float | None = None) -> Task:
    """A row of `SELECT {COLUMNS}` as a Task; with `now`, its times also in words ("lease ends in 14 min")."""
    status, lapsed, lease, holder = _claim(row)
    return Task(
        id=row["id"],
        title=row["title"],
        description=row["description"],
        status=status,
        ready=bool(row["is_ready"]),
        priority=PRIORITIES[row["priority"]],
        tags=json.loads(row["tags"]),
        requires=json.loads(row["requires"]),
        created_by=_name(row["created_by_name"], row["created_by"]),
        assignee=_name(row["assignee_name"], row["assignee"]) if row["assignee"] else None,
        holder=holder,
        lease_expires_at=iso(lease),
        lease_ends=relative(lease, now) if now is not None else None,
        progress=row["progress"],
        note=row["note"],
        blocked_reason=row["blocked_reason"],
        **_dependencies(row),
        not_before=iso(row["not_before"]),
        repeat_every_seconds=row["repeat_every"],
        attempts=row["attempts"] + (1 if lapsed else 0),
        max_attempts=row["max_attempts"],
        result=row["result"],
        created_at=iso(row["created_at"]) or "",
        updated_at=iso(row["updated_at"]) or "",
        updated=relative(row["updated_at"], now) if now is not None else None,
        completed_at=iso(row["completed_at"]),
    )


def to_line(row: Row, now: float | None = None) -> TaskLine:
    """A row of `SELECT {COLUMNS}` as the short form of a task (what a list shows), built straight from the row:
    the same values as `TaskLine.of(to_task(row, now))` at a third of the cost."""
    status, _, lease, holder = _claim(row)
    return TaskLine(
        id=row["id"],
        title=row["title"],
        status=status,
        priority=PRIORITIES[row["priority"]],
        ready=bool(row["is_ready"]),
        holder=holder,
        assignee=_name(row["assignee_name"], row["assignee"]) if row["assignee"] else None,
        lease_expires_at=iso(lease),
        lease_ends=relative(lease, now) if now is not None else None,
        tags=json.loads(row["tags"]),
        **_dependencies(row),
    )


def get(tx: Tx, actor: Actor, task_id: int) -> Task:
    """Task `task_id` as `actor` sees it now; NotFound names how to find tasks."""
    row = tx.fetchone(f"SELECT {columns(dialect.of(tx))} FROM tasks t WHERE t.id = :id", actor.params(id=task_id))
    if row is None:
        raise NotFound(f"task {task_id} does not exist; find tasks with task_list()")
    return to_task(row, actor.now)


TOTAL_CAP = counts.CAP
"""A page's total counts up to TOTAL_CAP + 1 matching tasks (1,001 reads as "1,000 or more"), never all history."""


def stored_statuses(seen: Sequence[str]) -> set[str]:
    """The stored statuses whose tasks can show as one of `seen`: a lapsed claim shows as open or failed, so
    asking for those also looks at claims (an index range on status instead of a probe of every row)."""
    found = set(seen)
    if found & {"open", "failed"}:
        found.add("claimed")
    return found


@dataclass(frozen=True)
class TaskFilter:
    statuses: Sequence[str] = ()
    ready_only: bool = False
    mine: bool = False
    assignee_id: str | None = None
    tag: str | None = None
    text: str | None = None


def page(
    tx: Tx, actor: Actor, filters: TaskFilter, *, limit: int, cursor: str | None
) -> tuple[list[Task], int, str | None]:
    """One page of matching tasks, highest priority first then oldest, the total count, the next cursor
    (priority:id of the last task shown). Run it through `Database.read`: the count and the page are one
    snapshot."""
    rows, total, next_cursor = _page(tx, actor, filters, limit=limit, cursor=cursor)
    return [to_task(r, actor.now) for r in rows], total, next_cursor


def lines(
    tx: Tx, actor: Actor, filters: TaskFilter, *, limit: int, cursor: str | None
) -> tuple[list[TaskLine], int, str | None]:
    """`page` in the short form (task_list's): the same tasks, total and cursor, each as a TaskLine."""
    rows, total, next_cursor = _page(tx, actor, filters, limit=limit, cursor=cursor)
    return [to_line(r, actor.now) for r in rows], total, next_cursor


def _page(
    tx: Tx, actor: Actor, filters: TaskFilter, *, limit: int, cursor: str | None
) -> tuple[list[Row], int, str | None]:
    after = cursors.parse(cursor, parts=2, tool="task_list")
    d = dialect.of(tx)
    where = ["1 = 1"]
    params = actor.params()
    stored: set[str] | None = None
    if filters.statuses:
        marks = ",".join(f":s{i}" for i in range(len(filters.statuses)))
        stored = stored_statuses(filters.statuses)
        where.append(f"{EFFECTIVE_STATUS} IN ({marks})")
        params.update({f"s{i}": s for i, s in enumerate(filters.statuses)})
    if filters.ready_only:
        stored = (stored or {"open", "claimed"}) & {"open", "claimed"}
        where.append(ready(d))
    if filters.mine:
        where.append(f"t.holder = :me AND NOT {LAPSED}")
    if filters.assignee_id is not None:
        where.append("t.assignee = :assignee")
        params["assignee"] = filters.assignee_id
    # Stripped as tags are on write, a blank one no filter: tag=' ci ' matched no task tagged 'ci', text='  '
    # only descriptions holding two spaces, both answered as if nothing matched
    if tag_given := (filters.tag or "").strip():
        tag = d.equal_ignoring_case("g.value", ":tag")
        where.append(f"EXISTS (SELECT 1 FROM {d.json_values('t.tags', 'g')} WHERE {tag})")
        params["tag"] = tag_given
    if text_given := (filters.text or "").strip():
        title = d.contains_ignoring_case("t.title", ":text")
        description = d.contains_ignoring_case("t.description", ":text")
        where.append(f"({title} OR {description})")
        params["text"] = like_contains(text_given)
    condition = " AND ".join(where)
    if stored is not None:  # tasks_by_status serves each stored status in queue order
        narrowed = f"t.status IN ({','.join(repr(s) for s in sorted(stored))}) AND {condition}"
    else:
        narrowed = condition
    counted = f"SELECT 1 FROM tasks t WHERE {narrowed} LIMIT {TOTAL_CAP + 1}"
    total = int(tx.scalar(f"SELECT count(*) FROM ({counted}) AS s", params))
    if after is not None:
        condition += " AND (t.priority < :cp OR (t.priority = :cp AND t.id > :cid))"
        params.update(cp=after[0], cid=after[1])
    if stored is not None:
        # One branch per stored status, each walking the index in queue order and stopping at the page,
        # instead of one IN that sorts every open task.
        branches = " UNION ALL ".join(
            f"SELECT * FROM (SELECT t.id FROM tasks t WHERE t.status = '{status}' AND {condition}"
            " ORDER BY t.priority DESC, t.id LIMIT :limit) AS s"
            for status in sorted(stored)
        )
        condition = f"t.id IN ({branches})"
    rows = tx.execute(
        f"SELECT {columns(d)} FROM tasks t WHERE {condition} ORDER BY t.priority DESC, t.id LIMIT :limit",
        {**params, "limit": limit + 1},
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = cursors.encode(rows[-1]["priority"], rows[-1]["id"]) if more and rows else None
    return rows, total, next_cursor
