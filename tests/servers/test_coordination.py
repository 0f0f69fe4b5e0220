"""The coordination server's task tools through MCP: the tool contract, bad arguments, roles, and real
processes racing for work and dying while holding it."""

from __future__ import annotations

import os
import signal
import sqlite3
from collections import Counter
from contextlib import AsyncExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import psutil
import pytest
from mcp import Client

from servers.coordination import build_server
from shared.config import Settings
from shared.db.connection import Database
from shared.db.place import parse_place
from shared.store.tasks import queue as store
from shared.store.team import agents
from tests.results import text
from tests.stdio import server_params

pytestmark = [pytest.mark.anyio, pytest.mark.engines("sqlite", "postgresql")]

TASK_TOOLS = {"task_create", "task_list", "task_claim", "task_update", "task_complete"}


async def test_every_tool_has_a_description_annotations_and_schemas(settings: Settings) -> None:
    async with Client(build_server(settings)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) >= TASK_TOOLS
    for tool in tools.values():
        assert tool.description and len(tool.description) > 40, tool.name
        assert tool.annotations is not None and tool.annotations.read_only_hint is not None, tool.name
        assert tool.output_schema is not None, tool.name
        assert "as_agent" not in tool.input_schema.get("properties", {}), tool.name
    assert tools["task_list"].annotations.read_only_hint  # type: ignore[union-attr]
    assert not tools["task_claim"].annotations.read_only_hint  # type: ignore[union-attr]


async def test_two_agents_share_the_queue_through_the_tools(settings: Settings, as_agent: Any) -> None:
    async with Client(build_server(settings)) as ana, Client(build_server(as_agent("bo"))) as bo:
        first = await ana.call_tool("task_create", {"title": "plan", "priority": "high"})
        first_id = first.structured_content["task"]["id"]  # type: ignore[index]
        second = await ana.call_tool("task_create", {"title": "build", "depends_on": [first_id], "assignee": "bo"})
        second_id = second.structured_content["task"]["id"]  # type: ignore[index]
        claim = await bo.call_tool("task_claim", {})
        assert claim.structured_content["task"]["id"] == first_id  # type: ignore[index]
        assert "task_complete" in claim.structured_content["next_step"]  # type: ignore[index]
        refused = await ana.call_tool("task_claim", {"task_id": first_id})
        assert refused.is_error and "claimed by bo" in text(refused)
        done = await bo.call_tool("task_complete", {"task_id": first_id, "result": "planned"})
        assert f"Now ready: tasks [{second_id}]" in done.structured_content["next_step"]  # type: ignore[index]
        mine = await bo.call_tool("task_list", {"ready_only": True})
        assert [t["id"] for t in mine.structured_content["tasks"]] == [second_id]  # type: ignore[index]
        theirs = await ana.call_tool("task_list", {"ready_only": True})
        assert theirs.structured_content["tasks"] == []  # type: ignore[index]


@pytest.mark.parametrize(
    ("tool", "arguments", "expected"),
    [
        ("task_create", {"title": ""}, "title"),
        ("task_create", {"title": "x" * 201}, "title"),
        ("task_create", {"title": "x", "priority": "asap"}, "priority"),
        ("task_create", {"title": "x", "depends_on": [0]}, "depends_on"),
        ("task_create", {"title": "x", "depends_on": [999]}, "do not exist: [999]"),
        ("task_create", {"title": "x", "assignee": "nobody"}, "known agents: ana"),
        ("task_create", {"title": "x", "repeat_every": "often"}, "is not understood"),
        ("task_create", {"title": "x", "repeat_every": "5s"}, "out of range"),
        ("task_create", {"title": "x", "not_before": "2026-13-45T99:00"}, "not an ISO 8601 time"),
        ("task_create", {"title": "x", "max_attempts": 0}, "max_attempts"),
        ("task_create", {"title": "x", "tags": ["ok", ""]}, "tags"),
        ("task_create", {"title": ["not", "a", "string"]}, "title"),
        ("task_claim", {"task_id": 999}, "does not exist"),
        ("task_claim", {"task_id": "one"}, "task_id"),
        ("task_update", {"task_id": 999, "progress": 5}, "does not exist"),
        ("task_update", {"task_id": 1, "progress": 101}, "progress"),
        ("task_update", {"task_id": 1, "status": "done"}, "status"),
        ("task_update", {"task_id": 1}, "nothing to change"),
        ("task_complete", {"task_id": 1}, "claim it first"),
        ("task_list", {"limit": 1000}, "limit"),
        ("task_list", {"cursor": "abc"}, "next_cursor"),
        ("task_list", {"cursor": "²:1"}, "next_cursor"),  # a digit to str.isdigit, not to int()
    ],
)
async def test_bad_arguments_get_an_error_that_names_the_problem(
    settings: Settings, tool: str, arguments: dict[str, Any], expected: str
) -> None:
    async with Client(build_server(settings)) as client:
        await client.call_tool("task_create", {"title": "existing"})
        result = await client.call_tool(tool, arguments)
        assert result.is_error, result
        assert expected in text(result)
        still = await client.call_tool("task_list", {})
        assert not still.is_error and still.structured_content["total"] == 1  # type: ignore[index]


async def test_blocking_with_a_blank_reason_is_refused_and_changes_nothing(settings: Settings) -> None:
    async with Client(build_server(settings)) as client:
        await client.call_tool("task_create", {"title": "deploy"})
        blank = await client.call_tool("task_update", {"task_id": 1, "status": "blocked", "reason": "   "})
        assert blank.is_error and text(blank).startswith("blocking needs a reason"), text(blank)
        task = (await client.call_tool("task_list", {"task_id": 1})).structured_content["task"]  # type: ignore[index]
        assert task["status"] == "open" and task["blocked_reason"] is None


async def test_a_reason_without_a_block_or_cancel_is_refused_instead_of_dropped(settings: Settings) -> None:
    async with Client(build_server(settings)) as client:
        await client.call_tool("task_create", {"title": "deploy"})
        await client.call_tool("task_claim", {"task_id": 1})
        for change in ({"progress": 50}, {"status": "open"}, {}):
            refused = await client.call_tool("task_update", {"task_id": 1, "reason": "waiting on CI", **change})
            assert refused.is_error and text(refused) == (
                "reason goes with status='blocked' or 'cancelled'; to note progress use note=..."
            ), text(refused)
        task = (await client.call_tool("task_list", {"task_id": 1})).structured_content["task"]  # type: ignore[index]
        assert (task["status"], task["progress"], task["note"]) == ("claimed", 0, None)


async def test_a_lease_or_progress_that_the_status_change_would_undo_is_refused_not_reported_saved(
    settings: Settings,
) -> None:
    """Both were written and then overwritten by the release, while the answer said 'Saved: progress 50%'."""
    async with Client(build_server(settings)) as client:
        await client.call_tool("task_create", {"title": "deploy"})
        await client.call_tool("task_claim", {"task_id": 1})
        for status in ("open", "blocked", "cancelled"):
            change = {"task_id": 1, "status": status, "extend_lease": "1h", "reason": "r" if status != "open" else None}
            refused = await client.call_tool("task_update", change)
            assert text(refused) == f"extend_lease keeps your claim and status='{status}' gives it up; pass one of them"
        released = await client.call_tool("task_update", {"task_id": 1, "status": "open", "progress": 50})
        assert text(released) == (
            "status='open' gives the task back with its progress reset to 0; leave out progress, or drop status"
            " to report progress and keep it"
        )
        task = (await client.call_tool("task_list", {"task_id": 1})).structured_content["task"]  # type: ignore[index]
        assert (task["status"], task["progress"]) == ("claimed", 0)
        blocked = await client.call_tool(
            "task_update", {"task_id": 1, "status": "blocked", "reason": "CI", "progress": 40}
        )
        assert not blocked.is_error and blocked.structured_content["task"]["progress"] == 40  # type: ignore[index]


async def test_depending_on_a_cancelled_task_is_refused_and_creates_nothing(settings: Settings) -> None:
    async with Client(build_server(settings)) as client:
        await client.call_tool("task_create", {"title": "old plan"})
        await client.call_tool("task_create", {"title": "other"})
        await client.call_tool("task_update", {"task_id": 1, "status": "cancelled"})
        made = await client.call_tool("task_create", {"title": "build on it", "depends_on": [1]})
        assert made.is_error and text(made).startswith("depends_on names tasks that will never be done: 1 (cancelled)")
        added = await client.call_tool("task_update", {"task_id": 2, "add_depends_on": [1]})
        assert added.is_error and "will never be done: 1 (cancelled)" in text(added), text(added)
        listed = (await client.call_tool("task_list", {"status": ["open", "cancelled"]})).structured_content
        assert [(t["id"], t.get("depends_on")) for t in listed["tasks"]] == [(1, []), (2, [])]  # type: ignore[index]


async def test_a_task_stranded_by_a_cancelled_dependency_says_so_and_the_way_out(settings: Settings) -> None:
    async with Client(build_server(settings)) as client:
        await client.call_tool("task_create", {"title": "old plan"})
        await client.call_tool("task_create", {"title": "build on it", "depends_on": [1]})
        cancelled = await client.call_tool("task_update", {"task_id": 1, "status": "cancelled"})
        assert "tasks [2] depend on task 1 and can never be ready" in text(cancelled), text(cancelled)
        shown = (await client.call_tool("task_list", {"task_id": 2})).structured_content
        assert shown["task"]["stuck_on"] == [1]  # type: ignore[index]
        listed = (await client.call_tool("task_list", {})).structured_content
        assert [(t["id"], t.get("stuck_on")) for t in listed["tasks"]] == [(2, [1])]  # type: ignore[index]
        touched = await client.call_tool("task_update", {"task_id": 2, "priority": "high"})
        assert "can never become ready" in text(touched) and "remove_depends_on=[1]" in text(touched), text(touched)
        refused = await client.call_tool("task_claim", {"task_id": 2})
        assert refused.is_error and "cancelled or failed, so it can never be claimed" in text(refused)
        dropped = await client.call_tool("task_update", {"task_id": 2, "remove_depends_on": [1]})
        assert not dropped.is_error and "no longer depends on [1]" in text(dropped), text(dropped)
        claimed = (await client.call_tool("task_claim", {})).structured_content
        assert claimed["task"]["id"] == 2  # type: ignore[index]
        failing = await client.call_tool("task_create", {"title": "risky", "max_attempts": 1})
        assert not failing.is_error
        await client.call_tool("task_create", {"title": "after risky", "depends_on": [3]})
        await client.call_tool("task_claim", {"task_id": 3})
        failed = await client.call_tool("task_complete", {"task_id": 3, "success": False, "result": "no"})
        assert "Tasks [4] depend on task 3 and can never be ready" in text(failed), text(failed)


async def test_observers_can_read_but_not_change_tasks(settings: Settings, as_agent: Any) -> None:
    async with Client(build_server(as_agent("watcher", role="observer"))) as client:
        refused = await client.call_tool("task_create", {"title": "x"})
        assert refused.is_error and "observer" in text(refused)
        assert not (await client.call_tool("task_list", {})).is_error


async def test_a_task_for_an_observer_is_refused_and_one_for_another_says_who_may_claim_it(
    settings: Settings, as_agent: Any
) -> None:
    """Assigned to an observer, it was 'Task 1 is open.': a task nobody could ever claim."""
    async with (
        Client(build_server(as_agent("watcher", role="observer"))),
        Client(build_server(as_agent("bo"))),
        Client(build_server(settings)) as ana,
    ):
        refused = await ana.call_tool("task_create", {"title": "watch it", "assignee": "watcher"})
        assert text(refused) == (
            "watcher is an observer (read-only) and cannot claim tasks; assign a worker or an admin, or leave"
            " assignee out"
        )
        assert (await ana.call_tool("task_list", {})).structured_content["total"] == 0  # type: ignore[index]
        made = await ana.call_tool("task_create", {"title": "train", "assignee": "bo", "requires": ["gpu"]})
        assert made.structured_content["next_step"] == (  # type: ignore[index]
            "Task 1 is open for bo, who alone may claim it, with gpu (declared with"
            " agent_register(capabilities=[...]))."
        )
        anyone = await ana.call_tool("task_create", {"title": "render", "requires": ["gpu"]})
        assert anyone.structured_content["next_step"] == (  # type: ignore[index]
            "Task 2 is open for an agent with gpu (declared with agent_register(capabilities=[...]))."
        )


