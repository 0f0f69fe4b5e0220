"""How fast the dashboard's page is on a large team (issue 18): first paint ≤ 1 s with 10,000 tasks and
100,000 events, on this machine.

Two teams, each served by its own `roundtable dashboard` process and opened in Debian's chromium (Playwright,
system browser, a fresh context per load, so nothing is cached):
- the large team: bench.growth's history at 10,000 rows (10,000 tasks, messages, tool-call samples, 1,000
  knowledge entries, 8 live agents) plus events up to 100,000;
- the floor: a freshly migrated, empty team — the same page, browser and server with nothing to show.
Loads alternate between the two (interleaved, so machine load hits both alike). Measured per load: the
browser's first contentful paint (the page's frame) and "data shown" — from navigation until the first
streamed state is rendered (agents, board, mail, proposals, health, metrics and the event feed in place).

    uv run python -m bench.dashboard [--loads 7]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, machine, pct, table
from bench.growth import seed
from shared.db.connection import Database

TASKS = 10_000
EVENTS = 100_000
GOAL_SECONDS = 1.0
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
]


def large_team(path: Path, now: float) -> None:
    seed(path, TASKS, now)
    conn = sqlite3.connect(path)
    with conn:
        have = int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
        conn.executemany(
            "INSERT INTO events(ts, agent_id, agent_name, kind, object_type, object_id, data)"
            " VALUES (?, 'agent-1', 'agent-1', 'task.progress', 'task', ?, '{\"progress\":50}')",
            ((now - 3600 + i * 0.01, str(i % TASKS + 1)) for i in range(EVENTS - have)),
        )
    conn.close()


def empty_team(path: Path) -> None:
    async def migrate() -> None:
        db = await Database.open(path)
        await db.close()

    asyncio.run(migrate())


def start(db: Path) -> tuple[subprocess.Popen[str], str]:
    argv = [sys.executable, "-m", "servers.cli", "dashboard", "--db", str(db), "--port", "0"]
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME")} | {"PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env, cwd=ROOT)
    assert proc.stderr is not None
    for line in proc.stderr:
        found = re.search(r"open (http://\S+?/)", line)
        if found:
            return proc, found.group(1)
    raise RuntimeError(f"the dashboard did not start (exit {proc.wait()})")


def load(browser: Any, url: str) -> tuple[float, float]:
    """(first contentful paint, data shown), seconds from navigation start."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    began = time.perf_counter()
    page.goto(url, wait_until="commit")
    page.wait_for_selector("body[data-last-event-id]", state="attached", timeout=30_000)
    shown = time.perf_counter() - began
    paint = page.evaluate(
        "(performance.getEntriesByName('first-contentful-paint')[0] || {startTime: NaN}).startTime / 1000"
    )
    context.close()
    return float(paint), shown


def run(quick: bool = True, loads: int | None = None) -> str:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        return "bench.dashboard: no chromium on this machine (Debian: apt-get install chromium); nothing measured\n"
    loads = loads or (5 if quick else 15)
    folder = Path(tempfile.mkdtemp(prefix="roundtable-bench-dashboard-"))
    procs: list[subprocess.Popen[str]] = []
    try:
        began = time.perf_counter()
        large, empty = folder / "large.db", folder / "empty.db"
        large_team(large, time.time())
        empty_team(empty)
        seeded = time.perf_counter() - began
        (p1, large_url), (p2, empty_url) = start(large), start(empty)
        procs += [p1, p2]
        got: dict[str, list[tuple[float, float]]] = {"large": [], "floor": []}
        loads_before = os.getloadavg()[0]
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            load(browser, large_url), load(browser, empty_url)  # warm up both servers' first imports
            for _ in range(loads):
                got["large"].append(load(browser, large_url))
                got["floor"].append(load(browser, empty_url))
            browser.close()
        loads_after = os.getloadavg()[0]
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(folder, ignore_errors=True)
    rows = []
    for what, index in (("first contentful paint", 0), ("data shown", 1)):
        big = [s[index] for s in got["large"]]
        floor = [s[index] for s in got["floor"]]
        rows.append(
            [
                what,
                f"{pct(floor, 50) * 1000:.0f}",
                f"{pct(big, 50) * 1000:.0f}",
                f"{max(big) * 1000:.0f}",
                f"{pct(big, 50) / max(pct(floor, 50), 1e-9):.2f}x",
                "yes" if max(big) <= GOAL_SECONDS else "NO",
            ]
        )
    title = (
        f"Dashboard first paint: {TASKS:,} tasks and {EVENTS:,} events vs an empty team, {loads} interleaved loads"
        f" each (seeded in {seeded:.0f} s; load average {loads_before:.1f} → {loads_after:.1f})"
    )
    headers = ["measure", "floor p50 ms", "large p50 ms", "large max ms", "ratio p50", f"max ≤ {GOAL_SECONDS:.0f} s"]
    return table(title, headers, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loads", type=int, default=None, help="loads of each page (5; 15 with --full)")
    parser.add_argument("--full", action="store_true")
    args = parser.parse_args()
    print(f"Machine: {machine()}, load average {os.getloadavg()[0]:.1f}\n")
    print(run(not args.full, args.loads))


if __name__ == "__main__":
    main()
