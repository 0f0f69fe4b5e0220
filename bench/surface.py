"""What a model reads up front: each server's tools/list as tokens (bytes/4 of the compact JSON of name +
description + input schema, and with the output schemas), per server and in total, beside the issue's
targets (≤ 4,500 with `all`, ≤ 2,500 with `core`, ≤ 12,000 with output schemas), beside the figures before
issue 14's round (7,612 / 22,121 as filed; 8,102 / 25,775 at the round's base, with start_here on every
server). A size, not a time: no floor is needed.

    uv run python -m bench.surface
"""

from __future__ import annotations

import importlib
import json
import tempfile
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from servers import SERVER_KINDS
from shared.config import Settings
from shared.rules import toolsets

TARGET_INPUT, TARGET_CORE, TARGET_OUTPUT = 4_500, 2_500, 12_000
BEFORE = {"filed": (7_612, 22_121), "round base": (8_102, 25_775)}
"""all-toolset totals before this round: (name+description+input, with output schemas)."""


def tokens(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()) // 4


async def measure(db: Path, selection: str = "all") -> list[tuple[str, int, int, int]]:
    rows = []
    for kind in SERVER_KINDS:
        module = importlib.import_module(f"servers.{kind}")
        settings = Settings(db=db, agent="bench", tools=toolsets.select(selection))
        async with Client(module.build_server(settings)) as client:
            listed = (await client.list_tools()).tools
        inputs = sum(tokens([t.name, t.description, t.input_schema]) for t in listed)
        outputs = sum(tokens([t.name, t.description, t.input_schema, t.output_schema]) for t in listed)
        rows.append((kind, len(listed), inputs, outputs))
    return rows


def table(rows: list[tuple[str, int, int, int]], selection: str) -> list[str]:
    lines = [
        "| toolset | server | tools | tokens (name+description+input) | with output schemas |",
        "|---|---|---:|---:|---:|",
    ]
    lines += [f"| {selection} | {kind} | {n} | {i:,} | {o:,} |" for kind, n, i, o in rows]
    total_n, total_i, total_o = (sum(r[k] for r in rows) for k in (1, 2, 3))
    target = TARGET_INPUT if selection == "all" else TARGET_CORE
    lines.append(
        f"| {selection} | **total** | {total_n} | {total_i:,} (target ≤ {target:,}) | {total_o:,} "
        f"(target ≤ {TARGET_OUTPUT:,}) |"
    )
    return lines


def run(quick: bool = True) -> str:
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as folder:
        for selection in ("all", "core"):
            lines += table(anyio.run(measure, Path(folder) / "surface.db", selection), selection)
            lines.append("")
    before = "; ".join(f"{what}: {i:,} / {o:,}" for what, (i, o) in BEFORE.items())
    lines.append(f"Before (all, input / with output schemas) — {before}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
