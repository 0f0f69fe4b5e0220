"""The async twins of the notice and topic posting, for stores still writing through `write_legacy`.

Deleted when the last such store is converted to `Database.write` (see docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from shared.db.connection import Transaction
from shared.errors import NotFound
from shared.rules import signing
from shared.store import events
from shared.store.mail.send import SUBJECT_MAX, Outgoing, Sender, check_text, check_topic


async def _thread_of_legacy(tx: Transaction, reply_to: int | None, me: str) -> int | None:
    if reply_to is None:
        return None
    row = await tx.fetchone(
        "SELECT m.thread_id, m.id FROM messages m WHERE m.id = :id AND (m.sender_id = :me OR m.kind = 'broadcast'"
        " OR EXISTS (SELECT 1 FROM message_recipients r WHERE r.message_id = m.id AND r.agent_id = :me))",
        {"id": reply_to, "me": me},
    )
    if row is None:
        raise NotFound(f"reply_to={reply_to}: you have no message with that id; see message_query()")
    return int(row["thread_id"] or row["id"])


async def _insert_legacy(
    tx: Transaction,
    sender_id: str | None,
    sender_name: str,
    kind: str,
    audience: str,
    topic: str | None,
    out: Outgoing,
    now: float,
    secret: str | None,
    ref: tuple[str, str] | None = None,
) -> int:
    payload = signing.canonical(
        sender=sender_name, audience=audience, subject=out.subject, body=out.body, created_at=now
    )
    thread = await _thread_of_legacy(tx, out.reply_to, sender_id or "") if out.reply_to else None
    row = await tx.fetchone(
        "INSERT INTO messages(sender_id, sender_name, kind, topic, subject, body, priority, reply_to, thread_id,"
        " correlation_id, ack_required, ack_deadline, created_at, expires_at, signature, ref_type, ref_id, audience)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            sender_id,
            sender_name,
            kind,
            topic,
            out.subject,
            out.body,
            out.priority,
            out.reply_to,
            thread,
            out.correlation_id,
            int(out.ack_required),
            out.ack_deadline if out.ack_required else None,
            now,
            out.expires_at,
            signing.sign(secret, payload) if secret else None,
            ref[0] if ref else None,
            ref[1] if ref else None,
            audience,
        ),
    )
    assert row is not None
    message_id = int(row["id"])
    if thread is None:
        await tx.execute("UPDATE messages SET thread_id = id WHERE id = ?", (message_id,))
    return message_id


async def post_to_topic_legacy(
    tx: Transaction, sender: Sender, topic: str, out: Outgoing, *, now: float
) -> tuple[int, list[str]]:
    """A message from `sender` to the current followers of `topic`, inside the caller's transaction (so it
    commits with whatever it announces). Returns the message id and the names it reached."""
    check_text(out.subject, out.body)
    topic = check_topic(topic)
    rows = await tx.execute(
        "SELECT s.agent_id, a.name FROM topic_subscriptions s JOIN agents a ON a.id = s.agent_id"
        " WHERE ? GLOB s.pattern GROUP BY s.agent_id ORDER BY a.name",
        (topic,),
    )
    ids = [r["agent_id"] for r in rows]
    message_id = await _deliver_legacy(tx, sender, "topic", f"topic:{topic}", topic, ids, out, now)
    return message_id, [r["name"] for r in rows]


async def _deliver_legacy(
    tx: Transaction,
    sender: Sender,
    kind: str,
    audience: str,
    topic: str | None,
    recipients: Sequence[str],
    out: Outgoing,
    now: float,
) -> int:
    message_id = await _insert_legacy(tx, sender.id, sender.name, kind, audience, topic, out, now, sender.secret)
    await _fan_out_legacy(tx, message_id, recipients)
    await events.record_legacy(
        tx,
        now=now,
        agent_id=sender.id,
        kind="message.sent",
        object_type="message",
        object_id=message_id,
        data={"kind": kind, "recipients": len(recipients), "topic": topic},
    )
    return message_id


async def post_notice_legacy(
    tx: Transaction,
    *,
    recipients: Sequence[str],
    subject: str,
    body: str,
    ref_type: str,
    ref_id: str | int,
    now: float,
    secret: str | None = None,
) -> int | None:
    """Deliver a system notice ("vote requested", "task assigned to you") to agent ids, inside the
    caller's transaction. Returns the message id, or None when there is nobody to tell."""
    unique = sorted(set(recipients))
    if not unique:
        return None
    audience = json.dumps(unique)
    out = Outgoing(subject=subject[:SUBJECT_MAX], body=body)
    message_id = await _insert_legacy(
        tx, None, "system", "system", audience, None, out, now, secret, (ref_type, str(ref_id))
    )
    await _fan_out_legacy(tx, message_id, unique)
    return message_id


async def _fan_out_legacy(tx: Transaction, message_id: int, agent_ids: Sequence[str]) -> None:
    """One unread copy of the message for each recipient."""
    await tx.executemany(
        "INSERT INTO message_recipients(agent_id, message_id) VALUES (?, ?)", [(a, message_id) for a in agent_ids]
    )
