"""Costs as the team's history grows: every tool's store call, p50/p99, at 1k and 100k rows of history
(1M with --full), beside the same call at the smallest size, the sizes taking turns in the same run.

History per size N: N tasks, N messages (1 % broadcasts), N events (task.*, message.*, agent.*), N tool-call
samples, N/10 knowledge entries; 8 live agents. What grows is history, as in a team that has simply run
longer: the live state is the same at every size — 200 unfinished tasks (8 of them claimed), unread mail
only among the newest 200 messages, and one task, message, event and tool call every 10 s (so the last hour
holds 360 of each whatever N is: 1,000,000 rows are 116 days of history). `--live-scales` seeds the earlier
shape instead (10 % of tasks open, 1 % of mail unread at random, N tasks, messages and events within 30 days
and N samples within the last day): it shows what grows with the live state, where counts stop at their cap
(shared/rules/counts.py) rather than staying flat.

Seeded with raw sqlite3 `executemany` in one transaction per table, kept between runs in a folder of the
system's temporary directory (CACHE) under a key made of the seeding code and the migrations, so a cached
file is exactly what seeding would build now (`--fresh` seeds again); each run measures a copy. Every call
is timed through the store exactly as its tool runs it (the Database, the Actor, one hop per call), on all
sizes in turn — round after round, the sizes in alternating order — so a change of the machine's load lands
on every size alike; the verdict's ratio is the median of the per-round ratios (`paired`), and each row gives
the load average before and after its rounds. Goals (issue 17): at the
largest size each call's p50 is within 2x of its p50 at 1k, and no call is over 20 ms p50.

    uv run python -m bench.growth [--full] [--sizes 1000,100000] [--repeats 40] [--live-scales] [--fresh]
        [--calls knowledge,status]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import inspect
import json
import os
import random
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench import goals
from bench.common import machine, ms, pct, table
from shared.actor import Actor
from shared.db.connection import PAGE_SIZE, Database, load_migrations
from shared.store import events
from shared.store.knowledge import search as knowledge_search
from shared.store.mail import inbox, send
from shared.store.tasks import queries as task_queries
from shared.store.tasks import queue
from shared.store.team import health, metrics, presence, summary

AGENTS = 8
GROWTH_GOAL = 2.0
P50_GOAL_MS = 20.0
LIVE_TASKS = 200
LIVE_MAIL = 200
SAMPLE_EVERY = 10.0
KINDS = ("task.created", "task.claimed", "task.completed", "message.sent", "agent.joined", "knowledge.added")


def seed(path: Path, n: int, now: float, seed_value: int = 17, *, live_scales: bool = False) -> None:
    """A migrated file holding n rows of history in every growing table (see the module docstring)."""

    async def migrate() -> None:
        db = await Database.open(path)
        await db.close()

    asyncio.run(migrate())
    rng = random.Random(seed_value)
    agent_ids = [f"agent-{i}" for i in range(AGENTS)]
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    with conn:
        conn.executemany(
            "INSERT INTO agents(id, name, role, created_at, last_seen, last_active) VALUES (?, ?, 'worker', ?, ?, ?)",
            [(a, a, now - 86400, now, now) for a in agent_ids],
        )
        conn.executemany(
            "INSERT INTO sessions(id, agent_id, server, pid, host, started_at, heartbeat_at)"
            " VALUES (?, ?, 'coordination', 1, 'bench', ?, ?)",
            [(f"s-{a}", a, now - 3600, now) for a in agent_ids],
        )
        step = 86400 * 30 / n if live_scales else SAMPLE_EVERY  # one of each every 10 s: a team that ran longer
        start = now - n * step

        def task(i: int) -> tuple[object, ...]:
            at = start + i * step
            if not live_scales:
                live = i - (n - LIVE_TASKS)
                if live < 0:
                    return (f"task {i}", i % 4, "done", agent_ids[i % AGENTS], None, None, None, 900, at, at, at)
                if live < AGENTS:
                    holder = agent_ids[live]
                    return (f"task {i}", i % 4, "claimed", holder, holder, now, now + 900, 900, at, at, None)
                return (f"task {i}", i % 4, "open", agent_ids[i % AGENTS], None, None, None, 900, at, at, None)
            if i % 10:
                return (f"task {i}", i % 4, "done", agent_ids[i % AGENTS], None, None, None, 900, at, at, at)
            if i % 1000 < AGENTS * 10 and i % 10 == 0 and i < AGENTS * 10:
                holder = agent_ids[i // 10]
                return (f"task {i}", i % 4, "claimed", holder, holder, now, now + 900, 900, at, at, None)
            return (f"task {i}", i % 4, "open", agent_ids[i % AGENTS], None, None, None, 900, at, at, None)

        conn.executemany(
            "INSERT INTO tasks(title, priority, status, created_by, holder, claimed_at, lease_expires_at,"
            " lease_seconds, created_at, updated_at, completed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (task(i) for i in range(n)),
        )

        def message(i: int) -> tuple[object, ...]:
            at = start + i * step
            kind = "broadcast" if i % 100 == 7 else "direct"
            return (
                i + 1,
                agent_ids[i % AGENTS],
                agent_ids[i % AGENTS],
                kind,
                f"subject {i}",
                f"body {i} w{i % 97}",
                i + 1,
                at,
                "*" if kind == "broadcast" else f'["{agent_ids[(i + 1) % AGENTS]}"]',
            )

        conn.executemany(
            "INSERT INTO messages(id, sender_id, sender_name, kind, subject, body, thread_id, created_at, audience)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (message(i) for i in range(n)),
        )

        def recipients() -> object:
            for i in range(n):
                at = start + i * step
                if i % 100 == 7:  # a broadcast: a row for everyone else, read except on the newest ones
                    newest = i >= n * 0.99 if live_scales else i >= n - LIVE_MAIL
                    for a in agent_ids:
                        if a != agent_ids[i % AGENTS]:
                            yield (a, i + 1, None if newest else at + 1)
                    continue
                unread = rng.random() < 0.01 if live_scales else i >= n - LIVE_MAIL
                yield (agent_ids[(i + 1) % AGENTS], i + 1, None if unread else at + 1)

        conn.executemany(
            "INSERT OR IGNORE INTO message_recipients(agent_id, message_id, read_at) VALUES (?, ?, ?)", recipients()
        )
        conn.executemany(
            "INSERT INTO events(ts, agent_id, agent_name, kind, object_type, object_id, data)"
            " VALUES (?, ?, ?, ?, 'task', ?, '{}')",
            (
                (start + i * step, agent_ids[i % AGENTS], agent_ids[i % AGENTS], KINDS[i % len(KINDS)], str(i))
                for i in range(n)
            ),
        )
        day_step = 86400 / n if live_scales else SAMPLE_EVERY
        samples: list[metrics.Sample] = [
            (
                now - n * day_step + i * day_step,
                agent_ids[i % AGENTS],
                "coordination",
                ("task_claim", "task_list")[i % 2],
                0.001 + (i % 50) / 1000,
                None,
            )
            for i in range(n)
        ]
        conn.executemany(
            "INSERT INTO tool_calls(ts, agent_id, server, tool, seconds, bucket, error) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                (ts, agent, server, tool, secs, metrics.bucket(secs), error)
                for ts, agent, server, tool, secs, error in samples
            ),
        )
        conn.executemany(  # counted into their hours, as metrics.record_calls does
            "INSERT INTO tool_call_hours(hour, server, tool, agent_id, error, bucket, calls, seconds, max_seconds)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            metrics.by_the_hour(samples),
        )
        conn.executemany(
            "INSERT INTO knowledge(kind, title, title_key, body, author_id, author_name, created_at)"
            " VALUES ('fact', ?, ?, ?, ?, ?, ?)",
            (
                (
                    f"entry {i} w{i % 89}",
                    f"entry {i} w{i % 89}",
                    f"body of entry {i} about w{i % 97} and w{i % 13}",
                    agent_ids[0],
                    agent_ids[0],
                    start + i * step,
                )
                for i in range(max(n // 10, 10))
            ),
        )
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


Call = Callable[[Database, Actor], Awaitable[object]]


def calls() -> dict[str, Call]:
    """Each tool's store work, as the tool runs it."""
    limits = health.Limits()

    async def task_claim(db: Database, me: Actor) -> object:
        task_id = await queue.create(db, me, queue.NewTask(title="bench"))
        return await queue.claim(db, me, task_id, None)

    async def task_list_ready(db: Database, me: Actor) -> object:
        return await db.read(task_queries.lines, me, task_queries.TaskFilter(ready_only=True), limit=20, cursor=None)

    async def task_list_all(db: Database, me: Actor) -> object:
        return await db.read(task_queries.lines, me, task_queries.TaskFilter(), limit=20, cursor=None)

    async def message_send(db: Database, me: Actor) -> object:
        return await send.send(db, me, ["agent-1"], send.Outgoing(subject="s", body="b"))

    async def message_query(db: Database, me: Actor) -> object:
        return await inbox.page(db, me.named("agent-1"), inbox.InboxFilter(unread_only=True), limit=20, after=0)

    async def message_wait_probe(db: Database, me: Actor) -> object:
        return await inbox.unread_fingerprint(db, me)

    async def agent_status(db: Database, me: Actor) -> object:
        return await presence.agent_infos(db, me)

    async def network_health(db: Database, me: Actor) -> object:
        return await health.check(db, me, limits=limits, integrity=False)

    async def event_log(db: Database, me: Actor) -> object:
        return await events.page(db, events.EventFilter(kind="task."), limit=50)

    async def performance_metrics(db: Database, me: Actor) -> object:
        q = metrics.Query(since=me.now - 3600, until=me.now + 1)
        return await db.read(metrics.report, q, now=me.now, slowest_calls=5)

    async def status_summary(db: Database, me: Actor) -> object:
        return await summary.team_summary(db, me, limits)

    async def knowledge_query(db: Database, me: Actor) -> object:
        return await knowledge_search.search(db, knowledge_search.Search(text="w5"), now=me.now)

    return {
        "task_claim (create+claim)": task_claim,
        "task_list(ready_only)": task_list_ready,
        "task_list": task_list_all,
        "message_send": message_send,
        "message_query(unread)": message_query,
        "message_wait wake-up probe": message_wait_probe,
        "agent_status": agent_status,
        "network_health": network_health,
        "event_log kind 'task.'": event_log,
        "performance_metrics": performance_metrics,
        "status summary": status_summary,
        "knowledge_query": knowledge_query,
    }


