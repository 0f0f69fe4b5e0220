"""Reading tasks: the SQL that decides what is lapsed, ready and visible, and rows → Task models.

Expiry lives here, in SQL evaluated at read time: a claim whose lease expired or whose holder has no
live session counts as lapsed, and a lapsed claim shows as open (or failed, when it used the last
attempt) whether or not a sweep has recorded it yet.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shared.db.connection import Database, Row
from shared.errors import InvalidArgument, NotFound
from shared.models.tasks import PRIORITIES, Task, TaskStatus
from shared.rules.clock import iso

LAPSED = (
    "(t.status = 'claimed' AND (t.lease_expires_at < :now OR NOT EXISTS ("
    "SELECT 1 FROM sessions s WHERE s.agent_id = t.holder AND s.heartbeat_at >= :live_after)))"
)
LAPSED_IDS = (
    "SELECT lt.id FROM tasks lt WHERE lt.status = 'claimed' AND lt.lease_expires_at < :now"
    " UNION ALL"
    " SELECT lt.id FROM agents la CROSS JOIN tasks lt ON lt.holder = la.id AND lt.status = 'claimed'"
    " WHERE lt.lease_expires_at >= :now AND NOT EXISTS ("
    "SELECT 1 FROM sessions s WHERE s.agent_id = la.id AND s.heartbeat_at >= :live_after)"
)
"""The ids of the claims LAPSED describes, found through indexes rather than by testing every claimed task:
leases past their expiry, and the claims of agents without a live session (agents are few, and a claim's
holder is always a known agent: pruning never removes one that holds a claim)."""
EFFECTIVE_STATUS = (
    f"(CASE WHEN {LAPSED} THEN (CASE WHEN t.attempts + 1 >= t.max_attempts THEN 'failed' ELSE 'open' END)"
    " ELSE t.status END)"
)
UNMET_DEPS = (
    "EXISTS (SELECT 1 FROM task_deps d JOIN tasks dt ON dt.id = d.depends_on"
    " WHERE d.task_id = t.id AND dt.status != 'done')"
)
CLAIMABLE = (
    f"(NOT {UNMET_DEPS}"
    " AND (t.not_before IS NULL OR t.not_before <= :now)"
    " AND (t.assignee IS NULL OR t.assignee = :me)"
    " AND NOT EXISTS (SELECT 1 FROM json_each(t.requires) r WHERE r.value NOT IN ("
    "   SELECT c.value FROM agents a, json_each(a.capabilities) c WHERE a.id = :me)))"
)
"""Whether :me may take this task now, its status aside."""
READY = f"({EFFECTIVE_STATUS} = 'open' AND {CLAIMABLE})"
COLUMNS = f"""
    t.*,
    {EFFECTIVE_STATUS} AS effective_status,
    {READY} AS is_ready,
    (SELECT name FROM agents WHERE id = t.created_by) AS created_by_name,
    (SELECT name FROM agents WHERE id = t.assignee) AS assignee_name,
    (SELECT name FROM agents WHERE id = t.holder) AS holder_name,
    (SELECT json_group_array(d.depends_on) FROM task_deps d WHERE d.task_id = t.id) AS deps,
    (SELECT json_group_array(d.depends_on) FROM task_deps d JOIN tasks dt ON dt.id = d.depends_on
      WHERE d.task_id = t.id AND dt.status != 'done') AS waiting
