"""The message table shared by agent mail and system notices."""

from __future__ import annotations

from collections.abc import Sequence

from shared.db import Transaction


async def post_notice(
    tx: Transaction,
    *,
    recipients: Sequence[str],
    subject: str,
    body: str,
    ref_type: str,
    ref_id: str | int,
    now: float,
) -> int | None:
    """Deliver a system notice ("vote requested", "task assigned to you") to agent ids, inside the
    caller's transaction. Returns the message id, or None when there is nobody to tell."""
    unique = sorted(set(recipients))
    if not unique:
        return None
    row = await tx.fetchone(
        "INSERT INTO messages(sender_id, sender_name, kind, subject, body, created_at, ref_type, ref_id)"
        " VALUES (NULL, 'system', 'system', ?, ?, ?, ?, ?) RETURNING id",
        (subject, body, now, ref_type, str(ref_id)),
    )
    assert row is not None
    message_id = int(row["id"])
    await tx.executemany(
        "INSERT INTO message_recipients(agent_id, message_id) VALUES (?, ?)",
        [(agent_id, message_id) for agent_id in unique],
    )
    return message_id