async def seed(db_url: str, count: int) -> list[int]:
    db = await Database.open(parse_place(db_url))
    try:
        me = await agents.register_session(
            db,
            key="named:planner",
            explicit_name="planner",
            default_base="planner",
            client_name="test",
            host="h",
            role="worker",
            server="test",
            pid=os.getpid(),
            now=0.0,
        )
        return [await store.create(db, me.at(0.0), store.NewTask(title=f"job {i}")) for i in range(count)]
    finally:
        await db.close()


async def scalars(db_url: str, *statements: str) -> list[object]:
    """The first value of each statement, read on the test's database of either engine."""
    db = await Database.open(parse_place(db_url), migrate=False)
    try:
        return [await db.scalar(sql) for sql in statements]
    finally:
        await db.close()


async def test_eight_processes_racing_claim_every_task_exactly_once(db_url: str) -> None:
    ids = await seed(db_url, 400)
    claimed: list[tuple[str, int]] = []
    errors: list[str] = []

    async def worker(name: str) -> None:
        async with Client(server_params("coordination", db_url, name)) as client:
            while True:
                result = await client.call_tool("task_claim", {})
                if result.is_error:
                    errors.append(text(result))
                    return
                if not result.structured_content["claimed"]:  # type: ignore[index]
                    return
                task_id = result.structured_content["task"]["id"]  # type: ignore[index]
                claimed.append((name, task_id))
                done = await client.call_tool("task_complete", {"task_id": task_id, "result": name})
                if done.is_error:
                    errors.append(text(done))

    with anyio.fail_after(90):
        async with anyio.create_task_group() as tg:
            for i in range(8):
                tg.start_soon(worker, f"worker-{i}")
    assert errors == []
    counts = Counter(task_id for _, task_id in claimed)
    assert sorted(counts) == sorted(ids) and set(counts.values()) == {1}
    assert len({name for name, _ in claimed}) > 1
    assert await scalars(
        db_url,
        "SELECT count(*) FROM tasks WHERE status = 'done'",
        "SELECT max(n) FROM (SELECT count(*) AS n FROM events WHERE kind = 'task.claimed' GROUP BY object_id) AS c",
    ) == [400, 1]


def server_pids(module: str) -> list[int]:
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if f"servers.{module}" in " ".join(child.cmdline()):
                found.append(child.pid)
        except psutil.Error:
            continue
    return found


async def test_claims_of_a_killed_process_return_to_the_queue_after_the_presence_timeout(db_url: str) -> None:
    ids = await seed(db_url, 3)
    fast = {"ROUNDTABLE_PRESENCE_TIMEOUT": "1"}
    stack = AsyncExitStack()
    doomed = await stack.enter_async_context(Client(server_params("coordination", db_url, "doomed", **fast)))
    for _ in ids:
        assert (await doomed.call_tool("task_claim", {})).structured_content["claimed"]  # type: ignore[index]
    (pid,) = server_pids("coordination")
    os.kill(pid, signal.SIGKILL)
    await stack.aclose()

    rescued: list[int] = []
    async with Client(server_params("coordination", db_url, "rescuer", **fast)) as rescuer:
        with anyio.fail_after(20):
            while len(rescued) < len(ids):
                result = await rescuer.call_tool("task_claim", {})
                assert not result.is_error, text(result)
                if result.structured_content["claimed"]:  # type: ignore[index]
                    rescued.append(result.structured_content["task"]["id"])  # type: ignore[index]
                else:
                    await anyio.sleep(0.2)  # waiting for the dead process's heartbeats to age out
        for task_id in rescued:  # the list has the short form; attempts are in the full one
            full = await rescuer.call_tool("task_list", {"task_id": task_id})
            assert full.structured_content["task"]["attempts"] == 1  # type: ignore[index]
    assert sorted(rescued) == sorted(ids)
    if not db_url.startswith("postgresql"):
        with sqlite3.connect(db_url) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


