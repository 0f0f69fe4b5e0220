"""Issue 15: a quota reached answers the tool call with one line naming the limit, its setting and the fix,
and nothing of the call is written; the server keeps answering."""

from __future__ import annotations

from dataclasses import replace

import pytest
from mcp import Client

from servers import coordination, knowledge
from shared.config import Limits, Settings
from tests.results import text

pytestmark = pytest.mark.anyio


async def test_knowledge_add_past_the_agents_quota_is_refused_in_one_line(settings: Settings) -> None:
    small = replace(settings, limits=Limits(knowledge_entries=2))
    async with Client(knowledge.build_server(small)) as client:
        for i in range(2):
            assert not (await client.call_tool("knowledge_add", {"title": f"t{i}", "body": "b"})).is_error
        refused = await client.call_tool("knowledge_add", {"title": "t2", "body": "b"})
        said = text(refused)
        assert refused.is_error and "\n" not in said.strip(), said
        assert "ROUNDTABLE_MAX_KNOWLEDGE=2" in said and "raise" in said and "Nothing was changed" in said
        found = await client.call_tool("knowledge_query", {"text": "t2"})
        assert not found.is_error and found.structured_content["total"] == 0  # type: ignore[index]


async def test_task_create_past_the_agents_quota_is_refused_in_one_line(settings: Settings) -> None:
    small = replace(settings, limits=Limits(open_tasks=1))
    async with Client(coordination.build_server(small)) as client:
        assert not (await client.call_tool("task_create", {"title": "first"})).is_error
        refused = await client.call_tool("task_create", {"title": "second"})
        said = text(refused)
        assert refused.is_error and "ROUNDTABLE_MAX_OPEN_TASKS=1" in said and "\n" not in said.strip(), said
        listed = await client.call_tool("task_list", {})
        assert listed.structured_content["total"] == 1  # type: ignore[index]
