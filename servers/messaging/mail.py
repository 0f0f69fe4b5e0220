"""The messaging tools: sending (direct, topic, broadcast), topics, reading, acknowledging, waiting for mail;
and the inbox resource. Registered by servers/messaging/__init__.py; the SQL lives in shared/store/mail.
"""

from __future__ import annotations

import json
import time
from contextlib import aclosing
from dataclasses import replace
from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import Context
from pydantic import AfterValidator, Field

from shared.actor import Actor
from shared.errors import InvalidArgument, RateLimited
from shared.frame.jobs import every
from shared.frame.runtime import RoundtableServer, Runtime, runtime
from shared.frame.tool import one_item, tool
from shared.models.messages import AckResult, Inbox, Message, MessagePriority, SendResult, Subscriptions, WaitResult
from shared.rules import cursor as cursors
from shared.rules.timeparse import parse_duration, parse_when
from shared.store.mail import inbox, search
from shared.store.mail import send as messages

PROGRESS_EVERY = 5.0
"""message_wait reports progress this often (seconds) while it waits."""

Name = Annotated[str, Field(min_length=1, max_length=106), AfterValidator(one_item)]
Names = Annotated[list[Name], Field(min_length=1, max_length=50)]
Subject = Annotated[str, Field(max_length=messages.SUBJECT_MAX)]
Body = Annotated[str, Field(min_length=1, max_length=messages.BODY_MAX)]
Pattern = Annotated[str, Field(max_length=100)]  # as a topic in message_query and message_wait
Expiry = Annotated[str | None, Field(max_length=40, description='e.g. "2h"')]
BROADCAST_LIFE = "1d"
"""How long a broadcast waits for agents who join later, unless expires_in says otherwise."""


def _outgoing(
    me: Actor, subject: str, body: str, priority: str, expires_in: str | None, **extra: Any
) -> messages.Outgoing:
    expires = (
        me.now + parse_duration(expires_in, field="expires_in", minimum=10, maximum=90 * 86400) if expires_in else None
    )
    return messages.Outgoing(subject=subject, body=body, priority=priority, expires_at=expires, **extra)


async def index_mail(rt: Runtime) -> None:
    """One round of mail's search indexer: the messages past the index's mark, in batches (search.py)."""
    await search.index_pending(rt.db)


INDEXING = every(search.INDEX_SECONDS, index_mail, what="indexing mail for search", at_start=True)


@tool(read_only=False, title="Send a message")
async def message_send(
    to: Annotated[Names, Field(description="names, or 'topic:<name>'")],
    body: Body,
    ctx: Context[Any, Any],
    subject: Subject = "",
    priority: MessagePriority = "normal",
    reply_to: Annotated[int | None, Field(ge=1)] = None,
    correlation_id: Annotated[str | None, Field(max_length=100)] = None,
    expires_in: Expiry = None,
    ack_required: Annotated[bool, Field()] = False,
    ack_within: Annotated[str | None, Field(max_length=40, description='default "1h"')] = None,
) -> SendResult:
    """Send to agents by name, or to a topic's followers (to='topic:<name>'); delivered once to each,
    online or not. For everyone, message_broadcast. Returns the message and who it reached."""
    rt = runtime(ctx)
    sender = rt.require_writer()  # under its current name: the send's rate check reads it (one hop in all)
    if ack_within is not None and not ack_required:
        raise InvalidArgument("ack_within is the time to acknowledge; add ack_required=true, or leave ack_within out")
    within = "1h" if ack_within is None else ack_within
    deadline = sender.now + parse_duration(within, field="ack_within", minimum=10, maximum=30 * 86400)
    out = _outgoing(
        sender,
        subject,
        body,
        priority,
        expires_in,
        reply_to=reply_to,
        correlation_id=correlation_id,
        ack_required=ack_required,
        ack_deadline=deadline,
    )
    if ack_required and ack_within is None and out.expires_at is not None:  # the default hour, within its life
        out = replace(out, ack_deadline=min(deadline, out.expires_at))
    elif ack_required and out.expires_at is not None and out.expires_at < deadline:  # gone before it is due
        raise InvalidArgument(
            f"the message expires (expires_in={expires_in!r}) before its acknowledgement is due"
            f" (ack_within={within!r}); give an ack_within shorter than expires_in, or a longer expires_in"
        )
    message, names = await messages.send_shown(rt.db, sender, to, out)
    step = f"Delivered to {', '.join(names)}." if names else "Nobody subscribes to that topic yet; it was kept."
    if ack_required:
        step += " See acknowledgements with message_query(sent=true)."
    return SendResult(message=message, delivered_to=names, next_step=step)


