"""Cold start of each server until `initialize` answers, beside a bare MCPServer (the SDK floor); resident
memory of each server process once up; the size of each server's tools/list. Then a server's start as a
client runs it (servers/cli/probe.py, the client's environment): the persistent install `roundtable install`
registers (a fresh `uv tool install` of this checkout), `uvx --from <checkout>` warm, and uvx on a cold
package cache (a new UV_CACHE_DIR: it downloads and builds the environment, as on a fresh machine), each
beside the floor started in the same round, against Claude Code's 30 s connect limit.

    uv run python -m bench.startup [--runs 5] [--no-client] [--no-cold]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import anyio
import psutil
from mcp import Client

from bench import goals
from bench.common import ROOT, ms, pct, table
from servers import SERVER_KINDS
from servers.cli import probe, toolenv
from servers.cli.launch import server_params

START_GOAL = 1.15
"""Issue 17: every server's cold start p50 within 1.15x of the bare MCPServer's."""


def server_rss(module: str) -> float:
    """RSS in MiB of the newest child process running `module`."""
    found = [p for p in psutil.Process().children(recursive=True) if module in " ".join(p.cmdline())]
    return max(found, key=lambda p: p.create_time()).memory_info().rss / 2**20 if found else 0.0


async def start_once(module: str, db: Path, i: int) -> tuple[float, float, int, int, int]:
    """One cold start of `module` until initialize answers; its RSS and tools/list sizes once up."""
    server = server_params(module.rsplit(".", 1)[-1], db, f"bench-{i}", module=module, log_level="ERROR", cwd=ROOT)
    began = time.perf_counter()
    async with Client(server) as client:
        took = time.perf_counter() - began
        listed = await client.list_tools()
        rss = server_rss(module)
        payload = json.dumps(listed.model_dump(mode="json", by_alias=True, exclude_none=True))
        # What a model is shown of each tool: its name, description and input schema (clients such as
        # Claude's pass these and keep outputSchema and annotations to themselves).
        shown = [{"name": t.name, "description": t.description, "input_schema": t.input_schema} for t in listed.tools]
        return took, rss, len(payload.encode()), len(json.dumps(shown).encode()), len(listed.tools)


FLOOR = "bench.floor_server"


async def measure_all(runs: int) -> str:
    """Each run starts the floor and every server in turn, so floor and servers see the same load."""
    modules = [("bare MCPServer (floor)", FLOOR)] + [(f"roundtable-{k}", f"servers.{k}") for k in SERVER_KINDS]
    starts: dict[str, list[float]] = {m: [] for _, m in modules}
    floors: dict[str, list[float]] = {m: [] for _, m in modules}  # the floor's start just before each server's
    facts: dict[str, tuple[float, int, int, int]] = {}
    loads: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        await start_once("servers.coordination", db, 0)  # migrate the file first: no start pays for it
        for i in range(runs):
            for _, module in modules[1:]:
                floors[module].append((await start_once(FLOOR, db, i))[0])
                took, rss, size, model, count = await start_once(module, db, i)
                starts[module].append(took)
                old = facts.get(module, (0.0, 0, 0, 0))
                facts[module] = (max(old[0], rss), size, model, count)
            loads.append(os.getloadavg()[0])
        starts[FLOOR] = [s for m in floors.values() for s in m]
        facts[FLOOR] = (await start_once(FLOOR, db, runs))[1:]
    rows: list[list[object]] = []
    for name, module in modules:
        floor = floors[module] or starts[FLOOR]
        ratio = pct(starts[module], 50) / pct(floor, 50)
        # the verdict's ratio: the median of each start over the floor's start just before it (seconds apart), so
        # a burst of load weighs on both sides of a ratio instead of on one side of a p50
        paired = statistics.median(s / f for s, f in zip(starts[module], floor, strict=True)) if floors[module] else 1.0
        if module != FLOOR:
            kind = module.rsplit(".", 1)[-1]
            figure = f"{paired:.2f}x paired ({ms(pct(starts[module], 50))} ms vs {ms(pct(floor, 50))} ms at p50)"
            goals.record(f"startup.{kind}", figure, paired / START_GOAL, paired <= START_GOAL)
        rss, size, model, count = facts[module]
        rows.append(
            [
                name,
                ms(pct(starts[module], 50)),
                ms(max(starts[module])),
                ms(pct(floor, 50)),
                f"{ratio:.2f}",
                f"{paired:.2f}",
                f"{rss:.0f}",
                count,
                size,
                size // 4,
                model,
                model // 4,
            ]
        )
    headers = ["server", "start p50 ms", "start max ms", "floor p50 ms", "p50 vs floor", "paired", "RSS MiB", "tools"]
    headers += ["tools/list bytes", "≈ tokens", "model-facing bytes", "≈ tokens"]
    title = (
        f"Cold start until initialize answers ({runs} runs, each beside a start of the floor; load average "
        f"{min(loads):.1f} to {max(loads):.1f}), memory, tools/list size"
    )
    return table(title, headers, rows) + (
        "\nStart: spawn until `initialize` answers; each server's floor is the bare MCPServer started just before "
        "it in every run (the floor row: all of them); paired, the goal's ratio: the median over the runs of each "
        "start over that floor start, seconds apart, so a change of load lands on both. RSS: the server process "
        "once up. tools/list: the JSON of the result as sent; model-facing: names, descriptions and input schemas "
        "only (the rest is mostly output schemas, which clients keep to themselves). Tokens ≈ bytes/4.\n"
    )


async def _start(command: str, args: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Seconds from spawn until initialize and tools/list answer, as `claude mcp list` checks a server; or why not."""
    with tempfile.TemporaryDirectory() as tmp:
        result = await probe.probe(command, args, probe.scratch_env(env, str(Path(tmp) / "bench.db")), within=600)
    if not result.ok:
        return result.seconds, result.problem
    return result.seconds, "connected" if result.seconds < probe.limit() else "a timeout: past the client's limit"


