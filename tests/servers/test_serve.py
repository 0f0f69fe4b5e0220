"""`roundtable serve`: the team over streamable HTTP with an agent per token — a real serve process (uvicorn)
on a loopback port, driven by the SDK's streamable HTTP client."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError

from servers import SERVER_KINDS
from servers.cli.bridge import remote_client
from servers.cli.launch import PASSED_ON
from shared.db.place import Place
from shared.frame.channel import CHANNEL_CAPABILITY_NOTE, ChannelParams, Listener
from shared.frame.handshake import CHANNEL_CAPABILITY
from shared.frame.http import MAX_REQUESTS_PER_TOKEN, MAX_SESSIONS_PER_TOKEN
from tests.http import ROOT, Served, connect, make_token, make_token_sync, revoke_token, serving
from tests.notifications import collector, updated_by

pytestmark = pytest.mark.anyio

PRESENCE = "1.5"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
"""A raw initialize request, for the tests that speak HTTP without a client."""
LISTING = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}


def bearing(token: str) -> dict[str, str]:
    """The headers of a raw request with `token`."""
    return {
        "accept": "application/json, text/event-stream",
        "content-type": "application/json",
        "authorization": f"Bearer {token}",
    }


@pytest.fixture
def team(tmp_path: Path) -> Iterator[tuple[Served, dict[str, str]]]:
    db = tmp_path / "team.db"
    issued = {
        "ana": make_token_sync(db, "ana"),
        "bo": make_token_sync(db, "bo"),
        "olga": make_token_sync(db, "olga", "observer"),
    }
    with serving(db, ROUNDTABLE_PRESENCE_TIMEOUT=PRESENCE) as served:
        yield served, issued


def data(result: Any) -> Any:
    assert not result.is_error, result.content[0].text
    return result.structured_content


async def claim_all(name: str, client: Client, got: dict[str, list[int]]) -> None:
    """Claim tasks as `name` until none is ready, the ids into got[name]; each is held by `name` (who acts comes
    from the token)."""
    while True:
        found = data(await client.call_tool("task_claim", {}))
        if not found["claimed"]:
            return
        assert found["task"]["holder"] == name
        got[name].append(found["task"]["id"])


async def test_two_agents_with_two_tokens_coordinate(team: tuple[Served, dict[str, str]]) -> None:
    served, issued = team
    url = served.url("coordination")
    async with connect(url, issued["ana"]) as ana, connect(url, issued["olga"]) as olga:
        for i in range(12):
            data(await ana.call_tool("task_create", {"title": f"job {i}"}))
        # each session is greeted as its token's agent, not as the serving process's `system`
        assert (ana.instructions or "").startswith("You are ana, a worker"), ana.instructions
        assert (olga.instructions or "").startswith("You are olga, an observer"), olga.instructions
    got: dict[str, list[int]] = {"ana": [], "bo": []}

    # Both stay connected until both are done: a client that leaves lets its claims lapse (as over stdio).
    async with connect(url, issued["ana"]) as ana, connect(url, issued["bo"]) as bo, anyio.create_task_group() as tg:
        tg.start_soon(claim_all, "ana", ana, got)
        tg.start_soon(claim_all, "bo", bo, got)
    assert sorted(got["ana"] + got["bo"]) == list(range(1, 13))  # every task once, never twice
    assert not set(got["ana"]) & set(got["bo"])

    mail = served.url("messaging")
    async with connect(mail, issued["bo"]) as bo, connect(mail, issued["ana"]) as ana:
        waited: dict[str, Any] = {}

        async def wait() -> None:
            # bo left its claims behind: the notices that they lapsed (issue 13) may arrive first
            for _ in range(5):
                got = data(await bo.call_tool("message_wait", {"timeout": 20}))
                direct = [m for m in got["messages"] if m["kind"] == "direct"]
                if direct:
                    waited.update(got, messages=direct)
                    return

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            await anyio.sleep(0.5)
            data(await ana.call_tool("message_send", {"to": ["bo"], "body": "review job 3, please"}))
        assert waited["arrived"] is True
        [message] = waited["messages"]
        assert message["sender"] == "ana" and message["body"] == "review job 3, please"


async def test_requests_without_a_valid_token_get_401_without_an_oauth_challenge(
    team: tuple[Served, dict[str, str]],
) -> None:
    served, issued = team
    headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
    async with httpx2.AsyncClient() as http:
        for kind in SERVER_KINDS:
            for auth in ({}, {"authorization": "Bearer rt_nope_nope"}, {"authorization": "Basic YW5hOmFuYQ=="}):
                answer = await http.post(served.url(kind), json=INITIALIZE, headers=headers | auth)
                assert answer.status_code == 401, (kind, auth, answer.text)
                assert "resource_metadata" not in answer.headers.get("www-authenticate", "")
        ok = await http.post(
            served.url("monitoring"), json=INITIALIZE, headers=headers | {"authorization": f"Bearer {issued['ana']}"}
        )
        assert ok.status_code == 200
        assert (
            await http.get(f"http://127.0.0.1:{served.port}/.well-known/oauth-protected-resource")
        ).status_code == 404

    async with connect(served.url("coordination"), issued["bo"]) as bo:
        data(await bo.call_tool("task_list", {}))
        await revoke_token(served.db, "bo")
        with pytest.raises(MCPError):  # the open session is refused from the next request on (401, below)
            await bo.call_tool("task_list", {})
    async with httpx2.AsyncClient() as http:
        answer = await http.post(
            served.url("coordination"), json=INITIALIZE, headers=headers | {"authorization": f"Bearer {issued['bo']}"}
        )
        assert answer.status_code == 401


async def test_an_observer_token_reads_but_its_writes_are_refused(team: tuple[Served, dict[str, str]]) -> None:
    served, issued = team
    async with connect(served.url("coordination"), issued["olga"]) as olga:
        assert data(await olga.call_tool("task_list", {}))["tasks"] == []
        refused = await olga.call_tool("task_create", {"title": "sneaky"})
        assert refused.is_error and "observer" in refused.content[0].text  # type: ignore[union-attr]
    async with connect(served.url("knowledge"), issued["olga"], mode="auto") as olga:
        refused = await olga.call_tool("knowledge_add", {"title": "t", "body": "b"})
        assert refused.is_error and "observer" in refused.content[0].text  # type: ignore[union-attr]
    async with connect(served.url("monitoring"), issued["olga"]) as olga:
        agents = {a["name"]: a for a in data(await olga.call_tool("agent_status", {}))["agents"]}
        assert agents["olga"]["role"] == "observer" and agents["olga"]["presence"] != "offline"


async def test_presence_follows_http_sessions_and_a_vanished_session_returns_its_claim(
    team: tuple[Served, dict[str, str]],
) -> None:
    served, issued = team
    url = served.url("coordination")
    async with connect(url, issued["ana"]) as ana:
        data(await ana.call_tool("task_create", {"title": "long job"}))
    # bo claims, then vanishes without closing its session (no DELETE, as a killed client).
    async with connect(url, issued["bo"], terminate_on_close=False) as bo:
        assert data(await bo.call_tool("task_claim", {}))["task"]["holder"] == "bo"
    async with connect(served.url("monitoring"), issued["ana"]) as ana:
        agents = {a["name"]: a for a in data(await ana.call_tool("agent_status", {}))["agents"]}
        assert agents["bo"]["presence"] != "offline" and agents["bo"]["claims"]
        deadline = time.monotonic() + 10
        while agents["bo"]["presence"] != "offline":
            assert time.monotonic() < deadline, agents["bo"]
            await anyio.sleep(0.2)
            agents = {a["name"]: a for a in data(await ana.call_tool("agent_status", {}))["agents"]}
    async with connect(url, issued["ana"]) as ana:
        taken = data(await ana.call_tool("task_claim", {}))  # bo's claim lapsed: the task is back in the queue
        assert taken["claimed"] and taken["task"]["holder"] == "ana"


@pytest.mark.engines("sqlite", "postgresql")
async def test_two_serve_processes_on_one_database_share_one_team(place: Place, tmp_path: Path) -> None:
    """Two "machines": two serve processes on one database (a SQLite file, or PostgreSQL as across hosts), an
    agent on each: a claim race between them hands every task out once, and mail sent through one endpoint
    wakes message_wait on the other at once (PostgreSQL: LISTEN/NOTIFY between the processes)."""
    ana_token, bo_token = await make_token(place, "ana"), await make_token(place, "bo")
    with serving(place, logs=tmp_path) as first, serving(place, logs=tmp_path) as second:
        async with connect(first.url("coordination"), ana_token) as ana:
            for i in range(30):
                data(await ana.call_tool("task_create", {"title": f"made on the first {i}"}))
        got: dict[str, list[int]] = {"ana": [], "bo": []}

        async with (
            connect(first.url("coordination"), ana_token) as ana,
            connect(second.url("coordination"), bo_token) as bo,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(claim_all, "ana", ana, got)
            tg.start_soon(claim_all, "bo", bo, got)
        assert sorted(got["ana"] + got["bo"]) == list(range(1, 31)) and not set(got["ana"]) & set(got["bo"])
        assert got["ana"] and got["bo"], got  # both machines took part in the race

        async with connect(first.url("messaging"), ana_token) as ana, connect(second.url("messaging"), bo_token) as bo:
            waited: dict[str, Any] = {}

            async def wait() -> None:
                for _ in range(5):  # the notices of claims lapsed since may come first
                    answer = data(await ana.call_tool("message_wait", {"timeout": 20}))
                    direct = [m for m in answer["messages"] if m["kind"] == "direct"]
                    if direct:
                        waited.update(answer, messages=direct)
                        return

            # woken by the other machine's commit, well before message_wait's own 20 s timeout
            with anyio.fail_after(10):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(wait)
                    await anyio.sleep(0.5)
                    data(await bo.call_tool("message_send", {"to": ["ana"], "body": "from the second machine"}))
            [message] = waited["messages"]
            assert message["sender"] == "bo" and message["body"] == "from the second machine"
            async with connect(first.url("monitoring"), ana_token) as look:
                agents = {a["name"]: a for a in data(await look.call_tool("agent_status", {}))["agents"]}
                assert agents["ana"]["presence"] == agents["bo"]["presence"] == "online"


def _bridge(url: str, token: str) -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if k in PASSED_ON} | {"ROUNDTABLE_TOKEN": token}
    return StdioServerParameters(command=sys.executable, args=["-m", "servers.cli", "connect", url], env=env, cwd=ROOT)


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_the_bridge_serves_the_same_tools_and_results_over_stdio(
    team: tuple[Served, dict[str, str]], mode: str
) -> None:
    served, issued = team
    for kind in SERVER_KINDS:
        async with (
            connect(served.url(kind), issued["ana"]) as direct,
            Client(_bridge(served.url(kind), issued["ana"]), mode=mode) as bridged,  # type: ignore[arg-type]
        ):
            assert [t.model_dump() for t in (await bridged.list_tools()).tools] == [
                t.model_dump() for t in (await direct.list_tools()).tools
            ]
            assert bridged.instructions == direct.instructions
            if kind == "knowledge":
                assert [p.name for p in (await bridged.list_prompts()).prompts] == [
                    p.name for p in (await direct.list_prompts()).prompts
                ]
            if kind == "coordination":
                made = data(await bridged.call_tool("task_create", {"title": "through the bridge"}))
                assert made["task"]["created_by"] == "ana"
                listed = data(await bridged.call_tool("task_list", {}))
                assert listed == data(await direct.call_tool("task_list", {}))
                assert [t["title"] for t in listed["tasks"]] == ["through the bridge"]
                wrong = await bridged.call_tool("task_update", {"task_id": 999, "progress": 5})
                direct_wrong = await direct.call_tool("task_update", {"task_id": 999, "progress": 5})
                assert wrong.is_error and wrong.content == direct_wrong.content
            if kind == "monitoring":
                resources = (await bridged.list_resources()).resources
                assert [r.uri for r in resources] == [r.uri for r in (await direct.list_resources()).resources]
                for r in resources:
                    read = await bridged.read_resource(str(r.uri))
                    assert read.contents[0].uri == r.uri


async def test_the_bridge_forwards_progress_of_a_long_wait_to_the_stdio_caller(
    team: tuple[Served, dict[str, str]],
) -> None:
    served, issued = team
    seen: list[float] = []

    async def progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    async with Client(_bridge(served.url("messaging"), issued["ana"])) as bridged:
        waited = data(await bridged.call_tool("message_wait", {"timeout": 6}, progress_callback=progress))
    assert waited["arrived"] is False
    assert seen, "message_wait reports progress every few seconds when the caller sent a progress token"


async def test_hostile_http_requests_are_refused_and_the_endpoint_keeps_serving(
    team: tuple[Served, dict[str, str]],
) -> None:
    served, issued = team
    url = served.url("coordination")
    ana = bearing(issued["ana"])
    async with httpx2.AsyncClient() as http:
        opened = await http.post(url, json=INITIALIZE, headers=ana)
        session = opened.headers["mcp-session-id"]
        # bo cannot use ana's session (the SDK answers as if it did not exist), nor can a forged token
        bo = bearing(issued["bo"]) | {"mcp-session-id": session}
        assert (await http.post(url, json=LISTING, headers=bo)).status_code == 404
        huge = bearing("rt_" + "x" * 20_000)
        assert (await http.post(url, json=INITIALIZE, headers=huge)).status_code in (400, 401, 431)
        for body in (b"{not json", b"[]", b'{"jsonrpc": "2.0"}', b"\x00" * 100):
            answer = await http.post(url, content=body, headers=ana)
            assert 400 <= answer.status_code < 500, (body, answer.status_code, answer.text)
    async with connect(url, issued["ana"]) as client:
        assert data(await client.call_tool("task_list", {}))["tasks"] == []


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_the_bridge_forwards_resource_updates_to_a_subscribed_stdio_client(
    team: tuple[Served, dict[str, str]], mode: str
) -> None:
    served, issued = team
    updates: list[str] = []
    async with (
        Client(
            _bridge(served.url("messaging"), issued["ana"]),  # type: ignore[arg-type]
            mode=mode,
            message_handler=collector(updates),
        ) as bridged,
        connect(served.url("messaging"), issued["bo"]) as bo,
    ):

        async def change() -> None:
            data(await bo.call_tool("message_send", {"to": ["ana"], "body": "through the bridge"}))

        await updated_by(bridged, "roundtable://inbox", mode, updates, change)
        assert set(updates) == {"roundtable://inbox"}
        read = await bridged.read_resource("roundtable://inbox")
        assert [m["body"] for m in json.loads(read.contents[0].text)["unread"]] == ["through the bridge"]  # type: ignore[union-attr]


@asynccontextmanager
async def ana_and_bo(db: Path, **env: str) -> AsyncIterator[tuple[Client, Client]]:
    """ana and bo, a token each, connected to the messaging server of a serve process started with `env`."""
    ana_token, bo_token = await make_token(db, "ana"), await make_token(db, "bo")
    with serving(db, **env) as served:
        url = served.url("messaging")
        async with connect(url, ana_token) as ana, connect(url, bo_token) as bo:
            yield ana, bo


async def test_the_send_rate_is_counted_per_token_as_per_agent_over_stdio(tmp_path: Path) -> None:
    async with ana_and_bo(tmp_path / "rate.db", ROUNDTABLE_SEND_RATE="3") as (ana, bo):
        for i in range(3):
            data(await ana.call_tool("message_send", {"to": ["bo"], "body": f"note {i}"}))
        refused = await ana.call_tool("message_send", {"to": ["bo"], "body": "one too many"})
        assert refused.is_error and "allowance of 3 messages a minute" in refused.content[0].text  # type: ignore[union-attr]
        data(await bo.call_tool("message_send", {"to": ["ana"], "body": "bo has its own budget"}))
        too_long = await bo.call_tool("message_send", {"to": ["ana"], "body": "x" * 70_000})
        assert too_long.is_error


async def test_one_agents_waits_use_up_only_its_own_allowance_of_message_waits(tmp_path: Path) -> None:
    # The count of waiting message_wait calls was one per server process: over HTTP one process serves every
    # agent, so one token holding ROUNDTABLE_MAX_WAITS waits made every other agent's wait refused, named as
    # if it were the one waiting too much.
    async with ana_and_bo(tmp_path / "waits.db", ROUNDTABLE_MAX_WAITS="2") as (ana, bo):
        refused: list[str] = []

        async def wait() -> None:
            answer = await ana.call_tool("message_wait", {"timeout": 20})
            if answer.is_error:
                refused.append(answer.content[0].text)  # type: ignore[union-attr]

        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(wait)
            with anyio.fail_after(10):
                while not refused:  # two of ana's three are waiting, her third was refused
                    await anyio.sleep(0.05)
            assert len(refused) == 1 and refused[0].startswith("ana already has 2 message_wait calls"), refused
            waited = data(await bo.call_tool("message_wait", {"timeout": 1}))
            assert waited["arrived"] is False  # bo waited his own second, not refused for ana's
            tg.cancel_scope.cancel()


@pytest.mark.engines("sqlite", "postgresql")
async def test_mail_sent_through_the_serve_process_wakes_a_subscriber_and_a_wait_there(
    place: Place, tmp_path: Path
) -> None:
    # A commit does not move its own connection's data_version (nor is a process's own NOTIFY its news): the
    # serve process's messaging server missed mail sent through itself until another connection committed
    # (on SQLite the gate's heartbeat, every third of the presence timeout: here 200 s, past the bounds below;
    # on PostgreSQL another commit came within seconds, so there this runs the path but cannot tell it apart).
    ana_token, bo_token = await make_token(place, "ana"), await make_token(place, "bo")
    updates: list[str] = []
    with serving(place, logs=tmp_path, ROUNDTABLE_PRESENCE_TIMEOUT="600") as served:
        url = served.url("messaging")
        async with (
            remote_client(url, bo_token, message_handler=collector(updates)) as bo,
            connect(url, ana_token) as ana,
        ):
            await subscribed(bo, INBOX)
            await arrival(updates, 1)  # the level trigger on subscribing
            data(await ana.call_tool("message_send", {"to": ["bo"], "body": "first"}))
            await arrival(updates, 2)
            assert [m["body"] for m in data(await bo.call_tool("message_query", {}))["messages"]] == ["first"]
            waited: dict[str, Any] = {}

            async def wait() -> None:
                waited.update(data(await bo.call_tool("message_wait", {"timeout": 20})))

            async with anyio.create_task_group() as tg:
                tg.start_soon(wait)
                await anyio.sleep(0.5)  # bo is waiting (if not yet, his wait finds the mail at once)
                data(await ana.call_tool("message_send", {"to": ["bo"], "body": "second"}))
            assert waited["arrived"] is True, waited
            assert [m["body"] for m in waited["messages"]] == ["second"]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_an_inbox_subscriber_over_http_is_told_when_its_mail_arrives(
    team: tuple[Served, dict[str, str]], mode: str
) -> None:
    served, issued = team
    updates: list[str] = []
    url = served.url("messaging")
    async with (
        remote_client(url, issued["ana"], mode=mode, message_handler=collector(updates)) as ana,
        connect(url, issued["bo"]) as bo,
    ):

        async def change() -> None:
            data(await bo.call_tool("message_send", {"to": ["ana"], "body": "are you there?"}))

        await updated_by(ana, "roundtable://inbox", mode, updates, change)
        read = await ana.read_resource("roundtable://inbox")
        assert [m["body"] for m in json.loads(read.contents[0].text)["unread"]] == ["are you there?"]  # type: ignore[union-attr]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_an_inbox_subscriber_over_http_is_told_of_its_own_mail_alone(
    team: tuple[Served, dict[str, str]], mode: str
) -> None:
    # One serve process watches every agent's inbox: it told each subscriber whenever anyone's unread mail
    # changed, so ana learnt when olga was sent mail. Each subscription is now judged by its own agent.
    served, issued = team
    url = served.url("messaging")
    ana_got: list[str] = []
    olga_got: list[str] = []
    async with (
        remote_client(
            url, issued["ana"], mode=mode, message_handler=collector(ana_got if mode == "legacy" else [])
        ) as ana,
        remote_client(url, issued["olga"], message_handler=collector(olga_got)) as olga,
        connect(url, issued["bo"]) as bo,
        anyio.create_task_group() as tg,
    ):
        await subscribed_in(mode, ana, INBOX, ana_got, tg)
        await arrival(ana_got, 1)  # the level trigger on subscribing: "read it now"
        await subscribed(olga, INBOX)
        await arrival(olga_got, 1)
        for n, to in enumerate(["olga", "ana", "olga"]):  # olga's mail before and after ana's is her witness:
            data(await bo.call_tool("message_send", {"to": [to], "body": f"for {to}"}))  # looked at, published
            await arrival(olga_got if to == "olga" else ana_got, 2 + n // 2)
        assert ana_got == [INBOX, INBOX]  # subscribing, and her own mail: not olga's
        read = await ana.read_resource(INBOX)
        assert [m["body"] for m in json.loads(read.contents[0].text)["unread"]] == ["for ana"]  # type: ignore[union-attr]
        tg.cancel_scope.cancel()


INBOX = "roundtable://inbox"
STATUS = "roundtable://status"


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_an_agents_second_window_subscribing_to_its_inbox_is_told_at_once(
    team: tuple[Served, dict[str, str]], mode: str
) -> None:
    # The inbox watcher told an agent at once when it started to listen (the level trigger: "read it now", for
    # mail that came between its read and its subscription), but judged that per agent: a second window of an
    # agent already listening was told nothing until its mail next changed. Each subscription of an agent now
    # moves what the watcher compares for it.
    served, issued = team
    url = served.url("messaging")
    first: list[str] = []
    second: list[str] = []
    async with (
        remote_client(url, issued["ana"], message_handler=collector(first)) as one,
        remote_client(
            url, issued["ana"], mode=mode, message_handler=collector(second if mode == "legacy" else [])
        ) as two,
        anyio.create_task_group() as tg,
    ):
        await subscribed(one, INBOX)
        await arrival(first, 1)
        await subscribed_in(mode, two, INBOX, second, tg)
        await arrival(second, 1)  # no mail came: the level trigger of its own subscription
        assert second == [INBOX]
        tg.cancel_scope.cancel()


async def test_a_second_agent_subscribing_to_the_team_status_is_told_at_once(
    team: tuple[Served, dict[str, str]],
) -> None:
    # The team-wide watchers (roundtable://status) compared one fingerprint and nothing of who listens: over
    # serve a second agent subscribing while another listened got no "read it now" until the team next changed.
    served, issued = team
    url = served.url("monitoring")
    ana_got: list[str] = []
    bo_got: list[str] = []
    async with (
        remote_client(url, issued["ana"], message_handler=collector(ana_got)) as ana,
        remote_client(url, issued["bo"], message_handler=collector(bo_got)) as bo,
    ):
        await subscribed(ana, STATUS)
        await arrival(ana_got, 1)
        await subscribed(bo, STATUS)
        await arrival(bo_got, 1)  # nothing changed in the team: the level trigger of bo's own subscription
        assert bo_got == [STATUS]


async def subscribed(client: Client, uri: str) -> None:
    """`client` subscribed to `uri` as an older client does (resources/subscribe)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MCPDeprecationWarning)
        await client.subscribe_resource(uri)


