"""A lean surface (issue 14): the short task form in lists and the full one on request, the short answer to a
vote, toolsets, and sandbox_test unlisted while it is off."""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from servers import SERVER_KINDS
from servers.coordination import build_server
from shared.config import ConfigError, Settings, load_settings
from shared.models.tasks import Task, TaskLine
from shared.rules import toolsets
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
        filtered = await c.call_tool("task_list", {"task_id": 1, "status": ["done"], "mine": True})
        assert filtered.is_error and text(filtered) == (
            "task_id reads one task in full; leave out status, mine, or drop task_id to filter the list"
        )


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


async def _listed(kind: str, settings: Settings) -> set[str]:
    module = importlib.import_module(f"servers.{kind}")
    async with Client(module.build_server(settings)) as c:
        return {t.name for t in (await c.list_tools()).tools}


async def test_the_groups_name_every_tool_the_servers_register(settings: Settings, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    on = replace(settings, sandbox_allow=("pytest",), sandbox_root=project)  # sandbox_test listed
    registered = set().union(*[await _listed(kind, on) for kind in SERVER_KINDS])
    assert registered == set(toolsets.every_tool())
    assert set(toolsets.SERVER_GROUPS) == set(SERVER_KINDS)
    for kind in SERVER_KINDS:  # each server's tools are its groups' (performance_metrics' server check reads them)
        mine = {t for g in toolsets.SERVER_GROUPS[kind] for t in toolsets.GROUPS[g]}
        assert await _listed(kind, on) == mine | set(toolsets.ALWAYS), kind
        assert all(toolsets.server_of(t) == kind for t in mine)


async def test_core_lists_the_workers_loop_on_every_server(settings: Settings) -> None:
    core = replace(settings, tools=toolsets.select("core"))
    listed = set().union(*[await _listed(kind, core) for kind in SERVER_KINDS])
    assert listed == set(toolsets.CORE)
    assert await _listed("monitoring", core) == {"start_here"}
    async with Client(build_server(core)) as c:
        outside = await c.call_tool("consensus_propose", {"title": "x"})
    assert outside.is_error and "consensus_propose is not in this server's toolset (ROUNDTABLE_TOOLS" in text(outside)


async def test_a_list_of_groups_and_tools_selects_them(settings: Settings) -> None:
    chosen = replace(settings, tools=toolsets.select("tasks, consensus_vote"))
    assert await _listed("coordination", chosen) == {*toolsets.GROUPS["tasks"], "consensus_vote", "start_here"}
    assert toolsets.select("all") is None and toolsets.select("") is None


def test_an_unknown_toolset_is_refused_at_start_with_the_valid_names(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(env={"ROUNDTABLE_DB": str(tmp_path / "rt.db"), "ROUNDTABLE_TOOLS": "core,taks"})
    message = str(refused.value)
    assert "ROUNDTABLE_TOOLS='core,taks'" in message and "'taks' (did you mean tasks?)" in message
    assert "all, core, groups (tasks, consensus" in message and "message_wait" in message
    flagged = load_settings(argparse.Namespace(tools="core", db=None, agent=None, role=None), env={})
    assert flagged.tools == frozenset(toolsets.CORE)


def test_a_server_started_with_an_unknown_toolset_exits_naming_the_fix(tmp_path: Path) -> None:
    ran = subprocess.run(
        [sys.executable, "-m", "servers.monitoring", "--db", str(tmp_path / "rt.db"), "--tools", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert ran.returncode == 2 and "unknown tool or toolset 'nope'" in ran.stderr


async def test_sandbox_test_is_not_listed_while_it_is_off(settings: Settings) -> None:
    assert "sandbox_test" not in await _listed("coordination", settings)
    async with Client(build_server(settings)) as c:
        off = await c.call_tool("sandbox_test", {"proposal_id": 1, "command": "pytest"})
    assert off.is_error and "sandbox_test is off on this server" in text(off)


async def test_an_improvement_is_proposed_with_consensus_propose_and_the_old_name_still_answers(
    settings: Settings,
) -> None:
    idea = {"title": "pytest first", "change": "run pytest", "why": "red merges", "expected_effect": "none"}
    async with Client(build_server(settings)) as c:
        listed = {t.name for t in (await c.list_tools()).tools}
        assert "improvement_propose" not in listed and "consensus_propose" in listed
        made = data(await c.call_tool("consensus_propose", {**idea, "kind": "improvement"}))["proposal"]
        assert made["kind"] == "improvement" and made["options"] == ["approve", "reject"]
        assert made["improvement"] == {"change": "run pytest", "why": "red merges", "expected_effect": "none"}
        old = data(await c.call_tool("improvement_propose", idea))["proposal"]
        assert old["kind"] == "improvement" and old["improvement"] == made["improvement"]
        stray = await c.call_tool("consensus_propose", idea)
        assert stray.is_error and 'change, why, expected_effect belong to an improvement; add kind="improvement"' in (
            text(stray)
        )
        short = await c.call_tool("consensus_propose", {"title": "x", "kind": "improvement", "change": "y"})
        assert short.is_error and "an improvement needs why, expected_effect" in text(short)


async def test_every_output_schema_is_flat_and_accepts_its_results(settings: Settings) -> None:
    """MCP requires `"type": "object"` at an output schema's top; its fields are listed with their types and a
    record inside one (a list's rows, the task of an answer) is an object, so a client's validation costs a
    check per row, not per field; real results (with nested records) validate against what is listed."""
    import jsonschema

    for kind in SERVER_KINDS:
        module = importlib.import_module(f"servers.{kind}")
        async with Client(module.build_server(settings)) as client:
            listed = {t.name: t for t in (await client.list_tools()).tools}
            for tool in listed.values():
                shown = tool.output_schema
                assert shown is not None and shown["type"] == "object", tool.name
                assert "$defs" not in shown and "$ref" not in json.dumps(shown), tool.name
                assert all("properties" not in field for field in shown["properties"].values()), tool.name
            if kind == "coordination":
                made = await client.call_tool("task_create", {"title": "a nested result"})
                claimed = await client.call_tool("task_claim", {"task_id": data(made)["task"]["id"]})
                listing = await client.call_tool("task_list", {})
                one = await client.call_tool("task_list", {"task_id": data(made)["task"]["id"]})
                shape = listed["task_list"].output_schema
                assert shape["properties"]["tasks"] == {"type": "array", "items": {"type": "object"}}
                assert shape["properties"]["task"] == {"type": ["object", "null"]}
                assert shape["properties"]["next_cursor"] == {"type": ["string", "null"]}
                jsonschema.validate(listing.structured_content, shape)
                jsonschema.validate(one.structured_content, shape)
                jsonschema.validate(claimed.structured_content, listed["task_claim"].output_schema)


def test_each_listed_output_schema_is_the_one_the_sdk_derives_for_the_tool(settings: Settings) -> None:
    """add_tools derives a result model's schema once per model (not once per tool, as the SDK would); what is
    listed must still be the SDK's derivation from the tool's own return type, compacted."""
    from mcp.server.mcpserver.utilities.func_metadata import func_metadata

    from shared.frame import schema

    for kind in SERVER_KINDS:
        server = importlib.import_module(f"servers.{kind}").build_server(settings)
        for name, registered in server._tool_manager._tools.items():
            sdk = func_metadata(registered.fn, skip_names=[registered.context_kwarg or ""])
            assert registered.output_schema == schema.output_schema(sdk.output_schema), name
            assert (registered.fn_metadata.output_model, registered.fn_metadata.wrap_output) == (
                sdk.output_model,
                sdk.wrap_output,
            ), name
