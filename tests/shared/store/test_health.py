"""Health: a fresh team is healthy, and each degraded or unhealthy condition gives its reason code."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shared.actor import Actor
from shared.db.connection import Database
from shared.store.tasks import queue as task_store
from shared.store.team import agents, health, metrics, summary
from tests.agents import join, mail
from tests.conftest import FakeClock

pytestmark = [pytest.mark.anyio, pytest.mark.engines("sqlite", "postgresql")]

TIMEOUT = 30.0
LIMITS = health.Limits(stuck_after=3600, disk_low_bytes=0, disk_full_bytes=0)


def at(clock: FakeClock) -> Actor:
    """Someone looking at the team now, judging presence with TIMEOUT."""
    return Actor(id="", name="looking", role="observer", now=clock(), presence_timeout=TIMEOUT, idle_after=300)


async def codes(db: Database, clock: FakeClock, limits: health.Limits = LIMITS) -> list[str]:
    found = await health.check(db, at(clock), limits=limits)
    return [r.code for r in found.reasons]


async def test_a_fresh_team_is_healthy_with_real_figures(db: Database, clock: FakeClock) -> None:
    await join(db, clock, "ana")
    found = await health.check(db, at(clock), limits=LIMITS)
    assert (found.status, found.reasons) == ("healthy", [])
    assert found.database is not None and found.work is not None
    # PostgreSQL: no file to check, the server's disk not visible from here
    assert found.database.quick_check == ("ok" if db.engine == "sqlite" else "skipped")
    assert found.database.schema_version == found.database.schema_expected >= 6
    assert found.database.size_bytes > 0
    assert found.database.free_disk_bytes is None if db.engine == "postgresql" else found.database.free_disk_bytes > 0
    assert (found.work.agents_known, found.work.agents_online, found.work.tasks_ready) == (1, 1, 0)


async def test_a_ready_task_nobody_claims_is_stuck(db: Database, clock: FakeClock) -> None:
    ana = await join(db, clock, "ana")
    viewer = replace(ana, now=clock(), presence_timeout=TIMEOUT)
    task_id = await task_store.create(db, viewer, task_store.NewTask(title="needs rust", requires=["rust"]))
    clock.advance(3000)
    await join(db, clock, "ana")
    assert await codes(db, clock) == []
    clock.advance(700)
    await join(db, clock, "ana")
    found = await health.check(db, at(clock), limits=LIMITS)
    assert found.status == "degraded" and [r.code for r in found.reasons] == ["stuck_tasks"]
    assert found.work is not None and found.work.stuck_tasks == [task_id]
    assert found.work.oldest_ready_seconds == pytest.approx(3700)
    assert "requires" in found.reasons[0].message


async def test_a_claim_past_its_lease_is_a_lapsed_lease_until_swept(db: Database, clock: FakeClock) -> None:
    ana = await join(db, clock, "ana")
    viewer = replace(ana, now=clock(), presence_timeout=TIMEOUT)
    task_id = await task_store.create(db, viewer, task_store.NewTask(title="short", lease_seconds=10))
    await task_store.claim(db, viewer, task_id, None)
    clock.advance(20)
    await join(db, clock, "ana")
    assert await codes(db, clock) == ["lapsed_leases"]
    await task_store.sweep_lapsed(db, replace(ana, now=clock(), presence_timeout=TIMEOUT))
    assert await codes(db, clock) == []


async def test_an_acknowledgement_past_its_deadline_is_overdue(db: Database, clock: FakeClock) -> None:
    ana = await join(db, clock, "ana")
    await mail(db, clock, ana, ["ana"], ack_within=5)
    assert await codes(db, clock) == []
    clock.advance(10)
    await join(db, clock, "ana")
    assert await codes(db, clock) == ["overdue_acks"]


async def test_an_overdue_acknowledgement_owed_by_a_pruned_agent_no_longer_counts(
    db: Database, clock: FakeClock
) -> None:
    ana = await join(db, clock, "ana")
    await join(db, clock, "gone")
    await mail(db, clock, ana, ["gone"], ack_within=5)
    clock.advance(86400)
    await join(db, clock, "ana")
    assert await codes(db, clock) == ["overdue_acks"]
    assert await agents.prune(db, at(clock), retention=3600) == ["gone"]
    assert await codes(db, clock) == []  # nobody is left to owe it, and agent_status cannot show them


async def test_an_open_proposal_past_its_deadline_is_reported(db: Database, clock: FakeClock) -> None:
    ana = await join(db, clock, "ana")
    await db.write_one(
        "INSERT INTO proposals(id, title, options, rule, quorum, electorate, proposer_id, created_at, deadline)"
        " VALUES (7, 'ship?', '[\"approve\",\"reject\"]', 'majority', 1, 'present', ?, ?, ?)",
        (ana.id, clock(), clock() + 60),
    )
    clock.advance(61)
    await join(db, clock, "ana")
    found = await health.check(db, at(clock), limits=LIMITS)
    assert [r.code for r in found.reasons] == ["proposals_past_deadline"]
    assert found.work is not None and found.work.proposals_past_deadline == [7]


async def test_a_large_wal_and_a_low_disk_are_reported(db: Database, clock: FakeClock) -> None:
    if db.engine != "sqlite":
        pytest.skip("a SQLite file's WAL and disk: PostgreSQL reports neither")
    await join(db, clock, "ana")
    await db.write_one("CREATE TABLE filler(x BLOB)")
    for _ in range(4):  # 1 MiB of writes stay in the WAL until a checkpoint (at 4 MiB by default)
        await db.write_one("INSERT INTO filler VALUES (randomblob(256 * 1024))")
    found = await health.check(db, at(clock), limits=LIMITS)
    assert found.database is not None and found.database.wal_bytes > 1024 * 1024
    assert await codes(db, clock, replace(LIMITS, wal_large_bytes=1024 * 1024)) == ["wal_large"]
    huge = 2**62
    assert await codes(db, clock, replace(LIMITS, disk_low_bytes=huge)) == ["disk_low"]
    full = await health.check(db, at(clock), limits=replace(LIMITS, disk_full_bytes=huge, disk_low_bytes=huge))
    assert (full.status, [r.code for r in full.reasons]) == ("unhealthy", ["disk_full"])


async def test_nobody_online_and_crashing_tools_degrade_health(db: Database, clock: FakeClock) -> None:
    ana = await join(db, clock, "ana")
    await metrics.record_calls(db, [(clock(), ana.id, "coordination", "task_list", 0.01, "internal")])
    clock.advance(TIMEOUT + 1)
    assert await codes(db, clock) == ["no_agents_online", "internal_errors"]


async def test_damage_and_a_schema_mismatch_make_the_state_unhealthy(db: Database, clock: FakeClock) -> None:
    await join(db, clock, "ana")
    found = await health.check(db, at(clock), limits=LIMITS)
    assert found.database is not None and found.work is not None
    damaged = found.database.model_copy(update={"quick_check": "*** in database main *** Page 7: btreeInitPage"})
    reasons = health.reasons(damaged, found.work, LIMITS)
    assert [r.code for r in reasons] == ["integrity"] and health.status_of(reasons) == "unhealthy"
    behind = found.database.model_copy(update={"schema_version": 4})
    assert [r.code for r in health.reasons(behind, found.work, LIMITS)] == ["schema_mismatch"]
    gone = health.unavailable("Cannot open the shared database …", now=clock())
    assert (gone.status, gone.reasons[0].code) == ("unhealthy", "database_unavailable")


async def test_the_team_summary_counts_agents_tasks_and_health(db: Database, clock: FakeClock) -> None:
    ana = await join(db, clock, "ana")
    viewer = replace(ana, now=clock(), presence_timeout=TIMEOUT)
    first = await task_store.create(db, viewer, task_store.NewTask(title="a"))
    await task_store.create(db, viewer, task_store.NewTask(title="b"))
    await task_store.claim(db, viewer, first, None)
    found = await summary.team_summary(db, at(clock), LIMITS)
    assert [(a.name, a.presence, a.claims) for a in found.agents] == [("ana", "online", 1)]
    assert (found.tasks, found.ready_tasks, found.health) == ({"claimed": 1, "open": 1}, 1, "healthy")
