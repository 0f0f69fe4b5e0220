"""A lean surface (issue 14): the short task form in lists and the full one on request, the short answer to a
vote, toolsets, and sandbox_test unlisted while it is off."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp import Client

from servers.coordination import build_server
from shared.config import Settings
from shared.models.tasks import Task, TaskLine
from tests.results import data, text

pytestmark = pytest.mark.anyio


async def test_task_list_shows_the_short_form_and_task_id_the_full_one(settings: Settings) -> None:
    async with Client(build_server(settings)) as c:
        first = data(await c.call_tool("task_create", {"title": "write the notes", "description": "all of them"}))
        assert set(first["task"]) == set(Task.model_fields)  # create answers with the full form
        data(await c.call_tool("task_create", {"title": "after", "depends_on": [first["task"]["id"]]}))
        listed = await c.call_tool("task_list", {})
        lines = data(listed)["tasks"]
        assert [set(t) for t in lines] == [set(TaskLine.model_fields)] * 2
        assert "description" not in text(listed) and "created_at" not in text(listed)
        assert json.loads(text(listed))["tasks"][1] == {
            "id": 2,
            "title": "after",
            "status": "open",
            "priority": "normal",
            "ready": False,
            "depends_on": [1],
            "waiting_on": [1],
        }
        full = data(await c.call_tool("task_list", {"task_id": 1}))
        assert full["task"]["description"] == "all of them" and full["tasks"] == [] and full["total"] == 1
        missing = await c.call_tool("task_list", {"task_id": 99})
        assert missing.is_error and "task 99 does not exist" in text(missing)


async def test_a_ten_task_list_stays_small(settings: Settings) -> None:
    async with Client(build_server(settings)) as c:
        for i in range(10):
            await c.call_tool(
                "task_create", {"title": f"fix the flaky test number {i} in the sync suite", "tags": ["ci"]}
            )
        listed = await c.call_tool("task_list", {})
    assert len(data(listed)["tasks"]) == 10
    assert len(text(listed).encode()) // 4 <= 600


async def test_a_vote_is_answered_with_the_tally_line_not_the_proposal(settings: Settings, as_agent: Any) -> None:
    async with Client(build_server(settings)) as ana, Client(build_server(as_agent("bo"))) as bo:
        pid = data(await ana.call_tool("consensus_propose", {"title": "ship it?", "description": "x" * 2000}))[
            "proposal"
        ]["id"]
        voted = await ana.call_tool("consensus_vote", {"proposal_id": pid, "choice": "approve"})
        answer = data(voted)
        assert answer["tally"] == "approve 1, reject 0, abstain 0; 1 of 2 voted, quorum 2"
        assert answer["status"] == "open" and not answer["closed_now"] and "Waiting for: bo" in answer["next_step"]
        assert "x" * 50 not in text(voted) and len(text(voted).encode()) // 4 <= 120
        settled = data(await bo.call_tool("consensus_vote", {"proposal_id": pid, "choice": "approve"}))
        assert (settled["status"], settled["outcome"], settled["closed_now"]) == ("passed", "approve", True)
