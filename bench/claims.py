"""Claims per second and p99 with 1, 4, 8 and 16 processes: raw sqlite3 (the floor), Roundtable's task
store, and full MCP stdio round trips to coordination servers beside the same number of bare MCPServer
processes answering a no-op tool, driven the same way in turns in the same run (the SDK's own floor; issue
17's goal: MCP claims ≥ 0.8x of it at 16 processes). Then the PostgreSQL column: the task store on a PostgreSQL
database beside a raw psycopg `FOR UPDATE SKIP LOCKED` claim loop (its floor), interleaved in the same run,
on a PostgreSQL the bench starts itself (tests/postgres.py, as the tests do; skipped with the reason when
there is none).

    uv run python -m bench.claims [--seconds 3] [--procs 1,4,8,16]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

import anyio
from mcp import Client

from bench import goals
from bench.common import ROOT, ms, pct, table
from servers.cli.launch import server_params
from shared.db.connection import Database
from shared.db.place import PostgresUrl, parse_place
from shared.errors import Unavailable
from shared.store.tasks import queue as store
from shared.store.team import agents
from tests import postgres

TASKS = 20_000
RAW_CLAIM = (
    "UPDATE tasks SET status = 'claimed', holder = ?, claimed_at = ?, lease_expires_at = ? + lease_seconds"
    " WHERE id = (SELECT id FROM tasks WHERE status = 'open' ORDER BY priority DESC, id LIMIT 1) RETURNING id"
)


def template(folder: Path) -> Path:
    """A migrated database holding TASKS ready tasks, copied for every run."""
    path = folder / "template.db"

    async def build() -> None:
        db = await Database.open(path)
        await db.close()

    asyncio.run(build())
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO tasks(title, created_by, lease_seconds, created_at, updated_at)"
            " VALUES (?, 'bench', 900, 0, 0)",
            [(f"task {i}",) for i in range(TASKS)],
        )
        conn.commit()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


PG_RAW_CLAIM = (
    "UPDATE tasks SET status = 'claimed', holder = %s, claimed_at = %s, lease_expires_at = %s + lease_seconds"
    " WHERE id = (SELECT id FROM tasks WHERE status = 'open' ORDER BY priority DESC, id LIMIT 1"
    " FOR UPDATE SKIP LOCKED) RETURNING id"
)


def pg_template(server: postgres.Postgres) -> str:
    """A migrated PostgreSQL database holding TASKS ready tasks, the template of every PostgreSQL run."""
    import psycopg

    name = server.create("bench_claims")

    async def build() -> None:
        await (await Database.open(PostgresUrl(server.url(name)))).close()

    asyncio.run(build())
    with psycopg.connect(server.url(name)) as conn:
        conn.execute(
            "INSERT INTO tasks(title, created_by, lease_seconds, created_at, updated_at)"
            " SELECT 'task ' || i, 'bench', 900, 0, 0 FROM generate_series(1, %s) AS i",
            (TASKS,),
        )
    server.sql("VACUUM ANALYZE tasks", name)
    server.mark_template(name)
    return name


def pg_raw_worker(db: str, who: str, seconds: float, out: mp.Queue, go: object) -> None:  # type: ignore[type-arg]
    """The floor on PostgreSQL: one autocommit statement per claim, the row taken FOR UPDATE SKIP LOCKED."""
    import psycopg

    conn = psycopg.connect(db, autocommit=True)
    latencies, errors = [], 0
    go.wait()  # type: ignore[attr-defined]
    begun = time.perf_counter()
    deadline = begun + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        try:
            row = conn.execute(PG_RAW_CLAIM, (who, time.time(), time.time())).fetchone()
        except psycopg.Error:
            errors += 1
            continue
        if row is None:
            break
        latencies.append(time.perf_counter() - start)
    conn.close()
    out.put((latencies, errors, time.perf_counter() - begun))


def fresh(template_db: Path, folder: Path, name: str) -> Path:
    target = folder / f"{name}.db"
    shutil.copy(template_db, target)
    return target


def raw_worker(db: str, who: str, seconds: float, out: mp.Queue, go: object) -> None:  # type: ignore[type-arg]
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 10000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    latencies, errors = [], 0
    go.wait()  # type: ignore[attr-defined]
    begun = time.perf_counter()
    deadline = begun + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        try:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute(RAW_CLAIM, (who, time.time(), time.time())).fetchone()
            conn.execute("COMMIT")
        except sqlite3.OperationalError:
            errors += 1
            conn.execute("ROLLBACK") if conn.in_transaction else None
            continue
        if row is None:
            break
        latencies.append(time.perf_counter() - start)
    out.put((latencies, errors, time.perf_counter() - begun))


def store_worker(db: str, who: str, seconds: float, out: mp.Queue, go: object) -> None:  # type: ignore[type-arg]
    async def loop() -> tuple[list[float], int, float]:
        database = await Database.open(parse_place(db))
        me = await agents.register_session(
            database,
            key=f"named:{who}",
            explicit_name=who,
            default_base=who,
            client_name="bench",
            host="h",
            role="worker",
            server="bench",
            pid=0,
            now=time.time(),
        )
        latencies, errors = [], 0
        await anyio.to_thread.run_sync(go.wait)  # type: ignore[attr-defined]
        begun = time.perf_counter()
        deadline = begun + seconds
        while time.perf_counter() < deadline:
            now = time.time()
            start = time.perf_counter()
            try:
                got = await store.claim(database, me.at(now), None, None)
            except (sqlite3.OperationalError, Unavailable):
                errors += 1
                continue
            if got is None:
                break
            latencies.append(time.perf_counter() - start)
        await database.close()
        return latencies, errors, time.perf_counter() - begun

    out.put(asyncio.run(loop()))


def in_processes(target: object, db: Path | str, procs: int, seconds: float) -> tuple[list[float], int, float]:
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    go = ctx.Barrier(procs)
    workers = [ctx.Process(target=target, args=(str(db), f"w{i}", seconds, out, go)) for i in range(procs)]  # type: ignore[arg-type]
    for w in workers:
        w.start()
    results = [out.get() for _ in workers]
    for w in workers:
        w.join()
    latencies = [x for lat, _, _ in results for x in lat]
    return latencies, sum(e for _, e, _ in results), max(wall for _, _, wall in results)


Run = tuple[list[float], int, float]
"""A run's latencies, its errors and how many seconds it lasted."""
TURNS = 4
"""The MCP column and its bare no-op floor take turns this many times per run, so a change of load on the
shared machine lands on both alike (each turn is `seconds / TURNS` of each)."""


