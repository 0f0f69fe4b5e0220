"""Sixteen agents at once, each its own server process over stdio (mixed kinds), creating, claiming and
completing tasks, voting, sending, reading and acknowledging mail (and adding knowledge, where that server
exists) at random for a bounded period; then the invariants of tests/reliability/invariants.py. And the same
while random server processes are SIGKILLed and restarted: the killed agents' claims return to the queue.
Both on each engine: one SQLite file, and one PostgreSQL database."""

from __future__ import annotations

import random
import time

import anyio
import pytest
from mcp import Client

from servers import knowledge, messaging
from shared.config import Settings
from shared.db.place import Place
from tests.direct import Direct, direct
from tests.reliability.invariants import check_all
from tests.reliability.swarm import Agent, Run, Team, kinds_for
from tests.stdio import kill_server

pytestmark = [pytest.mark.anyio, pytest.mark.engines("sqlite", "postgresql")]

AGENTS = 16
PRESENCE = 1.5
ENV = {"ROUNDTABLE_PRESENCE_TIMEOUT": str(PRESENCE), "ROUNDTABLE_SEND_RATE": "100000"}


def assemble(db: Place, seed: int) -> tuple[Team, list[Agent]]:
    kinds = kinds_for(AGENTS)
    names = [f"{kind[:5]}-{i}" for i, kind in enumerate(kinds)]
    team = Team(names=names, coordinators=[n for n, k in zip(names, kinds, strict=True) if k == "coordination"])
    return team, [Agent(n, k, team, db, ENV, seed * 100 + i) for i, (n, k) in enumerate(zip(names, kinds, strict=True))]


async def swarm(agents: list[Agent], seconds: float, chaos: object = None) -> Run:
    run = Run()
    async with anyio.create_task_group() as tg:
        for agent in agents:
            tg.start_soon(agent.live, run)
        for agent in agents:
            await agent.up.wait()
        run.until = time.monotonic() + seconds
        run.start.set()
        if chaos is not None:
            tg.start_soon(chaos, run)  # type: ignore[arg-type]
    return run


async def drain(db: Place, agents: list[Agent]) -> dict[str, list[int]]:
    """Each agent's unread mail after the run, read to the end through an in-process messaging server."""
    drained: dict[str, list[int]] = {}
    for agent in agents:
        server = messaging.build_server(Settings(db=db, agent=agent.name, presence_timeout=PRESENCE))
        async with Client(server) as client:
            drained[agent.name] = []
            while True:
                page = await client.call_tool("message_query", {"limit": 100})
                assert not page.is_error, page.content
                found = [m["id"] for m in page.structured_content["messages"]]  # type: ignore[index]
                if not found:
                    break
                drained[agent.name] += found
    return drained


async def check_knowledge(db: Place, team: Team) -> None:
    """Every entry an agent was told it added can be found again."""
    if not team.notes:
        return

    async with Client(knowledge.build_server(Settings(db=db, agent="checker"))) as client:
        for token in team.notes[:20]:
            found = await client.call_tool("knowledge_query", {"text": token})
            assert not found.is_error and token in str(found.content), token


async def verify(db: Place, team: Team, agents: list[Agent]) -> None:
    drained = await drain(db, agents)
    with direct(db) as conn:
        check_all(conn, team, agents, drained)
    await check_knowledge(db, team)


async def test_sixteen_agents_at_once_lose_nothing_and_never_double_claim_deliver_or_count(place: Place) -> None:
    team, agents = assemble(place, seed=1)
    with anyio.fail_after(75):
        await swarm(agents, seconds=10)
        await verify(place, team, agents)
    claimed = sum(len(a.claims) for a in agents)
    assert claimed and sum(len(a.seen) for a in agents) and sum(len(a.votes) for a in agents), "the workload did work"


async def test_killed_and_restarted_servers_lose_nothing_and_their_claims_return_to_the_queue(place: Place) -> None:
    team, agents = assemble(place, seed=2)
    rng = random.Random(2)
    kills: list[Agent] = []
    orphans: list[tuple[str, int, float]] = []  # (killed agent, task it held, when)

    async def chaos(run: Run) -> None:
        with direct(place) as conn:
            await anyio.sleep(1)
            while time.monotonic() < run.until - (PRESENCE + 5):
                up = [a for a in agents if a.client is not None and not a.killed]
                holders = [a for a in up if a.kind == "coordination" and a.held]
                victim = rng.choice(holders if holders and (not kills or rng.random() < 0.6) else up)
                victim.mark_killed()
                assert kill_server(victim.kind, victim.name), victim.name
                kills.append(victim)
                await claims_return(conn, victim)
                victim.revived.set()
                await anyio.sleep(rng.uniform(0.2, 1.0))

    async def claims_return(conn: Direct, victim: Agent) -> None:
        me, killed_at = f"named:{victim.name}", time.time()
        holding = "SELECT id FROM tasks WHERE holder = ? AND status = 'claimed'"
        held = [t for (t,) in conn.execute(holding, (me,))]
        orphans.extend((victim.name, task, killed_at) for task in held)
        live = "SELECT count(*) FROM sessions WHERE agent_id = ? AND heartbeat_at >= ?"
        with anyio.fail_after(20):  # its session stops heartbeating, so its claims lapse
            while conn.execute(live, (me, time.time() - PRESENCE)).fetchone()[0]:
                await anyio.sleep(0.05)
        rescuers = [a for a in agents if a.kind == "coordination" and a is not victim and a.client and not a.killed]
        for task in held:
            got = await rng.choice(rescuers).rescue(task)
            if got is not None and got.is_error:  # another agent may have taken it first, never the dead one
                assert f"claimed by {victim.name} " not in got.text, got.text
        with anyio.fail_after(20):  # whatever nobody took, the sweep returns to the queue
            while conn.execute(holding, (me,)).fetchall():
                await anyio.sleep(0.05)

    with anyio.fail_after(80):
        await swarm(agents, seconds=15, chaos=chaos)
        await verify(place, team, agents)
    assert len(kills) >= 2 and orphans, (len(kills), orphans)
    with direct(place) as conn:
        # Each claim a killed agent held lapsed back to the queue exactly once: one lapse (the event is the
        # holder's) between the kill and that agent's next claim of the task. A restarted agent may claim the
        # same task again, and that claim may lapse too (a loaded machine misses heartbeats); it is not the
        # killed one's.
        for name, task, killed_at in orphans:
            me, object_id = f"named:{name}", str(task)
            (start,) = conn.execute("SELECT coalesce(min(id), 0) FROM events WHERE ts >= ?", (killed_at,)).fetchone()
            (end,) = conn.execute(
                "SELECT coalesce(min(id), 9223372036854775807) FROM events WHERE kind = 'task.claimed'"
                " AND object_id = ? AND agent_id = ? AND id > ?",
                (object_id, me, start),
            ).fetchone()
            lapsed = conn.execute(
                "SELECT count(*) FROM events WHERE kind = 'task.lease_lapsed' AND object_id = ? AND agent_id = ?"
                " AND id >= ? AND id < ?",
                (object_id, me, start, end),
            ).fetchone()
            assert lapsed == (1,), (name, task, killed_at)
