"""Message delivery latency: message_send in one server process → message_wait returns in another, p50/p99,
on a SQLite file, then on a PostgreSQL database (started by the bench as the tests start theirs) beside a raw
psycopg INSERT + NOTIFY → LISTEN floor measured before and after it in the same run.

uv run python -m bench.delivery [--messages 200]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import anyio
from mcp import Client

from bench import goals
from bench.common import ROOT, ms, pct, table
from servers.cli.launch import server_params
from shared.db.place import Place, PostgresUrl
from tests import postgres

P50_GOAL, P99_GOAL = 0.015, 0.060
"""Issue 17's delivery goals: a wake-up pushed after the sender's commit, polling only as the fallback."""
SETTLE = 0.03  # let the receiver's message_wait start waiting before the send (it looks at once, then on each change)


async def deliveries(db: Place, messages: int) -> tuple[list[float], list[float]]:
    """send → message_wait returns, between two messaging server processes on `db`, one message at a time."""
    delivery, sends = [], []
    env = {"ROUNDTABLE_SEND_RATE": "1000000"}
    async with (
        Client(server_params("messaging", db, "receiver", log_level="ERROR", cwd=ROOT, **env)) as receiver,
        Client(server_params("messaging", db, "sender", log_level="ERROR", cwd=ROOT, **env)) as sender,
    ):
        for i in range(messages + 5):
            got: list[float] = []

            async def wait() -> None:
                result = await receiver.call_tool("message_wait", {"timeout": 10})
                assert not result.is_error and result.structured_content["arrived"]  # type: ignore[index]
                got.append(time.perf_counter())  # noqa: B023

            async with anyio.create_task_group() as tg:
                tg.start_soon(wait)
                await anyio.sleep(SETTLE)
                began = time.perf_counter()
                sent = await sender.call_tool("message_send", {"to": ["receiver"], "body": f"ping {i}"})
                assert not sent.is_error, sent.content
                sent_at = time.perf_counter()
            if i >= 5:  # the first few warm up both processes
                delivery.append(got[0] - began)
                sends.append(sent_at - began)
    return delivery, sends


async def notify_floor(url: str, messages: int) -> list[float]:
    """PostgreSQL's own floor: a raw psycopg INSERT + NOTIFY committed on one connection, until a LISTEN on
    another connection receives it."""
    import psycopg

    samples = []
    async with (
        await psycopg.AsyncConnection.connect(url, autocommit=True) as listener,
        await psycopg.AsyncConnection.connect(url, autocommit=True) as writer,
    ):
        await listener.execute("LISTEN bench_floor")
        await writer.execute("CREATE TEMP TABLE pings (body text)")
        arrivals = listener.notifies()
        for i in range(messages + 5):
            began = time.perf_counter()
            async with writer.transaction():
                await writer.execute("INSERT INTO pings VALUES (%s)", (f"ping {i}",))
                await writer.execute("SELECT pg_notify('bench_floor', %s)", (str(i),))
            await anext(arrivals)
            if i >= 5:
                samples.append(time.perf_counter() - began)
        await arrivals.aclose()
    return samples


async def measure(messages: int) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        delivery, sends = await deliveries(Path(tmp) / "bench.db", messages)
    p50, p99 = pct(delivery, 50), pct(delivery, 99)
    verdict = "pass" if p50 <= P50_GOAL and p99 <= P99_GOAL else "FAIL"
    goals.record("delivery.p50", f"{ms(p50)} ms", p50 / P50_GOAL, p50 <= P50_GOAL)
    goals.record("delivery.p99", f"{ms(p99)} ms", p99 / P99_GOAL, p99 <= P99_GOAL)
    rows = [
        ["SQLite: message_send round trip (sender)", ms(pct(sends, 50)), ms(pct(sends, 99)), ""],
        [
            "SQLite: send → message_wait returns (receiver)",
            ms(p50),
            ms(p99),
            f"p50 ≤ {P50_GOAL * 1000:.0f} ms ({p50 / P50_GOAL:.2f}x of it), p99 ≤ {P99_GOAL * 1000:.0f} ms "
            f"({p99 / P99_GOAL:.2f}x): {verdict}",
        ],
    ]
    note = ""
    try:
        with postgres.running() as server:
            name = server.create("bench_delivery")
            url = server.url(name)
            floor = await notify_floor(url, messages)
            pg_delivery, pg_sends = await deliveries(PostgresUrl(url), messages)
            floor_after = await notify_floor(url, messages)  # the floor on both sides of the run
        floor_p50 = pct(floor + floor_after, 50)
        pg_p50 = pct(pg_delivery, 50)
        rows += [
            ["PostgreSQL: raw INSERT + NOTIFY → LISTEN (floor)", ms(floor_p50), ms(pct(floor + floor_after, 99)), ""],
            ["PostgreSQL: message_send round trip (sender)", ms(pct(pg_sends, 50)), ms(pct(pg_sends, 99)), ""],
            [
                "PostgreSQL: send → message_wait returns (receiver)",
                ms(pg_p50),
                ms(pct(pg_delivery, 99)),
                f"{pg_p50 / floor_p50:.1f}x the floor's p50",
            ],
        ]
    except postgres.Unavailable as missing:
        note = f"\nPostgreSQL rows skipped: {missing}\n"
    return (
        table(
            f"Message delivery across processes ({messages} messages, one at a time; load average "
            f"{os.getloadavg()[0]:.1f})",
            ["measure", "p50 ms", "p99 ms", "goal"],
            rows,
        )
        + note
    )


def run(quick: bool) -> str:
    return anyio.run(measure, 60 if quick else 300)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=200)
    print(anyio.run(measure, parser.parse_args().messages))


if __name__ == "__main__":
    main()
