"""What a model reads up front: each server's tools/list as tokens (bytes/4 of the compact JSON of name +
description + input schema, and with the output schemas), per server and in total, beside the issue's
targets (≤ 4,500 and ≤ 12,000 for all four servers). A size, not a time: no floor is needed.

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

TARGET_INPUT, TARGET_OUTPUT = 4_500, 12_000


def tokens(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()) // 4


async def measure(db: Path) -> list[tuple[str, int, int, int]]:
    rows = []
    for kind in SERVER_KINDS:
        module = importlib.import_module(f"servers.{kind}")
        async with Client(module.build_server(Settings(db_path=db, agent="bench"))) as client:
            listed = (await client.list_tools()).tools
        inputs = sum(tokens([t.name, t.description, t.input_schema]) for t in listed)
        outputs = sum(tokens([t.name, t.description, t.input_schema, t.output_schema]) for t in listed)
        rows.append((kind, len(listed), inputs, outputs))
    return rows


def run(quick: bool = True) -> str:
    with tempfile.TemporaryDirectory() as folder:
        rows = anyio.run(measure, Path(folder) / "surface.db")
    lines = [
        "| server | tools | tokens (name+description+input) | with output schemas |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {kind} | {n} | {i:,} | {o:,} |" for kind, n, i, o in rows]
    total_n, total_i, total_o = (sum(r[k] for r in rows) for k in (1, 2, 3))
    lines.append(
        f"| **total** | {total_n} | {total_i:,} (target ≤ {TARGET_INPUT:,}) | {total_o:,} "
        f"(target ≤ {TARGET_OUTPUT:,}) |"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