SENDS = 1000
SEND_TURNS = 4
SEND_GOAL = 5000.0


async def send_rate(db: Database, me: Actor) -> float:
    """Store sends per second, one process, one at a time (each its own write transaction)."""
    out = send.Outgoing(subject="s", body="rate")
    began = time.perf_counter()
    for i in range(SENDS):
        await send.send(db, me.at(me.now + 1 + i * 1e-4), ["agent-1"], out)
    return SENDS / (time.perf_counter() - began)


def raw_insert_rate(path: Path) -> float:
    """The floor: raw sqlite3 one-row INSERT transactions per second into messages on the same file (the messages
    table as it is, with its indexes; its search index is filled in the background, shared/store/mail/search.py)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = NORMAL")
    began = time.perf_counter()
    for i in range(SENDS):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO messages(sender_name, kind, body, created_at) VALUES ('raw', 'direct', ?, ?)", (str(i), 0.0)
        )
        conn.execute("COMMIT")
    rate = SENDS / (time.perf_counter() - began)
    conn.close()
    return rate


CACHE = Path(tempfile.gettempdir()) / "roundtable-bench-growth"
"""Seeded files kept between runs: building 1,000,000 rows of history takes minutes."""


def generator_key(live_scales: bool) -> str:
    """What a seeded file depends on: this module's seeding code, every migration file and the page size a new
    file gets. A change to any gives a new key, so a cached file is always what seeding now would build."""
    digest = hashlib.sha256(inspect.getsource(seed).encode())
    for version, name, sql in load_migrations():
        digest.update(f"{version} {name}\n{sql}".encode())
    digest.update(b"live" if live_scales else b"")
    digest.update(f"page {PAGE_SIZE}".encode())
    return digest.hexdigest()[:12]


def seeded(n: int, *, live_scales: bool, fresh: bool = False) -> tuple[Path, float, bool]:
    """The cached seeded file of size n (built now when missing or `fresh`), its seeding time and whether it
    was built in this run. Files of other keys are removed."""
    shape, key = "live" if live_scales else "history", generator_key(live_scales)
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"{shape}-{key}-{n}.db"
    for old in CACHE.glob(f"{shape}-*"):
        if not old.name.startswith(f"{shape}-{key}-"):  # seeded by other code: never read again
            old.unlink(missing_ok=True)
    stamp = path.with_suffix(".json")
    if path.exists() and stamp.exists() and not fresh:
        return path, float(json.loads(stamp.read_text())["now"]), False
    partial = path.with_suffix(".partial")
    for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        leftover.unlink(missing_ok=True)
    now = time.time()
    seed(partial, n, now, live_scales=live_scales)
    partial.replace(path)
    stamp.write_text(json.dumps({"now": now, "n": n}))
    return path, now, True


async def measure(
    paths: dict[int, tuple[Path, float]], repeats: int, only: str | None = None
) -> tuple[dict[int, dict[str, list[float]]], dict[str, tuple[float, float]]]:
    """Every call timed on every size, the sizes taking turns (round by round, in alternating order), so a
    change of load lands on all of them alike. Returns the samples by size and call, and the load average
    before and after each call's rounds."""
    dbs = {n: await Database.open(path) for n, (path, _) in paths.items()}
    agents = {n: Actor(id="agent-0", name="agent-0", now=now, per_minute=10**9) for n, (_, now) in paths.items()}
    sizes = list(paths)
    found: dict[int, dict[str, list[float]]] = {n: {} for n in sizes}
    loads: dict[str, tuple[float, float]] = {}
    try:
        for name, call in calls().items():
            if only and not any(part in name for part in only.split(",")):
                continue
            before = os.getloadavg()[0]
            for n in sizes:
                found[n][name] = []
            for i in range(repeats + 2):
                for n in sizes if i % 2 == 0 else reversed(sizes):
                    me = agents[n]
                    at = me.at(me.now + i * 0.001)
                    began = time.perf_counter()
                    await call(dbs[n], at)
                    if i >= 2:  # the first two warm the cache
                        found[n][name].append(time.perf_counter() - began)
            loads[name] = (before, os.getloadavg()[0])
        before = os.getloadavg()[0]
        for n in sizes:
            found[n]["sends/s"], found[n]["raw inserts/s"] = [], []
        for turn in range(0 if only else SEND_TURNS):
            for n in sizes if turn % 2 == 0 else reversed(sizes):
                me = agents[n]
                found[n]["sends/s"].append(await send_rate(dbs[n], me.at(me.now + 3600 + turn)))
                found[n]["raw inserts/s"].append(raw_insert_rate(paths[n][0]))
        loads["sends"] = (before, os.getloadavg()[0])
    finally:
        for db in dbs.values():
            await db.close()
    return found, loads


