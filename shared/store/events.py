"""The audit trail: one row per state change (who, what, which object, when). Never bodies or secrets."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.db.connection import Database, Row, Tx
from shared.rules.clock import iso
from shared.store.team.dialect import NOCASE
from shared.store.team.live import shown_name

if TYPE_CHECKING:  # the result models load where the trail is read, not when a server starts and records
    from shared.models.monitoring import Event, EventPage


OBJECT_TYPES = ("agent", "knowledge", "message", "proposal", "skill", "task", "token", "topic")
"""What the trail records events about: each event's object_type, and the area of its kind ('task.claimed')."""

_encoded = json.JSONEncoder(separators=(",", ":"), sort_keys=True).encode
"""An event's data as stored: compact, keys sorted (one encoder for every event, not one per json.dumps call)."""


def record(
    tx: Tx,
    *,
    now: float,
    agent_id: str | None,
    kind: str,
    agent_name: str | None = None,
    object_type: str | None = None,
    object_id: str | int | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Append an event inside the caller's write transaction, so it commits with the change it describes.

    The agent's current name is looked up in the same statement unless given.
    """
    tx.execute(
        "INSERT INTO events(ts, agent_id, agent_name, kind, object_type, object_id, data)"
        " VALUES (?, ?, COALESCE(?, (SELECT name FROM agents WHERE id = ?)), ?, ?, ?, ?)",
        (
            now,
            agent_id,
            agent_name,
            agent_id,
            kind,
            object_type,
            None if object_id is None else str(object_id),
            _encoded(data or {}),
        ),
    )


@dataclass(frozen=True)
class EventFilter:
    """Which events: by agent (name, as recorded or current), kind ('task.claimed' or a prefix 'task.',
    matched as a range of the binary order: '/' sorts right after '.'), and object (type, optionally id)."""

    agent: str | None = None
    kind: str | None = None
    object_type: str | None = None
    object_id: str | None = None


def _conditions(f: EventFilter, params: dict[str, Any]) -> list[str]:
    where = []
    if f.agent:
        where.append(f"(e.agent_id IN (SELECT id FROM agents WHERE name = :agent) OR e.agent_name = :agent {NOCASE})")
        params["agent"] = f.agent
    if f.kind:
        kind = f.kind.rstrip("*")
        if kind.endswith("."):
            where.append("e.kind >= :kind AND e.kind < :kind_end")
            params.update(kind=kind, kind_end=kind[:-1] + "/")  # '/' sorts right after '.'
        else:
            where.append("e.kind = :kind")
            params["kind"] = kind
    if f.object_type:
        where.append("e.object_type = :object_type")
        params["object_type"] = f.object_type
    if f.object_id:
        where.append("e.object_id = :object_id")
        params["object_id"] = f.object_id
    return where


async def page(
    db: Database, f: EventFilter, *, limit: int, before: int | None = None, since: int | None = None
) -> EventPage:
    """The audit trail: newest first (older pages with `before`), or with `since` the events after that id,
    oldest first, to follow the trail. The cursor continues either way. A kind prefix ('task.') reads each
    kind under it over events_by_kind (one bounded query per kind) and merges them, never sorting the trail."""
    return await db.read(_page, f, limit, before, since)


def _page(tx: Tx, f: EventFilter, limit: int, before: int | None, since: int | None) -> EventPage:
    from shared.models.monitoring import EventPage

    params: dict[str, Any] = {"limit": limit + 1}
    where = _conditions(f, params)
    if since is not None:
        where.append("e.id > :since")
        params["since"] = since
        order = "ASC"
    else:
        if before is not None:
            where.append("e.id < :before")
            params["before"] = before
        order = "DESC"
    condition = " AND ".join(where) or "1 = 1"
    if "kind_end" in params:
        rows: list[Row] = []
        for kind in _kinds_between(tx, params["kind"], params["kind_end"]):
            one = condition.replace("e.kind >= :kind AND e.kind < :kind_end", "e.kind = :one_kind")
            rows += tx.execute(
                f"SELECT e.* FROM events e WHERE {one} ORDER BY e.id {order} LIMIT :limit", {**params, "one_kind": kind}
            )
        rows.sort(key=lambda r: r["id"], reverse=order == "DESC")
        rows = rows[: limit + 1]
    else:
        rows = tx.execute(f"SELECT e.* FROM events e WHERE {condition} ORDER BY e.id {order} LIMIT :limit", params)
    more = len(rows) > limit
    found = [to_event(r) for r in rows[:limit]]
    if since is not None:
        cursor: int | None = found[-1].id if found else since
    else:
        cursor = found[-1].id if more and found else None
    return EventPage(events=found, next_cursor=cursor)


KINDS_MAX = 100
"""A kind prefix covers at most this many kinds (Roundtable records a few dozen)."""


def _kinds_between(tx: Tx, low: str, high: str) -> list[str]:
    """The distinct kinds in [low, high), one index seek each (a skip over events_by_kind)."""
    kinds: list[str] = []
    row = tx.fetchone("SELECT min(kind) AS k FROM events WHERE kind >= ? AND kind < ?", (low, high))
    while row is not None and row["k"] is not None and len(kinds) < KINDS_MAX:
        kinds.append(str(row["k"]))
        row = tx.fetchone("SELECT min(kind) AS k FROM events WHERE kind > ? AND kind < ?", (kinds[-1], high))
    return kinds


async def names_an_actor(db: Database, name: str) -> bool:
    """Whether the trail holds events recorded under this agent name (any case), such as the history of
    an agent since renamed or pruned."""
    return bool(await db.scalar(f"SELECT EXISTS (SELECT 1 FROM events WHERE agent_name = ? {NOCASE})", (name,)))


def to_event(row: Row) -> Event:
    """An event as people and models read it: agents by name, never by their internal key."""
    from shared.models.monitoring import Event

    agent = row["agent_name"] or (shown_name(row["agent_id"]) if row["agent_id"] else None)
    about = row["object_id"]
    if row["object_type"] == "agent" and about is not None:
        about = agent if about == row["agent_id"] and agent else shown_name(str(about))
    return Event(
        id=row["id"],
        at=iso(row["ts"]) or "",
        agent=agent,
        kind=row["kind"],
        object_type=row["object_type"],
        object_id=about,
        data=json.loads(row["data"] or "{}"),
    )


async def latest_id(db: Database) -> int:
    """The newest event's id (0 for none): a cursor to start following from."""
    return int(await db.scalar("SELECT COALESCE(max(id), 0) FROM events"))
