"""What every benchmark shares: percentiles, an aligned table, the machine it ran on, and ROOT, the checkout
the benchmarks launch servers from (with servers/cli/launch.py `server_params`, cwd=ROOT)."""

from __future__ import annotations

import os
import platform
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent


def pct(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0 to 100) by nearest rank; 0 for no samples."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [list(map(str, headers)), *[[str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    out = [f"### {title}", "", "| " + " | ".join(h.ljust(widths[i]) for i, h in enumerate(cells[0])) + " |"]
    out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    out += ["| " + " | ".join(c.ljust(widths[i]) for i, c in enumerate(r)) + " |" for r in cells[1:]]
    return "\n".join(out) + "\n"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    memory = psutil.virtual_memory().total / 2**30
    return (
        f"{platform.system()} {platform.release()} ({cpu}), {os.cpu_count()} cores, {memory:.0f} GiB RAM, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )
