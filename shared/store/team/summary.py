"""The team at a glance — for the `roundtable://status` resource and `roundtable status`: who is here and
what each holds, tasks by state, open proposals, unread and overdue mail, and the health status (without
the integrity scan, which reads the whole file)."""

from __future__ import annotations

from shared.db.connection import Database
from shared.models.monitoring import AgentBrief, TeamSummary
from shared.store.tasks.queries import EFFECTIVE_STATUS
from shared.store.team import health, presence


async def task_counts(db: Database, *, now: float, live_after: float) -> dict[str, int]:
    """Tasks by status as readers see it (a lapsed claim counts as open, or failed on its last attempt)."""
    rows = await db.fetchall(
        f"SELECT {EFFECTIVE_STATUS} AS status, count(*) AS n FROM tasks t GROUP BY 1 ORDER BY 1",
        {"now": now, "live_after": live_after},
    )
    return {str(r["status"]): int(r["n"]) for r in rows}


async def team_summary(db: Database, at: presence.Moment, limits: health.Limits | None = None) -> TeamSummary:
    """Everything `roundtable status` shows, as of `at.now`."""
    infos = await presence.agent_infos(db, at)
    state = await health.check(db, now=at.now, presence_timeout=at.presence_timeout, limits=limits, integrity=False)
    proposals = int(await db.scalar("SELECT count(*) FROM proposals WHERE status = 'open'"))
    return TeamSummary(
        agents=[AgentBrief(name=a.name, presence=a.presence, activity=a.activity, claims=len(a.claims)) for a in infos],
        tasks=await task_counts(db, now=at.now, live_after=at.live_after),
        ready_tasks=state.work.tasks_ready if state.work else 0,
        open_proposals=proposals,
        unread_messages=sum(a.unread for a in infos),
        overdue_acks=state.work.overdue_acks if state.work else 0,
        health=state.status,
        reasons=[r.code for r in state.reasons],
    )
