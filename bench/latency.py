"""Tool-call latency over stdio, p50/p99, for each server's main tools, beside a no-op tool on a bare
MCPServer in the same run (the SDK floor); and the p50 over HTTP (`roundtable serve`) beside the same no-op
on a bare MCPServer over streamable HTTP.

    uv run python -m bench.latency [--calls 500]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from bench.common import ROOT, ms, pct, table
from servers import SERVER_KINDS
from servers.cli.bridge import remote_client
from servers.cli.launch import free_port, serve_command, server_params, stop, wait_until_listening
from shared.db.connection import Database
from shared.store.team import tokens

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


async def _tokens(db_path: Path) -> dict[str, str]:
    db = await Database.open(db_path)
    try:
        made = [await tokens.create(db, f"bench-{kind}", "worker", now=time.time()) for kind in SERVER_KINDS]
        return {kind: issued.token for kind, issued in zip(SERVER_KINDS, made, strict=True)}
    finally:
        await db.close()


def _tokens_sync(db_path: Path) -> dict[str, str]:
    """Tokens made in a thread of their own: the caller's event loop is running."""
    found: dict[str, str] = {}
    worker = threading.Thread(target=lambda: found.update(anyio.run(_tokens, db_path)))
    worker.start()
    worker.join()
    return found


Figures = dict[tuple[str, str], tuple[list[float], int]]


async def plan_over(connect: Callable[[str], AbstractAsyncContextManager[Client]], calls: int) -> Figures:
    """Each server's PLAN through the client `connect(kind)` opens: samples and errors per (kind, tool)."""
    found: Figures = {}
    for kind in SERVER_KINDS:
        async with connect(kind) as client:
            for tool, arguments in PLAN.get(kind, []):
                found[(kind, tool)] = await timed(client, tool, arguments, calls)
    return found


async def floor_of(client: Client, calls: int) -> list[float]:
    for _ in range(20):
        await client.call_tool("noop", {})
    samples, _ = await timed(client, "noop", lambda i: {}, calls)
    return samples


@contextmanager
def http_floor(tmp: Path) -> Iterator[str]:
    """The bare MCPServer with its no-op tool over streamable HTTP (uvicorn), on a free loopback port."""
    port = free_port()
    errlog = tmp / "floor-http.log"
    with errlog.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.floor_server", "--http", str(port)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        wait_until_listening(proc, port, 30.0, errlog)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        stop(proc)


@contextmanager
def http_team(tmp: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """`roundtable serve` on its own file, with a token per bench agent: its base URL and the tokens."""
    db = tmp / "bench-http.db"
    issued = _tokens_sync(db)
    port = free_port()
    argv, env = serve_command(db, port, ROUNDTABLE_SEND_RATE="1000000")
    errlog = tmp / "serve.log"
    with errlog.open("wb") as err:
        proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
    try:
        wait_until_listening(proc, port, 30.0, errlog)
        yield f"http://127.0.0.1:{port}", issued
    finally:
        stop(proc)


async def measure(calls: int) -> str:
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        floor_server = server_params("floor", db, "floor", module="bench.floor_server", log_level="ERROR", cwd=ROOT)
        async with Client(floor_server) as floor_client:
            floor = await floor_of(floor_client, calls)
        with http_floor(Path(tmp)) as floor_url:
            async with remote_client(floor_url, None) as floor_client:
                floor_http = await floor_of(floor_client, calls)

        def over_stdio(kind: str) -> AbstractAsyncContextManager[Client]:
            params = server_params(
                kind, db, f"bench-{kind}", log_level="ERROR", cwd=ROOT, ROUNDTABLE_SEND_RATE="1000000"
            )
            return Client(params)

        stdio = await plan_over(over_stdio, calls)
        with http_team(Path(tmp)) as (base, issued):
            http = await plan_over(lambda kind: remote_client(f"{base}/{kind}/mcp", issued[kind]), calls)
        f50, f99, h50 = pct(floor, 50), pct(floor, 99), pct(floor_http, 50)
        rows.append(["bare MCPServer", "noop (floor)", ms(f50), ms(f99), "1.00", "1.00", ms(h50), "1.00"])
        for (kind, tool), (samples, errors) in stdio.items():
            over_http, http_errors = http[(kind, tool)]
            broken = errors > 0 or http_errors > 0  # flagged in the table: a benchmark of errors is not a benchmark
            p50, p99, hp50 = pct(samples, 50), pct(samples, 99), pct(over_http, 50)
            rows.append(
                [
                    f"roundtable-{kind}",
                    tool + (" (errors!)" if broken else ""),
                    ms(p50),
                    ms(p99),
                    f"{p50 / f50:.2f}",
                    f"{p99 / f99:.2f}",
                    ms(hp50),
                    f"{hp50 / h50:.2f}",
                ]
            )
    load = os.getloadavg()[0]
    return table(
        f"Tool-call latency over stdio and over HTTP ({calls} sequential calls each), beside the SDK floor "
        f"on each (load average {load:.1f})",
        ["server", "tool", "p50 ms", "p99 ms", "p50 vs floor", "p99 vs floor", "HTTP p50 ms", "HTTP p50 vs floor"],
        rows,
    ) + (
        "\nA call is timed at the client, as a model's client sees it: the Python SDK client also validates each "
        "result against the tool's outputSchema (jsonschema), which is most of task_list's time (20 tasks a page: "
        "about 6 of 7 ms in-process). State grows during the run (task_list pages over the tasks created before it). "
        "HTTP: `roundtable serve` (uvicorn, a bearer token checked on every request) beside the bare MCPServer's "
        "no-op over streamable HTTP, both with the initialize handshake (a session per client).\n"
    )


def run(quick: bool) -> str:
    return anyio.run(measure, 200 if quick else 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=500)
    print(anyio.run(measure, parser.parse_args().calls))


if __name__ == "__main__":
    main()
