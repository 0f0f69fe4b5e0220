"""Reading mail: my inbox (unread first-class), threads, what I sent and who read it, waiting for mail.

Visibility: a message is mine if I have a recipient row for it and it has not expired; a broadcast has a
row for every agent but its sender (written when it is sent, or when an agent joins while it is live).
Reading marks the row read, so each message is delivered once per agent.
Every reader takes the acting `Actor` (shared/actor.py): its id is "me", its `now` judges expiry and
overdue acknowledgements, its team secret verifies signatures. Engine-specific SQL comes from dialect.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from shared.actor import Actor
from shared.db.connection import Database, Row, Tx
from shared.errors import NotFound
from shared.rules import counts, signing
from shared.rules.clock import iso, relative
from shared.store.mail import dialect, search
from shared.store.mail.mine import UNEXPIRED as UNEXPIRED
from shared.store.mail.mine import InboxFilter as InboxFilter
from shared.store.mail.mine import fts_query as fts_query
from shared.store.mail.mine import mine_ids as mine_ids
from shared.store.team import agents
from shared.store.team.live import shown_name

if TYPE_CHECKING:  # the result models load where mail is read, not when a server starts and delivers
    from shared.models.messages import Message, Receipt

FROM = "FROM messages m LEFT JOIN message_recipients r ON r.message_id = m.id AND r.agent_id = :me"
SENDERS_VIEW = "FROM messages m CROSS JOIN (SELECT CAST(NULL AS REAL) AS read_at, CAST(NULL AS REAL) AS acked_at) r"
"""The sender's view of its messages: no read or acknowledgement state of its own (receipts show the
recipients'), whether or not it is also among the recipients."""


OVERDUE_ACK = f"(r.acked_at IS NULL AND m.ack_required = 1 AND m.ack_deadline < :now AND {UNEXPIRED})"
"""The one test for an overdue acknowledgement, over `message_recipients r` joined to `messages m`, at :now
(an expired message is shown to nobody, so nobody owes it an acknowledgement)."""

COLUMNS = (
    f"m.*, r.read_at, r.acked_at, {OVERDUE_ACK} AS overdue,"
    " (SELECT a.name FROM agents a WHERE a.id = m.sender_id) AS sender_current"
)
"""What `to_message` reads: the message, my read and acknowledgement state, whether my acknowledgement
is overdue (NULL, i.e. not overdue, when no deadline applies), and the sender's name now."""


def to_message(row: Row, secret: str | None, reader: str, now: float | None = None) -> Message:
    """A row of `SELECT {COLUMNS}` as the agent `reader` (an id) sees it, its signature checked against
    `secret` (shared/rules/signing.py: verified only if the reader is among the signed recipients); with `now`,
    its times also in words ("sent 3 min ago")."""
    from shared.models.messages import Message

    verified, signature = signing.check(secret, row, reader)
    audience = row["audience"]
    to = ", ".join(json.loads(audience)) if audience.startswith("[") else audience
    current = row["sender_current"]
    return Message(
        id=row["id"],
        kind=row["kind"],
        sender=row["sender_name"],
        sender_now=current if current is not None and current != row["sender_name"] else None,
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
        sent=relative(row["created_at"], now) if now is not None else None,
        expires_at=iso(row["expires_at"]),
        ack_required=bool(row["ack_required"]),
        ack_deadline=iso(row["ack_deadline"]),
        ack_due=relative(row["ack_deadline"], now) if now is not None and row["ack_required"] else None,
        read=row["read_at"] is not None,
        acknowledged=row["acked_at"] is not None,
        overdue=bool(row["overdue"]),
        verified=verified,
        signature=signature,
    )


def deliver_broadcasts(tx: Tx, agent_id: str, *, now: float) -> None:
    """An agent who joins receives the live broadcasts sent before: one unread recipient row each."""
    tx.execute(
        "INSERT INTO message_recipients(agent_id, message_id)"
        " SELECT :me, m.id FROM messages m WHERE m.kind = 'broadcast'"
        f" AND {dialect.of(tx).differs('m.sender_id', ':me')} AND {UNEXPIRED} ON CONFLICT DO NOTHING",
        {"me": agent_id, "now": now},
    )


