"""Tool-call latency over stdio, p50/p99, for each server's main tools, beside a no-op tool on a bare
MCPServer in the same run (the SDK floor).

    uv run python -m bench.latency [--calls 500]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from bench.common import ROOT, ms, pct, table
from servers import SERVER_KINDS
from servers.cli.launch import server_params

Arguments = Callable[[int], dict[str, Any]]
# Per server, its main tools in the order they are measured (each call's arguments from its index). Tools a
# server does not have are left out, so a server written later is measured by what it offers.
PLAN: dict[str, list[tuple[str, Arguments]]] = {
    "coordination": [
        ("task_create", lambda i: {"title": f"bench task {i}"}),
        ("task_list", lambda i: {"limit": 20}),
        ("task_claim", lambda i: {}),
        ("task_update", lambda i: {"task_id": i + 1, "progress": 50, "note": f"halfway {i}"}),
        ("task_complete", lambda i: {"task_id": i + 1, "result": "ok"}),
        ("consensus_list", lambda i: {}),
    ],
    "messaging": [
        ("message_send", lambda i: {"to": ["bench-messaging"], "body": f"hello {i}"}),
        ("message_query", lambda i: {"limit": 1}),
        ("message_acknowledge", lambda i: {"ids": [i + 1]}),
    ],
    "knowledge": [
        ("knowledge_add", lambda i: {"title": f"note {i}", "body": f"lesson {i} about caching", "tags": ["bench"]}),
        ("knowledge_query", lambda i: {"text": "caching"}),
    ],
    "monitoring": [
        ("agent_status", lambda i: {}),
        ("network_health", lambda i: {}),
        ("performance_metrics", lambda i: {}),
        ("event_log", lambda i: {}),
    ],
}


async def timed(client: Client, tool: str, arguments: Arguments, calls: int) -> tuple[list[float], int]:
    """Latencies of `calls` sequential calls, and how many of them failed."""
    samples, errors = [], 0
    for i in range(calls):
        args = arguments(i)
        began = time.perf_counter()
        result = await client.call_tool(tool, args)
        samples.append(time.perf_counter() - began)
        errors += result.is_error
    return samples, errors


async def measure(calls: int) -> str:
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        floor_server = server_params("floor", db, "floor", module="bench.floor_server", log_level="ERROR", cwd=ROOT)
        async with Client(floor_server) as floor_client:
            for _ in range(20):
                await floor_client.call_tool("noop", {})
            floor, _ = await timed(floor_client, "noop", lambda i: {}, calls)
        f50, f99 = pct(floor, 50), pct(floor, 99)
        rows.append(["bare MCPServer", "noop (floor)", ms(f50), ms(f99), "1.00", "1.00"])
        for kind in SERVER_KINDS:
            server = server_params(
                kind, db, f"bench-{kind}", log_level="ERROR", cwd=ROOT, ROUNDTABLE_SEND_RATE="1000000"
            )
            async with Client(server) as client:
                for tool, arguments in PLAN.get(kind, []):
                    samples, errors = await timed(client, tool, arguments, calls)
                    broken = errors > 0  # flagged in the table: a benchmark of errors is not a benchmark
                    p50, p99 = pct(samples, 50), pct(samples, 99)
                    rows.append(
                        [
                            f"roundtable-{kind}",
                            tool + (" (errors!)" if broken else ""),
                            ms(p50),
                            ms(p99),
                            f"{p50 / f50:.2f}",
                            f"{p99 / f99:.2f}",
                        ]
                    )
    return table(
        f"Tool-call latency over stdio ({calls} sequential calls each), beside the SDK floor",
        ["server", "tool", "p50 ms", "p99 ms", "p50 vs floor", "p99 vs floor"],
        rows,
    ) + (
        "\nA call is timed at the client, as a model's client sees it: the Python SDK client also validates each "
        "result against the tool's outputSchema (jsonschema), which is most of task_list's time (20 tasks a page: "
        "about 6 of 7 ms in-process). State grows during the run (task_list pages over the tasks created before it).\n"
    )


def run(quick: bool) -> str:
    return anyio.run(measure, 200 if quick else 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=500)
    print(anyio.run(measure, parser.parse_args().calls))


if __name__ == "__main__":
    main()
