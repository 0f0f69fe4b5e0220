"""Reading mail: my inbox (unread first-class), threads, what I sent and who read it, waiting for mail.

Visibility: a message is mine if I have a recipient row for it, or it is an unexpired broadcast from
someone else. Reading marks it read (a recipient row), so each message is delivered once per agent.
Every reader takes the acting `Actor` (shared/actor.py): its id is "me", its `now` judges expiry and
overdue acknowledgements, its team secret verifies signatures. Engine-specific SQL comes from dialect.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from shared.actor import Actor
from shared.db.connection import Database, Row, Tx
from shared.errors import InvalidArgument, NotFound
from shared.models.messages import Message, Receipt
from shared.rules import quoting as fts
from shared.rules import signing
from shared.rules.clock import iso
from shared.store.mail import dialect
from shared.store.team import agents

MINE = (
    f"(r.agent_id IS NOT NULL OR (m.kind = 'broadcast' AND {dialect.differs('m.sender_id', ':me')}))"
    " AND (m.expires_at IS NULL OR m.expires_at > :now)"
)
FROM = "FROM messages m LEFT JOIN message_recipients r ON r.message_id = m.id AND r.agent_id = :me"
SENDERS_VIEW = "FROM messages m CROSS JOIN (SELECT NULL AS read_at, NULL AS acked_at) r"
"""The sender's view of its messages: no read or acknowledgement state of its own (receipts show the
recipients'), whether or not it is also among the recipients."""


OVERDUE_ACK = "(r.acked_at IS NULL AND m.ack_required = 1 AND m.ack_deadline < :now)"
"""The one test for an overdue acknowledgement, over `message_recipients r` joined to `messages m`, at :now."""

COLUMNS = (
    f"m.*, r.read_at, r.acked_at, {OVERDUE_ACK} AS overdue,"
    " (SELECT a.name FROM agents a WHERE a.id = m.sender_id) AS sender_current"
)
"""What `to_message` reads: the message, my read and acknowledgement state, whether my acknowledgement
is overdue (NULL, i.e. not overdue, when no deadline applies), and the sender's name now."""


@dataclass(frozen=True)
class InboxFilter:
    unread_only: bool = True
    sender: str | None = None  # an agent's current name (one identity), or "system" for notices
    topic: str | None = None
    thread: int | None = None
    since: float | None = None
    text: str | None = None


def fts_query(text: str) -> str:
    """User words as an FTS5 query that cannot be a syntax error: every term quoted, all must match."""
    query = fts.quote_words(text)
    if not query:
        raise InvalidArgument("text has no words to search for")
    return query


def to_message(row: Row, secret: str | None, reader: str) -> Message:
    """A row of `SELECT {COLUMNS}` as the agent `reader` (an id) sees it, its signature checked against
    `secret` (shared/rules/signing.py: verified only if the reader is among the signed recipients)."""
    verified, signature = signing.check(secret, row, reader)
    audience = row["audience"]
    to = ", ".join(json.loads(audience)) if audience.startswith("[") else audience
    now = row["sender_current"]
    return Message(
        id=row["id"],
        kind=row["kind"],
        sender=row["sender_name"],
        sender_now=now if now is not None and now != row["sender_name"] else None,
        to=to,
        topic=row["topic"],
        subject=row["subject"],
        body=row["body"],
        priority=row["priority"],
        thread_id=row["thread_id"] or row["id"],
        reply_to=row["reply_to"],
        correlation_id=row["correlation_id"],
        about=f"{row['ref_type']} {row['ref_id']}" if row["ref_type"] else None,
        created_at=iso(row["created_at"]) or "",
        expires_at=iso(row["expires_at"]),
        ack_required=bool(row["ack_required"]),
        ack_deadline=iso(row["ack_deadline"]),
        read=row["read_at"] is not None,
        acknowledged=row["acked_at"] is not None,
        overdue=bool(row["overdue"]),
        verified=verified,
        signature=signature,
    )


def _where(f: InboxFilter, params: dict[str, Any]) -> str:
    where = [MINE]
    if f.unread_only:
        where.append("r.read_at IS NULL")
    if f.sender is not None:
        if f.sender.lower() == "system":
            where.append("m.sender_id IS NULL AND m.kind = 'system'")
        else:
            where.append("m.sender_id = :sender")
            params["sender"] = f.sender  # an agent id: page() resolves the name first
    if f.topic:
        where.append(dialect.topic_matches("m.topic", ":topic"))
        params["topic"] = f.topic
    if f.thread is not None:
        where.append("m.thread_id = :thread")
        params["thread"] = f.thread
    if f.since is not None:
        where.append("m.created_at >= :since")
        params["since"] = f.since
    if f.text:
        where.append(dialect.text_matches("m.id", ":fts"))
        params["fts"] = fts_query(f.text)
    return " AND ".join(where)


async def page(db: Database, me: Actor, f: InboxFilter, *, limit: int, after: int) -> tuple[list[Message], bool]:
    """Messages for me in id order after the cursor (a message id), and whether more follow."""
    if f.sender and f.sender.lower() != "system":
        # a name resolves to the one agent that has it now (a name once used by someone else is not theirs)
        f = replace(f, sender=(await db.read(agents.ids_by_names, [f.sender]))[f.sender])
    params = me.params(after=after, limit=limit + 1)
    rows = await db.fetchall(
        f"SELECT {COLUMNS} {FROM} WHERE {_where(f, params)} AND m.id > :after ORDER BY m.id LIMIT :limit", params
    )
    return [to_message(r, me.secret, me.id) for r in rows[:limit]], len(rows) > limit


