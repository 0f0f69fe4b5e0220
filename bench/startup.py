"""Cold start of each server until `initialize` answers, beside a bare MCPServer (the SDK floor); resident
memory of each server process once up; the size of each server's tools/list.

    uv run python -m bench.startup [--runs 5]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import tempfile
import time
from pathlib import Path

import anyio
import psutil
from mcp import Client

from bench.common import ms, pct, stdio, table
from servers import SERVER_KINDS


def kinds() -> list[str]:
    return [k for k in SERVER_KINDS if importlib.util.find_spec(f"servers.{k}") is not None]


def server_rss(module: str) -> float:
    """RSS in MiB of the newest child process running `module`."""
    found = [p for p in psutil.Process().children(recursive=True) if module in " ".join(p.cmdline())]
    return max(found, key=lambda p: p.create_time()).memory_info().rss / 2**20 if found else 0.0


async def measure(module: str, db: Path, runs: int) -> tuple[list[float], float, int, int]:
    starts, rss, size, count = [], 0.0, 0, 0
    for i in range(runs):
        began = time.perf_counter()
        async with Client(stdio(module, db, f"bench-{i}")) as client:
            starts.append(time.perf_counter() - began)
            listed = await client.list_tools()
            rss = max(rss, server_rss(module))
            payload = json.dumps(listed.model_dump(mode="json", by_alias=True, exclude_none=True))
            size, count = len(payload.encode()), len(listed.tools)
    return starts, rss, size, count


async def measure_all(runs: int) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        floor, floor_rss, floor_size, _ = await measure("bench.floor_server", db, runs)
        rows = [
            [
                "bare MCPServer (floor)",
                ms(pct(floor, 50)),
                ms(max(floor)),
                "1.00",
                f"{floor_rss:.0f}",
                1,
                floor_size,
                floor_size // 4,
            ]
        ]
        for kind in kinds():
            starts, rss, size, count = await measure(f"servers.{kind}", db, runs)
            rows.append(
                [
                    f"roundtable-{kind}",
                    ms(pct(starts, 50)),
                    ms(max(starts)),
                    f"{pct(starts, 50) / pct(floor, 50):.2f}",
                    f"{rss:.0f}",
                    count,
                    size,
                    size // 4,
                ]
            )
    return table(
        f"Cold start until initialize answers ({runs} runs), memory, tools/list size",
        ["server", "start p50 ms", "start max ms", "p50 vs floor", "RSS MiB", "tools", "tools/list bytes", "≈ tokens"],
        rows,
    ) + (
        "\nStart: spawn until `initialize` answers. RSS: the server process once up. tools/list: the JSON of the "
        "result as sent (input and output schemas included), tokens ≈ bytes/4.\n"
    )


def run(quick: bool) -> str:
    return anyio.run(measure_all, 3 if quick else 10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    print(anyio.run(measure_all, parser.parse_args().runs))


if __name__ == "__main__":
    main()