async def subscribed_in(mode: str, client: Client, uri: str, into: list[str], tg: anyio.abc.TaskGroup) -> None:
    """`client` subscribed to `uri` as a client of `mode` does: resources/subscribe ("legacy", its updates reach
    its message handler) or a listen stream in `tg` (its updates into `into`)."""
    if mode == "legacy":
        await subscribed(client, uri)
    else:
        tg.start_soon(listening, client, uri, into)


async def listening(client: Client, uri: str, into: list[str]) -> None:
    """`client` listening for `uri` as a 2026-07-28 client does (subscriptions/listen), its updates into `into`."""
    async with client.listen(resource_subscriptions=[uri]) as sub:
        async for event in sub:
            into.append(str(event.uri))  # type: ignore[union-attr]


async def arrival(updates: list[str], count: int) -> None:
    """Until `updates` holds `count` (bounded)."""
    with anyio.fail_after(10):
        while len(updates) < count:
            await anyio.sleep(0.02)


async def test_one_token_cannot_open_every_session_nor_leave_rows_for_made_up_ones(
    team: tuple[Served, dict[str, str]],
) -> None:
    # The SDK's session limit (10,000 per server) is for all tokens together: one agent's initializes used to
    # fill it (in about a minute) and every other agent then got 503 until they idled out, 30 minutes later.
    served, issued = team
    url = served.url("coordination")
    ana = bearing(issued["ana"])

    def rows() -> int:
        with sqlite3.connect(str(served.db)) as db:
            return int(db.execute("SELECT count(*) FROM sessions").fetchone()[0])

    async with httpx2.AsyncClient() as http:
        opened = [await http.post(url, json=INITIALIZE, headers=ana) for _ in range(MAX_SESSIONS_PER_TOKEN)]
        assert {o.status_code for o in opened} == {200}
        refused = await http.post(url, json=INITIALIZE, headers=ana)
        assert refused.status_code == 429, refused.text
        assert f"{MAX_SESSIONS_PER_TOKEN} open sessions at coordination" in refused.text
        assert (await http.post(url, json=INITIALIZE, headers=bearing(issued["bo"]))).status_code == 200
        # ending one of hers makes room for one more
        first = opened[0].headers["mcp-session-id"]
        assert (await http.delete(url, headers=ana | {"mcp-session-id": first})).status_code < 300
        assert (await http.post(url, json=INITIALIZE, headers=ana)).status_code == 200
        # a session id she did not open (made up, or ended) is refused before any write: it leaves no row
        before = rows()
        for made_up in ["f" * 32, first, "x" * 500]:
            answer = await http.post(url, json=LISTING, headers=ana | {"mcp-session-id": made_up})
            assert answer.status_code == 404, answer.text
        # nor under a later protocol version, which the SDK serves without sessions whatever the header says
        later = ana | {"mcp-protocol-version": "2026-07-28"}
        for n in range(20):
            await http.post(url, json=LISTING, headers=later | {"mcp-session-id": f"{n:032x}"})
        assert rows() <= before + 1


