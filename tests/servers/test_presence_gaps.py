"""A gap the whole team was in is not a departure: after the clock stepped ahead past the presence timeout (NTP,
a machine waking from sleep), the first claimer took every live agent's claim, because every session's last
heartbeat looked older than the timeout to it, its own included. Presence is now judged as of the process's own
last heartbeat while its next one is overdue (shared/rules/pulse.py); an agent that really left is still
judged departed."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client

from servers.coordination import build_server
from shared.config import Settings
from tests.conftest import FakeClock
from tests.results import data, text

pytestmark = [pytest.mark.anyio, pytest.mark.engines("sqlite", "postgresql")]


async def test_a_clock_stepped_past_the_presence_timeout_takes_no_live_agents_claim(
    settings: Settings, as_agent: Any, clock: FakeClock
) -> None:
    async with Client(build_server(settings, clock)) as ana, Client(build_server(as_agent("bo"), clock)) as bo:
        ids = [data(await ana.call_tool("task_create", {"title": t}))["task"]["id"] for t in ("ana's", "cy's", "free")]
        held, left, free = ids
        data(await ana.call_tool("task_claim", {"task_id": held}))
        async with Client(build_server(as_agent("cy"), clock)) as cy:
            data(await cy.call_tool("task_claim", {"task_id": left}))
        # cy's window closed: its claim lapses. Then the clock steps ahead past the 30 s presence timeout before
        # any heartbeat of ana's or bo's lands.
        clock.advance(120)
        taken = [data(await bo.call_tool("task_claim", {})) for _ in range(3)]
        assert sorted(t["task"]["id"] for t in taken[:2]) == [left, free], taken
        assert not taken[2]["claimed"], taken[2]  # ana's task is still ana's
        done = await ana.call_tool("task_complete", {"task_id": held, "result": "finished"})
        assert not done.is_error, text(done)
