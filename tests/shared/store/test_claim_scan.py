"""Issue 15: a queue of tasks the caller can never claim does not make task_claim scan them while it holds
the write lock. The pick reads, in a read snapshot, index ranges that hold none of the tasks assigned to
someone else or waiting on dependencies and (for a caller without capabilities) none of those requiring
capabilities; the write transaction only re-checks its few candidates by primary key."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import pytest

from shared.actor import Actor
from shared.db.connection import Database, Tx
from shared.store.tasks import changes, dialect
from shared.store.tasks import queue as task_store
from tests.agents import join
from tests.conftest import FakeClock

pytestmark = pytest.mark.anyio

UNCLAIMABLE = 20_000


def steps(conn: sqlite3.Connection, work: Callable[[], Any]) -> tuple[Any, int]:
    """Run `work` and count the SQLite virtual-machine instructions it cost (in thousands)."""
    counted = [0]

    def tick() -> int:
        counted[0] += 1
        return 0

    conn.set_progress_handler(tick, 1000)
    try:
        return work(), counted[0]
    finally:
        conn.set_progress_handler(None, 0)


def fill(conn: sqlite3.Connection, creator: str, rows: list[tuple[str, str | None]]) -> None:
    """Insert open tasks (requires JSON, assignee) at high priority, ahead of anything claimable."""
    conn.executemany(
        "INSERT INTO tasks(title, priority, requires, assignee, created_by, lease_seconds, created_at, updated_at)"
        " VALUES ('never yours', 3, ?, ?, ?, 900, 0, 0)",
        [(requires, assignee, creator) for requires, assignee in rows],
    )


async def test_the_claim_under_the_write_lock_reads_its_candidates_by_primary_key_only(db: Database) -> None:
    me = Actor(id="me", name="me", now=1.0)
    params = {**me.params(lease=None, lease_age=me.limits.lease_age), "id": 1}
    take = await db.fetchall(
        f"EXPLAIN QUERY PLAN SELECT t.id, t.status, t.holder FROM tasks t WHERE t.id = :id AND {task_store.TAKEABLE}",
        params,
    )
    tasks_reads = [str(r[3]) for r in take if " t " in f" {r[3]!s} "]
    assert tasks_reads == ["SEARCH t USING INTEGER PRIMARY KEY (rowid=?)"], tasks_reads
    for requiring in (False, True):
        pick = " | ".join(
            str(r[3])
            for r in await db.fetchall(
                "EXPLAIN QUERY PLAN "
                + task_store.best(dialect.SQLITE, requiring=requiring, limit=task_store.CANDIDATES),
                me.params(),
            )
        )
        assert "tasks_queue_for_anyone" in pick and "tasks_queue_assigned (assignee=?)" in pick, pick
        assert ("tasks_queue_requiring" in pick) == requiring, pick
        assert "USING INDEX tasks_queue " not in pick and "SCAN t " not in pick.replace("SCAN t USING INDEX", ""), pick


async def test_tasks_the_caller_can_never_claim_cost_its_pick_and_its_take_nothing(
    db: Database, clock: FakeClock
) -> None:
    ana, bo = await join(db, clock, "ana"), await join(db, clock, "bo")
    await db.close()
    conn = sqlite3.connect(db.path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    tx = Tx(conn)
    ana = ana.at(clock())
    wanted = task_store._create(tx, bo.at(clock()), task_store.NewTask(title="yours", priority=0))

    def pick_and_take_cost() -> tuple[int, int]:
        candidates, pick = steps(conn, lambda: task_store._candidates(tx, ana))
        assert candidates == [wanted]
        conn.execute("BEGIN IMMEDIATE")
        try:
            taken, take = steps(conn, lambda: task_store._take_first(tx, ana, candidates, None))
            assert taken == wanted
        finally:
            conn.execute("ROLLBACK")
        return pick, take

    empty_pick, empty_take = pick_and_take_cost()
    half = UNCLAIMABLE // 2  # requiring a capability ana lacks, and assigned to bo
    fill(conn, bo.id, [('["gpu"]', None)] * half + [("[]", bo.id)] * half)
    full_pick, full_take = pick_and_take_cost()
    assert full_take <= empty_take + 1, (empty_take, full_take)  # under the lock: the same few row reads
    assert full_pick <= empty_pick + 2, (empty_pick, full_pick)  # the pick never visits them either
    conn.close()


async def test_tasks_waiting_on_dependencies_cost_the_pick_and_the_take_nothing(db: Database, clock: FakeClock) -> None:
    """A task whose dependencies are not done is out of the pick's ranges (`unmet_deps`, kept by triggers)."""
    ana, bo = await join(db, clock, "ana"), await join(db, clock, "bo")
    await db.close()
    conn = sqlite3.connect(db.path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    tx = Tx(conn)
    ana = ana.at(clock())
    blocker = task_store._create(tx, bo.at(clock()), task_store.NewTask(title="not done", priority=0))
    task_store._claim(tx, bo.at(clock()), blocker, None)
    wanted = task_store._create(tx, bo.at(clock()), task_store.NewTask(title="yours", priority=0))
    empty_pick = steps(conn, lambda: task_store._candidates(tx, ana))[1]
    conn.execute("BEGIN")
    fill(conn, bo.id, [("[]", None)] * UNCLAIMABLE)
    conn.execute(
        "INSERT INTO task_deps(task_id, depends_on) SELECT id, ? FROM tasks WHERE title = 'never yours'", (blocker,)
    )
    conn.execute("COMMIT")
    assert conn.execute("SELECT count(*) FROM tasks WHERE unmet_deps = 1").fetchone()[0] == UNCLAIMABLE
    candidates, pick = steps(conn, lambda: task_store._candidates(tx, ana))
    assert candidates == [wanted]
    conn.execute("BEGIN IMMEDIATE")
    taken, take = steps(conn, lambda: task_store._take_first(tx, ana, candidates, None))
    conn.execute("ROLLBACK")
    assert taken == wanted and take <= 2 and pick <= empty_pick + 2, (take, pick, empty_pick)
    conn.close()


async def test_the_waiting_count_follows_dependencies_as_they_are_added_and_done(
    db: Database, clock: FakeClock
) -> None:
    ana = await join(db, clock, "ana")
    first = await task_store.create(db, ana.at(clock()), task_store.NewTask(title="first"))
    second = await task_store.create(db, ana.at(clock()), task_store.NewTask(title="second"))
    later = await task_store.create(
        db, ana.at(clock()), task_store.NewTask(title="later", priority=3, depends_on=[first, second])
    )

    async def waiting() -> int:
        return int(await db.scalar("SELECT unmet_deps FROM tasks WHERE id = ?", (later,)))

    assert await waiting() == 2
    for task_id, left in ((first, 1), (second, 0)):
        assert await task_store.claim(db, ana.at(clock()), None, None) == task_id  # `later` waits: not offered
        await changes.complete(db, ana.at(clock()), task_id, success=True, result="ok")
        assert await waiting() == left
    cancelled = await task_store.create(db, ana.at(clock()), task_store.NewTask(title="cancelled"))
    await changes.update(db, ana.at(clock()), later, task_store.TaskChange(add_depends_on=[first, cancelled]))
    await changes.update(db, ana.at(clock()), cancelled, task_store.TaskChange(status="cancelled"))
    assert await waiting() == 1  # `first` was done already; a dependency cancelled since is never met
    assert await task_store.claim(db, ana.at(clock()), None, None) is None


async def test_a_claimer_that_loses_its_best_candidate_takes_the_next_and_never_a_held_one(
    db: Database, clock: FakeClock
) -> None:
    ana, bo = await join(db, clock, "ana"), await join(db, clock, "bo")
    ids = [await task_store.create(db, ana.at(clock()), task_store.NewTask(title=f"t{i}")) for i in range(3)]
    candidates = await db.read(task_store._candidates, ana.at(clock()))
    assert candidates == ids
    assert await task_store.claim(db, bo.at(clock()), ids[0], None) == ids[0]  # bo wins the best one meanwhile
    assert await db.write(task_store._take_first, ana.at(clock()), candidates, None) == ids[1]
    assert await db.write(task_store._take_first, ana.at(clock()), [ids[0], ids[1]], None) is None
    holders = {int(r["id"]): r["holder"] for r in await db.fetchall("SELECT id, holder FROM tasks")}
    assert holders == {ids[0]: bo.id, ids[1]: ana.id, ids[2]: None}
    assert await task_store.claim(db, ana.at(clock()), None, None) == ids[2]
    assert await task_store.claim(db, bo.at(clock()), None, None) is None
