"""Cold start of each server until `initialize` answers, beside a bare MCPServer (the SDK floor); resident
memory of each server process once up; the size of each server's tools/list.

    uv run python -m bench.startup [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import anyio
import psutil
from mcp import Client

from bench.common import ROOT, ms, pct, table
from servers import SERVER_KINDS
from servers.cli.launch import server_params


def server_rss(module: str) -> float:
    """RSS in MiB of the newest child process running `module`."""
    found = [p for p in psutil.Process().children(recursive=True) if module in " ".join(p.cmdline())]
    return max(found, key=lambda p: p.create_time()).memory_info().rss / 2**20 if found else 0.0


async def measure(module: str, db: Path, runs: int) -> tuple[list[float], float, int, int, int]:
    starts, rss, size, model, count = [], 0.0, 0, 0, 0
    for i in range(runs):
        server = server_params(module.rsplit(".", 1)[-1], db, f"bench-{i}", module=module, log_level="ERROR", cwd=ROOT)
        began = time.perf_counter()
        async with Client(server) as client:
            starts.append(time.perf_counter() - began)
            listed = await client.list_tools()
            rss = max(rss, server_rss(module))
            payload = json.dumps(listed.model_dump(mode="json", by_alias=True, exclude_none=True))
            # What a model is shown of each tool: its name, description and input schema (clients such as
            # Claude's pass these and keep outputSchema and annotations to themselves).
            shown = [
                {"name": t.name, "description": t.description, "input_schema": t.input_schema} for t in listed.tools
            ]
            size, model, count = len(payload.encode()), len(json.dumps(shown).encode()), len(listed.tools)
    return starts, rss, size, model, count


async def measure_all(runs: int) -> str:
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        floor: list[float] = []
        for name, module in [("bare MCPServer (floor)", "bench.floor_server")] + [
            (f"roundtable-{k}", f"servers.{k}") for k in SERVER_KINDS
        ]:
            starts, rss, size, model, count = await measure(module, db, runs)
            floor = floor or starts
            rows.append(
                [
                    name,
                    ms(pct(starts, 50)),
                    ms(max(starts)),
                    f"{pct(starts, 50) / pct(floor, 50):.2f}",
                    f"{rss:.0f}",
                    count,
                    size,
                    size // 4,
                    model,
                    model // 4,
                ]
            )
    headers = ["server", "start p50 ms", "start max ms", "p50 vs floor", "RSS MiB", "tools"]
    headers += ["tools/list bytes", "≈ tokens", "model-facing bytes", "≈ tokens"]
    return table(f"Cold start until initialize answers ({runs} runs), memory, tools/list size", headers, rows) + (
        "\nStart: spawn until `initialize` answers. RSS: the server process once up. tools/list: the JSON of the "
        "result as sent; model-facing: names, descriptions and input schemas only (the rest is mostly output "
        "schemas, which clients keep to themselves). Tokens ≈ bytes/4.\n"
    )


def run(quick: bool) -> str:
    return anyio.run(measure_all, 3 if quick else 10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    print(anyio.run(measure_all, parser.parse_args().runs))


if __name__ == "__main__":
    main()