@tool(read_only=False, title="Broadcast a message")
async def message_broadcast(
    body: Body,
    ctx: Context[Any, Any],
    subject: Subject = "",
    priority: MessagePriority = "normal",
    expires_in: Annotated[str, Field(max_length=40)] = BROADCAST_LIFE,
) -> SendResult:
    """Send to every agent, including those who join before it expires."""
    rt = runtime(ctx)
    sender = rt.require_writer()  # under its current name: the send's rate check reads it (one hop in all)
    # A broadcast always expires: "" is the default, not "never" (every agent joining later would get it).
    out = _outgoing(sender, subject, body, priority, expires_in.strip() or BROADCAST_LIFE)
    return SendResult(
        message=await messages.broadcast_shown(rt.db, sender, out),
        delivered_to=["*"],
        next_step="Every agent will see it in its inbox.",
    )


@tool(read_only=False, idempotent=True, title="Follow or leave topics")
async def message_subscribe(
    ctx: Context[Any, Any],
    subscribe: Annotated[list[Pattern], Field(max_length=20)] = [],  # noqa: B006
    unsubscribe: Annotated[list[Pattern], Field(max_length=20)] = [],  # noqa: B006
) -> Subscriptions:
    """Follow topic patterns ('build.*' matches 'build.done') or stop; no arguments lists yours."""
    rt = runtime(ctx)
    me = rt.require_writer() if subscribe or unsubscribe else rt.actor()
    if subscribe or unsubscribe:
        await messages.change_subscriptions(rt.db, me, subscribe, unsubscribe)
    patterns = await messages.subscriptions(rt.db, me)
    return Subscriptions(patterns=patterns, next_step="Mail to matching topics arrives in message_query().")


