"""Every benchmark in one command, each printing its table(s):

    uv run python -m bench            # quick: a few minutes in all
    uv run python -m bench --full     # the issue's full sizes
    uv run python -m bench --write    # and rewrite bench/RESULTS.md with the machine, date and tables

`--only latency,claims` runs some of them. Each module also runs alone: `uv run python -m bench.<name>`.
At the end it prints every goal of issue 17 (bench/goals.py) in one table: measured, ratio, pass or FAIL.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import importlib.util
import os
import sys
import time
from pathlib import Path

from bench import goals
from bench.common import machine

MODULES = (
    "startup",
    "latency",
    "claims",
    "claim_scan",
    "delivery",
    "push",
    "hooks",
    "knowledge",
    "instrumentation",
    "growth",
    "surface",
    "dashboard",
)
RESULTS = Path(__file__).with_name("RESULTS.md")


def report(
    command: str, load: float, sections: list[tuple[str, float, tuple[float, float], str]], verdicts: str
) -> str:
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmark results",
        "",
        f"- Command: `{command}`",
        f"- Date: {when}",
        f"- Machine: {machine()}; a shared, noisy virtual machine: other sessions' builds, tests and "
        f"benchmarks ran on its 2 cores at the same time (load average {load:.1f} when the run began; each "
        "section gives the load average before and after it, and ratios are against floors measured "
        "interleaved in the same run, so they stay fair under load)",
        "- Each figure is one run, beside its floor measured in the same run (a bare MCPServer for anything over "
        "stdio, raw sqlite3 for claims); ratios are comparable across machines, absolute figures less so.",
        "",
        "## The goals (issue 17)",
        "",
        verdicts.rstrip(),
        "",
    ]
    for name, seconds, (before, after), text in sections:
        heading = f"## bench.{name} ({seconds:.0f} s; load average {before:.1f} before, {after:.1f} after)"
        lines += [heading, "", text.rstrip(), ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="the full sizes (slower)")
    parser.add_argument("--write", action="store_true", help="rewrite bench/RESULTS.md")
    parser.add_argument("--only", help="comma-separated module names, e.g. latency,claims")
    args = parser.parse_args()
    names = list(MODULES)
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            parser.error(f"no bench module {', '.join(unknown)}; choose from {', '.join(names)}")
        names = [n for n in names if n in wanted]
    load = os.getloadavg()[0]
    print(f"Machine: {machine()}, load average {load:.1f}\n", flush=True)
    sections = []
    for name in names:
        began, load_before = time.perf_counter(), os.getloadavg()[0]
        text = importlib.import_module(f"bench.{name}").run(not args.full)
        seconds, load_after = time.perf_counter() - began, os.getloadavg()[0]
        print(f"{text}\n({name}: {seconds:.0f} s, load average {load_before:.1f} → {load_after:.1f})\n", flush=True)
        sections.append((name, seconds, (load_before, load_after), text))
    verdicts = goals.summary(set(names))
    print(f"{verdicts}\n(load average {os.getloadavg()[0]:.1f} at the end)\n", flush=True)
    if args.write:
        command = "uv run python -m bench " + " ".join(sys.argv[1:])
        RESULTS.write_text(report(command.strip(), load, sections, verdicts), encoding="utf-8")
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
