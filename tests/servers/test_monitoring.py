"""The monitoring server: tool calls of every server counted with their error kinds, renames seen by all
servers at once, presence and pruning, health through the tool, the audit trail, the status resource."""

from __future__ import annotations

import importlib
import re
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, get_args

import anyio
import pytest
from mcp import Client
from mcp.server.mcpserver import Context
from pydantic import Field

from servers import SERVER_KINDS, coordination, messaging
from servers.monitoring import STATUS_URI, build_server
from servers.monitoring.team import ServerKind
from shared.config import Settings
from shared.db.connection import Database
from shared.frame.runtime import create_server
from shared.frame.tool import add_tools, tool
from shared.store import events
from shared.store.team import metrics
from tests.conftest import FakeClock
from tests.notifications import collector, updated_by
from tests.results import data, text
from tests.stdio import server_params

pytestmark = [pytest.mark.anyio, pytest.mark.engines("sqlite", "postgresql")]

CHEAP_CALL = {
    "coordination": "task_list",
    "messaging": "message_subscribe",
    "knowledge": "skill_list",
    "monitoring": "event_log",
}


async def metrics_of(settings: Settings, **args: Any) -> dict[tuple[str, str], dict[str, Any]]:
    async with Client(build_server(settings)) as mon:
        found = data(await mon.call_tool("performance_metrics", args))
    return {(t["server"], t["tool"]): t for t in found["tools"]}


async def test_calls_through_every_server_are_counted_with_plausible_percentiles(settings: Settings) -> None:
    for kind in SERVER_KINDS:
        module = importlib.import_module(f"servers.{kind}")
        async with Client(module.build_server(settings)) as client:
            for _ in range(5):
                await client.call_tool(CHEAP_CALL[kind], {})
    stats = await metrics_of(settings)
    for kind in SERVER_KINDS:
        row = stats[(kind, CHEAP_CALL[kind])]
        assert row["calls"] == 5, row
        assert 0 < row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"] <= row["max_ms"] < 10_000
        assert row["mean_ms"] <= row["max_ms"]


async def test_failures_are_counted_by_kind(settings: Settings) -> None:
    async with Client(coordination.build_server(settings)) as ana:
        await ana.call_tool("task_claim", {"task_id": 0})  # refused by the schema
        await ana.call_tool("task_claim", {"task_id": "seven"})
        await ana.call_tool("task_update", {"task_id": 999, "progress": 5})  # no such task
        await ana.call_tool("no_such_tool", {"x": "an argument never stored"})
    async with Client(coordination.build_server(replace(settings, agent="olly", role="observer"))) as olly:
        await olly.call_tool("task_create", {"title": "not allowed"})
    stats = await metrics_of(settings)
    assert stats[("coordination", "task_claim")]["errors"] == {"validation": 2}
    assert stats[("coordination", "task_update")]["errors"] == {"not_found": 1}
    assert stats[("coordination", "(unknown)")]["errors"] == {"unknown_tool": 1}
    assert stats[("coordination", "task_create")]["errors"] == {"forbidden": 1}
    per_agent = await metrics_of(settings, by_agent=True, server="coordination", agent="olly")
    assert per_agent[("coordination", "task_create")]["agent"] == "olly"
    assert per_agent[("coordination", "task_create")]["errors"] == {"forbidden": 1}


async def test_metrics_of_a_server_that_does_not_exist_are_refused_with_the_four_names(settings: Settings) -> None:
    async with Client(build_server(settings)) as mon:
        wrong = await mon.call_tool("performance_metrics", {"server": "coordinator"})
    assert wrong.is_error and "'coordination'" in text(wrong) and "'monitoring'" in text(wrong)
    assert get_args(ServerKind) == SERVER_KINDS