@tool(read_only=False, title="Read mail")
async def message_query(
    ctx: Context[Any, Any],
    unread_only: Annotated[bool, Field()] = True,
    sender: Annotated[str | None, Field(max_length=100)] = None,
    topic: Annotated[str | None, Field(max_length=100)] = None,
    thread: Annotated[int | None, Field(ge=1, description="a message id: its whole thread")] = None,
    since: Annotated[str | None, Field(max_length=40, description='ISO time or "2h" (ago)')] = None,
    text: Annotated[str | None, Field(max_length=200)] = None,
    sent: Annotated[bool, Field()] = False,
    mark_read: Annotated[bool, Field()] = True,
    limit: Annotated[int, Field(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Field(max_length=20)] = None,
) -> Inbox:
    """Read your mail, unread oldest first, marking it read. Filter by sender, topic, time or words;
    thread: a whole conversation; sent: your mail and who read or acknowledged it. To block, message_wait."""
    rt = runtime(ctx)
    me = rt.actor()
    after = cursors.offset(cursor, tool="message_query")
    marking = mark_read and not sent and me.role != "observer"
    left: int | None = None
    next_after: int | None = None
    if thread is not None:
        found = await inbox.thread(rt.db, me, thread)
        if marking:
            _, left = await inbox.mark_read_counting(rt.db, me, [m.id for m in found if not m.read])
    elif sent:
        found, more = await inbox.sent(rt.db, me, limit=limit, after=after)
        next_after = found[-1].id if more and found else None
    else:
        since_ts = None
        if since:
            since_ts = (
                parse_when(since, field="since", now=me.now)
                if ("-" in since or "T" in since)
                else (me.now - parse_duration(since, field="since", maximum=366 * 86400))
            )
            if since_ts > me.now:  # mail from the future: nothing could ever match
                raise InvalidArgument(
                    f'since={since!r} is in the future; give a past time or how long ago, e.g. since="2h"'
                )
        pattern = messages.check_topic(topic, pattern=True) if topic else None
        f = inbox.InboxFilter(unread_only=unread_only, sender=sender, topic=pattern, since=since_ts, text=text)
        found, next_after, left = await inbox.read_page(rt.db, me, f, limit=limit, after=after, mark=marking)
    next_cursor = cursors.encode(next_after) if next_after is not None else None
    if left is None:
        left = await inbox.unread_count(rt.db, me)
    return Inbox(messages=found, unread_left=left, next_cursor=next_cursor)


@tool(read_only=False, idempotent=True, title="Acknowledge messages")
async def message_acknowledge(
    ctx: Context[Any, Any],
    ids: Annotated[list[Annotated[int, Field(ge=1)]], Field(max_length=500)] = [],  # noqa: B006
    up_to: Annotated[int | None, Field(ge=1)] = None,
) -> AckResult:
    """Confirm you handled messages (ids, or every one up to an id, 500 at a time); the sender sees it."""
    rt = runtime(ctx)
    me = rt.require_writer()
    if not ids and up_to is None:
        raise InvalidArgument("pass ids=[…] or up_to=<id>")
    if ids and up_to is not None:
        raise InvalidArgument("pass ids=[…] or up_to=<id>, not both")
    done = await messages.acknowledge(rt.db, me, ids, up_to)
    if done.more:
        step = (
            f"Acknowledged the oldest {len(done.fresh)}; more up to {up_to} remain: call"
            f" message_acknowledge(up_to={up_to}) again."
        )
    elif done.fresh:
        step = f"Acknowledged {len(done.fresh)}; their senders see it."
    elif up_to is not None:
        step = f"Nothing to acknowledge: no message for you up to id {up_to} awaits it."
    else:
        step = "Nothing new: you had acknowledged these already."
    return AckResult(acknowledged=done.fresh, already=done.already, next_step=step)


WAIT_DEFAULT = 45.0
"""Seconds a wait lasts at most when the client sent no progress token: under the common client request
timeouts (the TypeScript SDK's default is 60 s, after which the call fails with -32001)."""
WAIT_DEFAULT_WITH_PROGRESS = 60.0


def wait_seconds(asked: float | None, *, progress: bool) -> float:
    """How long message_wait waits: what was asked (or the default), capped under the common client
    timeouts unless the client sent a progress token (then progress every few seconds keeps it waiting,
    e.g. the TypeScript SDK's resetTimeoutOnProgress)."""
    if progress:
        return WAIT_DEFAULT_WITH_PROGRESS if asked is None else asked
    return WAIT_DEFAULT if asked is None else min(asked, WAIT_DEFAULT)


def _progress_token(ctx: Context[Any, Any]) -> object:
    meta = ctx.request_context.meta or {}
    return meta.get("progress_token", meta.get("progressToken"))


@tool(read_only=False, title="Wait for mail")
async def message_wait(
    ctx: Context[Any, Any],
    timeout: Annotated[  # noqa: ASYNC109
        float | None,
        Field(ge=1, le=300, description="seconds; default 45 (60 with a progress token), at most 45 without one"),
    ] = None,
    topic: Annotated[str | None, Field(max_length=100)] = None,
    thread: Annotated[int | None, Field(ge=1)] = None,
) -> WaitResult:
    """Wait for unread mail (optionally on a topic or thread) and return it, marked read; at once
    if some is waiting. Use instead of polling message_query."""
    rt = runtime(ctx)
    pattern = messages.check_topic(topic, pattern=True) if topic else None
    if thread is not None:
        await inbox.require_thread(rt.db, rt.actor(), thread)
    f = inbox.InboxFilter(unread_only=True, topic=pattern, thread=thread)
    if (  # following no topic, nothing can arrive on one: the wait ran out its timeout
        pattern is not None
        and not await messages.subscriptions(rt.db, rt.actor())
        and not (await inbox.page(rt.db, rt.actor(), f, limit=1, after=0))[0]
    ):
        raise InvalidArgument(
            f"you follow no topics, so no mail on {topic!r} can arrive; follow it first with"
            f" message_subscribe(subscribe=[{topic!r}])"
        )
    limit, me = rt.settings.max_waits, rt.agent
    if rt.waiting.full(me.id, limit):
        raise RateLimited(
            f"{me.name} already has {rt.waiting[me.id]} message_wait calls waiting on this server (the limit is "
            f"{limit}, ROUNDTABLE_MAX_WAITS); let one return first, or wait on a topic pattern that covers them all"
        )
    with rt.waiting.held(me.id):
        return await _wait(ctx, rt, f, wait_seconds(timeout, progress=_progress_token(ctx) is not None))


async def _wait(ctx: Context[Any, Any], rt: Runtime, f: inbox.InboxFilter, timeout: float) -> WaitResult:  # noqa: ASYNC109
    started = time.monotonic()
    deadline = started + timeout
    while (left := deadline - time.monotonic()) > 0:
        # Wait in stretches of PROGRESS_EVERY seconds, reporting progress between them; each stretch
        # looks at once, then after every commit by another process (rt.changes, shared/db/watch.py).
        with anyio.move_on_after(min(left, PROGRESS_EVERY)):
            async with aclosing(rt.changes.changes()) as changes:
                async for _ in changes:
                    if found := await _take_mail(rt, f):
                        return WaitResult(
                            arrived=True,
                            messages=found,
                            waited_seconds=round(time.monotonic() - started, 3),
                            next_step="Answer with message_send(reply_to=…) or acknowledge if asked.",
                        )
        now = time.monotonic()
        if now < deadline:
            await ctx.report_progress(now - started, timeout, "waiting for mail")
    return WaitResult(
        arrived=False,
        messages=[],
        waited_seconds=round(time.monotonic() - started, 3),
        next_step="Nothing arrived; wait again or get on with other work.",
    )


async def _take_mail(rt: Runtime, f: inbox.InboxFilter) -> list[Message]:
    """The unread mail matching `f`, marked read by this call (an observer only looks).

    The marking is shielded from the wait's timeout, so mail marked read is always returned. When
    another reader of this agent took all of it meanwhile, look again at once: more may be waiting.
    """
    while True:
        me = rt.actor()
        found, _ = await inbox.page(rt.db, me, f, limit=50, after=0)
        if not found or me.role == "observer":
            return found
        with anyio.CancelScope(shield=True):
            taken = await inbox.mark_read(rt.db, me, [m.id for m in found])
        if taken:
            return [m for m in found if m.id in taken]


TOOLS = (message_send, message_broadcast, message_subscribe, message_query, message_acknowledge, message_wait)


async def unread_fingerprint(rt: Runtime, who: Actor | None) -> tuple[int, int]:
    """What the inbox resource shows `who` (a subscriber; None over stdio: this process's agent) changes
    exactly when this does (its watcher compares it, for each agent subscribed)."""
    return await inbox.unread_fingerprint(rt.db, (who or rt.agent).at(rt.clock()))


async def unread_mail(server: RoundtableServer) -> str:
    """Your unread mail (reading it here does not mark it read): the inbox resource's contents."""
    rt = server.current()
    found, more = await inbox.page(rt.db, rt.actor(), inbox.InboxFilter(unread_only=True), limit=100, after=0)
    return json.dumps({"unread": [m.model_dump(mode="json") for m in found], "more": more})
