"""Tokens for `roundtable serve`: only a hash is kept, a token names its agent and role, revoking is immediate,
and an HTTP session's row makes its agent present like a stdio session does."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest

from shared.actor import Actor
from shared.db.connection import Database
from shared.errors import InvalidArgument, NotFound
from shared.store.team import agents, presence, tokens
from tests.agents import join
from tests.conftest import FakeClock

pytestmark = [pytest.mark.anyio, pytest.mark.engines("sqlite", "postgresql")]


async def test_a_token_is_shown_once_and_only_its_hash_is_kept(db: Database, clock: FakeClock) -> None:
    issued = await tokens.create(db, "ana", "worker", now=clock())
    assert issued.token.startswith("rt_") and len(issued.token) > 40
    rows = await db.fetchall("SELECT * FROM tokens")
    assert [r["hash"] for r in rows] == [tokens.digest(issued.token)]
    assert issued.token not in repr([dict(r) for r in rows])
    holder = await tokens.verify(db, issued.token)
    assert holder == tokens.Holder(issued.token_id, "named:ana", "ana", "worker")
    assert await tokens.verify(db, issued.token + "x") is None
    assert await tokens.verify(db, "not-a-token") is None
    assert await tokens.verify(db, "rt_" + "a" * 500) is None


async def test_a_token_is_found_by_its_id_only_while_it_is_live(db: Database, clock: FakeClock) -> None:
    # what the dashboard's cookie names (a pass derived from a token verified before, not the token)
    issued = await tokens.create(db, "olga", "observer", now=clock())
    assert await tokens.holder_of(db, issued.token_id) == tokens.Holder(
        issued.token_id, "named:olga", "olga", "observer"
    )
    assert await tokens.holder_of(db, "ffffffff") is None
    assert await tokens.holder_of(db, "f" * 500) is None
    await tokens.revoke(db, issued.token_id, now=clock())
    assert await tokens.holder_of(db, issued.token_id) is None


async def test_a_token_for_an_existing_agent_speaks_for_it_and_survives_a_rename(
    db: Database, clock: FakeClock
) -> None:
    ana = await join(db, clock, "ana")
    issued = await tokens.create(db, "ana", "observer", now=clock())
    assert issued.existing_agent and issued.agent_id == ana.id
    await db.write_one("UPDATE agents SET name = 'ana-2' WHERE id = ?", (ana.id,))
    holder = await tokens.verify(db, issued.token)
    assert holder is not None and (holder.agent_id, holder.name, holder.role) == (ana.id, "ana-2", "observer")


async def test_bad_names_and_roles_are_refused_with_the_fix(db: Database, clock: FakeClock) -> None:
    with pytest.raises(InvalidArgument, match="not usable"):
        await tokens.create(db, "no spaces", "worker", now=clock())
    with pytest.raises(InvalidArgument, match="not a role"):
        await tokens.create(db, "ana", "boss", now=clock())  # type: ignore[arg-type]


async def test_revoking_by_id_or_by_agent_name_stops_the_token_at_once(db: Database, clock: FakeClock) -> None:
    one = await tokens.create(db, "ana", "worker", now=clock())
    two = await tokens.create(db, "ana", "worker", now=clock())
    bo = await tokens.create(db, "bo", "worker", now=clock())
    assert await tokens.revoke(db, one.token_id, now=clock()) == [one.token_id]
    assert await tokens.verify(db, one.token) is None and await tokens.verify(db, two.token) is not None
    assert await tokens.revoke(db, "ana", now=clock()) == [two.token_id]
    assert await tokens.verify(db, two.token) is None
    with pytest.raises(NotFound, match=bo.token_id):
        await tokens.revoke(db, "ana", now=clock())
    assert [t.token_id for t in await tokens.listing(db)] == [bo.token_id]
    assert len(await tokens.listing(db, include_revoked=True)) == 3
    assert await tokens.live_ids(db, [one.token_id, bo.token_id]) == {bo.token_id}
    kinds = [r["kind"] for r in await db.fetchall("SELECT kind FROM events WHERE kind LIKE 'token.%' ORDER BY id")]
    assert kinds == ["token.created"] * 3 + ["token.revoked"] * 2


async def test_an_http_session_row_makes_its_agent_present_until_closed(db: Database, clock: FakeClock) -> None:
    issued = await tokens.create(db, "ana", "worker", now=clock())
    holder = await tokens.verify(db, issued.token)
    assert holder is not None
    looking = Actor(id="", name="look", role="observer", now=clock(), presence_timeout=30)

    async def ana_presence() -> str:
        [info] = [i for i in await presence.agent_infos(db, looking.at(clock())) if i.name == "ana"]
        return info.presence

    assert await ana_presence() == "offline"
    await tokens.open_session(db, "s1", holder, server="coordination", pid=1, host="10.0.0.2", client="c", now=clock())
    assert await ana_presence() == "online"
    clock.advance(20)
    await tokens.beat(db, [("s1", holder.agent_id)], now=clock())
    clock.advance(20)
    assert await ana_presence() != "offline"
    await tokens.close_sessions(db, ["s1"])
    assert await ana_presence() == "offline"


async def test_an_http_session_row_carries_its_tokens_role(db: Database, clock: FakeClock) -> None:
    # The row was written without a role, so it read 'worker' (the column's default): an observer token's
    # session counted as a worker's when the agent's role was worked out again from its live sessions (a
    # stdio session of that agent starting or ending), putting an observer in every vote's electorate.
    ana = await join(db, clock, "ana", role="observer")
    issued = await tokens.create(db, "ana", "observer", now=clock())
    holder = await tokens.verify(db, issued.token)
    assert holder is not None
    await tokens.open_session(db, "s1", holder, server="messaging", pid=1, host="", client="c", now=clock())
    assert await db.scalar("SELECT role FROM sessions WHERE id = 's1'") == "observer"
    await agents.end_session(db, ana.at(clock()))  # ana's stdio session ends: her role is her live sessions'
    assert await db.scalar("SELECT role FROM agents WHERE id = ?", (ana.id,)) == "observer"


async def test_the_tokens_table_refuses_an_unknown_role(db: Database) -> None:
    with pytest.raises((sqlite3.IntegrityError, psycopg.errors.CheckViolation)):
        await db.write_one("INSERT INTO tokens(id, hash, agent_id, role, created_at) VALUES ('x', 'h', 'a', 'boss', 0)")
