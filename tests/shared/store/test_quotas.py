"""Issue 15: per-agent quotas (unfinished tasks created, knowledge entries and their bytes, kept skill versions,
open proposals), each refused whole with one line naming the limit, its setting and the fix; retention of old
skill versions; and one agent cannot grow the file without bound through knowledge_add."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shared.actor import Actor
from shared.config import Limits, load_settings
from shared.db.connection import Database
from shared.errors import QuotaExceeded
from shared.models.knowledge import SkillParameter
from shared.store import retention
from shared.store.knowledge import entries, skills
from shared.store.proposals import ballot
from shared.store.tasks import changes
from shared.store.tasks import queue as task_store
from tests.agents import join
from tests.conftest import FakeClock

pytestmark = [pytest.mark.anyio, pytest.mark.engines("sqlite", "postgresql")]


def limited(actor: Actor, **limits: float) -> Actor:
    return replace(actor, limits=replace(Limits(), **limits))  # type: ignore[arg-type]


async def rows(db: Database, table: str) -> int:
    return int(await db.scalar(f"SELECT count(*) FROM {table}"))


def one_line_naming(exc: pytest.ExceptionInfo[QuotaExceeded], setting: str, limit: int) -> str:
    said = str(exc.value)
    assert "\n" not in said and f"{setting}={limit}" in said and "raise" in said and "Nothing was changed" in said
    return said


def test_each_quota_is_a_setting_with_a_default() -> None:
    assert load_settings(env={}).limits == Limits()
    env = {
        "ROUNDTABLE_MAX_OPEN_TASKS": "7",
        "ROUNDTABLE_MAX_KNOWLEDGE": "8",
        "ROUNDTABLE_MAX_KNOWLEDGE_BYTES": "100000",
        "ROUNDTABLE_MAX_SKILL_VERSIONS": "9",
        "ROUNDTABLE_MAX_OPEN_PROPOSALS": "3",
        "ROUNDTABLE_MAX_LEASE_AGE": "7200",
        "ROUNDTABLE_SKILL_VERSIONS_KEPT": "4",
    }
    settings = load_settings(env=env)
    assert settings.limits == Limits(
        open_tasks=7, knowledge_entries=8, knowledge_bytes=100000, skill_versions=9, open_proposals=3, lease_age=7200
    )
    assert settings.skill_versions_kept == 4
    assert Actor.of(settings, id="x", name="x").limits == settings.limits


async def test_unfinished_tasks_an_agent_created_are_capped_and_finishing_one_frees_a_place(
    db: Database, clock: FakeClock
) -> None:
    ana = limited(await join(db, clock, "ana"), open_tasks=3)
    bo = await join(db, clock, "bo")
    made = [await task_store.create(db, ana, task_store.NewTask(title=f"t{i}")) for i in range(3)]
    await task_store.create(db, bo, task_store.NewTask(title="bo's own"))  # another agent's quota is its own
    before = await rows(db, "tasks"), await rows(db, "events")
    with pytest.raises(QuotaExceeded) as refused:
        await task_store.create(db, ana, task_store.NewTask(title="one too many"))
    assert "3 unfinished tasks" in one_line_naming(refused, "ROUNDTABLE_MAX_OPEN_TASKS", 3)
    assert (await rows(db, "tasks"), await rows(db, "events")) == before  # refused whole
    await changes.update(db, ana, made[0], task_store.TaskChange(status="cancelled"))
    await task_store.create(db, ana, task_store.NewTask(title="now there is room"))


async def test_knowledge_entries_and_their_bytes_are_capped_per_author(db: Database, clock: FakeClock) -> None:
    ana = limited(await join(db, clock, "ana"), knowledge_entries=3)
    for i in range(3):
        await entries.add(db, ana, entries.NewEntry(title=f"entry {i}", body="short"))
    with pytest.raises(QuotaExceeded) as refused:
        await entries.add(db, ana, entries.NewEntry(title="entry 4", body="short"))
    one_line_naming(refused, "ROUNDTABLE_MAX_KNOWLEDGE", 3)
    with pytest.raises(QuotaExceeded):  # an experience is an entry too
        await entries.share_experience(
            db, ana, entries.Experience(title="t", context="c", tried="a", outcome="success", lesson="l")
        )

    bo = limited(await join(db, clock, "bo"), knowledge_bytes=100_000)
    await entries.add(db, bo, entries.NewEntry(title="big one", body="x" * 60_000))
    with pytest.raises(QuotaExceeded) as refused:
        await entries.add(db, bo, entries.NewEntry(title="big two", body="y" * 60_000))
    said = one_line_naming(refused, "ROUNDTABLE_MAX_KNOWLEDGE_BYTES", 100_000)
    assert "shorter" in said
    await entries.add(db, bo, entries.NewEntry(title="small", body="fits"))
    assert await rows(db, "knowledge") == 5


async def test_one_agent_cannot_grow_the_file_without_bound_with_knowledge_add(db: Database, clock: FakeClock) -> None:
    """The attack of the issue: largest bodies as fast as possible. With the default quota the agent's
    entries stop at 16 MiB; the file stops growing once the quota is reached."""
    mallory = await join(db, clock, "mallory")
    assert mallory.limits.knowledge_bytes == 16 * 1024 * 1024
    body = "z" * entries.BODY_MAX
    added = 0
    with pytest.raises(QuotaExceeded):
        for i in range(10_000):
            await entries.add(db, mallory, entries.NewEntry(title=f"flood {i}", body=body))
            added += 1
    assert added == mallory.limits.knowledge_bytes // (entries.BODY_MAX + len(f"flood {added}") + 2)
    bodies = await db.fetchall("SELECT body FROM knowledge WHERE author_id = ?", (mallory.id,))
    stored = sum(len(str(r["body"]).encode()) for r in bodies)
    assert stored <= mallory.limits.knowledge_bytes

    async def size() -> int:  # the file (SQLite), or the rows (PostgreSQL's size moves with its own upkeep)
        if db.engine == "sqlite":
            await db.scalar("PRAGMA wal_checkpoint(TRUNCATE)")
            return int(db.path.stat().st_size)  # type: ignore[attr-defined]
        return int(await db.scalar("SELECT count(*) FROM knowledge"))

    before = await size()
    for i in range(20):
        with pytest.raises(QuotaExceeded):
            await entries.add(db, mallory, entries.NewEntry(title=f"more {i}", body=body))
    assert await size() == before


async def test_skill_versions_are_capped_per_author_and_retention_keeps_the_newest_of_each_skill(
    db: Database, clock: FakeClock
) -> None:
    ana = limited(await join(db, clock, "ana"), skill_versions=6)
    param = [SkillParameter(name="x", description="x")]
    for i in range(6):
        await skills.define(db, ana, "ship", f"version {i}", param, [f"step {{x}} {i}"])
    with pytest.raises(QuotaExceeded) as refused:
        await skills.define(db, ana, "ship", "one more", param, ["step {x}"])
    one_line_naming(refused, "ROUNDTABLE_MAX_SKILL_VERSIONS", 6)
    assert await rows(db, "skills") == 6

    gone = await retention.prune(db, now=clock(), keep=retention.Retention(1e9, 1e9, 1e9, skill_versions=2))
    assert gone == {"skill_versions": 4}
    kept = await db.read(skills.get, "ship")
    assert kept.version == 6 and kept.versions == [5, 6]
    await skills.define(db, ana, "ship", "room again", param, ["step {x}"])  # the quota counts kept versions
    assert await retention.prune(db, now=clock(), keep=retention.Retention(1e9, 1e9, 1e9, skill_versions=2)) == {
        "skill_versions": 1
    }


async def test_open_proposals_are_capped_per_proposer(db: Database, clock: FakeClock) -> None:
    ana = limited(await join(db, clock, "ana"), open_proposals=2)
    await join(db, clock, "bo")

    def spec(i: int) -> ballot.NewProposal:
        return ballot.NewProposal(title=f"p{i}", options=("yes", "no"), rule="majority", deadline=clock() + 3600)

    for i in range(2):
        await ballot.propose(db, spec(i), ana)
    before = await rows(db, "proposals"), await rows(db, "messages")
    with pytest.raises(QuotaExceeded) as refused:
        await ballot.propose(db, spec(3), ana)
    one_line_naming(refused, "ROUNDTABLE_MAX_OPEN_PROPOSALS", 2)
    assert (await rows(db, "proposals"), await rows(db, "messages")) == before
