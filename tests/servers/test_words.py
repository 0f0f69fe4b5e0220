"""Times a model can use and names, never keys (issue 13, item 5): beside each ISO time in task and mail
results how long from now, and no internal key such as `named:ana` in anything a model or a person reads —
also for an agent whose row was pruned."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from servers.coordination import build_server as coordination
from servers.messaging import build_server as messaging
from servers.monitoring import build_server as monitoring
from shared.config import Settings
from shared.store.team.live import DEPARTED, shown_name
from tests.results import data

pytestmark = pytest.mark.anyio


def keys_in(value: Any) -> list[str]:
    """Every string in a result that reads like an internal agent key."""
    text = json.dumps(value)
    return [w for w in ("named:", "proc:") if w in text]


async def test_task_and_mail_results_say_how_long_from_now(settings: Settings, as_agent: Any) -> None:
    async with (
        Client(coordination(settings)) as ana,
        Client(messaging(as_agent("bo"))) as bo_mail,
        Client(messaging(settings)) as ana_mail,
    ):
        made = data(await ana.call_tool("task_create", {"title": "port the parser"}))["task"]
        assert made["updated"] == "just now" and made["lease_ends"] is None
        claimed = data(await ana.call_tool("task_claim", {"task_id": made["id"]}))["task"]
        assert claimed["lease_expires_at"] and claimed["lease_ends"] in ("in 10 min", "in 9 min")  # lease 600 s
        listed = data(await ana.call_tool("task_list", {"mine": True}))["tasks"]
        assert listed[0]["lease_ends"] in ("in 10 min", "in 9 min")
        asks = {"to": ["ana"], "body": "sign off?", "ack_required": True, "ack_within": "30m"}
        sent = data(await bo_mail.call_tool("message_send", asks))["message"]
        assert sent["sent"] == "just now" and sent["ack_due"] in ("in 30 min", "in 29 min")
        got = data(await ana_mail.call_tool("message_query", {}))["messages"]
        assert got[0]["sent"] == "just now" and got[0]["ack_due"] in ("in 30 min", "in 29 min")


async def test_no_internal_key_reaches_a_reader_even_for_a_pruned_agent(
    settings: Settings, as_agent: Any, db_path: Path
) -> None:
    async with Client(coordination(as_agent("cy"))) as cy:
        made = data(await cy.call_tool("task_create", {"title": "left behind", "assignee": "cy"}))["task"]
    with sqlite3.connect(db_path) as conn:  # cy is pruned (as after ROUNDTABLE_AGENT_RETENTION); its task stays
        conn.execute("DELETE FROM sessions WHERE agent_id = 'named:cy'")
        conn.execute("DELETE FROM agents WHERE id = 'named:cy'")
        conn.execute(
            "INSERT INTO events(ts, agent_id, agent_name, kind, object_type, object_id, data)"
            " VALUES (1, 'proc:vm:1:2.000', NULL, 'agent.pruned', 'agent', 'proc:vm:1:2.000', '{}')"
        )
    async with Client(coordination(settings)) as ana, Client(monitoring(settings)) as mon:
        line = data(await ana.call_tool("task_list", {"status": ["open"]}))["tasks"][0]
        task = data(await ana.call_tool("task_list", {"task_id": made["id"]}))["task"]
        assert line["id"] == made["id"] and line["assignee"] == "cy" and keys_in(line) == []
        assert task["created_by"] == "cy" and task["assignee"] == "cy"
        trail = data(await mon.call_tool("event_log", {"limit": 50}))
        assert keys_in(trail) == [] and keys_in(task) == []
        assert any(e["agent"] == DEPARTED and e["object_id"] == DEPARTED for e in trail["events"])
        assert keys_in(data(await mon.call_tool("agent_status", {}))) == []
        assert keys_in(data(await ana.call_tool("start_here", {}))) == []


def test_a_key_is_shown_as_the_configured_name_or_as_departed() -> None:
    assert shown_name("named:ana") == "ana"
    assert shown_name("proc:vm:4242:1796317038.520") == DEPARTED
    assert shown_name("named:") == DEPARTED