def run(
    quick: bool = True,
    sizes: list[int] | None = None,
    repeats: int = 40,
    *,
    live_scales: bool = False,
    fresh: bool = False,
    only: str | None = None,
) -> str:
    sizes = sizes or ([1000, 100_000] if quick else [1000, 100_000, 1_000_000])
    built: list[str] = []
    paths: dict[int, tuple[Path, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            began = time.perf_counter()
            cached, now, new = seeded(n, live_scales=live_scales, fresh=fresh)
            took = time.perf_counter() - began
            copy = Path(tmp) / cached.name  # the calls write (claims, sends): a copy keeps the cache as seeded
            shutil.copyfile(cached, copy)
            with copy.open("rb+") as written:  # else the first checkpoint's fsync writes out the whole fresh copy
                os.fsync(written.fileno())
            paths[n] = (copy, now)
            built.append(f"{n:,} {'seeded in' if new else 'from the cache'} {took:.1f} s")
        results, loads = asyncio.run(measure(paths, repeats, only))
    base, top = sizes[0], sizes[-1]
    rates = {n: (pct(results[n].pop("sends/s"), 50), pct(results[n].pop("raw inserts/s"), 50)) for n in sizes}
    rows = []
    flat: list[tuple[str, float, float]] = []  # (call, ratio, p50 ms at the top size)
    for name in results[base]:
        cells: list[object] = [name]
        for n in sizes:
            s = results[n][name]
            cells.append(f"{ms(pct(s, 50))} / {ms(pct(s, 99))}")
        ratio = pct(results[top][name], 50) / max(pct(results[base][name], 50), 1e-9)
        paired = paired_ratio(results[top][name], results[base][name])
        top_p50 = pct(results[top][name], 50) * 1000
        ok = (paired <= GROWTH_GOAL or top_p50 < 1.0) and top_p50 <= P50_GOAL_MS
        load = loads[name]
        cells += [f"{ratio:.2f}x", f"{paired:.2f}x", "pass" if ok else "FAIL", f"{load[0]:.1f} to {load[1]:.1f}"]
        rows.append(cells)
        flat.append((name, paired, top_p50))
    if not only:
        record_growth(flat, top)
    headers = [
        "store call",
        *(f"{n:,} p50 / p99 ms" for n in sizes),
        f"{top:,} / {base:,} p50",
        "paired",
        "goal",
        "load",
    ]
    everything = [x for pair in loads.values() for x in pair]
    title = (
        f"Growth: store calls by rows of history{' (live state scaled with N)' if live_scales else ''}"
        f" ({repeats} calls each, the sizes in turn; load average {min(everything):.1f} to {max(everything):.1f})"
    )
    if only:  # a partial run measures no goal
        return table(title, headers, rows)
    ready_p99 = pct(results[top]["task_list(ready_only)"], 99) * 1000
    sends, raw = rates[top]
    if 100_000 in results:
        p99 = pct(results[100_000]["task_list(ready_only)"], 99) * 1000
        goals.record("growth.ready_p99", f"{p99:.2f} ms", p99 / 5, p99 <= 5)
    goals.record(
        "growth.sends", f"{sends:,.0f}/s at {top:,} (raw sqlite3 {raw:,.0f}/s)", sends / SEND_GOAL, sends >= SEND_GOAL
    )
    note = (
        f"\nSeeded files: {'; '.join(built)} ({CACHE}, keyed by the seeding code and the migrations).\n"
        f"Goal: p50 at {top:,} within {GROWTH_GOAL:g}x of {base:,} (a call under 1 ms at both counts as flat) "
        f"and at most {P50_GOAL_MS:g} ms. `paired` (the verdict's ratio) is the median over the rounds of each round's"
        f" {top:,} / {base:,} time, taken within milliseconds of each other, so a burst of load on a shared machine"
        " weighs on both sides of a ratio; the load column is the load average before and after that call's rounds.\n"
        f"task_list(ready_only) p99 at {top:,}: {ready_p99:.2f} ms (goal ≤ 5 ms at 100,000: "
        f"{ready_p99 / 5:.2f}x, {'pass' if ready_p99 <= 5 else 'FAIL'}).\n"
        f"Store sends at {top:,}: {sends:,.0f}/s (median of {SEND_TURNS} turns of {SENDS:,}), one process, one write "
        f"transaction each, beside raw sqlite3 one-row INSERT transactions {raw:,.0f}/s ({sends / raw:.2f}x) in the "
        f"same turns (load average {loads['sends'][0]:.1f} to {loads['sends'][1]:.1f}); goal ≥ {SEND_GOAL:,.0f}/s: "
        f"{sends / SEND_GOAL:.2f}x, {'pass' if sends >= SEND_GOAL else 'FAIL'}.\n"
    )
    return table(title, headers, rows) + note


def paired_ratio(top: list[float], base: list[float]) -> float:
    """The median of the per-round ratios top[i] / base[i] (sample i of each size comes from round i)."""
    return pct([t / max(b, 1e-9) for t, b in zip(top, base, strict=True)], 50)


def record_growth(flat: list[tuple[str, float, float]], top: int) -> None:
    """The growth goals for the largest size run (and for 1,000,000 when that is it): the worst call of each."""
    counted = [f for f in flat if f[2] >= 1.0] or [("every call under 1 ms", 1.0, 0.0)]  # under 1 ms: flat
    name, ratio, _ = max(counted, key=lambda f: f[1])
    over = [f"{n} {r:.2f}x" for n, r, _ in counted if r > GROWTH_GOAL]
    figure = f"at {top:,}: worst {name} {ratio:.2f}x" + (f"; over 2x: {', '.join(over)}" if over else "")
    slow_name, _, slow = max(flat, key=lambda f: f[2])
    slow_figure = f"at {top:,}: slowest {slow_name} {slow:.2f} ms"
    keys = [("growth.flat", "growth.p50")] + ([("growth.flat_1m", "growth.p50_1m")] if top >= 1_000_000 else [])
    for flat_key, p50_key in keys:
        goals.record(flat_key, figure, ratio / GROWTH_GOAL, ratio <= GROWTH_GOAL)
        goals.record(p50_key, slow_figure, slow / P50_GOAL_MS, slow <= P50_GOAL_MS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="also 1,000,000 rows")
    parser.add_argument("--sizes", help="comma-separated row counts, e.g. 1000,20000")
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument(
        "--live-scales", action="store_true", help="seed the live state in proportion to N too (see above)"
    )
    parser.add_argument("--calls", help="only the calls whose names contain one of these (comma-separated)")
    parser.add_argument("--fresh", action="store_true", help="seed the files again instead of using the cache")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else None
    print(f"Machine: {machine()}\n")
    print(run(not args.full, sizes, args.repeats, live_scales=args.live_scales, fresh=args.fresh, only=args.calls))


if __name__ == "__main__":
    main()