async def page(db: Database, me: Actor, f: InboxFilter, *, limit: int, after: int) -> tuple[list[Message], bool]:
    """Messages for me in id order after the cursor (a message id), and whether more follow."""
    if not f.text:
        rows = await db.read(_page_rows, me, f, limit, after)
    else:
        f = await db.read(_resolved, f)
        params = me.params(after=after, limit=limit + 1)
        sql = _page_sql(f, params, dialect.of(db))
        found = await db.read(_searched, sql, params, search.TAIL_MAX)
        if found is None:  # a long unindexed tail (no messaging server ran for a while): index it, or match it whole
            await search.index_pending(db)
            found = await db.read(_searched, sql, params, None)
        rows = found or []
    return [to_message(r, me.secret, me.id, me.now) for r in rows[:limit]], len(rows) > limit


async def read_page(
    db: Database, me: Actor, f: InboxFilter, *, limit: int, after: int, mark: bool
) -> tuple[list[Message], int | None, int]:
    """`page`, marked read when `mark` (of unread_only mail, only what this call marked: a message another
    reader of mine took meanwhile is theirs); the id after which the next page starts (None: no more); and
    the unread mail left (`unread_count`). One read (the page, without text, and the count unless the page
    has unread mail to mark) and, when it has, one write that marks it and counts what is left."""
    if f.text:
        found, more = await page(db, me, f, limit=limit, after=after)
        left = None
    else:
        rows, left = await db.read(_page_and_count, me, f, limit, after, mark)
        found, more = [to_message(r, me.secret, me.id, me.now) for r in rows[:limit]], len(rows) > limit
    next_after = found[-1].id if more and found else None
    if mark:
        taken, left = await mark_read_counting(db, me, [m.id for m in found if not m.read], left)
        if f.unread_only:
            found = [m for m in found if m.read or m.id in taken]
    if left is None:
        left = await unread_count(db, me)
    return found, next_after, left


def _resolved(tx: Tx, f: InboxFilter) -> InboxFilter:
    """The filter with its sender's name as the id of the one agent that has it now (a name once used by
    someone else is not theirs). A blank name is no sender filter: sender="" matched no mail at all, and
    answered an empty inbox with the unread mail waiting."""
    name = (f.sender or "").strip()
    if not name:
        return f if f.sender is None else replace(f, sender=None)
    if name.lower() == "system":
        return replace(f, sender="system")
    return replace(f, sender=agents.ids_by_names(tx, [name])[name])


def _page_sql(f: InboxFilter, params: dict[str, object], d: dialect.Sqlite) -> str:
    ids = mine_ids(f, params, bounded=True, d=d)
    return f"SELECT {COLUMNS} {FROM} WHERE m.id IN ({ids}) ORDER BY m.id LIMIT :limit"


def _page_rows(tx: Tx, me: Actor, f: InboxFilter, limit: int, after: int) -> list[Row]:
    """The page's rows (limit + 1 of them, to tell whether more follow), without a text search, in `tx`."""
    f = _resolved(tx, f)
    params = me.params(after=after, limit=limit + 1)
    return tx.execute(_page_sql(f, params, dialect.of(tx)), params)


def _page_and_count(
    tx: Tx, me: Actor, f: InboxFilter, limit: int, after: int, mark: bool = False
) -> tuple[list[Row], int | None]:
    """The page's rows and the unread count, or None for the count when `mark` finds unread mail on the page:
    the write that marks it counts what is left (`mark_read_counting`), so it is not counted twice."""
    rows = _page_rows(tx, me, f, limit, after)
    if mark and any(r["read_at"] is None for r in rows[:limit]):
        return rows, None
    return rows, _unread_count(tx, me)


def _searched(tx: Tx, sql: str, params: dict[str, object], bound: int | None) -> list[Row] | None:
    """A text search in one snapshot with the messages not yet indexed (search.prepare); None when they are
    more than `bound`."""
    if not search.prepare(tx, bound):
        return None
    return tx.execute(sql, params)


COUNT_CAP = counts.CAP
"""Counts of unread mail stop at COUNT_CAP + 1 (shown as "1,000+", shared/rules/counts.py), never a scan of all."""


async def unread_count(db: Database, me: Actor) -> int:
    """How much unread mail I have, up to COUNT_CAP + 1 (more reads as `capped`)."""
    return await db.read(_unread_count, me)


