"""Agents: presence transitions (online → idle → offline) on an injected clock, renaming, capabilities,
activity, and pruning agents gone longer than the retention period."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from shared.actor import Actor
from shared.db.connection import Database
from shared.errors import Conflict, InvalidArgument
from shared.store.tasks import queue as task_store
from shared.store.team import agents, metrics, presence, tokens
from tests.agents import join, mail
from tests.conftest import FakeClock

pytestmark = [pytest.mark.anyio, pytest.mark.engines("sqlite", "postgresql")]

TIMEOUT, IDLE, RETENTION = 30.0, 300.0, 7 * 86400.0


def at(clock: FakeClock) -> Actor:
    """Someone looking at the team now, judging presence with these timeouts."""
    return Actor(id="", name="looking", role="observer", now=clock(), presence_timeout=TIMEOUT, idle_after=IDLE)


async def presence_of(db: Database, clock: FakeClock) -> dict[str, str]:
    return {a.name: a.presence for a in await presence.agent_infos(db, at(clock))}


async def beat(db: Database, me: Actor, clock: FakeClock) -> None:
    await agents.heartbeat(db, me, server="coordination", pid=1, host="h", now=clock())


async def test_an_agent_is_online_then_idle_without_tool_calls_then_offline_without_heartbeats(
    db: Database, clock: FakeClock
) -> None:
    ana = await join(db, clock, "ana")
    assert await presence_of(db, clock) == {"ana": "online"}
    clock.advance(IDLE - 10)
    await beat(db, ana, clock)
    await metrics.record_calls(db, [(clock(), ana.id, "coordination", "task_list", 0.001, None)])
    clock.advance(IDLE - 10)
    await beat(db, ana, clock)
    assert await presence_of(db, clock) == {"ana": "online"}  # a tool call within idle_after
    clock.advance(20)
    await beat(db, ana, clock)
    assert await presence_of(db, clock) == {"ana": "idle"}  # heartbeating, quiet for over idle_after
    clock.advance(TIMEOUT + 1)
    assert await presence_of(db, clock) == {"ana": "offline"}  # no live session
    await beat(db, ana, clock)
    assert await presence_of(db, clock) == {"ana": "idle"}


async def test_status_rows_show_claims_servers_and_overdue_mail(db: Database, clock: FakeClock) -> None:
    ana = await join(db, clock, "ana")
    bo = await join(db, clock, "bo")
    viewer = replace(ana, now=clock(), presence_timeout=TIMEOUT)
    task_id = await task_store.create(db, viewer, task_store.NewTask(title="write the docs"))
    assert await task_store.claim(db, viewer, task_id, None) == task_id
    await mail(db, clock, bo, ["ana"], ack_within=60)
    clock.advance(61)
    await beat(db, ana, clock)
    infos = {a.name: a for a in await presence.agent_infos(db, at(clock))}
    assert [c.task_id for c in infos["ana"].claims] == [task_id]
    assert infos["ana"].claims[0].lease_expires_at is not None
    assert infos["ana"].servers == ["coordination"]
    assert (infos["ana"].unread, infos["ana"].overdue_acks) == (1, 1)
    assert (infos["bo"].claims, infos["bo"].unread, infos["bo"].overdue_acks) == ([], 0, 0)


async def test_a_rename_is_unique_ignoring_case_and_a_taken_name_gets_a_suggestion(
    db: Database, clock: FakeClock
) -> None:
    ana = await join(db, clock, "ana")
    await join(db, clock, "bo")
    with pytest.raises(Conflict, match=r"'BO' is taken.*'BO-2'"):
        await agents.update_profile(db, ana.at(clock()), name="BO")
    with pytest.raises(InvalidArgument, match="reserved"):
        await agents.update_profile(db, ana.at(clock()), name="system")
    with pytest.raises(InvalidArgument, match="letters, digits"):
        await agents.update_profile(db, ana.at(clock()), name="ana smith")
    changed = await agents.update_profile(db, ana.at(clock()), name="Ana-Reviewer")
    assert changed == ["renamed from ana to Ana-Reviewer"]
    assert await agents.current_name(db, ana.id) == "Ana-Reviewer"
    kinds = [r["kind"] for r in await db.fetchall("SELECT kind FROM events WHERE object_type = 'agent'")]
    assert "agent.renamed" in kinds


async def test_capabilities_decide_which_tasks_an_agent_may_claim(db: Database, clock: FakeClock) -> None:
    ana = await join(db, clock, "ana")
    viewer = replace(ana, now=clock(), presence_timeout=TIMEOUT)
    task_id = await task_store.create(db, viewer, task_store.NewTask(title="fix the build", requires=["rust"]))
    assert await task_store.claim(db, viewer, None, None) is None
    await agents.update_profile(db, ana.at(clock()), capabilities=[" rust ", "python", "rust"])
    row = await db.fetchone("SELECT capabilities FROM agents WHERE id = ?", (ana.id,))
    assert row is not None and json.loads(row["capabilities"]) == ["rust", "python"]
    assert await task_store.claim(db, viewer, None, None) == task_id


async def test_activity_is_saved_trimmed_and_limited(db: Database, clock: FakeClock) -> None:
    ana = await join(db, clock, "ana")
    assert await agents.update_profile(db, ana.at(clock()), activity="  reviewing   PR 12 ") == [
        "activity: 'reviewing PR 12'"
    ]
    assert await agents.update_profile(db, ana.at(clock()), activity="reviewing PR 12") == []
    with pytest.raises(InvalidArgument, match="the limit is 200"):
        await agents.update_profile(db, ana.at(clock()), activity="x" * 201)
    assert (await presence.agent_infos(db, at(clock)))[0].activity == "reviewing PR 12"


async def test_agents_gone_longer_than_the_retention_are_pruned_and_their_history_kept(
    db: Database, clock: FakeClock
) -> None:
    gone = await join(db, clock, "gone")
    holder = await join(db, clock, "holder")
    await join(db, clock, "here")
    viewer = replace(holder, now=clock(), presence_timeout=TIMEOUT)
    task_id = await task_store.create(db, viewer, task_store.NewTask(title="long job", lease_seconds=30 * 86400))
    await task_store.claim(db, viewer, task_id, None)
    await db.write_one(
        "INSERT INTO topic_subscriptions(agent_id, pattern, created_at) VALUES (?, 'x.*', 0)", (gone.id,)
    )
    clock.advance(RETENTION - 100)
    here = await join(db, clock, "here")  # a new session: still here
    assert await db.write(agents.prune_gone, at(clock), retention=RETENTION) == []
    clock.advance(200)
    await beat(db, here, clock)
    pruned = await db.write(agents.prune_gone, at(clock), retention=RETENTION)
    assert pruned == ["gone"]  # "holder" still holds a claim (it lapsed, but is not returned yet)
    names = {r["name"] for r in await db.fetchall("SELECT name FROM agents")}
    assert names == {"holder", "here"}
    assert await db.scalar("SELECT count(*) FROM sessions WHERE agent_id = ?", (gone.id,)) == 0
    assert await db.scalar("SELECT count(*) FROM topic_subscriptions WHERE agent_id = ?", (gone.id,)) == 0
    event = await db.fetchone("SELECT * FROM events WHERE kind = 'agent.pruned'")
    assert event is not None and event["agent_name"] == "gone" and json.loads(event["data"])["client"] == "test"
    assert await db.scalar("SELECT count(*) FROM events WHERE agent_id = ? AND kind = 'agent.joined'", (gone.id,)) == 1


async def test_an_agent_with_a_live_token_is_never_pruned(db: Database, clock: FakeClock) -> None:
    # A token speaks for its agent by id: a token's agent offline past the retention (made for someone who
    # had not connected yet, or away for a week) was pruned, and its token then got a bare 500 on every
    # request from `roundtable serve` (its sessions row could not name the agent).
    issued = await tokens.create(db, "away", "worker", now=clock())
    clock.advance(RETENTION + 100)
    assert await db.write(agents.prune_gone, at(clock), retention=RETENTION) == []
    holder = await tokens.verify(db, issued.token)
    assert holder is not None and holder.name == "away"
    await tokens.revoke(db, issued.token_id, now=clock())
    assert await db.write(agents.prune_gone, at(clock), retention=RETENTION) == ["away"]
    # a token whose agent went before this rule (or by hand) is refused (401), not a request that fails
    await db.write_one("UPDATE tokens SET revoked_at = NULL WHERE id = ?", (issued.token_id,))
    assert await tokens.verify(db, issued.token) is None


async def test_pruning_also_drops_sessions_silent_for_over_a_day_but_keeps_their_agent(
    db: Database, clock: FakeClock
) -> None:
    crashed = await join(db, clock, "crashed")
    clock.advance(agents.DEAD_SESSION_SECONDS - 10)
    await join(db, clock, "here")
    assert await agents.prune(db, at(clock), retention=RETENTION) == []
    assert await db.scalar("SELECT count(*) FROM sessions WHERE agent_id = ?", (crashed.id,)) == 1
    clock.advance(20)
    assert await agents.prune(db, at(clock), retention=RETENTION) == []
    assert await db.scalar("SELECT count(*) FROM sessions WHERE agent_id = ?", (crashed.id,)) == 0
    assert {r["name"] for r in await db.fetchall("SELECT name FROM agents")} == {"crashed", "here"}


# -- identity under attack: name squatting, renames, roles --------------------------------------------


async def derived(db: Database, clock: FakeClock, key: str, role: str = "worker") -> Actor:
    """An agent whose identity is derived from its client process (no ROUNDTABLE_AGENT)."""
    return await agents.register_session(
        db,
        key=key,
        explicit_name=None,
        default_base="client",
        client_name="test",
        host="h",
        role=role,
        server="coordination",
        pid=2,
        now=clock(),
    )


async def test_an_explicit_name_binds_to_its_own_identity_not_to_a_squatter(db: Database, clock: FakeClock) -> None:
    mallory = await derived(db, clock, "proc:h:66:1.0")
    await agents.update_profile(db, mallory.at(clock()), name="ana")  # nobody configured as ana has come yet
    ana = await join(db, clock, "ana")
    assert ana.id == "named:ana" and ana.id != mallory.id and ana.name == "ana"
    squatter = await agents.current_name(db, mallory.id)
    assert squatter != "ana" and squatter.startswith("ana-")  # the configured identity took its name back
    renamed = await db.fetchall("SELECT data FROM events WHERE kind = 'agent.renamed' AND agent_id = ?", (mallory.id,))
    assert json.loads(renamed[-1]["data"])["reason"].startswith("the name belongs to the agent configured")


async def test_renames_to_a_configured_identity_s_name_are_refused(db: Database, clock: FakeClock) -> None:
    await join(db, clock, "ana")
    mallory = await derived(db, clock, "proc:h:66:1.0")
    await agents.update_profile(db, await join(db, clock, "ana"), name="ana-away")  # ana renamed herself away
    with pytest.raises(Conflict, match="'ANA' belongs to the agent started with ROUNDTABLE_AGENT=ana"):
        await agents.update_profile(db, mallory.at(clock()), name="ANA")


async def test_the_role_belongs_to_the_session_that_declared_it(db: Database, clock: FakeClock) -> None:
    await join(db, clock, "ana", role="worker")
    await join(db, clock, "ana", role="observer")  # an observer server started under ana's name
    assert await db.scalar("SELECT role FROM agents WHERE id = 'named:ana'") == "worker"
    roles = await db.fetchall("SELECT role FROM sessions WHERE agent_id = 'named:ana' ORDER BY started_at, role")
    assert sorted(r["role"] for r in roles) == ["observer", "worker"]


async def test_ids_by_name_resolve_to_one_identity(db: Database, clock: FakeClock) -> None:
    dave = await derived(db, clock, "proc:h:55:1.0")
    await agents.update_profile(db, dave.at(clock()), name="dave")
    await agents.update_profile(db, dave.at(clock()), name="dave-old")
    eve = await derived(db, clock, "proc:h:77:1.0")
    await agents.update_profile(db, eve.at(clock()), name="dave")
    found = await db.read(agents.ids_by_names, ["dave"])
    assert found == {"dave": eve.id}