async def measure_clients(runs: int, cold: bool) -> str:
    """Each way a client launches a server, beside the floor (a bare MCPServer) started just before it."""
    floor = server_params("floor_server", Path("unused.db"), "bench", module="bench.floor_server", cwd=ROOT)
    floor_env = dict(floor.env or {})
    kind = "coordination"
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        os.environ["UV_TOOL_DIR"], os.environ["UV_TOOL_BIN_DIR"] = f"{tmp}/tools", f"{tmp}/bin"
        try:
            began = time.perf_counter()
            env = toolenv.install(str(ROOT))
            installed = time.perf_counter() - began
        finally:
            del os.environ["UV_TOOL_DIR"], os.environ["UV_TOOL_BIN_DIR"]
        client_env = probe.client_environment("claude-code", {})
        ways: list[tuple[str, str, list[str], dict[str, str], int]] = [
            ("installed (roundtable install)", str(env.script(f"roundtable-{kind}")), [], client_env, runs),
            ("installed, Desktop's environment", str(env.script(f"roundtable-{kind}")), [],
             probe.client_environment("claude-desktop", {}), runs),
            ("uvx --from checkout, warm", "uvx", ["--from", str(ROOT), f"roundtable-{kind}"], client_env, runs),
        ]  # fmt: skip
        if cold:
            ways.append(
                ("uvx --from checkout, cold cache", "uvx", ["--from", str(ROOT), f"roundtable-{kind}"],
                 client_env | {"UV_CACHE_DIR": f"{tmp}/cold-cache"}, 1)
            )  # fmt: skip
        await _start("uvx", ["--from", str(ROOT), f"roundtable-{kind}"], client_env)  # uvx's cache warmed
        for name, command, args, way_env, n in ways:
            starts, floors, problem = [], [], "not run"
            for _ in range(n):
                floors.append((await _start(floor.command, list(floor.args), floor_env))[0])
                seconds, problem = await _start(command, args, way_env)
                starts.append(seconds)
            limit = probe.limit()
            rows.append(
                [
                    name,
                    ms(pct(starts, 50)),
                    ms(max(starts)),
                    ms(pct(floors, 50)),
                    f"{pct(starts, 50) / pct(floors, 50):.2f}",
                    f"{max(starts) / limit:.0%}",
                    problem,
                ]
            )
    headers = ["roundtable-coordination launched as", "start p50 ms", "max ms", "floor p50 ms", "vs floor"]
    headers += ["max of 30 s limit", "as a client sees it"]
    return table(f"A server's start as the client runs it ({runs} runs; cold: 1)", headers, rows) + (
        f"\nStart: spawn until initialize and tools/list answer (what `claude mcp list` waits for), in Claude "
        f"Code's environment unless named. The floor is a bare MCPServer started just before, in the same round. "
        f"uv tool install of this checkout took {installed:.1f} s (once, at `roundtable install`). "
        f"Load average at the end: {os.getloadavg()[0]:.2f}.\n"
    )


def run(quick: bool) -> str:
    return anyio.run(measure_all, 6 if quick else 15) + "\n" + anyio.run(measure_clients, 3 if quick else 5, True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-client", action="store_true", help="only the servers beside the floor")
    parser.add_argument("--no-cold", action="store_true", help="leave out uvx on a cold cache (it downloads)")
    args = parser.parse_args()
    print(anyio.run(measure_all, args.runs))
    if not args.no_client:
        print(anyio.run(measure_clients, args.runs, not args.no_cold))


if __name__ == "__main__":
    main()
