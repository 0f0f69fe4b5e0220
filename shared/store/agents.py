"""Agents and their server sessions: registration, heartbeats and presence.

An agent is online while any of its sessions (one per server process) has heartbeated within the
presence timeout. Presence is computed in SQL from `sessions.heartbeat_at`, never cached.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from shared.db import Database, Row, Transaction
from shared.errors import Conflict
from shared.store import events


@dataclass(frozen=True)
class Me:
    """The agent this process speaks for, and the session of this server process."""

    id: str
    name: str
    role: str
    session_id: str


def live_session_sql(agent_column: str) -> str:
    """SQL true when the agent in `agent_column` has a session heartbeating after `:live_after`."""
    return f"EXISTS (SELECT 1 FROM sessions s WHERE s.agent_id = {agent_column} AND s.heartbeat_at >= :live_after)"


def _suffixes(key: str) -> list[str]:
    digest = hashlib.sha1(key.encode()).hexdigest()
    return [digest[:4], digest[:8], *(f"{digest[:8]}-{n}" for n in range(2, 50))]


async def _free_name(tx: Transaction, base: str, key: str) -> str:
    for suffix in _suffixes(key):
        candidate = f"{base}-{suffix}"
        if await tx.fetchone("SELECT 1 FROM agents WHERE name = ?", (candidate,)) is None:
            return candidate
    raise Conflict(f"could not find a free agent name for {base!r}; set ROUNDTABLE_AGENT explicitly")


async def register_session(
    db: Database,
    *,
    key: str,
    explicit_name: str | None,
    default_base: str,
    client_name: str,
    host: str,
    role: str,
    server: str,
    pid: int,
    now: float,
) -> Me:
    """Find or create the agent for this identity and open a session for this server process.

    An explicit name claims the agent of that name (whoever created it); a derived identity keeps the
    name it has (it may have renamed itself) or gets `<client>-<suffix>`, unique.
    """
    session_id = uuid.uuid4().hex
    async with db.write() as tx:
        if explicit_name is not None:
            row = await tx.fetchone("SELECT id FROM agents WHERE name = ?", (explicit_name,))
            agent_id = row["id"] if row else f"named:{explicit_name}"
        else:
            agent_id = key
        row = await tx.fetchone("SELECT name FROM agents WHERE id = ?", (agent_id,))
        if row is None:
            name = explicit_name or await _free_name(tx, default_base, key)
            await tx.execute(
                "INSERT INTO agents(id, name, client_name, host, role, created_at, last_seen)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (agent_id, name, client_name, host, role, now, now),
            )
            await events.record(
                tx,
                now=now,
                agent_id=agent_id,
                agent_name=name,
                kind="agent.joined",
                object_type="agent",
                object_id=agent_id,
                data={"client": client_name, "host": host},
            )
        else:
            name = row["name"]
            await tx.execute(
                "UPDATE agents SET client_name = ?, host = ?, role = ?, last_seen = ? WHERE id = ?",
                (client_name, host, role, now, agent_id),
            )
        await tx.execute(
            "INSERT INTO sessions(id, agent_id, server, pid, host, started_at, heartbeat_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (session_id, agent_id, server, pid, host, now, now),
        )
    return Me(id=agent_id, name=name, role=role, session_id=session_id)


async def heartbeat(db: Database, me: Me, *, server: str, pid: int, host: str, now: float) -> None:
    """Refresh this session (recreating it if it was pruned while we slept) and the agent's last_seen."""
    async with db.write() as tx:
        await tx.execute(
            "INSERT INTO sessions(id, agent_id, server, pid, host, started_at, heartbeat_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
            (me.session_id, me.id, server, pid, host, now, now),
        )
        await tx.execute("UPDATE agents SET last_seen = ? WHERE id = ?", (now, me.id))


async def end_session(db: Database, me: Me) -> None:
    """Remove this process's session on a clean exit, so presence reflects it at once."""
    await db.write_one("DELETE FROM sessions WHERE id = ?", (me.session_id,))


async def prune_sessions(db: Database, *, older_than: float) -> int:
    """Drop sessions that stopped heartbeating long ago (crashed processes); returns how many."""
    rows = await db.write_one("DELETE FROM sessions WHERE heartbeat_at < ? RETURNING id", (older_than,))
    return len(rows)


async def current_name(db: Database, agent_id: str) -> str:
    """The agent's name now (it can be renamed by any of its four servers)."""
    return str(await db.scalar("SELECT name FROM agents WHERE id = ?", (agent_id,)) or agent_id)


async def by_names(db: Database, names: list[str]) -> dict[str, Row]:
    """Agents by name (case-insensitive); missing names are absent from the result."""
    if not names:
        return {}
    marks = ",".join("?" * len(names))
    rows = await db.fetchall(f"SELECT * FROM agents WHERE name IN ({marks})", names)
    return {str(r["name"]).lower(): r for r in rows}


async def known_names(db: Database, limit: int = 50) -> list[str]:
    rows = await db.fetchall("SELECT name FROM agents ORDER BY last_seen DESC LIMIT ?", (limit,))
    return [str(r["name"]) for r in rows]


async def online_ids(db: Database, *, now: float, presence_timeout: float, role: str | None = None) -> list[str]:
    """Ids of agents with a live session (optionally of one role), oldest first."""
    sql = f"SELECT a.id FROM agents a WHERE {live_session_sql('a.id')}"
    params: dict[str, object] = {"live_after": now - presence_timeout}
    if role is not None:
        sql += " AND a.role = :role"
        params["role"] = role
    rows = await db.fetchall(sql + " ORDER BY a.created_at, a.id", params)
    return [str(r["id"]) for r in rows]
