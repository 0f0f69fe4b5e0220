"""What "lapsed", "ready" and "the status readers see" mean, as SQL over a task `t` at :now for :me — the
one definition, re-exported by shared/store/tasks/queries.py. Kept free of the result models so the
Claude Code hook (servers/cli/hook.py) reads the brief without importing pydantic."""

from __future__ import annotations

from shared.store.tasks.dialect import SQLITE, Sqlite
from shared.store.team.live import live_session_sql

LAPSED = "(t.status = 'claimed' AND (t.lease_expires_at < :now OR NOT " + live_session_sql("t.holder") + "))"
"""Whether task `t` is a claim that lapsed: its lease expired or its holder has no live session."""
LAPSED_IDS = (
    "SELECT lt.id FROM tasks lt INDEXED BY tasks_claimed WHERE lt.status = 'claimed' AND lt.lease_expires_at < :now"
    " UNION ALL"
    " SELECT lt.id FROM agents la CROSS JOIN tasks lt INDEXED BY tasks_by_holder WHERE lt.holder = la.id"
    " AND lt.status = 'claimed'"
    " AND lt.lease_expires_at >= :now AND NOT " + live_session_sql("la.id")
)
"""The ids of the claims LAPSED describes, found through indexes rather than by testing every claimed task:
leases past their expiry, and the claims of agents without a live session (agents are few, and a claim's
holder is always a known agent: pruning never removes one that holds a claim). Each part names its index:
without ANALYZE the planner would read every claim through `tasks_by_status`, a cost growing with the
claims held."""
EFFECTIVE_STATUS = (
    f"(CASE WHEN {LAPSED} THEN (CASE WHEN t.attempts + 1 >= t.max_attempts THEN 'failed' ELSE 'open' END)"
    " ELSE t.status END)"
)
"""The status readers see: a lapsed claim is open again, or failed when it used the last attempt."""
UNMET_DEPS = (
    "((SELECT 1 FROM task_deps d WHERE d.task_id = t.id"
    " AND (SELECT dt.status FROM tasks dt WHERE dt.id = d.depends_on) != 'done' LIMIT 1) IS NOT NULL)"
)
"""Whether task `t` waits on a dependency that is not done: its own dependency rows, each task read by its key.
Written for PostgreSQL's planner as much as SQLite's: as a join it may start from the tasks not done (few, by
its estimate) and scan the table for them once per task listed; as an EXISTS it may hash every dependency row
of the team once per statement. A scalar subquery is run per row, over that row's dependencies only."""


def claimable(d: Sqlite) -> str:
    """Whether :me may take this task now, its status aside (in dialect `d`)."""
    return (
        f"(NOT {UNMET_DEPS}"
        " AND (t.not_before IS NULL OR t.not_before <= :now)"
        " AND (t.assignee IS NULL OR t.assignee = :me)"
        f" AND NOT EXISTS (SELECT 1 FROM {d.json_values('t.requires', 'r')} WHERE r.value NOT IN ("
        f"   SELECT c.value FROM agents a, {d.json_values('a.capabilities', 'c')} WHERE a.id = :me)))"
    )


def ready(d: Sqlite) -> str:
    """Whether :me may take this task now: open (or a lapsed claim) and claimable (in dialect `d`)."""
    return f"({EFFECTIVE_STATUS} = 'open' AND {claimable(d)})"


CLAIMABLE = claimable(SQLITE)
READY = ready(SQLITE)