async def mcp_runs(db: Path, procs: int, seconds: float) -> tuple[Run, Run]:
    """procs coordination servers over stdio claiming, and procs bare MCPServer processes
    (bench/floor_server.py) answering their no-op tool, one client session each, all started first and then
    driven in turns (claims, no-op, claims, …: TURNS each, `seconds` in all for each side)."""
    tools = ("task_claim", "noop")
    samples: dict[str, list[float]] = {tool: [] for tool in tools}
    errors = dict.fromkeys(tools, 0)
    up = 0
    all_up = anyio.Event()
    begins = {tool: [anyio.Event() for _ in range(TURNS)] for tool in tools}
    ends = {tool: [anyio.Event() for _ in range(TURNS)] for tool in tools}
    until = {tool: [0.0] * TURNS for tool in tools}
    done = {tool: [0] * TURNS for tool in tools}

    async def client(i: int, tool: str) -> None:
        nonlocal up
        kind, module = ("floor", "bench.floor_server") if tool == "noop" else ("coordination", None)
        params = server_params(kind, db, f"mcp{i}", log_level="ERROR", module=module, cwd=ROOT)
        async with Client(params) as c:
            up += 1
            if up == len(tools) * procs:
                all_up.set()
            for j in range(TURNS):
                await begins[tool][j].wait()
                while time.perf_counter() < until[tool][j]:
                    start = time.perf_counter()
                    result = await c.call_tool(tool, {})
                    if result.is_error:
                        errors[tool] += 1
                        continue
                    samples[tool].append(time.perf_counter() - start)
                done[tool][j] += 1
                if done[tool][j] == procs:
                    ends[tool][j].set()

    async def conduct() -> None:
        await all_up.wait()
        for j in range(TURNS):
            for tool in tools:
                until[tool][j] = time.perf_counter() + seconds / TURNS
                begins[tool][j].set()
                await ends[tool][j].wait()

    async with anyio.create_task_group() as tg:
        tg.start_soon(conduct)
        for i in range(procs):
            for tool in tools:
                tg.start_soon(client, i, tool)
    claims, noops = ((samples[t], errors[t], seconds) for t in tools)
    return claims, noops


