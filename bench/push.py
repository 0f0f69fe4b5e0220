"""Channel push latency: message_send in one process → `notifications/claude/channel` at a client of the
recipient's messaging server, p50/p99, beside a floor measured on the same sends: the same message, sent to a
second agent too, waking that agent's message_wait (the delivery path bench.delivery measures).

uv run python -m bench.push [--messages 20]

Sends are spaced by the channel's rate bound (shared/frame/channel.py MIN_GAP, one push a second), so each
push is one message and no sample waits on the bound.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import anyio
from mcp import Client

from bench.common import ROOT, ms, pct, table
from servers.cli.launch import server_params
from shared.frame.channel import MIN_GAP, Listener


async def measure(messages: int) -> str:
    push, wake, sends = [], [], []
    listener = Listener()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        env = {"ROUNDTABLE_SEND_RATE": "1000000"}

        def params(agent: str) -> object:
            return server_params("messaging", db, agent, log_level="ERROR", cwd=ROOT, **env)

        async with (
            Client(params("ana"), mode="legacy", extensions=[listener.extension()]) as ana,
            Client(params("floor")) as floor,
            Client(params("bo")) as bo,
        ):
            assert not (await ana.call_tool("start_here", {})).is_error
            await anyio.sleep(0.5)  # the push job follows once the client is initialized
            for i in range(messages + 3):
                woke: list[float] = []

                async def wait() -> None:
                    result = await floor.call_tool("message_wait", {"timeout": 10})
                    assert not result.is_error and result.structured_content["arrived"]  # type: ignore[index]
                    woke.append(time.perf_counter())  # noqa: B023

                seen = len(listener.pushes)
                async with anyio.create_task_group() as tg:
                    tg.start_soon(wait)
                    await anyio.sleep(0.03)  # the floor's wait has started
                    began = time.perf_counter()
                    sent = await bo.call_tool("message_send", {"to": ["ana", "floor"], "body": f"ping {i}"})
                    assert not sent.is_error, sent.content
                    sent_at = time.perf_counter()
                    with anyio.fail_after(10):
                        while len(listener.pushes) == seen:
                            await listener.arrived.wait()
                arrived = listener.times[seen]
                assert listener.pushes[seen].meta["count"] == "1", listener.pushes[seen].meta
                if i >= 3:  # the first few warm up the processes
                    push.append(arrived - began)
                    wake.append(woke[0] - began)
                    sends.append(sent_at - began)
                await anyio.sleep(MIN_GAP + 0.05)  # past the rate bound: the next push is not held back
    p50, f50 = pct(push, 50), pct(wake, 50)
    return table(
        f"Channel push across processes ({messages} messages, one a {MIN_GAP:.0f} s; load average "
        f"{os.getloadavg()[0]:.1f})",
        ["measure", "p50 ms", "p99 ms", "p50 vs floor"],
        [
            ["message_send round trip (sender)", ms(pct(sends, 50)), ms(pct(sends, 99)), ""],
            ["floor: send → message_wait returns (another recipient)", ms(f50), ms(pct(wake, 99)), "1.00"],
            ["send → notifications/claude/channel at the client", ms(p50), ms(pct(push, 99)), f"{p50 / f50:.2f}"],
        ],
    )


def run(quick: bool) -> str:
    return anyio.run(measure, 15 if quick else 60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20)
    print(anyio.run(measure, parser.parse_args().messages))


if __name__ == "__main__":
    main()