async def test_a_tool_never_called_is_refused_with_the_tools_seen(settings: Settings) -> None:
    async with Client(coordination.build_server(settings)) as ana:
        await ana.call_tool("task_list", {})
    async with Client(build_server(settings)) as mon:
        wrong = await mon.call_tool("performance_metrics", {"tool": "task_lsit"})
        assert wrong.is_error and "did you mean 'task_list'?" in text(wrong)
        # a tool of ours not called yet (or its calls not flushed yet by the other process) was "never recorded;
        # check the spelling": it answers an empty report; a misspelt one is told the name it meant
        assert data(await mon.call_tool("performance_metrics", {"tool": "skill_compose"}))["tools"] == []
        shouted = await mon.call_tool("performance_metrics", {"tool": "SKILL_COMPOSE"})
        assert shouted.is_error and "did you mean 'skill_compose'?" in text(shouted), text(shouted)
        elsewhere = await mon.call_tool("performance_metrics", {"tool": "task_list", "server": "messaging"})
        assert text(elsewhere) == (  # it answered an empty report
            "task_list is a coordination tool, not messaging's; use server='coordination', or leave server out"
        )
        assert not (await mon.call_tool("performance_metrics", {"tool": "start_here", "server": "messaging"})).is_error
        assert [
            t["tool"] for t in data(await mon.call_tool("performance_metrics", {"tool": "task_list"}))["tools"]
        ] == ["task_list"]
        # tool=' task_list ' and tool='' were "no call of a tool named ... was ever recorded"
        padded = data(await mon.call_tool("performance_metrics", {"tool": " task_list "}))["tools"]
        assert [t["tool"] for t in padded] == ["task_list"]
        everything = data(await mon.call_tool("performance_metrics", {"tool": "", "server": "coordination"}))
        assert "task_list" in [t["tool"] for t in everything["tools"]]


async def test_percentiles_come_from_the_histogram_once_calls_of_the_window_were_rolled_up(
    settings: Settings, clock: FakeClock
) -> None:
    async with Client(coordination.build_server(settings, clock)) as ana:
        for _ in range(3):
            await ana.call_tool("task_list", {})
    async with Client(build_server(settings, clock)) as mon:
        assert data(await mon.call_tool("performance_metrics", {}))["percentiles_from"] == "samples"
        db = await Database.open(settings.db)
        try:  # another process, with a shorter raw retention, folds every sample (whole hours) already
            await metrics.roll_up(db, now=clock() + 3600, raw_retention=0, retention=86400)
        finally:
            await db.close()
        found = data(await mon.call_tool("performance_metrics", {}))
        assert found["percentiles_from"] == "histogram"
        assert found["tools"][0]["calls"] == 3


@tool(read_only=True)
async def explode(ctx: Context[Any, Any], n: Annotated[int, Field(ge=0)] = 0) -> str:
    """Crash like a bug."""
    raise RuntimeError("a bug")


async def test_a_crashing_tool_counts_as_internal_and_degrades_health(settings: Settings) -> None:
    toy = create_server("toy", settings, instructions="A toy server.")
    add_tools(toy, [explode])
    async with Client(toy) as client:
        assert (await client.call_tool("explode", {})).is_error
    stats = await metrics_of(settings)
    assert stats[("toy", "explode")]["errors"] == {"internal": 1}
    async with Client(build_server(settings)) as mon:
        found = data(await mon.call_tool("network_health", {}))
    assert "internal_errors" in [r["code"] for r in found["reasons"]]


async def test_a_rename_is_seen_by_the_other_servers_of_the_agent_at_once(settings: Settings, as_agent: Any) -> None:
    async with (
        Client(build_server(settings)) as mon,
        Client(messaging.build_server(settings)) as mail,
        Client(coordination.build_server(settings)) as work,
        Client(messaging.build_server(as_agent("bo"))) as bo,
    ):
        result = data(await mon.call_tool("agent_register", {"name": "anna", "activity": "reviewing PR 12"}))
        assert result["agent"]["name"] == "anna" and result["agent"]["activity"] == "reviewing PR 12"
        data(await mail.call_tool("message_send", {"to": ["bo"], "body": "hello"}))
        inbox = data(await bo.call_tool("message_query", {}))
        assert inbox["messages"][0]["sender"] == "anna"
        task = data(await work.call_tool("task_create", {"title": "x"}))["task"]
        assert task["created_by"] == "anna"
        taken = await mon.call_tool("agent_register", {"name": "BO"})
        assert taken.is_error and "'BO' is taken" in text(taken) and "'BO-2'" in text(taken)