def run(quick: bool) -> str:
    return measure([1, 4, 8, 16], 1.0 if quick else 3.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--procs", default="1,4,8,16")
    args = parser.parse_args()
    print(measure([int(p) for p in args.procs.split(",")], args.seconds))


def measure(counts: list[int], seconds: float) -> str:
    try:
        with postgres.running() as server:
            return _measure(counts, seconds, server)
    except postgres.Unavailable as missing:
        return _measure(counts, seconds, None) + f"\nPostgreSQL column skipped: {missing}\n"


def _measure(counts: list[int], seconds: float, server: postgres.Postgres | None) -> str:
    rows, pg_rows = [], []
    base_pg = pg_template(server) if server is not None else None
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        base = template(folder)
        for procs in counts:
            raw, raw_err, raw_wall = in_processes(raw_worker, fresh(base, folder, f"raw{procs}"), procs, seconds)
            st, st_err, st_wall = in_processes(store_worker, fresh(base, folder, f"st{procs}"), procs, seconds)
            mcp, floor = anyio.run(mcp_runs, fresh(base, folder, f"mcp{procs}"), procs, seconds)
            (over, mcp_err, mcp_wall), (noop, noop_err, noop_wall) = mcp, floor
            if server is not None and base_pg is not None:
                pg_raw_db, pg_store_db = server.create(template=base_pg), server.create(template=base_pg)
                pg_raw, pg_raw_err, pg_raw_wall = in_processes(pg_raw_worker, server.url(pg_raw_db), procs, seconds)
                pg_st, pg_st_err, pg_st_wall = in_processes(store_worker, server.url(pg_store_db), procs, seconds)
                server.drop(pg_raw_db)
                server.drop(pg_store_db)
                pg_raw_rate, pg_st_rate = len(pg_raw) / pg_raw_wall, len(pg_st) / pg_st_wall
                pg_rows.append(
                    [
                        procs,
                        f"{pg_raw_rate:,.0f}",
                        ms(pct(pg_raw, 99)),
                        f"{pg_st_rate:,.0f}",
                        ms(pct(pg_st, 99)),
                        f"{pg_st_rate / pg_raw_rate:.2f}",
                        pg_raw_err + pg_st_err,
                    ]
                )
            raw_rate, st_rate, mcp_rate = len(raw) / raw_wall, len(st) / st_wall, len(over) / mcp_wall
            noop_rate = len(noop) / noop_wall
            if procs == 16:
                goals.record(
                    "claims.store16",
                    f"{st_rate:,.0f}/s vs raw {raw_rate:,.0f}/s ({st_rate / raw_rate:.2f}x)",
                    st_rate / raw_rate / 0.5,
                    st_rate >= 0.5 * raw_rate,
                )
                goals.record(
                    "claims.mcp16",
                    f"{mcp_rate:,.0f}/s vs bare no-op {noop_rate:,.0f}/s ({mcp_rate / noop_rate:.2f}x)",
                    mcp_rate / noop_rate / 0.8,
                    mcp_rate >= 0.8 * noop_rate,
                )
            rows.append(
                [
                    procs,
                    f"{raw_rate:,.0f}",
                    ms(pct(raw, 99)),
                    f"{st_rate:,.0f}",
                    ms(pct(st, 99)),
                    f"{st_rate / raw_rate:.2f}",
                    f"{mcp_rate:,.0f}",
                    ms(pct(over, 99)),
                    f"{mcp_rate / raw_rate:.3f}",
                    f"{noop_rate:,.0f}",
                    f"{mcp_rate / noop_rate:.2f}" + (": pass" if mcp_rate >= 0.8 * noop_rate else ": FAIL")
                    if procs == 16
                    else f"{mcp_rate / noop_rate:.2f}",
                    raw_err + st_err + mcp_err + noop_err,
                ]
            )
    sqlite_part = table(
        f"Claims: raw sqlite3 floor vs the task store vs MCP stdio ({seconds:g} s per run)",
        [
            "procs",
            "raw/s",
            "raw p99 ms",
            "store/s",
            "store p99 ms",
            "store/raw",
            "mcp/s",
            "mcp p99 ms",
            "mcp/raw",
            "bare no-op/s",
            "mcp/bare (goal ≥ 0.8 at 16)",
            "errors",
        ],
        rows,
    ) + (
        "\nEach run claims from 20,000 open tasks and completes none, so thousands are claimed by the end. A store "
        "claim picks its best few candidates in a read snapshot, also considering lapsed claims to take over, which "
        "it finds through indexes (expired leases, and the claims of agents without a live session), so the claims "
        "of present agents cost nothing; then one write transaction re-checks them, takes the first still takeable "
        "and records the claim event. Both run on the event loop's thread when nothing else of the process is on "
        "the connection's thread and the write lock is free at once; otherwise each takes one aiosqlite hop, the "
        "write waiting there for the lock. The raw floor takes the best open task in one UPDATE with no event row "
        "and no re-check of dependencies, assignment, capabilities or lapsed claims. The MCP column also "
        "carries the client: one Python process drives every stdio session and validates every result against "
        "its outputSchema. The bare no-op column is the same number of bare MCPServer processes answering a no-op "
        f"tool to clients driven the same way: both sets of processes are started first and then take {TURNS} turns "
        "each (claims, no-op, claims, …), so a change of load on the machine lands on both alike: what the SDK "
        "costs before any work.\n"
    )
    if not pg_rows:
        return sqlite_part
    pg_part = table(
        f"Claims on PostgreSQL: raw psycopg SKIP LOCKED floor vs the task store ({seconds:g} s per run, "
        f"load average {os.getloadavg()[0]:.1f})",
        ["procs", "pg raw/s", "pg raw p99 ms", "pg store/s", "pg store p99 ms", "pg store/raw", "errors"],
        pg_rows,
    ) + (
        "\nThe raw loop is one autocommit UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED) per claim. A "
        "store claim on PostgreSQL runs on a pooled connection on a worker thread: it picks its candidates, takes "
        "the first still takeable FOR UPDATE SKIP LOCKED, records the claim event and notifies the other "
        "processes, in one transaction.\n"
    )
    return sqlite_part + "\n" + pg_part


if __name__ == "__main__":
    main()
