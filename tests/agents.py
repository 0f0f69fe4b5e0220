"""Registering test agents directly through the store, as a server's lifespan would."""

from __future__ import annotations

from shared.db import Database
from shared.store import agents
from shared.store.agents import Me
from tests.conftest import FakeClock


async def join(db: Database, clock: FakeClock, name: str, role: str = "worker") -> Me:
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