async def test_declared_capabilities_make_tasks_claimable(settings: Settings) -> None:
    async with Client(build_server(settings)) as mon, Client(coordination.build_server(settings)) as work:
        data(await work.call_tool("task_create", {"title": "port it", "requires": ["rust"]}))
        assert data(await work.call_tool("task_claim", {}))["claimed"] is False
        data(await mon.call_tool("agent_register", {"capabilities": ["rust"]}))
        assert data(await work.call_tool("task_claim", {}))["claimed"] is True


async def test_observers_may_look_but_not_register(settings: Settings) -> None:
    async with Client(build_server(replace(settings, role="observer"))) as mon:
        refused = await mon.call_tool("agent_register", {"activity": "watching"})
        assert refused.is_error and "observer" in text(refused)
        assert data(await mon.call_tool("agent_status", {}))["agents"]


async def test_agent_status_shows_idle_agents_and_long_gone_ones_are_pruned(
    settings: Settings, as_agent: Any, clock: FakeClock
) -> None:
    slow = replace(settings, presence_timeout=100_000.0, idle_after=300.0, agent_retention=7 * 86400.0)
    async with Client(build_server(replace(slow, agent="gone"), clock=clock)):
        pass  # joined and left: its session ended
    clock.advance(7 * 86400 + 10)
    async with (
        Client(build_server(replace(slow, agent="bo"), clock=clock)),
        Client(build_server(slow, clock=clock)) as ana,
    ):
        with anyio.fail_after(5):  # the server prunes in the background, at start and every minute
            while len(first := data(await ana.call_tool("agent_status", {}))["agents"]) > 2:
                await anyio.sleep(0.02)
        assert {a["name"]: a["presence"] for a in first} == {"ana": "online", "bo": "online"}
        clock.advance(301)
        later = data(await ana.call_tool("agent_status", {"name": "bo"}))
        assert [(a["name"], a["presence"], a["servers"]) for a in later["agents"]] == [("bo", "idle", ["monitoring"])]
        missing = await ana.call_tool("agent_status", {"name": "gone"})
        assert missing.is_error and "known agents" in text(missing)
        trail = data(await ana.call_tool("event_log", {"kind": "agent.pruned"}))
        assert [e["agent"] for e in trail["events"]] == ["gone"]
        history = data(await ana.call_tool("event_log", {"agent": "gone"}))  # pruned, but in the trail
        assert [e["kind"] for e in history["events"]] == ["agent.pruned", "agent.joined"]
        typo = await ana.call_tool("event_log", {"agent": "boo"})
        assert typo.is_error and "known agents" in text(typo)


async def test_network_health_reports_the_process(settings: Settings) -> None:
    async with Client(build_server(settings)) as mon:
        found = data(await mon.call_tool("network_health", {"integrity": False}))
        tools = len((await mon.list_tools()).tools)
    assert found["status"] == "healthy" and found["database"]["quick_check"] == "skipped"
    process = found["process"]
    assert process["server"] == "monitoring" and process["tools"] == tools and process["connections"] >= 1
    assert process["memory_rss_bytes"] > 0 and process["version"]