async def test_initializes_sent_at_once_open_no_session_past_the_limit(team: tuple[Served, dict[str, str]]) -> None:
    # The gate checked a token's open and opening sessions, then opened the new one's row (a write, an await)
    # and only then counted it as opening: initializes that arrived together all passed the check while the
    # first one's row was written, and one token opened past MAX_SESSIONS_PER_TOKEN. A request is now counted as
    # opening from its check on.
    served, issued = team
    url = served.url("coordination")
    ana = bearing(issued["ana"])
    answers: list[int] = []
    async with httpx2.AsyncClient(limits=httpx2.Limits(max_connections=None)) as http:

        async def initialize() -> None:
            answers.append((await http.post(url, json=INITIALIZE, headers=ana, timeout=60)).status_code)

        for _ in range(3):  # waves, each of more than the limit at once
            async with anyio.create_task_group() as tg:
                for _ in range(MAX_SESSIONS_PER_TOKEN + 16):
                    tg.start_soon(initialize)
    assert set(answers) <= {200, 429}, answers
    assert answers.count(200) == MAX_SESSIONS_PER_TOKEN, answers.count(200)


async def test_a_repeated_protocol_or_session_header_opens_no_session_past_the_limit(
    team: tuple[Served, dict[str, str]],
) -> None:
    # The gate read the last mcp-protocol-version header, the SDK the first: with "2025-11-25" then
    # "2026-07-28" the gate judged a sessionless 2026 request (no count) while the SDK opened a legacy
    # session, so one token opened sessions without limit, towards the SDK's 10,000 for every token.
    served, issued = team
    url = served.url("coordination")
    ana = list(bearing(issued["ana"]).items())
    body = json.dumps(INITIALIZE)
    both = [("mcp-protocol-version", "2025-11-25"), ("mcp-protocol-version", "2026-07-28")]
    async with httpx2.AsyncClient() as http:
        for _ in range(MAX_SESSIONS_PER_TOKEN + 4):
            answer = await http.post(url, content=body, headers=ana + both)
            assert answer.status_code == 400 and "mcp-session-id" not in answer.headers, answer.text
            assert "one mcp-protocol-version header" in answer.json()["error"]["message"]
        mine = (await http.post(url, content=body, headers=ana)).headers["mcp-session-id"]
        twice = [("mcp-session-id", mine), ("mcp-session-id", mine)]
        listing = json.dumps(LISTING)
        assert (await http.post(url, content=listing, headers=ana + twice)).status_code == 400
        assert (await http.post(url, content=listing, headers=ana + twice[:1])).status_code == 200
    with sqlite3.connect(str(served.db)) as db:
        assert db.execute("SELECT count(*) FROM sessions").fetchone()[0] == 1


