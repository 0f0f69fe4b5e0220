"""How long task_claim holds the write lock when the queue is full of tasks the caller can never claim
(issue 15), beside the same claim on an empty queue, measured interleaved in one run.

Three files: an empty queue; QUEUE tasks the claimer can never claim because they require a capability it
lacks or are assigned to someone else; and QUEUE tasks waiting on an unfinished dependency (the pick's
index ranges hold neither). Each
round puts one claimable task in every file and claims it: the pick in a read snapshot, then the take under
the write lock, timed apart. "before" is the pick this change replaced (the best ready task found inside
the write transaction) on the same files.

    uv run python -m bench.claim_scan [--tasks 50000] [--rounds 40]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
from pathlib import Path

import anyio

from bench.common import ms, pct, table
from shared.actor import Actor
from shared.db.connection import Database, Tx
from shared.store.tasks import queue as store
from shared.store.tasks.queries import CLAIMABLE, LAPSED_IDS
from shared.store.team import agents

BEFORE = (
    "SELECT id FROM ("
    f" SELECT * FROM (SELECT t.id, t.priority FROM tasks t WHERE t.status = 'open' AND {CLAIMABLE}"
    "  ORDER BY t.priority DESC, t.id LIMIT 1)"
    " UNION ALL"
    f" SELECT * FROM (SELECT t.id, t.priority FROM tasks t WHERE t.id IN ({LAPSED_IDS})"
    f"  AND t.attempts + 1 < t.max_attempts AND {CLAIMABLE} ORDER BY t.priority DESC, t.id LIMIT 1)"
    ") ORDER BY priority DESC, id LIMIT 1"
)
"""The pick task_claim ran under the write lock before issue 15 (the whole open queue in priority order)."""


def fill(path: Path, kind: str, count: int, other: str) -> None:
    with sqlite3.connect(path) as conn:
        if kind == "capability or assignee":
            rows = [('["gpu"]', None) if i % 2 else ("[]", other) for i in range(count)]
        else:
            rows = [("[]", None)] * count
        conn.executemany(
            "INSERT INTO tasks(title, priority, requires, assignee, created_by, lease_seconds, created_at, updated_at)"
            " VALUES ('never yours', 3, ?, ?, ?, 900, 0, 0)",
            [(requires, assignee, "filler") for requires, assignee in rows],
        )
        if kind == "dependency":
            blocker = conn.execute(
                "INSERT INTO tasks(title, status, holder, created_by, lease_seconds, claimed_at, lease_expires_at,"
                " created_at, updated_at) VALUES ('not done', 'claimed', ?, ?, 900, 0, 1e12, 0, 0) RETURNING id",
                (other, other),
            ).fetchone()[0]
            conn.execute(
                "INSERT INTO task_deps(task_id, depends_on) SELECT id, ? FROM tasks WHERE title = 'never yours'",
                (blocker,),
            )
        conn.commit()


async def join(db: Database, name: str) -> Actor:
    return await agents.register_session(
        db,
        key=f"named:{name}",
        explicit_name=name,
        default_base=name,
        client_name="bench",
        host="h",
        role="worker",
        server="bench",
        pid=0,
        now=time.time(),
        presence_timeout=3600.0,
    )


async def measure(count: int, rounds: int) -> str:
    kinds = ("empty", "capability or assignee", "dependency")
    picks: dict[str, list[float]] = {k: [] for k in kinds}
    takes: dict[str, list[float]] = {k: [] for k in kinds}
    before: dict[str, list[float]] = {k: [] for k in kinds}
    with tempfile.TemporaryDirectory(prefix="rt-claim-scan-") as folder:
        dbs, claimers = {}, {}
        for i, kind in enumerate(kinds):
            path = Path(folder) / f"{i}.db"
            db = await Database.open(path)
            other = await join(db, "other")
            claimers[kind] = (await join(db, "claimer"), other)
            await db.close()
            if kind != "empty":
                fill(path, kind, count, other.id)
            dbs[kind] = await Database.open(path)
        try:
            for _ in range(rounds):
                for kind in kinds:  # interleaved: every round measures every file
                    db, (me, other) = dbs[kind], claimers[kind]
                    now = time.time()
                    mine = await store.create(db, other.at(now), store.NewTask(title="yours", priority=0))
                    began = time.perf_counter()
                    candidates = await db.read(store._candidates, me.at(now))
                    picked = time.perf_counter()
                    got = await db.write(store._take_first, me.at(now), candidates, None)
                    took = time.perf_counter()
                    assert got == mine, (kind, got, mine)
                    picks[kind].append(picked - began)
                    takes[kind].append(took - picked)
                    params = me.at(now).params()
                    began = time.perf_counter()
                    await db.write(lambda tx, p=params: Tx.scalar(tx, BEFORE, p))  # type: ignore[misc]
                    before[kind].append(time.perf_counter() - began)
        finally:
            for db in dbs.values():
                await db.close()
    floor = pct(takes["empty"], 50)
    rows = [
        [
            kind if kind == "empty" else f"{count:,} unclaimable ({kind})",
            ms(pct(picks[kind], 50)),
            ms(pct(takes[kind], 50)),
            ms(pct(takes[kind], 99)),
            f"{pct(takes[kind], 50) / floor:.2f}x",
            ms(pct(before[kind], 50)),
            f"{pct(before[kind], 50) / floor:.1f}x",
        ]
        for kind in kinds
    ]
    load = os.getloadavg()[0]
    return table(
        f"task_claim's write-lock hold, {rounds} interleaved rounds (load average {load:.1f})",
        [
            "queue",
            "pick, snapshot p50 ms",
            "lock held p50 ms",
            "lock held p99 ms",
            "lock held ÷ empty",
            "before: lock held p50 ms",
            "before ÷ empty",
        ],
        rows,
    )


def run(quick: bool) -> str:
    return anyio.run(measure, 20_000 if quick else 50_000, 20 if quick else 60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} before")
    print(anyio.run(measure, args.tasks, args.rounds))


if __name__ == "__main__":
    main()
