"""The team at a glance — for the `roundtable://status` resource and `roundtable status`: who is here and
what each holds, tasks by state, open proposals, unread and overdue mail, and the health status (without
the integrity scan, which reads the whole file)."""

from __future__ import annotations

from shared.actor import Actor
from shared.db.connection import Database, Tx
from shared.models.monitoring import AgentBrief, TeamSummary
from shared.rules import counts
from shared.store.tasks.queries import EFFECTIVE_STATUS
from shared.store.team import health, presence


def task_counts(tx: Tx, at: Actor) -> dict[str, int]:
    """Tasks by status as readers see it (a lapsed claim counts as open, or failed on its last attempt): the
    stored statuses counted over the status index up to counts.CAP + 1 each ("1,000+"), the effective status
    judged only for the claims."""
    found: dict[str, int] = {}
    for status in ("open", "blocked", "done", "failed", "cancelled"):  # each counted up to CAP + 1
        some = f"SELECT 1 FROM tasks WHERE status = ? LIMIT {counts.CAP + 1}"
        n = int(tx.scalar(f"SELECT count(*) FROM ({some}) AS s", (status,)))
        if n:
            found[status] = n
    rows = tx.execute(
        f"SELECT {EFFECTIVE_STATUS} AS status, count(*) AS n FROM tasks t WHERE t.status = 'claimed' GROUP BY 1",
        at.params(),
    )
    for r in rows:
        found[str(r["status"])] = found.get(str(r["status"]), 0) + int(r["n"])
    return dict(sorted(found.items()))


def _counts(tx: Tx, at: Actor) -> tuple[dict[str, int], int]:
    return task_counts(tx, at), int(tx.scalar("SELECT count(*) FROM proposals WHERE status = 'open'"))


async def team_summary(db: Database, at: Actor, limits: health.Limits | None = None) -> TeamSummary:
    """Everything `roundtable status` shows, as `at` sees it (an agent, or `Actor.looking` for people)."""
    infos = await presence.agent_infos(db, at)
    state = await health.check(db, at, limits=limits, integrity=False)
    tasks, proposals = await db.read(_counts, at)
    return TeamSummary(
        agents=[
            AgentBrief(name=a.name, presence=a.presence, activity=a.activity, claims=len(a.claims) + a.more_claims)
            for a in infos
        ],
        tasks=tasks,
        ready_tasks=state.work.tasks_ready if state.work else 0,
        open_proposals=proposals,
        unread_messages=sum(a.unread for a in infos),
        overdue_acks=state.work.overdue_acks if state.work else 0,
        health=state.status,
        reasons=[r.code for r in state.reasons],
    )
