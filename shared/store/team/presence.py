"""Who is here: each agent's presence (online / idle / offline), what it holds, its unread and overdue mail.

Presence is computed in SQL at read time from two times, never cached:
- a live session: one of the agent's server processes heartbeated within the presence timeout
  (agents.live_sessions_sql);
- its last activity: its newest tool call (recorded by the instrumentation's flush) or registration.
online = a live session and active within `idle_after`; idle = a live session, quiet longer; offline =
no live session. Both times come from the Actor looking (`Actor.params`: :live_after, :active_after).
"""

from __future__ import annotations

import json

from shared.actor import Actor
from shared.db.connection import Database, Row, Tx
from shared.models.monitoring import AgentInfo, Claim, Presence
from shared.rules.clock import iso
from shared.store.mail import inbox
from shared.store.tasks.queries import LAPSED
from shared.store.team import dialect
from shared.store.team.agents import live_session_sql, live_sessions_sql
from shared.store.team.dialect import NOCASE

PRESENCE = (
    f"(CASE WHEN {live_session_sql('a.id')} THEN"
    " (CASE WHEN COALESCE(a.last_active, a.created_at) >= :active_after THEN 'online' ELSE 'idle' END)"
    " ELSE 'offline' END)"
)
ORDER = f"CASE {PRESENCE} WHEN 'online' THEN 0 WHEN 'idle' THEN 1 ELSE 2 END, a.name {NOCASE}"
MAX_AGENTS = 200
CLAIMS_SHOWN = 10
"""An agent's claim list in agent_status stops here; the rest is a count (`more_claims`)."""


def presence_rows(tx: Tx, at: Actor, *, agent_id: str | None = None) -> list[Row]:
    """Agents with their presence and live servers, online first, then idle, then offline, by name."""
    where = "WHERE a.id = :agent" if agent_id is not None else ""
    return tx.execute(
        f"SELECT a.*, {PRESENCE} AS presence,"
        f" (SELECT {dialect.of(tx).json_array_of('server')} FROM"
        f"  (SELECT DISTINCT s.server {live_sessions_sql('a.id')} ORDER BY s.server) AS l) AS servers"
        f" FROM agents a {where} ORDER BY {ORDER} LIMIT :limit",
        at.params(agent=agent_id, limit=MAX_AGENTS),
    )


def claims_by_agent(tx: Tx, at: Actor, agent_id: str | None = None) -> tuple[dict[str, list[Claim]], dict[str, int]]:
    """Tasks held now (claims that have not lapsed), by holder id: the first CLAIMS_SHOWN of each holder (the
    soonest lease first) and how many each holds in all. Only those rows leave SQL; with `agent_id`, that
    agent's only."""
    mine = " AND t.holder = :agent" if agent_id is not None else ""
    rows = tx.execute(
        "SELECT id, title, holder, lease_expires_at, held FROM (SELECT t.id, t.title, t.holder, t.lease_expires_at,"
        " row_number() OVER (PARTITION BY t.holder ORDER BY t.lease_expires_at, t.id) AS k,"
        " count(*) OVER (PARTITION BY t.holder) AS held"
        f" FROM tasks t WHERE t.status = 'claimed' AND NOT {LAPSED}{mine}) AS c"
        " WHERE k <= :shown ORDER BY lease_expires_at, id",
        at.params(agent=agent_id, shown=CLAIMS_SHOWN),
    )
    found: dict[str, list[Claim]] = {}
    held: dict[str, int] = {}
    for r in rows:
        found.setdefault(r["holder"], []).append(
            Claim(task_id=r["id"], title=r["title"], lease_expires_at=iso(r["lease_expires_at"]))
        )
        held[r["holder"]] = int(r["held"])
    return found, held


def overdue_by_agent(tx: Tx, at: Actor) -> dict[str, int]:
    """Messages each agent was asked to acknowledge and has not, past their deadline (inbox.OVERDUE_ACK)."""
    rows = tx.execute(
        "SELECT r.agent_id, count(*) AS n FROM messages m INDEXED BY messages_owing_ack"
        " JOIN message_recipients r ON r.message_id = m.id"
        f" WHERE m.ack_required = 1 AND {inbox.OVERDUE_ACK} GROUP BY r.agent_id",
        at.params(),
    )
    return {str(r["agent_id"]): int(r["n"]) for r in rows}


Look = tuple[list[Row], tuple[dict[str, list[Claim]], dict[str, int]], dict[str, int], dict[str, int]]


def _look(tx: Tx, at: Actor, agent_id: str | None) -> Look:
    return (
        presence_rows(tx, at, agent_id=agent_id),
        claims_by_agent(tx, at, agent_id),
        overdue_by_agent(tx, at),
        inbox.unread_by_agent(tx, at.now),
    )


async def agent_infos(db: Database, at: Actor, *, agent_id: str | None = None) -> list[AgentInfo]:
    """Every agent (or one) with presence, claims, unread and overdue mail, as `at` sees them, read in one
    snapshot (one hop; the unread counts by the mail store's inbox.unread_by_agent)."""
    rows, (claims, held), overdue, unread = await db.read(_look, at, agent_id)
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
                more_claims=max(held.get(r["id"], 0) - CLAIMS_SHOWN, 0),
                unread=unread.get(r["id"], 0),
                overdue_acks=overdue.get(r["id"], 0),
            )
        )
    return infos