"""


@dataclass(frozen=True)
class Viewer:
    """Who is looking and when: the parameters every task query binds."""

    agent_id: str
    now: float
    live_after: float

    def params(self, **extra: Any) -> dict[str, Any]:
        return {"me": self.agent_id, "now": self.now, "live_after": self.live_after, **extra}


def to_task(row: Row) -> Task:
    status: TaskStatus = row["effective_status"]
    lapsed = status != row["status"]
    return Task(
        id=row["id"],
        title=row["title"],
        description=row["description"],
        status=status,
        ready=bool(row["is_ready"]),
        priority=PRIORITIES[row["priority"]],
        tags=json.loads(row["tags"]),
        requires=json.loads(row["requires"]),
        created_by=row["created_by_name"] or row["created_by"],
        assignee=(row["assignee_name"] or row["assignee"]) if row["assignee"] else None,
        holder=None if lapsed or not row["holder"] else (row["holder_name"] or row["holder"]),
        lease_expires_at=None if lapsed else iso(row["lease_expires_at"]),
        progress=row["progress"],
        note=row["note"],
        blocked_reason=row["blocked_reason"],
        depends_on=sorted(json.loads(row["deps"])),
        waiting_on=sorted(json.loads(row["waiting"])),
        not_before=iso(row["not_before"]),
        repeat_every_seconds=row["repeat_every"],
        attempts=row["attempts"] + (1 if lapsed else 0),
        max_attempts=row["max_attempts"],
        result=row["result"],
        created_at=iso(row["created_at"]) or "",
        updated_at=iso(row["updated_at"]) or "",
        completed_at=iso(row["completed_at"]),
    )


async def get(db: Database, viewer: Viewer, task_id: int) -> Task:
    row = await db.fetchone(f"SELECT {COLUMNS} FROM tasks t WHERE t.id = :id", viewer.params(id=task_id))
    if row is None:
        raise NotFound(f"task {task_id} does not exist; find tasks with task_list()")
    return to_task(row)


async def get_many(db: Database, viewer: Viewer, ids: Sequence[int]) -> list[Task]:
    if not ids:
        return []
    marks = ",".join(str(int(i)) for i in ids)
    rows = await db.fetchall(f"SELECT {COLUMNS} FROM tasks t WHERE t.id IN ({marks}) ORDER BY t.id", viewer.params())
    return [to_task(r) for r in rows]


@dataclass(frozen=True)
class TaskFilter:
    statuses: Sequence[str] = ()
    ready_only: bool = False
    mine: bool = False
    assignee_id: str | None = None
    tag: str | None = None
    text: str | None = None


def _cursor(value: str | None) -> tuple[int, int] | None:
    if value is None or value == "":
        return None
    try:
        priority, last_id = (int(part) for part in value.split(":"))
    except ValueError:
        raise InvalidArgument(
            f"cursor {value!r} is not one task_list returned; pass next_cursor from the previous page, or omit it"
        ) from None
    return priority, last_id


async def page(
    db: Database, viewer: Viewer, filters: TaskFilter, *, limit: int, cursor: str | None
) -> tuple[list[Task], int, str | None]:
    """One page of matching tasks, highest priority first then oldest, the total count, the next cursor."""
    where = ["1"]
    params = viewer.params()
    if filters.statuses:
        marks = ",".join(f":s{i}" for i in range(len(filters.statuses)))
        where.append(f"{EFFECTIVE_STATUS} IN ({marks})")
        params.update({f"s{i}": s for i, s in enumerate(filters.statuses)})
    if filters.ready_only:
        where.append(READY)
    if filters.mine:
        where.append(f"t.holder = :me AND NOT {LAPSED}")
    if filters.assignee_id is not None:
        where.append("t.assignee = :assignee")
        params["assignee"] = filters.assignee_id
    if filters.tag:
        where.append("EXISTS (SELECT 1 FROM json_each(t.tags) g WHERE g.value = :tag COLLATE NOCASE)")
        params["tag"] = filters.tag
    if filters.text:
        escaped = filters.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append("(t.title LIKE :text ESCAPE '\\' OR t.description LIKE :text ESCAPE '\\')")
        params["text"] = f"%{escaped}%"
    condition = " AND ".join(where)
    total = int(await db.scalar(f"SELECT count(*) FROM tasks t WHERE {condition}", params))
    after = _cursor(cursor)
    if after is not None:
        condition += " AND (t.priority < :cp OR (t.priority = :cp AND t.id > :cid))"
        params.update(cp=after[0], cid=after[1])
    rows = await db.fetchall(
        f"SELECT {COLUMNS} FROM tasks t WHERE {condition} ORDER BY t.priority DESC, t.id LIMIT :limit",
        {**params, "limit": limit + 1},
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = f"{rows[-1]['priority']}:{rows[-1]['id']}" if more and rows else None
    return [to_task(r) for r in rows], total, next_cursor
