"""Which messages are mine, as SQL: the inbox filter and the ids of my (unread) mail from my recipient rows
alone — the one definition, re-exported by shared/store/mail/inbox.py. Kept free of the result models so
the Claude Code hook (servers/cli/hook.py) reads the brief without importing pydantic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.errors import InvalidArgument
from shared.rules import quoting as fts
from shared.store.mail import dialect


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


UNEXPIRED = "(m.expires_at IS NULL OR m.expires_at > :now)"


def _filters(f: InboxFilter, params: dict[str, Any], d: dialect.Sqlite) -> list[str]:
    """Conditions on the message `m` itself (who, topic, thread, since, text)."""
    where = [UNEXPIRED]
    if f.sender is not None:
        if f.sender.lower() == "system":
            where.append("m.sender_id IS NULL AND m.kind = 'system'")
        else:
            where.append("m.sender_id = :sender")
            params["sender"] = f.sender  # an agent id: page() resolves the name first
    if f.topic:
        where.append(d.topic_matches("m.topic", ":topic"))
        params["topic"] = f.topic
    if f.thread is not None:
        where.append("m.thread_id = :thread")
        params["thread"] = f.thread
    if f.since is not None:
        where.append("m.created_at >= :since")
        params["since"] = f.since
    if f.text:
        where.append(d.text_matches("m.id", ":fts"))
        params["fts"] = fts_query(f.text)
    return where


def mine_ids(f: InboxFilter, params: dict[str, Any], *, bounded: bool, d: dialect.Sqlite) -> str:
    """SQL for the ids of my messages that pass `f` after :after, from my recipient rows alone (a broadcast has one
    per agent, written when it is sent or when the agent joins: `deliver_broadcasts`), over the partial
    index of unread rows when only unread mail is wanted. `bounded`: stop at :limit, in id order."""
    where = " AND ".join(_filters(f, params, d))
    unread_row = " AND r.read_at IS NULL" if f.unread_only else ""
    index = " INDEXED BY message_recipients_unread" if f.unread_only else ""
    limit = " ORDER BY r.message_id LIMIT :limit" if bounded else ""
    return (
        f"SELECT r.message_id FROM message_recipients r{index} JOIN messages m ON m.id = r.message_id"
        f" WHERE r.agent_id = :me{unread_row} AND r.message_id > :after AND {where}{limit}"
    )
