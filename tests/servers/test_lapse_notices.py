"""Telling people what happened to their work, with real server processes: a holder killed with SIGKILL and
its claim taken over, and a lease running out under a live holder. The holder and the creator get a system
notice saying who, why, and the holder's last progress and note; the former holder's next update names the
new holder; the lapse event names the holder."""

from __future__ import annotations

import json
import sqlite3
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from tests.results import data, text
from tests.stdio import kill_server, server_params

pytestmark = pytest.mark.anyio
FAST = {"ROUNDTABLE_PRESENCE_TIMEOUT": "1"}  # heartbeats come three times per presence timeout


async def notices(mail: Any, task_id: int) -> list[dict[str, Any]]:
    got = data(await mail.call_tool("message_query", {"mark_read": False, "limit": 50}))
    return [m for m in got["messages"] if m["sender"] == "system" and m.get("about") == f"task {task_id}"]


async def wait_for_notice(mail: Any, task_id: int, *words: str) -> dict[str, Any]:
    """The first notice about the task whose subject has any of `words` (within 20 s)."""
    with anyio.fail_after(20):
        while True:
            found = [m for m in await notices(mail, task_id) if any(w in m["subject"] for w in words)]
            if found:
                return found[0]
            await anyio.sleep(0.2)


async def test_a_holder_killed_and_taken_over_is_told_with_the_creator_who_took_it(db_path: Path) -> None:
    stack = AsyncExitStack()
    async with (
        Client(server_params("coordination", db_path, "cy", **FAST)) as cy,
        Client(server_params("messaging", db_path, "cy", **FAST)) as cy_mail,
    ):
        task_id = data(await cy.call_tool("task_create", {"title": "port the parser"}))["task"]["id"]
        doomed = await stack.enter_async_context(Client(server_params("coordination", db_path, "ana", **FAST)))
        data(await doomed.call_tool("task_claim", {"task_id": task_id}))
        data(await doomed.call_tool("task_update", {"task_id": task_id, "progress": 40, "note": "lexer done"}))
        assert kill_server("coordination", "ana")  # the window crashed
        await stack.aclose()

        async with Client(server_params("coordination", db_path, "bo", **FAST)) as bo:
            with anyio.fail_after(20):
                while (await bo.call_tool("task_claim", {"task_id": task_id})).is_error:
                    await anyio.sleep(0.2)  # "claimed by ana" until ana's heartbeats have aged out
            # whichever noticed first — a server's sweep ("lapsed") or bo's claim ("taken over by bo") — says why
            told_cy = await wait_for_notice(cy_mail, task_id, "taken over by bo", "lapsed")
            body = told_cy["body"]
            assert "ana went offline" in body and "40%" in body and "lexer done" in body
            taken = "taken over by bo" in told_cy["subject"]
            # ana comes back: its own notice, and its next update names the new holder
            async with (
                Client(server_params("coordination", db_path, "ana", **FAST)) as ana,
                Client(server_params("messaging", db_path, "ana", **FAST)) as ana_mail,
            ):
                told_ana = await wait_for_notice(ana_mail, task_id, "taken over by bo", "lapsed")
                assert "ana went offline" in told_ana["body"]
                assert ("coordinate with bo" in told_ana["body"]) == taken
                refused = await ana.call_tool("task_update", {"task_id": task_id, "progress": 90})
                assert refused.is_error and "held by bo" in text(refused)
                refused = await ana.call_tool("task_complete", {"task_id": task_id, "result": "done"})
                assert refused.is_error and "held by bo" in text(refused)
    with sqlite3.connect(db_path) as conn:
        (agent_name, raw) = conn.execute(
            "SELECT agent_name, data FROM events WHERE kind = 'task.lease_lapsed' AND object_id = ?", (str(task_id),)
        ).fetchone()
    assert agent_name == "ana" and json.loads(raw)["why"] == "holder offline"


async def test_a_lease_running_out_under_a_live_holder_tells_holder_and_creator(db_path: Path) -> None:
    short = {**FAST, "ROUNDTABLE_LEASE_SECONDS": "1"}  # the task's default lease: one second
    async with (
        Client(server_params("coordination", db_path, "cy", **short)) as cy,
        Client(server_params("messaging", db_path, "cy", **short)) as cy_mail,
        Client(server_params("coordination", db_path, "ana", **short)) as ana,
        Client(server_params("messaging", db_path, "ana", **short)) as ana_mail,
    ):
        task_id = data(await cy.call_tool("task_create", {"title": "write the docs"}))["task"]["id"]
        data(await ana.call_tool("task_claim", {"task_id": task_id}))
        data(await ana.call_tool("task_update", {"task_id": task_id, "progress": 10, "note": "outline"}))
        for mail in (ana_mail, cy_mail):  # ana stays online; its lease alone runs out, and a sweep notices
            told = await wait_for_notice(mail, task_id, "lapsed")
            assert "ana's lease ran out" in told["body"] and "10%" in told["body"] and '"outline"' in told["body"]
        listed = data(await ana.call_tool("task_list", {"mine": True}))
        assert listed["tasks"] == []
    with sqlite3.connect(db_path) as conn:
        (agent_name, raw) = conn.execute(
            "SELECT agent_name, data FROM events WHERE kind = 'task.lease_lapsed' AND object_id = ?", (str(task_id),)
        ).fetchone()
    assert agent_name == "ana" and json.loads(raw)["why"] == "lease ran out"
