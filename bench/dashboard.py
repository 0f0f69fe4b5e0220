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

Then the cost of viewers: the large team's dashboard with 1 and with 20 open streams (`/stream`, read as a
browser reads them) while another process commits at a steady rate (an event a commit, COMMITS_PER_SECOND);
the dashboard process's CPU time per commit, rounds of 1 and 20 streams interleaved. The state is computed
once per change for every stream of the process, so 20 viewers should cost about what one does.

    uv run python -m bench.dashboard [--loads 7] [--streams-only]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import selectors
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from bench import goals
from bench.common import ROOT, machine, pct, table
from bench.growth import seed
from shared.db.connection import Database

TASKS = 10_000
EVENTS = 100_000
GOAL_SECONDS = 1.0
VIEWERS = 20
COMMITS_PER_SECOND = 10.0
FLAT_GOAL = 2.0
"""The CPU the dashboard spends per commit with VIEWERS open streams, at most this many times one stream's."""
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


class Streams:
    """`n` open `/stream` connections, read (and dropped) by one thread as fast as they come, counting the
    state messages each received."""

    def __init__(self, url: str, n: int) -> None:
        host, port = url.split("//", 1)[1].strip("/").rsplit(":", 1)
        self.counts = [0] * n
        self.socks: list[socket.socket] = []
        self.selector = selectors.DefaultSelector()
        for i in range(n):
            sock = socket.create_connection((host, int(port)), timeout=10)
            sock.sendall(f"GET /stream HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n\r\n".encode())
            sock.setblocking(False)
            self.socks.append(sock)
            self.selector.register(sock, selectors.EVENT_READ, i)
        self.tails = [b""] * n
        self.running = True
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while self.running:
            for key, _ in self.selector.select(0.1):
                i = int(key.data)
                try:
                    data = self.socks[i].recv(1 << 20)
                except BlockingIOError:
                    continue
                seen = self.tails[i] + data
                self.counts[i] += seen.count(b"event: state")
                self.tails[i] = seen[-16:].replace(b"event: state", b"")

    def wait_first(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while min(self.counts) < 1:
            if time.monotonic() > deadline:
                raise RuntimeError(f"not every stream got its first state within {timeout:.0f} s")
            time.sleep(0.05)

    def close(self) -> None:
        self.running = False
        self.thread.join(5)
        for sock in self.socks:
            sock.close()
        self.selector.close()


def commit_steadily(db: Path, seconds: float, rate: float) -> int:
    """One event a commit, `rate` commits a second for `seconds`, from this process (another than the
    dashboard's); returns how many it made."""
    conn = sqlite3.connect(db, timeout=10)
    made, began = 0, time.perf_counter()
    try:
        while time.perf_counter() - began < seconds:
            with conn:
                conn.execute(
                    "INSERT INTO events(ts, agent_id, agent_name, kind, object_type, object_id, data)"
                    " VALUES (?, 'agent-1', 'agent-1', 'task.progress', 'task', '1', '{\"progress\":50}')",
                    (time.time(),),
                )
            made += 1
            time.sleep(max(0.0, began + made / rate - time.perf_counter()))
    finally:
        conn.close()
    return made


def viewers(db: Path, rounds: int, seconds: float) -> str:
    """The dashboard's CPU per commit with 1 and with VIEWERS open streams, rounds interleaved."""
    proc, url = start(db)
    dashboard = psutil.Process(proc.pid)
    cpu: dict[int, list[float]] = {1: [], VIEWERS: []}
    sent: dict[int, list[float]] = {1: [], VIEWERS: []}
    loads: dict[int, list[float]] = {1: [], VIEWERS: []}
    try:
        for _ in range(rounds):
            for n in (1, VIEWERS):
                streams = Streams(url, n)
                try:
                    streams.wait_first()
                    time.sleep(0.5)  # let the first states settle
                    before, counted = dashboard.cpu_times(), sum(streams.counts)
                    made = commit_steadily(db, seconds, COMMITS_PER_SECOND)
                    after = dashboard.cpu_times()
                    used = (after.user + after.system) - (before.user + before.system)
                    cpu[n].append(used / made)
                    sent[n].append((sum(streams.counts) - counted) / n / made)
                    loads[n].append(os.getloadavg()[0])
                finally:
                    streams.close()
    finally:
        proc.terminate()
        proc.wait(10)
    one, many = pct(cpu[1], 50), pct(cpu[VIEWERS], 50)
    ratio = many / max(one, 1e-9)
    goals.record(
        "dashboard.viewers",
        f"{ratio:.2f}x ({many * 1000:.1f} vs {one * 1000:.1f} ms/commit)",
        ratio / FLAT_GOAL,
        ratio <= FLAT_GOAL,
    )
    rows: list[list[object]] = [
        [
            f"{n}",
            f"{pct(cpu[n], 50) * 1000:.1f}",
            f"{max(cpu[n]) * 1000:.1f}",
            f"{pct(sent[n], 50):.2f}",
            f"{min(loads[n]):.1f} to {max(loads[n]):.1f}",
        ]
        for n in (1, VIEWERS)
    ]
    verdict = goals.verdict(ratio <= FLAT_GOAL)
    rows.append([f"ratio {VIEWERS} / 1", f"{ratio:.2f}x", "", f"goal ≤ {FLAT_GOAL:.0f}x: {verdict}", ""])
    title = (
        f"Dashboard CPU per commit, 1 vs {VIEWERS} open streams, {COMMITS_PER_SECOND:.0f} commits/s for"
        f" {seconds:.0f} s, {rounds} interleaved rounds each ({TASKS:,} tasks)"
    )
    headers = ["open streams", "CPU ms/commit p50", "max", "states per stream per commit", "load average"]
    return table(title, headers, rows)


def paint(browser_path: str, large: Path, empty: Path, loads: int, seeded: float) -> str:
    """First paint and data shown on the large team and on the empty one, loads interleaved."""
    from playwright.sync_api import sync_playwright

    procs: list[subprocess.Popen[str]] = []
    try:
        (p1, large_url), (p2, empty_url) = start(large), start(empty)
        procs += [p1, p2]
        got: dict[str, list[tuple[float, float]]] = {"large": [], "floor": []}
        loads_before = os.getloadavg()[0]
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=browser_path, args=CHROMIUM_ARGS)
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


def run(quick: bool = True, loads: int | None = None, *, first_paint: bool = True) -> str:
    chromium = shutil.which("chromium")
    loads = loads or (5 if quick else 15)
    folder = Path(tempfile.mkdtemp(prefix="roundtable-bench-dashboard-"))
    out = []
    try:
        began = time.perf_counter()
        large, empty = folder / "large.db", folder / "empty.db"
        large_team(large, time.time())
        empty_team(empty)
        seeded = time.perf_counter() - began
        if not first_paint:
            pass
        elif chromium is None:
            out.append("bench.dashboard: no chromium (Debian: apt-get install chromium); first paint not measured\n")
        else:
            out.append(paint(chromium, large, empty, loads, seeded))
        out.append(viewers(large, 3 if quick else 7, 4.0 if quick else 8.0))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loads", type=int, default=None, help="loads of each page (5; 15 with --full)")
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--streams-only", action="store_true", help="only the cost of open streams (no browser)")
    args = parser.parse_args()
    print(f"Machine: {machine()}, load average {os.getloadavg()[0]:.1f}\n")
    print(run(not args.full, args.loads, first_paint=not args.streams_only))


if __name__ == "__main__":
    main()