def _unread_count(tx: Tx, me: Actor) -> int:
    params = me.params(after=0, limit=COUNT_CAP + 1)
    ids = mine_ids(InboxFilter(), params, bounded=True, d=dialect.of(tx))
    return int(tx.scalar(f"SELECT count(*) FROM ({ids}) AS s", params))


async def unread_counts(db: Database, *, now: float) -> dict[str, int]:
    """Every agent's unread count (as unread_count gives one, capped the same way), in one snapshot."""
    return await db.read(unread_by_agent, now)


def unread_by_agent(tx: Tx, now: float) -> dict[str, int]:
    """`unread_counts` inside the caller's snapshot (agent_status reads it with presence and claims)."""
    counts: dict[str, int] = {}
    for (agent_id,) in tx.execute("SELECT id FROM agents"):
        params = {"me": agent_id, "now": now, "after": 0, "limit": COUNT_CAP + 1}
        ids = mine_ids(InboxFilter(), params, bounded=True, d=dialect.of(tx))
        n = int(tx.scalar(f"SELECT count(*) FROM ({ids}) AS s", params))
        if n:
            counts[str(agent_id)] = n
    return counts


async def unread_fingerprint(db: Database, me: Actor) -> tuple[int, int]:
    """(count up to COUNT_CAP + 1, newest id) of my unread mail: changes whenever the inbox resource does
    (a new message raises the newest id; reading lowers the count or the newest id)."""
    params = me.params(after=0, limit=COUNT_CAP + 1)
    ids = mine_ids(InboxFilter(), params, bounded=True, d=dialect.of(db))
    row = await db.fetchone(
        f"SELECT (SELECT count(*) FROM ({ids}) AS s),"
        " (SELECT r.message_id FROM message_recipients r INDEXED BY message_recipients_unread"
        " JOIN messages m ON m.id = r.message_id"
        f" WHERE r.agent_id = :me AND r.read_at IS NULL AND {UNEXPIRED} ORDER BY r.message_id DESC LIMIT 1)",
        params,
    )
    return (int(row[0]), int(row[1] or 0)) if row else (0, 0)


async def mark_read(db: Database, me: Actor, ids: Sequence[int]) -> set[int]:
    """Mark messages read at `me.now`; returns the ids this call marked (those that were unread until now).

    One statement, so of several readers of one agent racing for the same unread mail (parallel tool
    calls, or two processes of the agent), each message is marked, and so delivered, by exactly one.
    """
    if not ids:
        return set()
    return await db.write(_mark_read, me, list(ids))


async def mark_read_counting(
    db: Database, me: Actor, ids: Sequence[int], left: int | None = None
) -> tuple[set[int], int | None]:
    """`mark_read`, and the unread mail left counted in the same write; with nothing to mark, no write:
    (nothing, `left` as the caller counted it, or None)."""
    if not ids:
        return set(), left
    return await db.write(_mark_and_count, me, list(ids))


def _mark_and_count(tx: Tx, me: Actor, ids: list[int]) -> tuple[set[int], int]:
    return _mark_read(tx, me, ids), _unread_count(tx, me)


def _mark_read(tx: Tx, me: Actor, ids: list[int]) -> set[int]:
    rows = tx.execute(
        "INSERT INTO message_recipients(agent_id, message_id, read_at)"
        f" SELECT :me, value, :now FROM ({dialect.of(tx).each_id(':ids')}) AS s WHERE true"
        " ON CONFLICT(agent_id, message_id) DO UPDATE SET read_at = excluded.read_at"
        " WHERE message_recipients.read_at IS NULL"
        " RETURNING message_id",
        {"me": me.id, "now": me.now, "ids": dialect.id_list(ids)},
    )
    return {int(r["message_id"]) for r in rows}


MY_THREAD = (
    f"m.thread_id = :thread AND {UNEXPIRED} AND (m.sender_id = :me OR r.agent_id IS NOT NULL OR m.kind = 'broadcast')"
)
"""A message of the thread that I sent or received (and can still see)."""


def _no_thread(thread_id: int) -> NotFound:
    return NotFound(f"thread {thread_id} has no message you sent or received; see message_query()")


async def thread(db: Database, me: Actor, thread_id: int) -> list[Message]:
    """Every message of a thread I sent or received, in order."""
    rows = await db.fetchall(
        f"SELECT {COLUMNS} {FROM} WHERE {MY_THREAD} ORDER BY m.id LIMIT 500", me.params(thread=thread_id)
    )
    if not rows:
        raise _no_thread(thread_id)
    return [to_message(r, me.secret, me.id, me.now) for r in rows]


