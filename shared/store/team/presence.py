"""Who is here: each agent's presence (online / idle / offline), what it holds, its unread and overdue mail.

Presence is computed in SQL at read time from two times, never cached:
- a live session: one of the agent's server processes heartbeated within the presence timeout;
- its last activity: its newest tool call (recorded by the instrumentation's flush) or registration.
online = a live session and active within `idle_after`; idle = a live session, quiet longer; offline =
no live session.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from shared.config import Settings
from shared.db.connection import Database, Row
from shared.models.monitoring import AgentInfo, Claim, Presence
from shared.rules.clock import iso
from shared.store.mail import inbox
from shared.store.tasks.queries import LAPSED
from shared.store.team.agents import live_session_sql

PRESENCE = (
    f"(CASE WHEN {live_session_sql('a.id')} THEN"
    " (CASE WHEN COALESCE(a.last_active, a.created_at) >= :active_after THEN 'online' ELSE 'idle' END)"
    " ELSE 'offline' END)"
)
ORDER = "CASE presence WHEN 'online' THEN 0 WHEN 'idle' THEN 1 ELSE 2 END, a.name COLLATE NOCASE"
MAX_AGENTS = 200


@dataclass(frozen=True)
class Moment:
    """When we look and how presence is judged: the parameters every presence query binds."""

    now: float
    presence_timeout: float
    idle_after: float

    @classmethod
    def of(cls, settings: Settings, now: float) -> Moment:
        """Presence as this process's settings judge it, at `now`."""
        return cls(now=now, presence_timeout=settings.presence_timeout, idle_after=settings.idle_after)

    @property
    def live_after(self) -> float:
        return self.now - self.presence_timeout

    def params(self, **extra: object) -> dict[str, object]:
        return {
            "now": self.now,
            "live_after": self.live_after,
            "active_after": self.now - self.idle_after,
            **extra,
        }


async def presence_rows(db: Database, at: Moment, *, agent_id: str | None = None) -> list[Row]:
    """Agents with their presence and live servers, online first, then idle, then offline, by name."""
    where = "WHERE a.id = :agent" if agent_id is not None else ""
    return await db.fetchall(
        f"SELECT a.*, {PRESENCE} AS presence,"
        " (SELECT json_group_array(server) FROM (SELECT DISTINCT s.server FROM sessions s"
        "   WHERE s.agent_id = a.id AND s.heartbeat_at >= :live_after ORDER BY s.server)) AS servers"
        f" FROM agents a {where} ORDER BY {ORDER} LIMIT :limit",
        at.params(agent=agent_id, limit=MAX_AGENTS),
    )


async def claims_by_agent(db: Database, at: Moment) -> dict[str, list[Claim]]:
    """Tasks held now (claims that have not lapsed), by holder id."""
    rows = await db.fetchall(
        f"SELECT t.id, t.title, t.holder, t.lease_expires_at FROM tasks t WHERE t.status = 'claimed' AND NOT {LAPSED}"
        " ORDER BY t.lease_expires_at, t.id",
        at.params(),
    )
    found: dict[str, list[Claim]] = {}
    for r in rows:
        found.setdefault(r["holder"], []).append(
            Claim(task_id=r["id"], title=r["title"], lease_expires_at=iso(r["lease_expires_at"]))
        )
    return found


async def overdue_by_agent(db: Database, *, now: float) -> dict[str, int]:
    """Messages each agent was asked to acknowledge and has not, past their deadline."""
    rows = await db.fetchall(
        "SELECT r.agent_id, count(*) AS n FROM message_recipients r JOIN messages m ON m.id = r.message_id"
        " WHERE r.acked_at IS NULL AND m.ack_required = 1 AND m.ack_deadline < ? GROUP BY r.agent_id",
        (now,),
    )
    return {str(r["agent_id"]): int(r["n"]) for r in rows}


async def agent_infos(db: Database, at: Moment, *, agent_id: str | None = None) -> list[AgentInfo]:
    """Every agent (or one) with presence, claims, unread and overdue mail."""
    rows = await presence_rows(db, at, agent_id=agent_id)
    claims = await claims_by_agent(db, at)
    overdue = await overdue_by_agent(db, now=at.now)
    unread = await inbox.unread_counts(db, now=at.now)
    infos = []
    for r in rows:
        presence: Presence = r["presence"]
        infos.append(
            AgentInfo(
                name=r["name"],
                presence=presence,
                role=r["role"],
                client_name=r["client_name"],
                host=r["host"],
                capabilities=json.loads(r["capabilities"]),
                activity=r["activity"],
                servers=json.loads(r["servers"]),
                last_seen=iso(r["last_seen"]),
                last_active=iso(r["last_active"]),
                joined_at=iso(r["created_at"]),
                claims=claims.get(r["id"], []),
                unread=unread.get(r["id"], 0),
                overdue_acks=overdue.get(r["id"], 0),
            )
        )
    return infos
