"""The team's mail as a whole, for people watching (the dashboard): the newest messages with each
recipient's read and acknowledgement state. Agents read their own mail through inbox.py; this reads every
message, newest first, one page at a time (messages by id, recipient rows by message), never all history."""

from __future__ import annotations

from shared.actor import Actor
from shared.db.connection import Tx
from shared.models.dashboard import MailItem, MailPage, MailRecipient
from shared.rules.clock import iso
from shared.store.mail import dialect
from shared.store.mail.inbox import OVERDUE_ACK, UNEXPIRED
from shared.store.team.live import shown_name

BODY_MAX = 400
RECIPIENTS_SHOWN = 12
PAGE_MAX = 200


def page(tx: Tx, at: Actor, *, limit: int = 30, before: int | None = None) -> MailPage:
    """The newest unexpired messages (older than message `before` when given), with their recipients."""
    limit = max(1, min(limit, PAGE_MAX))
    params = at.params(limit=limit + 1)
    where = [UNEXPIRED]
    if before is not None:
        where.append("m.id < :before")
        params["before"] = before
    rows = tx.execute(
        "SELECT m.id, m.thread_id, m.reply_to, m.kind, m.topic, m.subject, m.priority, m.created_at,"
        f" substr(m.body, 1, {BODY_MAX}) AS body, m.ack_required, m.ack_deadline,"
        " COALESCE((SELECT a.name FROM agents a WHERE a.id = m.sender_id), m.sender_name) AS sender"
        f" FROM messages m WHERE {' AND '.join(where)} ORDER BY m.id DESC LIMIT :limit",
        params,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    people: dict[int, list[MailRecipient]] = {int(r["id"]): [] for r in rows}
    tallies: dict[int, list[int]] = {i: [0, 0, 0, 0] for i in people}
    if people:
        for r in tx.execute(
            "SELECT r.message_id, r.agent_id, a.name, r.read_at, r.acked_at,"
            f" CASE WHEN {OVERDUE_ACK} THEN 1 ELSE 0 END AS overdue"
            " FROM message_recipients r JOIN messages m ON m.id = r.message_id"
            " LEFT JOIN agents a ON a.id = r.agent_id"
            f" WHERE r.message_id IN ({dialect.of(tx).each_id(':ids')}) ORDER BY r.message_id, a.name",
            at.params(ids=dialect.id_list(people)),
        ):
            mid = int(r["message_id"])
            t = tallies[mid]
            t[0] += 1
            t[1] += r["read_at"] is not None
            t[2] += r["acked_at"] is not None
            t[3] += bool(r["overdue"])
            if len(people[mid]) < RECIPIENTS_SHOWN:
                people[mid].append(
                    MailRecipient(
                        name=r["name"] or shown_name(r["agent_id"]),
                        read=r["read_at"] is not None,
                        acked=r["acked_at"] is not None,
                        overdue=bool(r["overdue"]),
                    )
                )
    messages = [
        MailItem(
            id=r["id"],
            thread_id=r["thread_id"] or r["id"],
            reply_to=r["reply_to"],
            kind=r["kind"],
            topic=r["topic"],
            sender=str(r["sender"]),
            subject=r["subject"],
            body=r["body"],
            priority=r["priority"],
            at=iso(r["created_at"]) or "",
            ack_required=bool(r["ack_required"]),
            ack_deadline=iso(r["ack_deadline"]),
            recipients=people[int(r["id"])],
            recipient_count=tallies[int(r["id"])][0],
            read_count=tallies[int(r["id"])][1],
            acked_count=tallies[int(r["id"])][2],
            overdue_count=tallies[int(r["id"])][3],
        )
        for r in rows
    ]
    return MailPage(messages=messages, next_before=messages[-1].id if more and messages else None)