async def require_thread(db: Database, me: Actor, thread_id: int) -> None:
    """Refuse a thread with no message I sent or received, as `thread` does (message_wait on one)."""
    if await db.fetchone(f"SELECT 1 {FROM} WHERE {MY_THREAD} LIMIT 1", me.params(thread=thread_id)) is None:
        raise _no_thread(thread_id)


async def sent(db: Database, me: Actor, *, limit: int, after: int) -> tuple[list[Message], bool]:
    """My sent messages (id order after the cursor) with who read and acknowledged each, from one snapshot."""
    return await db.read(sent_page, me, limit, after)


SENT_PAGE = (
    f"SELECT {COLUMNS} {SENDERS_VIEW} WHERE m.sender_id = :me AND m.id > :after AND {UNEXPIRED}"
    " ORDER BY m.id LIMIT :limit"
)
"""My sent messages after the cursor, in id order: a seek on messages_by_sender (sender_id, id), whatever else
I sent before (migration 0022)."""


def sent_page(tx: Tx, me: Actor, limit: int, after: int) -> tuple[list[Message], bool]:
    """`sent` inside a transaction (also the write that sent the message, to show it to its sender)."""
    from shared.models.messages import Receipt

    rows = tx.execute(SENT_PAGE, me.params(after=after, limit=limit + 1))
    found = [to_message(r, me.secret, me.id, me.now) for r in rows[:limit]]
    if found:
        d = dialect.of(tx)
        receipts = tx.execute(
            "SELECT r.message_id, r.agent_id, a.name, r.read_at, r.acked_at"
            " FROM message_recipients r LEFT JOIN agents a ON a.id = r.agent_id"
            f" WHERE r.message_id IN ({d.each_id(':ids')}) ORDER BY a.name",
            {"ids": d.id_list(m.id for m in found)},
        )
        by_id: dict[int, list[Receipt]] = {}
        for r in receipts:
            by_id.setdefault(r["message_id"], []).append(
                Receipt(
                    agent=r["name"] or shown_name(r["agent_id"]), read_at=iso(r["read_at"]), acked_at=iso(r["acked_at"])
                )
            )
        # the sender has no read or acknowledgement state of its own: the receipts say the recipients'
        mine = {"read": None, "acknowledged": None, "overdue": None}
        found = [m.model_copy(update={"receipts": by_id.get(m.id, []), **mine}) for m in found]
    return found, len(rows) > limit


@dataclass(frozen=True)
class Arrivals:
    """Unread mail for me that arrived after a message id, sent by others (what the channel pushes)."""

    count: int
    last_id: int
    first: list[Message]
    senders: list[str]


def newest_id(tx: Tx) -> int:
    return int(tx.scalar("SELECT COALESCE(max(id), 0) FROM messages"))


def arrivals(tx: Tx, me: Actor, after: int, shown: int = 3) -> Arrivals:
    """The unread mail addressed to `me` (direct, topic, broadcast, system notices) with ids above `after`,
    never what `me` sent; read only, in one snapshot (`Database.read`). Counts stop at COUNT_CAP + 1."""
    params = me.params(after=after, limit=COUNT_CAP + 1, shown=shown)
    ids = mine_ids(InboxFilter(), params, bounded=True, d=dialect.of(tx))
    new = f"FROM messages m WHERE m.id IN ({ids}) AND {dialect.of(tx).differs('m.sender_id', ':me')}"
    row = tx.fetchone(f"SELECT count(*), COALESCE(max(m.id), :after) {new}", params)
    count, last = (int(row[0]), int(row[1])) if row else (0, after)
    if not count:
        return Arrivals(0, after, [], [])
    shown_rows = tx.execute(
        f"SELECT {COLUMNS} {FROM} WHERE m.id IN ({ids}) AND {dialect.of(tx).differs('m.sender_id', ':me')}"
        " ORDER BY m.id LIMIT :shown",
        params,
    )
    first = [to_message(r, me.secret, me.id, me.now) for r in shown_rows]
    senders = [str(r[0]) for r in tx.execute(f"SELECT DISTINCT m.sender_name {new} LIMIT 6", params)]
    return Arrivals(count, last, first, senders)
