"""Sending mail: direct, topic and broadcast messages, system notices, subscriptions, acknowledgements.

One `messages` row per message (signed when the team has a secret) and one `message_recipients` row per
addressee holding read/ack state; a broadcast has one per agent but its sender, and an agent who joins while
it is live gets one then (inbox.deliver_broadcasts). A send is one write transaction (one hop) of a few
statements; mail's search index is filled after it, in the background (search.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.actor import Actor
from shared.db.connection import Database, Tx
from shared.errors import InvalidArgument, NotFound, RateLimited
from shared.rules import quoting, signing, visible
from shared.rules.clock import iso
from shared.store import events
from shared.store.mail import dialect, inbox, search
from shared.store.mail.inbox import OVERDUE_ACK
from shared.store.team import agents

if TYPE_CHECKING:  # the message model loads where mail is shown (inbox.to_message), not when a server starts
    from shared.models.messages import Message

SUBJECT_MAX = 200
BODY_MAX = 64 * 1024
RECIPIENTS_MAX = 50
SUBSCRIPTIONS_MAX = 100
TOPIC = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")
PATTERN = re.compile(r"[a-z0-9*][a-z0-9._*-]{0,99}")


def check_topic(topic: str, *, pattern: bool = False, known: bool = False) -> str:
    """The topic (or topic pattern) as stored: trimmed, lower case, refused in one line when not valid. Dots part
    a name, so no part is empty ('a..b', 'build.'); '*' already matches any characters, dots included, so a
    pattern has no '**'. `known`: a pattern already followed (to unsubscribe), checked only by its characters,
    so one stored before these rules can still be dropped."""
    value = topic.strip().lower()
    rule = PATTERN if pattern else TOPIC
    if not rule.fullmatch(value):
        allowed = "letters, digits, '.', '_', '-'" + (" and '*' wildcards" if pattern else "")
        raise InvalidArgument(
            f"topic {topic!r} is not valid: use {allowed}, e.g. build.done" + (" or build.*" if pattern else "")
        )
    if known:
        return value
    if "" in value.split("."):
        raise InvalidArgument(f"topic {topic!r} has an empty part between dots; write it as e.g. build.done")
    if "**" in value:
        raise InvalidArgument(
            f"topic pattern {topic!r}: one '*' already matches any characters, dots included; write e.g. build.*"
        )
    return value


def check_text(subject: str, body: str) -> None:
    if len(subject) > SUBJECT_MAX:
        raise InvalidArgument(f"subject is {len(subject)} characters; the limit is {SUBJECT_MAX}")
    size = len(body.encode())
    if size > BODY_MAX:
        raise InvalidArgument(
            f"body is {size} bytes; the limit is {BODY_MAX} bytes (64 KiB). Put large content in knowledge_add "
            "and send its id instead"
        )
    visible.require("body", body, "say something")


@dataclass(frozen=True)
class Outgoing:
    subject: str
    body: str
    priority: str = "normal"
    reply_to: int | None = None
    correlation_id: str | None = None
    expires_at: float | None = None
    ack_required: bool = False
    ack_deadline: float | None = None


BOOKED = "CASE WHEN sends_booked_until > :now AND sends_booked_until <= :horizon THEN sends_booked_until ELSE :now END"
"""Where the sender's next send is booked from: its booked time, or now when that is past (or NULL). A booked
time more than a minute ahead can only come from a clock set back: it counts as now (a fresh allowance), never
as a lock-out until the clock catches up."""


def rate_check(tx: Tx, sender: Actor) -> Actor:
    """Count one message against `sender`'s send rate, or refuse it (RateLimited) with when to try again: its
    own messages and the system notices its calls cause (messages.caused_by) count alike. O(1): one UPDATE of
    the sender's agents row (migration 0017, the generic cell rate algorithm): the message books 60/per_minute
    seconds from max(now, sends_booked_until), refused when that would book more than a minute ahead; so
    per_minute may go at once, then one every 60/per_minute seconds. Inside the caller's write, so a refused
    call writes nothing. Returns the sender under the name its row has now (agent_register may have renamed it)."""
    interval = 60.0 / sender.per_minute
    params = {"me": sender.id, "now": sender.now, "step": interval, "horizon": sender.now + 60 + 1e-6}
    booked = tx.fetchone(
        f"UPDATE agents SET sends_booked_until = {BOOKED} + :step"
        f" WHERE id = :me AND {BOOKED} + :step <= :horizon RETURNING name",
        params,
    )
    if booked is not None:
        return sender.named(str(booked["name"]))
    ahead = tx.scalar(f"SELECT {BOOKED} FROM agents WHERE id = :me", params)
    if ahead is None:
        return sender  # no such agent row (no one to limit): nothing was booked
    wait = max(float(ahead) + interval - 60 - sender.now, 0.1)
    raise RateLimited(
        f"{sender.name} has used its allowance of {sender.per_minute} messages a minute (ROUNDTABLE_SEND_RATE; its "
        f"own and the notices its calls cause); you may send again in {wait:.0f} s"
    )


def _thread_of(tx: Tx, reply_to: int | None, me: str) -> int | None:
    if reply_to is None:
        return None
    row = tx.fetchone(
        "SELECT m.thread_id, m.id FROM messages m WHERE m.id = :id AND (m.sender_id = :me OR m.kind = 'broadcast'"
        " OR EXISTS (SELECT 1 FROM message_recipients r WHERE r.message_id = m.id AND r.agent_id = :me))",
        {"id": reply_to, "me": me},
    )
    if row is None:
        raise NotFound(f"reply_to={reply_to}: you have no message with that id; see message_query()")
    return int(row["thread_id"] or row["id"])


COLUMNS = (
    "id, sender_id, sender_name, kind, topic, subject, body, priority, reply_to, thread_id, correlation_id,"
    " ack_required, ack_deadline, created_at, expires_at, ref_type, ref_id, audience, recipient_ids, caused_by,"
    " signature"
)
INSERT = f"INSERT INTO messages({COLUMNS}) VALUES ({', '.join(':' + c.strip() for c in COLUMNS.split(','))})"


def _insert(
    tx: Tx,
    sender_id: str | None,
    sender_name: str,
    kind: str,
    audience: str,
    topic: str | None,
    out: Outgoing,
    now: float,
    secret: str | None,
    ref: tuple[str, str] | None = None,
    recipients: Sequence[str] | None = None,
    caused_by: str | None = None,
) -> int:
    """Insert one message (recipients None: a broadcast, '*'), signed when the team has a secret, in one
    statement: its id is given first (search.next_id), so the thread of a new conversation (its own id) and
    the signature over the row as stored are known before the row is written."""
    message_id = search.next_id(tx)
    thread = _thread_of(tx, out.reply_to, sender_id or "") if out.reply_to else None
    row: dict[str, object] = {
        "id": message_id,
        "sender_id": sender_id,
        "sender_name": sender_name,
        "kind": kind,
        "topic": topic,
        "subject": out.subject,
        "body": out.body,
        "priority": out.priority,
        "reply_to": out.reply_to,
        "thread_id": thread or message_id,
        "correlation_id": out.correlation_id,
        "ack_required": int(out.ack_required),
        "ack_deadline": out.ack_deadline if out.ack_required else None,
        "created_at": now,
        "expires_at": out.expires_at,
        "ref_type": ref[0] if ref else None,
        "ref_id": ref[1] if ref else None,
        "audience": audience,
        "recipient_ids": "*" if recipients is None else json.dumps(sorted(set(recipients))),
        "caused_by": caused_by,
    }
    row["signature"] = signing.sign_v2(secret, row) if secret else None
    tx.execute(INSERT, row)
    return message_id


async def send(db: Database, sender: Actor, to: Sequence[str], out: Outgoing) -> tuple[int, list[str]]:
    """Send to agent names or one `topic:<name>`; returns the message id and who it was delivered to. One
    write transaction: the rate check (which also reads the sender's current name), the addressees, the
    message, its recipient rows and its event."""
    return await db.write(_send, sender, _addressed(to, out), out)


def _addressed(to: Sequence[str], out: Outgoing) -> tuple[list[str], str | None]:
    """The checked message's addressees: (agent names, None) or ([], topic)."""
    check_text(out.subject, out.body)
    targets = [t.strip() for t in to if t.strip()]
    if not targets:
        raise InvalidArgument("to is empty; name at least one agent, or 'topic:<name>'")
    if len(targets) > RECIPIENTS_MAX:
        raise InvalidArgument(f"{len(targets)} recipients; the limit is {RECIPIENTS_MAX}. Use message_broadcast")
    topics = [t for t in targets if t.lower().startswith("topic:")]
    if topics and len(targets) > 1:
        raise InvalidArgument("send to one topic ('topic:<name>') or to agent names, not both; send twice")
    return (targets, None) if not topics else ([], topics[0][6:])


async def send_shown(db: Database, sender: Actor, to: Sequence[str], out: Outgoing) -> tuple[Message, list[str]]:
    """`send`, returning the message as its sender sees it (with receipts), read in the same write: message_send
    in one hop."""
    return await db.write(_send_shown, sender, _addressed(to, out), out)


async def broadcast_shown(db: Database, sender: Actor, out: Outgoing) -> Message:
    """`broadcast`, returning the message as its sender sees it, read in the same write (one hop)."""
    check_text(out.subject, out.body)
    return await db.write(_broadcast_shown, sender, out)


def _send_shown(
    tx: Tx, sender: Actor, addressed: tuple[list[str], str | None], out: Outgoing
) -> tuple[Message, list[str]]:
    message_id, names = _send(tx, sender, addressed, out)
    return _as_sent(tx, sender, message_id), names


def _broadcast_shown(tx: Tx, sender: Actor, out: Outgoing) -> Message:
    return _as_sent(tx, sender, _broadcast(tx, sender, out))


def _as_sent(tx: Tx, sender: Actor, message_id: int) -> Message:
    found, _ = inbox.sent_page(tx, sender, 1, message_id - 1)
    return found[0]


def _send(tx: Tx, sender: Actor, addressed: tuple[list[str], str | None], out: Outgoing) -> tuple[int, list[str]]:
    targets, topic = addressed
    sender = rate_check(tx, sender)
    if topic is not None:
        return post_to_topic(tx, sender, topic, out)
    found = agents.named(tx, targets)
    names = sorted(found.values(), key=str.lower)
    return _deliver(tx, sender, "direct", json.dumps(names), None, list(found), out), names


def post_to_topic(tx: Tx, sender: Actor, topic: str, out: Outgoing) -> tuple[int, list[str]]:
    """A message from `sender` to the current followers of `topic`, inside the caller's transaction (so it
    commits with whatever it announces). Returns the message id and the names it reached."""
    check_text(out.subject, out.body)
    topic = check_topic(topic)
    rows = tx.execute(
        "SELECT s.agent_id, a.name FROM topic_subscriptions s JOIN agents a ON a.id = s.agent_id"
        f" WHERE {dialect.of(tx).topic_matches('?', 's.pattern')} GROUP BY s.agent_id, a.name ORDER BY a.name",
        (topic,),
    )
    ids = [r["agent_id"] for r in rows]
    message_id = _deliver(tx, sender, "topic", f"topic:{topic}", topic, ids, out)
    return message_id, [r["name"] for r in rows]


def _deliver(
    tx: Tx,
    sender: Actor,
    kind: str,
    audience: str,
    topic: str | None,
    recipients: Sequence[str],
    out: Outgoing,
) -> int:
    message_id = _insert(
        tx, sender.id, sender.name, kind, audience, topic, out, sender.now, sender.secret, recipients=recipients
    )
    _fan_out(tx, message_id, recipients)
    events.record(
        tx,
        now=sender.now,
        agent_id=sender.id,
        agent_name=sender.name,
        kind="message.sent",
        object_type="message",
        object_id=message_id,
        data={"kind": kind, "recipients": len(recipients), "topic": topic},
    )
    return message_id


async def broadcast(db: Database, sender: Actor, out: Outgoing) -> int:
    """A message for every agent, including those who join before it expires."""
    check_text(out.subject, out.body)
    return await db.write(_broadcast, sender, out)


def _broadcast(tx: Tx, sender: Actor, out: Outgoing) -> int:
    sender = rate_check(tx, sender)
    message_id = _insert(tx, sender.id, sender.name, "broadcast", "*", None, out, sender.now, sender.secret)
    tx.execute(
        "INSERT INTO message_recipients(agent_id, message_id) SELECT id, ? FROM agents WHERE id != ?",
        (message_id, sender.id),
    )
    events.record(
        tx,
        now=sender.now,
        agent_id=sender.id,
        agent_name=sender.name,
        kind="message.broadcast",
        object_type="message",
        object_id=message_id,
        data={"expires_at": iso(out.expires_at)},
    )
    return message_id


def post_notice(
    tx: Tx,
    actor: Actor,
    *,
    recipients: Sequence[str],
    subject: str,
    body: str,
    ref_type: str,
    ref_id: str | int,
    counted: bool = False,
) -> int | None:
    """Deliver a system notice ("vote requested", "task assigned to you") to agent ids, inside the
    caller's transaction, at the actor's time and signed with the actor's team secret (so every notice
    verifies when the team has one). Returns the message id, or None when there is nobody to tell.

    `counted`: the notice is caused by the actor's own call (task_create with an assignee, a proposal),
    so it counts against the actor's send rate and is refused past it; notices of background rounds
    (closing, lease sweeps) are not counted."""
    unique = sorted(set(recipients))
    if not unique:
        return None
    audience = json.dumps(unique)
    out = Outgoing(subject=subject[:SUBJECT_MAX], body=body)
    ref = (ref_type, str(ref_id))
    if counted:
        rate_check(tx, actor)
    cause = actor.id if counted else None
    message_id = _insert(tx, None, "system", "system", audience, None, out, actor.now, actor.secret, ref, unique, cause)
    _fan_out(tx, message_id, unique)
    return message_id


def _fan_out(tx: Tx, message_id: int, agent_ids: Sequence[str]) -> None:
    """One unread copy of the message for each recipient."""
    tx.executemany(
        "INSERT INTO message_recipients(agent_id, message_id) VALUES (?, ?)", [(a, message_id) for a in agent_ids]
    )


async def set_subscription(db: Database, me: Actor, pattern: str, *, subscribe: bool) -> None:
    """Follow (or stop following) a topic pattern as `me`, at `me.now`."""
    await change_subscriptions(db, me, [pattern] if subscribe else [], [] if subscribe else [pattern])


async def change_subscriptions(db: Database, me: Actor, subscribe: Sequence[str], unsubscribe: Sequence[str]) -> None:
    """Follow the `subscribe` patterns and stop following the `unsubscribe` ones, as `me` at `me.now`, in one
    write: every pattern is checked first, and one refused (not valid, not followed, past the limit) changes none."""
    follow = [check_topic(p, pattern=True) for p in subscribe]
    drop = [check_topic(p, pattern=True, known=True) for p in unsubscribe]
    if both := sorted(set(follow) & set(drop)):  # followed, then dropped in the same call: it did nothing
        raise InvalidArgument(f"{', '.join(map(repr, both))} is in both subscribe and unsubscribe; pass each in one")
    await db.write(_change_subscriptions, me, follow, drop)


def _change_subscriptions(tx: Tx, me: Actor, follow: list[str], drop: list[str]) -> None:
    for value in follow:
        _set_subscription(tx, me, value, True)
    for value in drop:
        _set_subscription(tx, me, value, False)


def _set_subscription(tx: Tx, me: Actor, value: str, subscribe: bool) -> None:
    if subscribe:
        count = tx.scalar("SELECT count(*) FROM topic_subscriptions WHERE agent_id = ?", (me.id,))
        if count is not None and count >= SUBSCRIPTIONS_MAX:
            raise InvalidArgument(f"you follow {SUBSCRIPTIONS_MAX} patterns already; unsubscribe from some")
        tx.execute(
            "INSERT INTO topic_subscriptions(agent_id, pattern, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (me.id, value, me.now),
        )
    else:
        gone = tx.execute(
            "DELETE FROM topic_subscriptions WHERE agent_id = ? AND pattern = ? RETURNING pattern",
            (me.id, value),
        )
        if not gone:
            raise NotFound(f"you are not subscribed to {value!r}; list your patterns with message_subscribe()")
    events.record(
        tx,
        now=me.now,
        agent_id=me.id,
        kind="topic.subscribed" if subscribe else "topic.unsubscribed",
        object_type="topic",
        object_id=value,
    )


async def subscriptions(db: Database, me: Actor) -> list[str]:
    """The topic patterns `me` follows, in order."""
    rows = await db.fetchall("SELECT pattern FROM topic_subscriptions WHERE agent_id = ? ORDER BY pattern", (me.id,))
    return [str(r["pattern"]) for r in rows]


ACK_MAX = 500
"""Messages one `up_to` acknowledgement takes at most (the oldest first; as many as `ids` may name): a backlog
of any length is acknowledged in bounded writes."""


OWED_UP_TO = (
    "SELECT r.message_id FROM message_recipients r INDEXED BY message_recipients_owing"
    " WHERE r.agent_id = :me AND r.acked_at IS NULL"
    " AND r.message_id <= :up_to ORDER BY r.message_id LIMIT :n"
)
"""My oldest messages not yet acknowledged up to an id, off the index of what is owed (the primary key would also
read every acknowledged one)."""


@dataclass(frozen=True)
class Acknowledged:
    fresh: list[int]
    already: list[int]
    more: bool
    """`up_to` reached ACK_MAX: unacknowledged messages up to the id remain."""


async def acknowledge(db: Database, me: Actor, ids: Sequence[int], up_to: int | None) -> Acknowledged:
    """Acknowledge messages addressed to me at `me.now`: by id, or the unacknowledged ones up to an id (the
    oldest ACK_MAX of them; read off the index of what is still owed, so the cost is the backlog's, not the
    history's)."""
    return await db.write(_acknowledge, me, list(ids), up_to)


def _acknowledge(tx: Tx, me: Actor, ids: list[int], up_to: int | None) -> Acknowledged:
    more = False
    if up_to is not None:
        owed = tx.execute(OWED_UP_TO, {"me": me.id, "up_to": up_to, "n": ACK_MAX + 1})
        fresh, already, more = [int(r[0]) for r in owed[:ACK_MAX]], [], len(owed) > ACK_MAX
    else:
        visible = (
            "SELECT m.id, r.acked_at FROM messages m LEFT JOIN message_recipients r"
            " ON r.message_id = m.id AND r.agent_id = :me WHERE (r.agent_id IS NOT NULL OR"
            f" (m.kind = 'broadcast' AND {dialect.of(tx).differs('m.sender_id', ':me')}))"
        )
        d = dialect.of(tx)
        rows = tx.execute(visible + f" AND m.id IN ({d.each_id(':ids')})", {"me": me.id, "ids": d.id_list(ids)})
        missing = sorted(set(ids) - {int(r["id"]) for r in rows})
        if missing:
            raise NotFound(f"messages [{quoting.few(missing)}] are not addressed to you; see message_query()")
        fresh = [int(r["id"]) for r in rows if r["acked_at"] is None]
        already = [int(r["id"]) for r in rows if r["acked_at"] is not None]
    tx.executemany(
        "INSERT INTO message_recipients(agent_id, message_id, read_at, acked_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT(agent_id, message_id) DO UPDATE SET acked_at = excluded.acked_at,"
        " read_at = COALESCE(message_recipients.read_at, excluded.read_at)",
        [(me.id, i, me.now, me.now) for i in fresh],
    )
    if fresh:
        events.record(
            tx,
            now=me.now,
            agent_id=me.id,
            kind="message.acknowledged",
            object_type="message",
            object_id=fresh[-1],
            data={"ids": fresh[:50], "count": len(fresh)},
        )
    return Acknowledged(sorted(fresh), sorted(already), more)


async def overdue_acks(db: Database, *, now: float) -> int:
    """How many (message, recipient) pairs await an acknowledgement past their deadline (inbox.OVERDUE_ACK),
    from agents still known (a pruned agent can no longer acknowledge, and agent_status cannot show it)."""
    return int(
        await db.scalar(
            "SELECT count(*) FROM messages m INDEXED BY messages_owing_ack"
            " JOIN message_recipients r ON r.message_id = m.id"
            f" JOIN agents a ON a.id = r.agent_id WHERE m.ack_required = 1 AND {OVERDUE_ACK}",
            {"now": now},
        )
    )