async def test_one_token_cannot_hold_open_requests_without_limit(tmp_path: Path) -> None:
    # A 2026-07-28 client opens no session, so the session limit never saw it: one token could hold any
    # number of subscriptions/listen streams open (each a connection and about 80 KB; 540 took 43 MB),
    # towards the process's file descriptors and memory.
    db = tmp_path / "streams.db"
    ana_token, bo_token = await make_token(db, "ana"), await make_token(db, "bo")
    per_client = 86  # within the HTTP client's connection pool
    clients = -(-(MAX_REQUESTS_PER_TOKEN + 2) // per_client)
    with serving(db) as served:
        url = served.url("monitoring")
        opened, refused = 0, []

        async def listen(client: Client) -> None:
            nonlocal opened
            try:
                async with client.listen(resources_list_changed=True):
                    opened += 1
                    await anyio.sleep_forever()
            except MCPError as exc:
                refused.append(str(exc))

        async with AsyncExitStack() as stack:
            mine = [await stack.enter_async_context(connect(url, ana_token, mode="auto")) for _ in range(clients)]
            tg = await stack.enter_async_context(anyio.create_task_group())
            for client in mine:
                for _ in range(per_client):
                    tg.start_soon(listen, client)
            with anyio.fail_after(90):
                while opened + len(refused) < clients * per_client:
                    await anyio.sleep(0.1)
            assert opened == MAX_REQUESTS_PER_TOKEN, (opened, refused[:1])
            assert f"{MAX_REQUESTS_PER_TOKEN} requests open at monitoring" in refused[0]
            async with connect(url, bo_token) as bo:  # another token is served meanwhile
                data(await bo.call_tool("agent_status", {}))
            tg.cancel_scope.cancel()


async def test_over_http_each_claude_code_channel_session_is_pushed_its_own_agents_mail(
    team: tuple[Served, dict[str, str]],
) -> None:
    # Over serve the messaging server declared no claude/channel: its push state was one slot (the last
    # client's session) acted on as the process's `system`, so a Claude Code session over HTTP got no pushes.
    # Each HTTP session now has its own, as its token's agent, pushed on the session's own stream.
    served, issued = team
    url = served.url("messaging")
    ana_hears, ana_again, bo_hears = Listener(), Listener(), Listener()
    async with (
        connect(url, issued["ana"], extensions=[ana_hears.extension()]) as ana,
        connect(url, issued["ana"], extensions=[ana_again.extension()]),  # a second window of ana's
        connect(url, issued["bo"], extensions=[bo_hears.extension()]) as bo,
    ):
        caps = ana.server_capabilities
        assert caps.experimental is not None and CHANNEL_CAPABILITY in caps.experimental
        assert CHANNEL_CAPABILITY_NOTE in (ana.instructions or "")
        for_ana = data(await bo.call_tool("message_send", {"to": ["ana"], "subject": "lunch?", "body": "at noon"}))
        for_bo = data(await ana.call_tool("message_send", {"to": ["bo"], "body": "review job 3"}))
        pushed = await heard(ana_hears, 1)
        assert pushed.meta["first_id"] == pushed.meta["last_id"] == str(for_ana["message"]["id"])
        assert pushed.meta["senders"] == "bo" and "lunch?" in pushed.content and "at noon" in pushed.content
        assert (await heard(ana_again, 1)).meta["first_id"] == str(for_ana["message"]["id"])
        pushed = await heard(bo_hears, 1)  # bo's first push is his own mail, not ana's
        assert pushed.meta["first_id"] == pushed.meta["last_id"] == str(for_bo["message"]["id"])
        assert pushed.meta["senders"] == "ana"
        everyone = data(await bo.call_tool("message_broadcast", {"body": "standup in 5"}))
        pushed = await heard(ana_hears, 2)  # ana's second is bo's broadcast: her own send was never pushed
        assert pushed.meta["first_id"] == str(everyone["message"]["id"]) and pushed.meta["senders"] == "bo"
        unread = data(await ana.call_tool("message_query", {"mark_read": False}))["messages"]
        assert {m["body"] for m in unread} == {"at noon", "standup in 5"}  # pushing marked nothing read


async def heard(listener: Listener, count: int) -> ChannelParams:
    """The `count`th push `listener` heard, once it has (bounded: a behaviour, not a latency)."""
    with anyio.fail_after(10):
        while len(listener.pushes) < count:
            await listener.arrived.wait()
    return listener.pushes[count - 1]


async def test_revoking_a_token_ends_its_open_requests_and_its_presence(team: tuple[Served, dict[str, str]]) -> None:
    served, issued = team
    async with connect(served.url("messaging"), issued["bo"]) as bo:
        began = time.monotonic()
        cut: list[MCPError] = []

        async def wait() -> None:
            try:
                await bo.call_tool("message_wait", {"timeout": 60})
            except MCPError as exc:
                cut.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            await anyio.sleep(0.5)
            await revoke_token(served.db, "bo")
        assert cut and "ended without a response" in str(cut[0])  # the server cut the wait's stream
        assert time.monotonic() - began < 10
    async with connect(served.url("monitoring"), issued["ana"]) as ana:
        agents = {a["name"]: a for a in data(await ana.call_tool("agent_status", {}))["agents"]}
        assert agents["bo"]["presence"] == "offline"


async def test_a_forwarded_address_is_taken_only_from_proxies_named_in_forwarded_allow_ips(tmp_path: Path) -> None:
    # uvicorn trusts X-Forwarded-For from any loopback peer by default: any local process (or anyone through a
    # proxy on this machine that passes the header on) could give its session any address it liked.
    db = tmp_path / "team.db"
    token = await make_token(db, "ana")
    headers = {
        "accept": "application/json, text/event-stream",
        "content-type": "application/json",
        "authorization": f"Bearer {token}",
        "x-forwarded-for": "203.0.113.9",
    }

    async def host_of_a_new_session(served: Served) -> str:
        async with httpx2.AsyncClient() as http:
            answer = await http.post(served.url("coordination"), json=INITIALIZE, headers=headers)
            assert answer.status_code == 200, answer.text
            refused = await http.post(
                served.url("coordination"), json=INITIALIZE, headers=headers | {"authorization": ""}
            )
            assert refused.status_code == 401  # through a proxy as directly: a token on every request
        with sqlite3.connect(str(db)) as conn:
            return str(conn.execute("SELECT host FROM sessions ORDER BY started_at DESC").fetchone()[0])

    with serving(db) as served:
        assert await host_of_a_new_session(served) == "127.0.0.1"
    with serving(db, FORWARDED_ALLOW_IPS="127.0.0.1") as served:
        assert await host_of_a_new_session(served) == "203.0.113.9"
