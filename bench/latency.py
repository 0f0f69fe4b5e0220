"""Tool-call latency over stdio, p50/p99, for each server's main tools, beside a no-op tool on a bare
MCPServer measured in turns with each tool (the SDK floor), through the Python SDK client and through a
raw JSON-lines client (no SDK, no result validation); then the same tools over HTTP (`roundtable serve`)
beside the same no-op on a bare MCPServer over streamable HTTP, also in turns.

    uv run python -m bench.latency [--calls 500] [--tools task_claim,message_send] [--stdio]

`--tools` measures only the tools named (the setup tools they need still run first, unmeasured); `--stdio`
leaves out the HTTP part.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
from anyio.streams.buffered import BufferedByteReceiveStream
from mcp import Client, StdioServerParameters

from bench import goals
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


GOALS = set(goals.LATENCY_TOOLS)
GOAL = 1.3
"""Issue 17: p50 within 1.3x of the no-op floor, for the calls an agent makes most."""
CHUNK = 10
"""Calls of one kind in a row before switching: the floor and each client take turns in one time window."""
UNLIMITED = {"ROUNDTABLE_SEND_RATE": "1000000", "ROUNDTABLE_MAX_OPEN_TASKS": "1000000"}
"""A full run creates 1,000 tasks and sends 1,000 messages as one agent: past the default quota and rate."""


class RawClient:
    """A client of a stdio server with no SDK: JSON-RPC lines written and read by hand (the 2025-11-25
    initialize handshake, then tools/call), and no result validation — the floor of any client."""

    def __init__(self, params: StdioServerParameters) -> None:
        self._params = params
        self._id = 0

    async def __aenter__(self) -> RawClient:
        env = {**os.environ, **(self._params.env or {})}
        self._proc = await anyio.open_process(
            [self._params.command, *self._params.args], env=env, cwd=self._params.cwd, stderr=subprocess.DEVNULL
        )
        assert self._proc.stdout is not None and self._proc.stdin is not None
        self._out = BufferedByteReceiveStream(self._proc.stdout)
        init = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}
        await self._request("initialize", init)
        await self._send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._proc.stdin is not None
        await self._proc.stdin.aclose()
        with anyio.move_on_after(5):
            await self._proc.wait()
        if self._proc.returncode is None:
            self._proc.kill()
            await self._proc.wait()

    async def _send(self, message: dict[str, Any]) -> None:
        assert self._proc.stdin is not None
        await self._proc.stdin.send(json.dumps(message).encode() + b"\n")

    async def _request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self._id += 1
        await self._send({"jsonrpc": "2.0", "id": self._id, "method": method, "params": params})
        while True:
            line = json.loads(await self._out.receive_until(b"\n", 64 * 2**20))
            if line.get("id") == self._id:
                return dict(line)

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> bool:
        """Call a tool; True when it failed."""
        answer = await self._request("tools/call", {"name": name, "arguments": arguments})
        return "error" in answer or bool(answer.get("result", {}).get("isError"))


async def timed(
    call: Callable[[str, dict[str, Any]], Awaitable[Any]], tool: str, arguments: Arguments, calls: range
) -> tuple[list[float], int]:
    """Latencies of sequential calls (argument indexes `calls`), and how many of them failed."""
    samples, errors = [], 0
    for i in calls:
        args = arguments(i)
        began = time.perf_counter()
        result = await call(tool, args)
        samples.append(time.perf_counter() - began)
        errors += bool(result if isinstance(result, bool) else result.is_error)
    return samples, errors


def _noop(i: int) -> dict[str, Any]:
    return {}


def steps(kind: str, only: frozenset[str] | None) -> list[tuple[str, Arguments, bool]]:
    """The server's plan up to its last tool in `only` (all of it without `only`), each with whether it is
    measured: a tool before a measured one still runs, unmeasured, to make the state it is measured on (the
    tasks task_claim takes, the mail message_query reads)."""
    plan = PLAN.get(kind, [])
    if only is None:
        return [(tool, arguments, True) for tool, arguments in plan]
    last = max((i for i, (tool, _) in enumerate(plan) if tool in only), default=-1)
    return [(tool, arguments, tool in only) for tool, arguments in plan[: last + 1]]


async def unmeasured(
    call: Callable[[str, dict[str, Any]], Awaitable[Any]], tool: str, arguments: Arguments, n: int
) -> None:
    for i in range(n):
        await call(tool, arguments(i))


async def measure(calls: int, only: frozenset[str] | None = None) -> str:
    rows: list[list[object]] = []
    verdicts: list[str] = []
    loads: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        db, raw_db = Path(tmp) / "bench.db", Path(tmp) / "raw.db"
        floor_server = server_params("floor", db, "floor", module="bench.floor_server", log_level="ERROR", cwd=ROOT)
        async with Client(floor_server) as floor_client, RawClient(floor_server) as raw_floor:
            for _ in range(20):
                await floor_client.call_tool("noop", {})
                await raw_floor.call_tool("noop", {})
            for kind in SERVER_KINDS:
                plan = steps(kind, only)
                if not plan:
                    continue
                server = server_params(kind, db, f"bench-{kind}", log_level="ERROR", cwd=ROOT, **UNLIMITED)
                raw_server = server_params(  # its own file: the same tasks and mail as the SDK client's
                    kind, raw_db, f"bench-{kind}", log_level="ERROR", cwd=ROOT, **UNLIMITED
                )
                async with Client(server) as client, RawClient(raw_server) as raw:
                    for tool, arguments, measured in plan:
                        if not measured:
                            await unmeasured(client.call_tool, tool, arguments, calls)
                            await unmeasured(raw.call_tool, tool, arguments, calls)
                            continue
                        floor: list[float] = []
                        floor_raw: list[float] = []
                        samples: list[float] = []
                        raw_samples: list[float] = []
                        errors = 0
                        for start in range(0, calls, CHUNK):
                            chunk = range(start, min(start + CHUNK, calls))
                            floor += (await timed(floor_client.call_tool, "noop", _noop, chunk))[0]
                            got, failed = await timed(client.call_tool, tool, arguments, chunk)
                            samples += got
                            errors += failed
                            floor_raw += (await timed(raw_floor.call_tool, "noop", _noop, chunk))[0]
                            raw_samples += (await timed(raw.call_tool, tool, arguments, chunk))[0]
                        loads.append(os.getloadavg()[0])
                        f50, f99, r50 = pct(floor, 50), pct(floor, 99), pct(floor_raw, 50)
                        p50, p99, raw50 = pct(samples, 50), pct(samples, 99), pct(raw_samples, 50)
                        goal = ""
                        if tool in GOALS:
                            ok = p50 / f50 <= GOAL
                            goal = f"≤ {GOAL}x: {'pass' if ok else 'FAIL'}"
                            verdicts.append(f"{tool} {p50 / f50:.2f}x {'pass' if ok else 'FAIL'}")
                            goals.record(
                                f"latency.{tool}",
                                f"{p50 / f50:.2f}x ({ms(p50)} ms vs {ms(f50)} ms)",
                                p50 / f50 / GOAL,
                                ok,
                            )
                        rows.append(
                            [
                                f"roundtable-{kind}",
                                tool + (" (errors!)" if errors else ""),
                                ms(p50),
                                ms(p99),
                                ms(f50),
                                f"{p50 / f50:.2f}",
                                f"{p99 / f99:.2f}",
                                goal,
                                ms(raw50),
                                ms(r50),
                                f"{raw50 / r50:.2f}",
                            ]
                        )
    headers = ["server", "tool", "p50 ms", "p99 ms", "floor p50 ms", "p50 vs floor", "p99 vs floor", "goal"]
    headers += ["raw p50 ms", "raw floor p50 ms", "raw vs raw floor"]
    return table(
        f"Tool-call latency over stdio ({calls} sequential calls each, the floor interleaved in turns of {CHUNK}; "
        f"load average {min(loads):.1f} to {max(loads):.1f})",
        headers,
        rows,
    ) + (
        "\nSDK columns: timed at the Python SDK client, which also validates each result against the tool's "
        "outputSchema. Raw columns: a client writing JSON-RPC lines by hand (no validation) against its own "
        "server process on its own file and a raw floor. Each tool's floor is the bare MCPServer's no-op "
        "measured in turns with that tool, so the ratio holds under a changing load. State grows during the run.\n"
        f"Goals (p50 ≤ {GOAL}x the floor): " + "; ".join(verdicts) + "\n"
    )


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
    argv, env = serve_command(db, port, **UNLIMITED)
    errlog = tmp / "serve.log"
    with errlog.open("wb") as err:
        proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
    try:
        wait_until_listening(proc, port, 30.0, errlog)
        yield f"http://127.0.0.1:{port}", issued
    finally:
        stop(proc)


async def measure_http(calls: int, only: frozenset[str] | None = None) -> str:
    """The PLAN over streamable HTTP through `roundtable serve`, each tool in turns with the HTTP floor."""
    rows: list[list[object]] = []
    loads: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, http_floor(Path(tmp)) as floor_url, http_team(Path(tmp)) as team:
        base, issued = team
        async with remote_client(floor_url, None) as floor_client:
            for _ in range(20):
                await floor_client.call_tool("noop", {})
            for kind in SERVER_KINDS:
                plan = steps(kind, only)
                if not plan:
                    continue
                async with remote_client(f"{base}/{kind}/mcp", issued[kind]) as client:
                    for tool, arguments, measured in plan:
                        if not measured:
                            await unmeasured(client.call_tool, tool, arguments, calls)
                            continue
                        floor: list[float] = []
                        samples: list[float] = []
                        errors = 0
                        for start in range(0, calls, CHUNK):
                            chunk = range(start, min(start + CHUNK, calls))
                            floor += (await timed(floor_client.call_tool, "noop", _noop, chunk))[0]
                            got, failed = await timed(client.call_tool, tool, arguments, chunk)
                            samples += got
                            errors += failed
                        loads.append(os.getloadavg()[0])
                        f50, p50 = pct(floor, 50), pct(samples, 50)
                        name = tool + (" (errors!)" if errors else "")
                        rows.append(
                            [f"roundtable-{kind}", name, ms(p50), ms(pct(samples, 99)), ms(f50), f"{p50 / f50:.2f}"]
                        )
    return table(
        f"Tool-call latency over HTTP ({calls} sequential calls each, the HTTP floor interleaved in turns of "
        f"{CHUNK}; load average {min(loads):.1f} to {max(loads):.1f})",
        ["server", "tool", "p50 ms", "p99 ms", "floor p50 ms", "p50 vs floor"],
        rows,
    ) + (
        "\n`roundtable serve` (uvicorn, a bearer token checked on every request) beside the bare MCPServer's no-op "
        "over streamable HTTP, both through the SDK's streamable HTTP client with a session per client.\n"
    )


async def measure_both(calls: int, only: frozenset[str] | None = None, http: bool = True) -> str:
    stdio = await measure(calls, only)
    return stdio + "\n" + await measure_http(calls, only) if http else stdio


def run(quick: bool) -> str:
    return anyio.run(measure_both, 200 if quick else 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--tools", help="comma-separated tool names (default: every tool of the plan)")
    parser.add_argument("--stdio", action="store_true", help="over stdio only, without the HTTP part")
    args = parser.parse_args()
    only = None
    if args.tools:
        only = frozenset(t.strip() for t in args.tools.split(",") if t.strip())
        known = {tool for plan in PLAN.values() for tool, _ in plan}
        if only - known:
            parser.error(
                f"no tool {', '.join(sorted(only - known))} in the plan; choose from {', '.join(sorted(known))}"
            )
    print(anyio.run(measure_both, args.calls, only, not args.stdio))


if __name__ == "__main__":
    main()
