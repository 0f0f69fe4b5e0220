"""What measuring every tool call costs: a no-op tool through the in-process client with and without the
instrumentation (same run, calls interleaved), the same without the client (MCPServer.call_tool
directly), and the off-the-hot-path cost of writing a batch of samples. Target: < 5 % at p50.

    uv run python -m bench.instrumentation [--calls 5000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
from mcp import Client
from mcp.server.mcpserver import Context

from bench.common import machine, pct, table
from shared.config import Settings
from shared.db.connection import Database
from shared.frame.runtime import RoundtableServer, create_server
from shared.frame.tool import add_tools, tool
from shared.store.team import metrics


@tool(read_only=True)
async def noop(ctx: Context[Any, Any]) -> str:
    """Do nothing."""
    return "ok"


def noop_server(settings: Settings, instrumented: bool) -> RoundtableServer:
    mcp = create_server("bench", settings, instructions="A server with one tool that does nothing.")
    mcp.instrumented = instrumented
    add_tools(mcp, [noop])
    return mcp


async def interleaved(
    calls: int, on: Callable[[], Awaitable[Any]], off: Callable[[], Awaitable[Any]]
) -> tuple[list[float], list[float]]:
    """Latencies of `on` and `off`, alternating which goes first so drift hurts both alike."""
    with_, without = [], []
    for i in range(calls):
        pair = [(on, with_), (off, without)] if i % 2 else [(off, without), (on, with_)]
        for fn, out in pair:
            start = time.perf_counter()
            await fn()
            out.append(time.perf_counter() - start)
    return with_, without


def row(label: str, with_: list[float], without: list[float]) -> list[str]:
    p_on, p_off = pct(with_, 50), pct(without, 50)
    return [
        label,
        str(len(with_)),
        f"{p_off * 1e6:.1f}",
        f"{p_on * 1e6:.1f}",
        f"{(p_on - p_off) * 1e6:+.1f}",
        f"{(p_on - p_off) / p_off * 100:+.2f} %",
        f"{pct(without, 99) * 1e6:.0f} / {pct(with_, 99) * 1e6:.0f}",
    ]


async def measure(calls: int) -> str:
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(db=Path(folder) / "bench.db", agent="bench")
        on, off = noop_server(settings, True), noop_server(settings, False)
        async with Client(on) as client_on, Client(off) as client_off:
            for _ in range(200):  # warm up both
                await client_on.call_tool("noop", {})
                await client_off.call_tool("noop", {})
            through_client = await interleaved(
                calls, lambda: client_on.call_tool("noop", {}), lambda: client_off.call_tool("noop", {})
            )
            direct = await interleaved(calls * 4, lambda: on.call_tool("noop", {}), lambda: off.call_tool("noop", {}))
        db = await Database.open(settings.db)
        try:
            batch = [(time.time(), "named:bench", "bench", "noop", 0.0005, None)] * 1000
            flushes = []
            for _ in range(10):
                start = time.perf_counter()
                await metrics.record_calls(db, batch)
                flushes.append(time.perf_counter() - start)
        finally:
            await db.close()
    rows = [
        row("no-op tool through the in-process client", *through_client),
        row("no-op MCPServer.call_tool, no client", *direct),
    ]
    out = table(
        f"Instrumentation overhead at p50 (µs; interleaved, same run) — {machine()}",
        ["path", "calls each", "p50 off", "p50 on", "Δ p50", "overhead", "p99 off / on"],
        rows,
    )
    out += "\n" + table(
        "Writing samples (background flush, off the hot path)",
        ["batch", "p50 ms", "µs per sample"],
        [["1000 samples, one executemany", f"{pct(flushes, 50) * 1000:.2f}", f"{pct(flushes, 50) * 1000:.2f}"]],
    )
    return out


def run(quick: bool) -> str:
    return anyio.run(measure, 2000 if quick else 10_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=5000)
    print(anyio.run(measure, parser.parse_args().calls))


if __name__ == "__main__":
    main()
