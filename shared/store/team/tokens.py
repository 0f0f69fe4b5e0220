"""Bearer tokens for the team over HTTP (`roundtable serve`): one token speaks for one agent with one role.

A token is `rt_<id>_<secret>`; only its SHA-256 is stored, so the database never holds a usable token.
`verify` is asked on every HTTP request (no cache), so a revoked token stops working at once. The agent a
token speaks for is fixed at creation by id (the agent of that name, or a new one named so), so renaming
the agent with agent_register keeps its token working.

Sessions over HTTP: the serve process opens one `sessions` row per HTTP session (or per token and server
for clients without one) through `open_session`, heartbeats it while the session is live (`beat`) and
deletes it when the session ends (`close_sessions`) — presence and lapsed claims then work as for stdio.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from shared.config import ROLES, Role
from shared.db.connection import Database, Tx
from shared.errors import InvalidArgument, NotFound
from shared.store import events
from shared.store.team import agents

PREFIX = "rt_"


def digest(token: str) -> str:
    """What is stored of a token: its SHA-256 (a token has 256 bits of randomness; no slow hash needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Issued:
    token: str
    token_id: str
    agent_id: str
    name: str
    role: Role
    existing_agent: bool


@dataclass(frozen=True)
class TokenInfo:
    token_id: str
    agent_id: str
    name: str
    role: Role
    created_at: float
    last_used_at: float | None
    revoked_at: float | None


@dataclass(frozen=True)
class Holder:
    """Who a valid token speaks for, as read on one request."""

    token_id: str
    agent_id: str
    name: str
    role: Role


async def create(db: Database, name: str, role: Role, *, now: float) -> Issued:
    """A new token for the agent named `name` (created, offline, when there is none); returns the token once."""
    name = agents.check_name(name)
    if role not in ROLES:
        raise InvalidArgument(f"role {role!r} is not a role; use one of {', '.join(ROLES)}")
    token_id = secrets.token_hex(4)
    token = f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"

    def issue(tx: Tx) -> Issued:
        row = tx.fetchone("SELECT id, name FROM agents WHERE name = ?", (name,))
        if row is None:
            agent_id, existing = f"named:{name}", False
            tx.execute(
                "INSERT INTO agents(id, name, client_name, host, role, created_at, last_seen, last_active)"
                " VALUES (?, ?, 'roundtable serve', '', ?, ?, ?, ?)",
                (agent_id, name, role, now, now, now),
            )
            events.record(
                tx,
                now=now,
                agent_id=agent_id,
                agent_name=name,
                kind="agent.joined",
                object_type="agent",
                object_id=agent_id,
                data={"client": "roundtable serve", "host": ""},
            )
        else:
            agent_id, existing = str(row["id"]), True
        tx.execute(
            "INSERT INTO tokens(id, hash, agent_id, role, created_at) VALUES (?, ?, ?, ?, ?)",
            (token_id, digest(token), agent_id, role, now),
        )
        events.record(
            tx,
            now=now,
            agent_id=agent_id,
            agent_name=name,
            kind="token.created",
            object_type="token",
            object_id=token_id,
            data={"role": role},
        )
        return Issued(token, token_id, agent_id, str(row["name"]) if row else name, role, existing)

    return await db.write(issue)


def _infos(tx: Tx, include_revoked: bool) -> list[TokenInfo]:
    where = "" if include_revoked else "WHERE t.revoked_at IS NULL"
    rows = tx.execute(
        "SELECT t.*, COALESCE(a.name, t.agent_id) AS name FROM tokens t LEFT JOIN agents a ON a.id = t.agent_id"
        f" {where} ORDER BY t.created_at, t.id"
    )
    return [
        TokenInfo(r["id"], r["agent_id"], r["name"], r["role"], r["created_at"], r["last_used_at"], r["revoked_at"])
        for r in rows
    ]


async def listing(db: Database, *, include_revoked: bool = False) -> list[TokenInfo]:
    """The tokens issued (never the tokens themselves), oldest first."""
    return await db.read(_infos, include_revoked)


async def revoke(db: Database, which: str, *, now: float) -> list[str]:
    """Revoke the token with this id, or every live token of the agent with this name; returns the ids."""

    def cancel(tx: Tx) -> list[str]:
        rows = tx.execute(
            "UPDATE tokens SET revoked_at = ? WHERE revoked_at IS NULL AND"
            " (id = ? OR agent_id IN (SELECT id FROM agents WHERE name = ?)) RETURNING id, agent_id",
            (now, which, which),
        )
        if not rows:
            known = [i.token_id for i in _infos(tx, False)]
            hint = f" (live tokens: {', '.join(known)})" if known else " (there are no live tokens)"
            raise NotFound(f"no live token has the id or agent name {which!r}{hint}; see `roundtable token list`")
        for r in rows:
            events.record(
                tx, now=now, agent_id=r["agent_id"], kind="token.revoked", object_type="token", object_id=r["id"]
            )
        return sorted(str(r["id"]) for r in rows)

    return await db.write(cancel)


def _holder(tx: Tx, column: str, value: str) -> Holder | None:
    """The token's holder; none when its agent is gone (pruned before pruning spared token holders: a session
    of it could not be opened, every request was a 500)."""
    row = tx.fetchone(
        "SELECT t.id, t.agent_id, t.role, a.name"
        f" FROM tokens t JOIN agents a ON a.id = t.agent_id WHERE t.{column} = ? AND t.revoked_at IS NULL",
        (value,),
    )
    return None if row is None else Holder(row["id"], row["agent_id"], row["name"], row["role"])


async def verify(db: Database, token: str) -> Holder | None:
    """Who this token speaks for, or None when it is unknown or revoked (one indexed read)."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    return await db.read(_holder, "hash", digest(token))


async def holder_of(db: Database, token_id: str) -> Holder | None:
    """Who the token with this id speaks for, or None when there is none or it was revoked (one read by the
    primary key): for a value derived from a token that was verified before, such as the dashboard's cookie."""
    if len(token_id) > 64:
        return None
    return await db.read(_holder, "id", token_id)


async def live_ids(db: Database, token_ids: list[str]) -> set[str]:
    """Which of these tokens are still valid."""
    if not token_ids:
        return set()
    marks = ",".join("?" * len(token_ids))
    rows = await db.fetchall(f"SELECT id FROM tokens WHERE revoked_at IS NULL AND id IN ({marks})", token_ids)
    return {str(r["id"]) for r in rows}


async def count_live(db: Database, roles: Sequence[str] | None = None) -> int:
    """Tokens not revoked (of these roles only, when given)."""
    if roles is None:
        return int(await db.scalar("SELECT count(*) FROM tokens WHERE revoked_at IS NULL") or 0)
    marks = ",".join("?" * len(roles))
    sql = f"SELECT count(*) FROM tokens WHERE revoked_at IS NULL AND role IN ({marks})"
    return int(await db.scalar(sql, tuple(roles)) or 0)


def _open(tx: Tx, session_id: str, holder: Holder, server: str, pid: int, host: str, client: str, now: float) -> None:
    tx.execute(
        "INSERT INTO sessions(id, agent_id, server, pid, host, started_at, heartbeat_at, role)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
        (session_id, holder.agent_id, server, pid, host, now, now, holder.role),
    )
    tx.execute(
        "UPDATE agents SET role = ?, host = ?, client_name = ?, last_seen = ? WHERE id = ?",
        (holder.role, host, client, now, holder.agent_id),
    )
    tx.execute("UPDATE tokens SET last_used_at = ? WHERE id = ?", (now, holder.token_id))


async def open_session(
    db: Database, session_id: str, holder: Holder, *, server: str, pid: int, host: str, client: str, now: float
) -> None:
    """A live `sessions` row for one HTTP session of this token's agent (the agent takes the token's role;
    `host` is the remote address the session came from)."""
    await db.write(_open, session_id, holder, server, pid, host, client, now)


def _beat(tx: Tx, beats: list[tuple[str, str]], now: float) -> None:
    tx.executemany("UPDATE sessions SET heartbeat_at = ? WHERE id = ?", [(now, sid) for sid, _ in beats])
    tx.executemany("UPDATE agents SET last_seen = ? WHERE id = ?", [(now, aid) for aid in {a for _, a in beats}])


async def beat(db: Database, beats: list[tuple[str, str]], *, now: float) -> None:
    """Heartbeat these (session id, agent id) pairs in one write."""
    if beats:
        await db.write(_beat, beats, now)


async def close_sessions(db: Database, session_ids: list[str]) -> None:
    """Delete these sessions' rows (their HTTP sessions ended), so presence reflects it at once."""
    if session_ids:
        marks = ",".join("?" * len(session_ids))
        await db.write_one(f"DELETE FROM sessions WHERE id IN ({marks})", session_ids)
