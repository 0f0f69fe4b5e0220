"""This checkout against another one (an older commit), interleaved: the write tools' p50 over stdio and the
16-process claim rate, each tree measured in alternating rounds so both see the same machine.

    git worktree add --detach ../before <commit> && (cd ../before && uv sync --frozen)
    uv run python -m bench.compare --against ../before [--rounds 3] [--calls 300] [--procs 16]

Each tree runs its own servers with its own virtual environment (`<tree>/.venv`), so the figures are the
code of that tree; the floor (a no-op tool on a bare MCPServer) is measured in every round beside them. The
claim rate comes from each tree's own `bench.claims` (its store column), run as a subprocess.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

from bench.common import ROOT, ms, pct, table
from servers.cli.launch import server_params

WRITES: list[tuple[str, str]] = [
    ("coordination", "task_update"),
    ("knowledge", "knowledge_add"),
    ("messaging", "message_send"),
]


def in_tree(params: StdioServerParameters, tree: Path) -> StdioServerParameters:
    """`params` run from `tree` with that tree's interpreter."""
    env = {**(params.env or {}), "PYTHONPATH": str(tree)}
    return replace_params(params, command=python(tree), cwd=tree, env=env)


def python(tree: Path) -> str:
    return str(tree / ".venv" / "bin" / "python")


def replace_params(params: StdioServerParameters, **changes: Any) -> StdioServerParameters:
    return params.model_copy(update=changes)


async def timed(client: Client, tool: str, arguments: list[dict[str, Any]]) -> list[float]:
    samples = []
    for args in arguments:
        began = time.perf_counter()
        result = await client.call_tool(tool, args)
        samples.append(time.perf_counter() - began)
        if result.is_error:
            raise RuntimeError(f"{tool} failed: {result.content}")
    return samples


async def writes(tree: Path, calls: int) -> dict[str, float]:
    """p50 (seconds) of each write tool and of the floor, against a fresh database, for the code in `tree`."""
    found: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        floor = in_tree(server_params("floor", db, "floor", module="bench.floor_server", log_level="ERROR"), ROOT)
        async with Client(floor) as c:
            found["noop (floor)"] = pct(await timed(c, "noop", [{}] * calls), 50)
        for kind, tool in WRITES:
            params = in_tree(server_params(kind, db, "bench", log_level="ERROR", ROUNDTABLE_SEND_RATE="1000000"), tree)
            async with Client(params) as c:
                if tool == "task_update":
                    for i in range(calls):
                        await c.call_tool("task_create", {"title": f"t{i}"})
                        await c.call_tool("task_claim", {"task_id": i + 1})
                    args = [{"task_id": i + 1, "progress": 50, "note": f"halfway {i}"} for i in range(calls)]
                elif tool == "knowledge_add":
                    args = [{"title": f"note {i}", "body": f"lesson {i} about caching"} for i in range(calls)]
                else:
                    args = [{"to": ["bench"], "body": f"hello {i}"} for i in range(calls)]
                found[tool] = pct(await timed(c, tool, args), 50)
    return found


def claims(tree: Path, procs: int, seconds: float) -> float:
    """The store's claims per second at `procs` processes, from `tree`'s own bench.claims."""
    out = subprocess.run(
        [python(tree), "-m", "bench.claims", "--procs", str(procs), "--seconds", str(seconds)],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    row = next(line for line in out.splitlines() if re.match(rf"\|\s*{procs}\s*\|", line))
    return float(row.split("|")[4].replace(",", ""))


def measure(against: Path, rounds: int, calls: int, procs: int, seconds: float) -> str:
    trees = {"before": against.resolve(), "after": ROOT}
    latency: dict[str, dict[str, list[float]]] = {name: {} for name in trees}
    rates: dict[str, list[float]] = {name: [] for name in trees}
    loads = []
    for r in range(rounds):
        order = list(trees.items()) if r % 2 == 0 else list(reversed(trees.items()))
        for name, tree in order:
            loads.append(os.getloadavg()[0])
            for tool, p50 in anyio.run(writes, tree, calls).items():
                latency[name].setdefault(tool, []).append(p50)
            rates[name].append(claims(tree, procs, seconds))
    rows: list[list[object]] = []
    for tool in ["noop (floor)"] + [t for _, t in WRITES]:
        b, a = statistics.median(latency["before"][tool]), statistics.median(latency["after"][tool])
        fb, fa = (statistics.median(latency[name]["noop (floor)"]) for name in ("before", "after"))
        rows.append([tool, ms(b), ms(a), f"{a / b:.2f}", f"{b / fb:.2f}", f"{a / fa:.2f}"])
    b, a = statistics.median(rates["before"]), statistics.median(rates["after"])
    rows.append([f"store claims/s, {procs} processes", f"{b:,.0f}", f"{a:,.0f}", f"{a / b:.2f}", "", ""])
    head = (
        f"Before ({trees['before']}) and after ({trees['after']}), {rounds} interleaved rounds of {calls} calls; "
        f"medians of the rounds; load average {min(loads):.2f} to {max(loads):.2f} while it ran"
    )
    headers = ["measure", "before p50 ms", "after p50 ms", "after/before", "before vs floor", "after vs floor"]
    return table(head, headers, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", type=Path, required=True, help="the other checkout (with its .venv)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--procs", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    print(measure(args.against, args.rounds, args.calls, args.procs, args.seconds))


if __name__ == "__main__":
    main()