async def test_four_servers_starting_at_once_on_a_new_file_all_come_up(
    engine: str, db_path: Path, request: Any
) -> None:
    # a new database: on PostgreSQL an empty one (not the migrated template)
    db_url = str(db_path) if engine == "sqlite" else new_empty_database(request)

    async def start(name: str) -> None:
        async with Client(server_params("coordination", db_url, name)) as client:
            assert not (await client.call_tool("task_list", {})).is_error

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            for i in range(4):
                tg.start_soon(start, f"agent-{i}")
    assert await scalars(
        db_url, "SELECT max(n) FROM (SELECT count(*) n FROM schema_migrations GROUP BY version) AS c"
    ) == [1]


def new_empty_database(request: Any) -> str:
    server = request.getfixturevalue("postgres_server")
    name = server.create()
    request.addfinalizer(lambda: server.drop(name))
    return str(server.url(name))


async def test_every_message_a_call_causes_counts_against_the_send_rate(settings: Settings, as_agent: Any) -> None:
    from servers.knowledge import build_server as knowledge
    from servers.messaging import build_server as messaging

    limited = replace(settings, send_rate_per_minute=5)
    async with (
        Client(build_server(limited)) as ana,
        Client(messaging(limited)) as ana_mail,
        Client(knowledge(limited)) as ana_notes,
        Client(build_server(as_agent("bo"))) as bo,
    ):
        assert not (await bo.call_tool("task_list", {})).is_error  # bo is present
        for i in range(5):
            assert not (await ana_mail.call_tool("message_send", {"to": ["bo"], "body": f"m{i}"})).is_error
        for name, arguments in [
            ("task_create", {"title": "spam", "assignee": "bo"}),
            ("consensus_propose", {"title": "spam"}),
        ]:
            refused = await ana.call_tool(name, arguments)
            assert refused.is_error and "ROUNDTABLE_SEND_RATE" in text(refused), (name, text(refused))
        lesson = {"title": "spam", "context": "c", "tried": "t", "outcome": "success", "lesson": "l"}
        refused = await ana_notes.call_tool("experience_share", lesson)
        assert refused.is_error and "ROUNDTABLE_SEND_RATE" in text(refused), text(refused)
        assert not (await ana.call_tool("task_create", {"title": "no notice, no message"})).is_error


async def test_a_lease_longer_than_a_claim_may_last_is_refused_not_cut_without_a_word(settings: Settings) -> None:
    """task_claim(lease="1w") held the task for ROUNDTABLE_MAX_LEASE_AGE (a day) and said only 'in 24 h'."""
    short = replace(settings, limits=replace(settings.limits, lease_age=3600.0))
    async with Client(build_server(short)) as client:
        made = await client.call_tool("task_create", {"title": "deploy", "lease": "2h"})
        assert text(made) == "lease='2h' is out of range; use at least 10s and at most 1h"
        await client.call_tool("task_create", {"title": "deploy"})
        claim = await client.call_tool("task_claim", {"task_id": 1, "lease": "1w"})
        assert text(claim) == "lease='1w' is out of range; use at least 10s and at most 1h"
        taken = await client.call_tool("task_claim", {"task_id": 1, "lease": "1h"})
        assert taken.structured_content["claimed"]  # type: ignore[index]


async def test_completing_another_agents_claim_names_who_may_and_what_an_admin_can_do(
    settings: Settings, as_agent: Any
) -> None:
    """An admin was told 'only its holder or an admin may complete it', and refused again when it tried."""
    async with (
        Client(build_server(settings)) as ana,
        Client(build_server(as_agent("bo"))) as bo,
        Client(build_server(as_agent("root", role="admin"))) as root,
    ):
        await ana.call_tool("task_create", {"title": "deploy"})
        await ana.call_tool("task_claim", {"task_id": 1})
        worker = text(await bo.call_tool("task_complete", {"task_id": 1}))
        assert worker.startswith("task 1 is claimed by ana until ")
        assert worker.endswith("; only its holder may complete it")
        admin = text(await root.call_tool("task_complete", {"task_id": 1}))
        assert admin.endswith(
            "; only its holder may complete it; as an admin you may release it with task_update(task_id=1,"
            " status='open')"
        ), admin
        assert not (await root.call_tool("task_update", {"task_id": 1, "status": "open"})).is_error
