"""Registering test agents directly through the store, as a server's lifespan would."""

from __future__ import annotations

from dataclasses import replace

from shared.actor import Actor
from shared.db.connection import Database
from shared.store.mail import send as messages
from shared.store.team import agents
from tests.conftest import FakeClock


async def join(db: Database, clock: FakeClock, name: str, role: str = "worker") -> Actor:
    """Register agent `name` with a live session at the clock's time."""
    return await agents.register_session(
        db,
        key=f"named:{name}",
        explicit_name=name,
        default_base=name,
        client_name="test",
        host="h",
        role=role,
        server="coordination",
        pid=1,
        now=clock(),
    )


async def mail(db: Database, clock: FakeClock, sender: Actor, to: list[str], *, ack_within: float | None = None) -> int:
    """Send a direct message through the messaging store; with `ack_within`, asking for an acknowledgement."""
    out = messages.Outgoing(
        subject="",
        body="please confirm",
        ack_required=ack_within is not None,
        ack_deadline=None if ack_within is None else clock() + ack_within,
    )
    sent = replace(sender, now=clock(), per_minute=1000)
    message_id, _ = await messages.send(db, sent, to, out)
    return message_id


async def author(db: Database, clock: FakeClock, name: str = "ana") -> Actor:
    """Register agent `name` and return it as the author of knowledge and skills (acting at the clock's
    time now; `.at(clock())` after the clock moves)."""
    return await join(db, clock, name)