async def unread_count(db: Database, me: Actor) -> int:
    return int(await db.scalar(f"SELECT count(*) {FROM} WHERE {MINE} AND r.read_at IS NULL", me.params()))


async def unread_counts(db: Database, *, now: float) -> dict[str, int]:
    """Every agent's unread count (as unread_count gives one), in two grouped queries instead of one per agent:
    unread deliveries, plus live broadcasts from others that the agent has not read. Both read one snapshot."""
    return await db.read(_unread_counts, now)


def _unread_counts(tx: Tx, now: float) -> dict[str, int]:
    counts: dict[str, int] = {}
    for sql in (
        "SELECT r.agent_id, count(*) FROM message_recipients r JOIN messages m ON m.id = r.message_id"
        " WHERE r.read_at IS NULL AND (m.expires_at IS NULL OR m.expires_at > :now) GROUP BY r.agent_id",
        "SELECT a.id, (SELECT count(*) FROM messages m WHERE m.kind = 'broadcast'"
        f" AND {dialect.differs('m.sender_id', 'a.id')}"
        " AND (m.expires_at IS NULL OR m.expires_at > :now) AND NOT EXISTS (SELECT 1 FROM message_recipients r"
        " WHERE r.message_id = m.id AND r.agent_id = a.id)) FROM agents a",
    ):
        for agent_id, n in tx.execute(sql, {"now": now}):
            counts[agent_id] = counts.get(agent_id, 0) + int(n)
    return counts


async def unread_fingerprint(db: Database, me: Actor) -> tuple[int, int]:
    """(count, newest id) of my unread mail: changes exactly when the inbox resource changes."""
    row = await db.fetchone(
        f"SELECT count(*), COALESCE(max(m.id), 0) {FROM} WHERE {MINE} AND r.read_at IS NULL", me.params()
    )
    return (int(row[0]), int(row[1])) if row else (0, 0)


async def mark_read(db: Database, me: Actor, ids: Sequence[int]) -> set[int]:
    """Mark messages read at `me.now`; returns the ids this call marked (those that were unread until now).

    One statement, so of several readers of one agent racing for the same unread mail (parallel tool
    calls, or two processes of the agent), each message is marked, and so delivered, by exactly one.
    """
    if not ids:
        return set()
    return await db.write(_mark_read, me, list(ids))


def _mark_read(tx: Tx, me: Actor, ids: list[int]) -> set[int]:
    rows = tx.execute(
        "INSERT INTO message_recipients(agent_id, message_id, read_at)"
        f" SELECT :me, value, :now FROM ({dialect.each_id(':ids')}) WHERE true"
        " ON CONFLICT(agent_id, message_id) DO UPDATE SET read_at = excluded.read_at WHERE read_at IS NULL"
        " RETURNING message_id",
        {"me": me.id, "now": me.now, "ids": dialect.id_list(ids)},
    )
    return {int(r["message_id"]) for r in rows}


async def thread(db: Database, me: Actor, thread_id: int) -> list[Message]:
    """Every message of a thread I sent or received, in order."""
    rows = await db.fetchall(
        f"SELECT {COLUMNS} {FROM} WHERE m.thread_id = :thread"
        " AND (m.sender_id = :me OR r.agent_id IS NOT NULL OR m.kind = 'broadcast') ORDER BY m.id LIMIT 500",
        me.params(thread=thread_id),
    )
    if not rows:
        raise NotFound(f"thread {thread_id} has no message you sent or received; see message_query()")
    return [to_message(r, me.secret, me.id) for r in rows]


async def sent(db: Database, me: Actor, *, limit: int, after: int) -> tuple[list[Message], bool]:
    """My sent messages (id order after the cursor) with who read and acknowledged each, from one snapshot."""
    return await db.read(_sent, me, limit, after)


def _sent(tx: Tx, me: Actor, limit: int, after: int) -> tuple[list[Message], bool]:
    rows = tx.execute(
        f"SELECT {COLUMNS} {SENDERS_VIEW} WHERE m.sender_id = :me AND m.id > :after ORDER BY m.id LIMIT :limit",
        me.params(after=after, limit=limit + 1),
    )
    found = [to_message(r, me.secret, me.id) for r in rows[:limit]]
    if found:
        marks = ",".join(str(m.id) for m in found)
        receipts = tx.execute(
            "SELECT r.message_id, COALESCE(a.name, r.agent_id) AS name, r.read_at, r.acked_at"
            " FROM message_recipients r LEFT JOIN agents a ON a.id = r.agent_id"
            f" WHERE r.message_id IN ({marks}) ORDER BY name",
        )
        by_id: dict[int, list[Receipt]] = {}
        for r in receipts:
            by_id.setdefault(r["message_id"], []).append(
                Receipt(agent=r["name"], read_at=iso(r["read_at"]), acked_at=iso(r["acked_at"]))
            )
        found = [m.model_copy(update={"receipts": by_id.get(m.id, [])}) for m in found]
    return found, len(rows) > limit
