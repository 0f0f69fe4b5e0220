"""roundtable-messaging: direct, topic and broadcast mail between agents; acknowledgements; waiting for mail.

A thin MCP adapter over shared/store/mail (send.py sends, inbox.py reads).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from shared.actor import Actor
from shared.config import Settings
from shared.errors import InvalidArgument
from shared.frame.notify import serve_legacy_subscriptions, watcher
from shared.frame.runtime import Runtime, create_server, run_main, runtime
from shared.frame.tool import tool
from shared.models.messages import AckResult, Inbox, Message, MessagePriority, SendResult, Subscriptions, WaitResult
from shared.rules.clock import Clock, system_clock
from shared.rules.timeparse import parse_duration, parse_when
from shared.store.mail import inbox
from shared.store.mail import send as messages

DESCRIPTION = "Roundtable messaging server: mail between agents, topics, broadcasts and waiting for mail."
INBOX_URI = "roundtable://inbox"
POLL_SECONDS = 0.015
PROGRESS_EVERY = 5.0

INSTRUCTIONS = """\
Mail between the agents sharing one Roundtable database. message_send writes to agent names or to
'topic:<name>'; message_broadcast reaches everyone (also agents who join later). message_query reads your
inbox (unread by default; reading marks as read) and threads; message_wait blocks until mail arrives
instead of polling; message_acknowledge confirms messages that ask for it. System notices (a task assigned
to you, a vote requested) arrive here too.
"""

Names = Annotated[list[Annotated[str, Field(min_length=1, max_length=106)]], Field(min_length=1, max_length=50)]
Subject = Annotated[str, Field(max_length=messages.SUBJECT_MAX, description="one line")]
Body = Annotated[str, Field(min_length=1, max_length=messages.BODY_MAX, description="the message (≤ 64 KiB)")]
Expiry = Annotated[str | None, Field(max_length=40, description='gone after this long, e.g. "2h" or "1d"')]


async def _sender(rt: Runtime) -> Actor:
    return await rt.writer()


async def _fingerprint(rt: Runtime) -> tuple[int, int]:
    return await inbox.unread_fingerprint(rt.db, rt.agent.id, now=rt.now())


def _cursor(value: str | None) -> int:
    if not value:
        return 0
    if not value.isdigit():
        raise InvalidArgument(f"cursor {value!r} is not one message_query returned; pass next_cursor or omit it")
    return int(value)


def build_server(settings: Settings, clock: Clock = system_clock) -> MCPServer[Runtime]:
    mcp = create_server(
        "messaging", settings, instructions=INSTRUCTIONS, clock=clock, background=[watcher(INBOX_URI, _fingerprint)]
    )
    serve_legacy_subscriptions(mcp)

    async def outgoing(
        rt: Runtime, subject: str, body: str, priority: str, expires_in: str | None, **extra: Any
    ) -> messages.Outgoing:
        now = rt.now()
        expires = (
            now + parse_duration(expires_in, field="expires_in", minimum=10, maximum=90 * 86400) if expires_in else None
        )
        return messages.Outgoing(subject=subject, body=body, priority=priority, expires_at=expires, **extra)

    async def reread(rt: Runtime, message_id: int) -> Message:
        found = await inbox.sent(
            rt.db, rt.agent.id, limit=1, after=message_id - 1, now=rt.now(), secret=rt.settings.secret
        )
        return found[0][0]

    @tool(mcp, read_only=False, title="Send a message")
    async def message_send(
        to: Annotated[Names, Field(description="agent names, or one 'topic:<name>' to reach its subscribers")],
        body: Body,
        ctx: Context[Any, Any],
        subject: Subject = "",
        priority: MessagePriority = "normal",
        reply_to: Annotated[int | None, Field(ge=1, description="id of the message you answer (threads)")] = None,
        correlation_id: Annotated[str | None, Field(max_length=100, description="your own id to match replies")] = None,
        expires_in: Expiry = None,
        ack_required: Annotated[bool, Field(description="recipients should confirm with message_acknowledge")] = False,
        ack_within: Annotated[str, Field(max_length=40, description="acknowledgement deadline, e.g. 1h")] = "1h",
    ) -> SendResult:
        """Send a message to one or more agents by name, or to a topic's subscribers ('topic:build.done').

        Delivered exactly once to each recipient, online or not. Unknown names are refused with the list
        of known agents. Returns the message and who it reached.
        """
        rt = runtime(ctx)
        sender = await _sender(rt)
        deadline = sender.now + parse_duration(ack_within, field="ack_within", minimum=10, maximum=30 * 86400)
        out = await outgoing(
            rt,
            subject,
            body,
            priority,
            expires_in,
            reply_to=reply_to,
            correlation_id=correlation_id,
            ack_required=ack_required,
            ack_deadline=deadline,
        )
        message_id, names = await messages.send(rt.db, sender, to, out)
        step = f"Delivered to {', '.join(names)}." if names else "Nobody subscribes to that topic yet; it was kept."
        if ack_required:
            step += " See acknowledgements with message_query(sent=true)."
        return SendResult(message=await reread(rt, message_id), delivered_to=names, next_step=step)

    @tool(mcp, read_only=False, title="Broadcast a message")
    async def message_broadcast(
        body: Body,
        ctx: Context[Any, Any],
        subject: Subject = "",
        priority: MessagePriority = "normal",
        expires_in: Annotated[
            str, Field(max_length=40, description="lifetime; agents joining later see it until then")
        ] = "1d",
    ) -> SendResult:
        """Send a message to every agent, including agents that join before it expires."""
        rt = runtime(ctx)
        sender = await _sender(rt)
        out = await outgoing(rt, subject, body, priority, expires_in)
        message_id = await messages.broadcast(rt.db, sender, out)
        return SendResult(
            message=await reread(rt, message_id), delivered_to=["*"], next_step="Every agent will see it in its inbox."
        )

    @tool(mcp, read_only=False, idempotent=True, title="Follow or leave topics")
    async def message_subscribe(
        ctx: Context[Any, Any],
        subscribe: Annotated[
            list[str], Field(max_length=20, description="topic patterns to follow, e.g. build.*")
        ] = [],  # noqa: B006
        unsubscribe: Annotated[list[str], Field(max_length=20, description="patterns to stop following")] = [],  # noqa: B006
    ) -> Subscriptions:
        """Follow topics (wildcards such as 'build.*' match 'build.done'), stop following them, or — with no
        arguments — list the patterns you follow. Messages sent to 'topic:<name>' reach current followers."""
        rt = runtime(ctx)
        me = rt.agent
        if subscribe or unsubscribe:
            rt.require_writer()
        for pattern in subscribe:
            await messages.set_subscription(rt.db, me.id, pattern, subscribe=True, now=rt.now())
        for pattern in unsubscribe:
            await messages.set_subscription(rt.db, me.id, pattern, subscribe=False, now=rt.now())
        patterns = await messages.subscriptions(rt.db, me.id)
        return Subscriptions(patterns=patterns, next_step="Mail to matching topics arrives in message_query().")

    @tool(mcp, read_only=False, title="Read mail")
    async def message_query(
        ctx: Context[Any, Any],
        unread_only: Annotated[bool, Field(description="false includes mail you already read")] = True,
        sender: Annotated[str | None, Field(max_length=100)] = None,
        topic: Annotated[str | None, Field(max_length=100, description="topic or pattern, e.g. build.*")] = None,
        thread: Annotated[
            int | None, Field(ge=1, description="show this whole thread (all messages, in order)")
        ] = None,
        since: Annotated[str | None, Field(max_length=40, description="ISO time, or how long ago, e.g. 2h")] = None,
        text: Annotated[str | None, Field(max_length=200, description="words in the subject or body")] = None,
        sent: Annotated[bool, Field(description="your sent messages, with who read and acknowledged each")] = False,
        mark_read: Annotated[bool, Field(description="mark returned messages as read")] = True,
        limit: Annotated[int, Field(ge=1, le=100)] = 20,
        cursor: Annotated[str | None, Field(max_length=20, description="next_cursor from the previous page")] = None,
    ) -> Inbox:
        """Read your inbox: unread messages oldest first (reading marks them read, so each arrives once).

        Filter by sender, topic, time or words; `thread` shows a whole conversation; `sent` shows what you
        sent and who read or acknowledged it.
        """
        rt = runtime(ctx)
        me, now, secret = rt.agent, rt.now(), rt.settings.secret
        after = _cursor(cursor)
        if thread is not None:
            found, more = await inbox.thread(rt.db, me.id, thread, now=now, secret=secret), False
        elif sent:
            found, more = await inbox.sent(rt.db, me.id, limit=limit, after=after, now=now, secret=secret)
        else:
            since_ts = None
            if since:
                since_ts = (
                    parse_when(since, field="since", now=now)
                    if ("-" in since or "T" in since)
                    else (now - parse_duration(since, field="since", maximum=366 * 86400))
                )
            pattern = messages.check_topic(topic, pattern=True) if topic else None
            f = inbox.InboxFilter(
                unread_only=unread_only and not sent, sender=sender, topic=pattern, since=since_ts, text=text
            )
            found, more = await inbox.page(rt.db, me.id, f, limit=limit, after=after, now=now, secret=secret)
        next_cursor = str(found[-1].id) if more and found else None
        if mark_read and not sent and rt.settings.role != "observer":
            taken = await inbox.mark_read(rt.db, me.id, [m.id for m in found if not m.read], now=now)
            if unread_only and thread is None:  # unread mail another reader of ours took meanwhile is theirs
                found = [m for m in found if m.id in taken]
        left = await inbox.unread_count(rt.db, me.id, now=now)
        return Inbox(messages=found, unread_left=left, next_cursor=next_cursor)

    @tool(mcp, read_only=False, idempotent=True, title="Acknowledge messages")
    async def message_acknowledge(
        ctx: Context[Any, Any],
        ids: Annotated[list[Annotated[int, Field(ge=1)]], Field(max_length=500)] = [],  # noqa: B006
        up_to: Annotated[int | None, Field(ge=1, description="acknowledge every message to you up to this id")] = None,
    ) -> AckResult:
        """Confirm you received and handled messages (by ids, or all up to an id). Senders see it."""
        rt = runtime(ctx)
        me = rt.require_writer()
        if not ids and up_to is None:
            raise InvalidArgument("pass ids=[…] or up_to=<id>")
        fresh, already = await messages.acknowledge(rt.db, me.id, ids, up_to, now=rt.now())
        return AckResult(acknowledged=fresh, already=already)

    @tool(mcp, read_only=False, title="Wait for mail")
    async def message_wait(
        ctx: Context[Any, Any],
        timeout: Annotated[float, Field(ge=1, le=300, description="seconds to wait at most")] = 60,  # noqa: ASYNC109
        topic: Annotated[str | None, Field(max_length=100, description="wait only for this topic/pattern")] = None,
        thread: Annotated[int | None, Field(ge=1, description="wait only for replies in this thread")] = None,
    ) -> WaitResult:
        """Block until unread mail arrives for you (or on a topic, or in a thread), then return it, marked
        read. Returns at once if such mail is already waiting. Use it instead of polling message_query."""
        rt = runtime(ctx)
        me = rt.agent
        pattern = messages.check_topic(topic, pattern=True) if topic else None
        f = inbox.InboxFilter(unread_only=True, topic=pattern, thread=thread)
        started = time.monotonic()
        next_progress = started + PROGRESS_EVERY
        last_version: int | None = None
        while True:
            version = await rt.db.data_version()
            if version != last_version:
                last_version = version
                found, _ = await inbox.page(rt.db, me.id, f, limit=50, after=0, now=rt.now(), secret=rt.settings.secret)
                if found and rt.settings.role != "observer":
                    taken = await inbox.mark_read(rt.db, me.id, [m.id for m in found], now=rt.now())
                    if not taken:  # another reader of ours took them all; look again at the next poll
                        last_version = None
                    found = [m for m in found if m.id in taken]
                if found:
                    waited = round(time.monotonic() - started, 3)
                    return WaitResult(
                        arrived=True,
                        messages=found,
                        waited_seconds=waited,
                        next_step="Answer with message_send(reply_to=…) or acknowledge if asked.",
                    )
            now = time.monotonic()
            if now - started >= timeout:
                return WaitResult(
                    arrived=False,
                    messages=[],
                    waited_seconds=round(now - started, 3),
                    next_step="Nothing arrived; wait again or get on with other work.",
                )
            if now >= next_progress:
                next_progress = now + PROGRESS_EVERY
                await ctx.report_progress(now - started, timeout, "waiting for mail")
            await anyio.sleep(POLL_SECONDS)

    @mcp.resource(
        INBOX_URI,
        name="inbox",
        description="Your unread mail (reading it here does not mark it read)",
        mime_type="application/json",
    )
    async def unread_mail() -> str:
        rt = mcp.current()
        f = inbox.InboxFilter(unread_only=True)
        found, more = await inbox.page(
            rt.db, rt.agent.id, f, limit=100, after=0, now=rt.now(), secret=rt.settings.secret
        )
        return json.dumps({"unread": [m.model_dump(mode="json") for m in found], "more": more})

    return mcp


def main(argv: Sequence[str] | None = None) -> None:
    run_main("messaging", build_server, DESCRIPTION, argv)
