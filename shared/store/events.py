"""The audit trail: one row per state change (who, what, which object, when). Never bodies or secrets."""

from __future__ import annotations

import json
from typing import Any

from shared.db import Transaction


async def record(
    tx: Transaction,
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
    await tx.execute(
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
            json.dumps(data or {}, separators=(",", ":"), sort_keys=True),
        ),
    )