async def test_the_event_log_pages_newest_first_follows_and_filters(settings: Settings, as_agent: Any) -> None:
    async with Client(coordination.build_server(settings)) as work, Client(build_server(as_agent("bo"))) as mon:
        for n in range(5):
            data(await work.call_tool("task_create", {"title": f"t{n}"}))
        data(await work.call_tool("task_claim", {"task_id": 2}))
        first = data(await mon.call_tool("event_log", {"kind": "task.", "limit": 4}))
        assert [e["kind"] for e in first["events"]] == ["task.claimed", "task.created", "task.created", "task.created"]
        older = data(await mon.call_tool("event_log", {"kind": "task.*", "before": first["next_cursor"]}))
        assert [e["object_id"] for e in older["events"]] == ["2", "1"] and older["next_cursor"] is None
        start = first["events"][-1]["id"]
        follow = data(await mon.call_tool("event_log", {"since": start, "kind": "task."}))
        assert [e["id"] for e in follow["events"]] == sorted(e["id"] for e in first["events"][:-1])
        tail = data(await mon.call_tool("event_log", {"since": follow["next_cursor"]}))
        assert tail["events"] == [] and tail["next_cursor"] == follow["next_cursor"]
        one = data(await mon.call_tool("event_log", {"object_type": "task", "object_id": "2", "agent": "ana"}))
        assert [e["kind"] for e in one["events"]] == ["task.claimed", "task.created"]
        number = data(await mon.call_tool("event_log", {"object_type": "task", "object_id": 2}))
        assert number["events"] == one["events"]  # an id given as a number is the text of that id
        for wrong in (2.5, True, [2]):
            refused = await mon.call_tool("event_log", {"object_type": "task", "object_id": wrong})
            assert refused.is_error and text(refused) == (
                f"event_log: 'object_id' must be text or a whole number, not {wrong!r}"
            ), text(refused)
        both = await mon.call_tool("event_log", {"since": 1, "before": 5})
        assert both.is_error and "not both" in text(both)
        for undotted in ("task", "task*"):  # every kind is 'area.what': this one matched nothing, silently
            area = await mon.call_tool("event_log", {"kind": undotted})
            assert area.is_error and text(area) == (
                f"kind {undotted!r} names no event: kinds read 'area.what' (task.claimed), or give a prefix: 'task.'"
            ), text(area)
        known = "agent, knowledge, message, proposal, skill, task, token, topic"
        # an area nothing records: it answered {} as if no event matched; 'bogus' and 'a\nb' (a two-line answer)
        # were told to give the prefix 'bogus.', itself refused
        for wrong in ("tasks.claimed", "bogus.", "bogus", "line1\nline2", "   "):
            area = await mon.call_tool("event_log", {"kind": wrong})
            assert text(area) == f"kind {wrong!r} names no event: a kind's area is one of {known} (task.claimed, task.)"
        typo = await mon.call_tool("event_log", {"object_type": "tasks", "object_id": "2"})
        assert text(typo) == f"object_type 'tasks' names nothing the trail records; use one of {known}"
        assert data(await mon.call_tool("event_log", {"object_type": "proposal"}))["events"] == []  # none yet: fine


def test_every_object_type_the_store_records_is_one_event_log_takes() -> None:
    """event_log refuses other object types (and kinds of other areas): each one the store writes must be listed."""
    sources = (Path(__file__).parents[2] / "shared").glob("**/*.py")
    recorded = {t for f in sources for t in re.findall(r"object_type=\"([a-z_]+)\"", f.read_text())}
    assert "task" in recorded and recorded <= set(events.OBJECT_TYPES), recorded - set(events.OBJECT_TYPES)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_status_subscribers_are_notified_when_the_team_changes(
    settings: Settings, as_agent: Any, mode: str
) -> None:
    updates: list[str] = []
    async with Client(build_server(as_agent("bo")), mode=mode, message_handler=collector(updates)) as bo:  # type: ignore[arg-type]
        async with Client(coordination.build_server(settings)) as ana:
            await updated_by(bo, STATUS_URI, mode, updates, lambda: ana.call_tool("task_create", {"title": "new work"}))
        status = await bo.read_resource(STATUS_URI)
        assert '"open":1' in status.contents[0].text  # type: ignore[union-attr]
    assert STATUS_URI in updates


async def test_calls_in_another_server_process_reach_the_metrics_while_it_runs(settings: Settings) -> None:
    async with Client(server_params("coordination", settings.db, agent="cy")) as cy:
        for _ in range(3):
            data(await cy.call_tool("task_list", {}))
        async with Client(build_server(settings)) as mon:
            with anyio.fail_after(10):  # the other process flushes its samples about once a second
                while True:
                    found = data(await mon.call_tool("performance_metrics", {"agent": "cy"}))
                    if found["totals"]["tool_calls"] >= 3:
                        break
                    await anyio.sleep(0.1)
            status = data(await mon.call_tool("agent_status", {"name": "cy"}))
    assert [t["tool"] for t in found["tools"]] == ["task_list"]
    assert status["agents"][0]["presence"] == "online" and status["agents"][0]["servers"] == ["coordination"]
