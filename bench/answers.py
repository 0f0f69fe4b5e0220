"""What a model reads back: the size of tool answers (bytes/4 of each result's text, as the model sees it).

- the demo's calls (`roundtable demo`, every server over stdio): the median answer in this tree and, with
  `--against <older checkout>`, in that one, run by its own interpreter on its own code (issue 14's goal:
  at least 40 % smaller);
- a `task_list` of 10 tasks (goal ≤ 600 tokens) and a vote answer (goal ≤ 120), in-process.

    uv run python -m bench.answers --against /work/wt/before

A size, not a time: no floor is needed.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import anyio

TARGET_LIST, TARGET_VOTE, TARGET_SHRINK = 600, 120, 0.40


def tokens_of(result: Any) -> int:
    return len(" ".join(getattr(b, "text", "") for b in result.content).encode()) // 4


async def demo_sizes() -> list[tuple[str, int]]:
    """Play the demo in this interpreter's tree, recording each tool answer's size."""
    from mcp.client.client import Client

    from servers.cli import demo

    sizes: list[tuple[str, int]] = []
    original = Client.call_tool

    async def recorded(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        result = await original(self, name, *args, **kwargs)
        sizes.append((name, tokens_of(result)))
        return result

    Client.call_tool = recorded  # type: ignore[method-assign]
    try:
        with tempfile.TemporaryDirectory() as folder:
            await demo.play(Path(folder) / "demo.db", out=io.StringIO())
    finally:
        Client.call_tool = original  # type: ignore[method-assign]
    return sizes


def sizes_in(tree: Path) -> list[tuple[str, int]]:
    """The demo's answer sizes in another checkout, by its own interpreter and code."""
    python = tree / ".venv" / "bin" / "python"
    env = {**os.environ, "PYTHONPATH": str(tree)}  # this file runs as a script there, on that tree's code
    ran = subprocess.run(
        [str(python), str(Path(__file__).resolve()), "--demo-json"],
        cwd=tree, env=env, capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    return [(name, int(size)) for name, size in json.loads(ran.stdout.strip().splitlines()[-1])]


async def list_and_vote() -> tuple[int, int]:
    """Tokens of a task_list of 10 tasks and of a vote answer, in-process on this tree."""
    from mcp import Client

    from servers.coordination import build_server
    from shared.config import Settings

    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "answers.db"
        async with (
            Client(build_server(Settings(db=db, agent="ana"))) as ana,
            Client(build_server(Settings(db=db, agent="bo"))) as bo,
        ):
            for i in range(10):
                title = f"fix the flaky sync test number {i} in the nightly suite"
                await ana.call_tool("task_create", {"title": title, "tags": ["ci"], "description": "x" * 200})
            await bo.call_tool("task_claim", {})
            listed = tokens_of(await ana.call_tool("task_list", {}))
            made = await ana.call_tool(
                "consensus_propose", {"title": "Ship the refactor now?", "description": "context " * 50}
            )
            pid = made.structured_content["proposal"]["id"]  # type: ignore[index]
            voted = await ana.call_tool("consensus_vote", {"proposal_id": pid, "choice": "approve", "rationale": "ok"})
            return listed, tokens_of(voted)


def run(against: Path | None) -> str:
    listed, vote = anyio.run(list_and_vote)
    lines = [
        "| answer | tokens | target |",
        "|---|---:|---:|",
        f"| task_list of 10 tasks | {listed} | ≤ {TARGET_LIST} |",
        f"| a vote (consensus_vote) | {vote} | ≤ {TARGET_VOTE} |",
    ]
    now = [size for _, size in anyio.run(demo_sizes)]
    lines.append(f"| median over the demo's {len(now)} calls, this tree | {statistics.median(now):g} | |")
    if against is not None:
        before = [size for _, size in sizes_in(against)]
        shrink = 1 - statistics.median(now) / statistics.median(before)
        lines.append(f"| median over the demo's {len(before)} calls, {against} | {statistics.median(before):g} | |")
        lines.append(f"| median smaller by | {shrink:.0%} | ≥ {TARGET_SHRINK:.0%} |")
        lines.append(f"| total over the demo's calls, this tree / before | {sum(now):,} / {sum(before):,} | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="bench.answers", description=__doc__)
    p.add_argument("--against", type=Path, help="an older checkout (with its .venv) to compare the demo with")
    p.add_argument("--demo-json", action="store_true", help=argparse.SUPPRESS)  # sizes_in's child
    args = p.parse_args(argv)
    if args.demo_json:
        print(json.dumps(anyio.run(demo_sizes)))
        return
    print(run(args.against))


if __name__ == "__main__":
    main()
