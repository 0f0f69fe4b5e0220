"""The messaging server: delivery exactly once and in order, broadcasts to late joiners, topics, threads,
acknowledgements, expiry, rate limits, bad input, signing, waiting across processes, inbox notifications."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

import anyio
import pytest
from mcp import Client

from servers.messaging import INBOX_URI, build_server
from shared.config import Settings
from shared.frame.runtime import RoundtableServer
from tests.conftest import FakeClock
from tests.direct import direct
from tests.notifications import collector, updated_by
from tests.results import data, text
from tests.stdio import server_params

pytestmark = [pytest.mark.anyio, pytest.mark.engines("sqlite", "postgresql")]


async def test_mail_arrives_exactly_once_in_order_across_pages(settings: Settings, as_agent: Any) -> None:
    async with Client(build_server(settings)) as ana, Client(build_server(as_agent("bo"))) as bo:
        sent = [
            data(await ana.call_tool("message_send", {"to": ["bo"], "body": f"m{i}"}))["message"]["id"]
            for i in range(25)
        ]
        seen: list[int] = []
        while True:
            page = data(await bo.call_tool("message_query", {"limit": 10}))
            if not page["messages"]:
                break
            seen += [m["id"] for m in page["messages"]]
        assert seen == sent
        assert data(await bo.call_tool("message_query", {}))["messages"] == []
        everything = data(await bo.call_tool("message_query", {"unread_only": False, "limit": 100}))
        assert [m["id"] for m in everything["messages"]] == sent


async def test_unknown_recipients_are_refused_with_the_known_names(settings: Settings, as_agent: Any) -> None:
    async with Client(build_server(settings)) as ana, Client(build_server(as_agent("bo"))):
        refused = await ana.call_tool("message_send", {"to": ["bo", "zed"], "body": "hi"})
        assert refused.is_error and "no agent is named 'zed'" in text(refused) and "bo" in text(refused)


async def test_broadcasts_reach_agents_who_join_later_until_they_expire(
    settings: Settings, as_agent: Any, clock: FakeClock
) -> None:
    async with Client(build_server(settings, clock)) as ana:
        data(await ana.call_tool("message_broadcast", {"body": "standup at 10", "expires_in": "1h"}))
        own = data(await ana.call_tool("message_query", {}))
        assert own["messages"] == []  # not to yourself
    async with Client(build_server(as_agent("late"), clock)) as late:
        got = data(await late.call_tool("message_query", {}))
        assert [m["body"] for m in got["messages"]] == ["standup at 10"]
        assert data(await late.call_tool("message_query", {}))["messages"] == []
    clock.advance(3601)
    async with Client(build_server(as_agent("later"), clock)) as later:
        assert data(await later.call_tool("message_query", {}))["messages"] == []


async def test_a_broadcast_with_an_empty_expiry_expires_as_by_default(
    settings: Settings, as_agent: Any, clock: FakeClock
) -> None:
    async with Client(build_server(settings, clock)) as ana:
        sent = data(await ana.call_tool("message_broadcast", {"body": "forever?", "expires_in": ""}))
        assert sent["message"]["expires_at"] is not None
    clock.advance(86_400 + 60)
    async with Client(build_server(as_agent("late"), clock)) as late:
        assert data(await late.call_tool("message_query", {}))["messages"] == []


async def test_topic_patterns_route_mail_to_followers(settings: Settings, as_agent: Any) -> None:
    async with (
        Client(build_server(settings)) as ana,
        Client(build_server(as_agent("bo"))) as bo,
        Client(build_server(as_agent("cy"))) as cy,
    ):
        data(await bo.call_tool("message_subscribe", {"subscribe": ["build.*"]}))
        data(await cy.call_tool("message_subscribe", {"subscribe": ["deploy.*"]}))
        sent = data(await ana.call_tool("message_send", {"to": ["topic:build.done"], "body": "green"}))
        assert sent["delivered_to"] == ["bo"]
        assert [m["topic"] for m in data(await bo.call_tool("message_query", {}))["messages"]] == ["build.done"]
        assert data(await cy.call_tool("message_query", {}))["messages"] == []
        listed = data(await bo.call_tool("message_subscribe", {"unsubscribe": ["build.*"]}))
        assert listed["patterns"] == []
        bad = await bo.call_tool("message_subscribe", {"subscribe": ["Build Done!"]})
        assert bad.is_error and "not valid" in text(bad)


async def test_a_refused_subscription_change_changes_no_pattern(settings: Settings) -> None:
    async with Client(build_server(settings)) as ana:
        data(await ana.call_tool("message_subscribe", {"subscribe": ["build.*"]}))
        never = "you are not subscribed to 'never.followed'"
        for change, refusal in [
            ({"subscribe": ["deploy.*", "Deploy Done!"]}, "topic 'Deploy Done!' is not valid"),
            ({"subscribe": ["deploy.*"], "unsubscribe": ["never.followed"]}, never),
            ({"unsubscribe": ["build.*", "never.followed"]}, never),
            ({"subscribe": ["deploy.*", "x" * 100_000]}, "message_subscribe: 'subscribe[1]' is too long: at most 100"),
            ({"subscribe": ["Deploy.*"], "unsubscribe": ["deploy.*"]}, "'deploy.*' is in both subscribe and"),
            ({"subscribe": ["deploy..done"]}, "topic 'deploy..done' has an empty part between dots"),
            ({"subscribe": ["deploy."]}, "topic 'deploy.' has an empty part between dots"),
            ({"subscribe": ["deploy.**"]}, "topic pattern 'deploy.**': one '*' already matches any characters"),
        ]:
            refused = await ana.call_tool("message_subscribe", change)
            assert refused.is_error and text(refused).startswith(refusal), (change, text(refused)[:200])
            assert len(text(refused)) < 200
            assert data(await ana.call_tool("message_subscribe", {}))["patterns"] == ["build.*"], change


async def test_replies_form_a_thread(settings: Settings, as_agent: Any) -> None:
    async with Client(build_server(settings)) as ana, Client(build_server(as_agent("bo"))) as bo:
        first = data(await ana.call_tool("message_send", {"to": ["bo"], "body": "question"}))["message"]
        reply = data(await bo.call_tool("message_send", {"to": ["ana"], "body": "answer", "reply_to": first["id"]}))
        assert reply["message"]["thread_id"] == first["id"]
        thread = data(await ana.call_tool("message_query", {"thread": first["id"]}))
        assert [m["body"] for m in thread["messages"]] == ["question", "answer"]
        missing = await bo.call_tool("message_send", {"to": ["ana"], "body": "x", "reply_to": 999})
        assert missing.is_error and "reply_to=999" in text(missing)


async def test_acknowledgements_are_visible_to_the_sender_and_overdue_when_late(
    settings: Settings, as_agent: Any, clock: FakeClock
) -> None:
    async with Client(build_server(settings, clock)) as ana, Client(build_server(as_agent("bo"), clock)) as bo:
        asks = [
            data(
                await ana.call_tool(
                    "message_send", {"to": ["bo"], "body": f"do {i}", "ack_required": True, "ack_within": "10m"}
                )
            )["message"]["id"]
            for i in range(3)
        ]
        clock.advance(601)
        inbox = data(await bo.call_tool("message_query", {}))
        assert all(m["overdue"] for m in inbox["messages"])
        acked = data(await bo.call_tool("message_acknowledge", {"up_to": asks[1]}))
        assert (acked["acknowledged"], acked["already"]) == (asks[:2], [])
        assert acked["next_step"] == "Acknowledged 2; their senders see it."
        again = data(await bo.call_tool("message_acknowledge", {"ids": [asks[0]]}))
        assert (again["acknowledged"], again["already"]) == ([], [asks[0]])
        nothing = data(await bo.call_tool("message_acknowledge", {"up_to": asks[1]}))
        assert nothing["acknowledged"] == [] and "Nothing to acknowledge" in nothing["next_step"]
        both = await bo.call_tool("message_acknowledge", {"ids": [asks[2]], "up_to": asks[2]})
        assert both.is_error and text(both) == "pass ids=[…] or up_to=<id>, not both"
        sent = data(await ana.call_tool("message_query", {"sent": True}))
        states = [m["receipts"][0]["acked_at"] is not None for m in sent["messages"]]
        assert states == [True, True, False]
        foreign = await ana.call_tool("message_acknowledge", {"ids": [asks[2]]})
        assert foreign.is_error and "not addressed to you" in text(foreign)


async def test_sends_beyond_the_rate_limit_say_when_to_try_again(settings: Settings, as_agent: Any) -> None:
    limited = replace(settings, send_rate_per_minute=3)
    async with Client(build_server(limited)) as ana, Client(build_server(as_agent("bo"))):
        for _ in range(3):
            data(await ana.call_tool("message_send", {"to": ["bo"], "body": "spam"}))
        refused = await ana.call_tool("message_broadcast", {"body": "more spam"})
        assert refused.is_error and "you may send again in" in text(refused)


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"to": ["bo"], "body": "x" * 70_000}, "body"),
        ({"to": ["bo"], "body": ""}, "body"),
        ({"to": ["bo"], "body": "x", "subject": "s" * 201}, "subject"),
        ({"to": [], "body": "x"}, "to"),
        ({"to": ["topic:a", "bo"], "body": "x"}, "not both"),
        ({"to": ["topic:a b"], "body": "x"}, "not valid"),
        (
            {"to": 7, "body": "x"},
            "to",
        ),  # a lone name ("bo") is taken as ["bo"] since issue 14 (tests/servers/test_arguments.py)
        ({"to": ["bo"], "body": "x", "expires_in": "forever"}, "not understood"),
        ({"to": ["bo"], "body": "x", "priority": "asap"}, "priority"),
        ({"to": ["bo"], "body": "x", "ack_within": "10m"}, "add ack_required=true"),
    ],
)
async def test_malformed_messages_are_refused_and_nothing_is_stored(
    settings: Settings, as_agent: Any, arguments: dict[str, Any], expected: str
) -> None:
    async with Client(build_server(settings)) as ana, Client(build_server(as_agent("bo"))):
        refused = await ana.call_tool("message_send", arguments)
        assert refused.is_error and expected in text(refused)
    with direct(settings.db) as conn:
        assert conn.execute("SELECT count(*) FROM messages").fetchone() == (0,)


async def test_text_search_is_safe_against_query_syntax(settings: Settings, as_agent: Any) -> None:
    async with Client(build_server(settings)) as ana, Client(build_server(as_agent("bo"))) as bo:
        data(await ana.call_tool("message_send", {"to": ["bo"], "subject": "deploy", "body": "the NEAR-term plan"}))
        data(await ana.call_tool("message_send", {"to": ["bo"], "body": "lunch?"}))
        for hostile in ["NEAR(", '"', "a:b", "-x", "AND OR", "((("]:
            assert not (await bo.call_tool("message_query", {"text": hostile, "unread_only": False})).is_error
        found = data(await bo.call_tool("message_query", {"text": "plan", "unread_only": False}))
        assert [m["subject"] for m in found["messages"]] == ["deploy"]


async def test_mail_is_found_by_its_words_at_once_and_indexed_by_the_server_in_the_background(
    settings: Settings, as_agent: Any
) -> None:
    async with Client(build_server(settings)) as ana, Client(build_server(as_agent("bo"))) as bo:
        sent = data(await ana.call_tool("message_send", {"to": ["bo"], "body": "rollout finished"}))["message"]["id"]
        found = data(await bo.call_tool("message_query", {"text": "rollouts", "unread_only": False}))
        assert [m["id"] for m in found["messages"]] == [sent]  # indexed yet or not
        with direct(settings.db) as conn:
            if conn.engine == "postgresql":
                return  # indexed in its INSERT (messages.search)
        with anyio.fail_after(10):
            while True:
                with direct(settings.db) as conn:
                    (mark,) = conn.execute("SELECT through_id FROM search_indexed WHERE source = 'messages'").fetchone()
                if mark >= sent:
                    break
                await anyio.sleep(0.05)


async def test_signed_messages_verify_and_tampering_shows(settings: Settings, as_agent: Any) -> None:
    secret = replace(settings, secret="team-secret")
    async with Client(build_server(secret)) as ana, Client(build_server(replace(secret, agent="bo"))) as bo:
        data(await ana.call_tool("message_send", {"to": ["bo"], "body": "pay 10"}))
        data(await ana.call_tool("message_send", {"to": ["bo"], "body": "pay 20"}))
        with direct(settings.db) as conn:
            conn.execute("UPDATE messages SET body = 'pay 1000' WHERE body = 'pay 20'")
        got = data(await bo.call_tool("message_query", {}))["messages"]
        assert [(m["body"], m["verified"]) for m in got] == [("pay 10", True), ("pay 1000", False)]
    async with Client(build_server(replace(settings, agent="cy"))) as cy:
        data(await cy.call_tool("message_send", {"to": ["bo"], "body": "unsigned"}))
        assert all(m["verified"] is None for m in data(await cy.call_tool("message_query", {"sent": True}))["messages"])


async def test_system_notices_from_coordination_arrive_as_mail(settings: Settings, as_agent: Any) -> None:
    from servers.coordination import build_server as coordination

    async with Client(coordination(settings)) as planner, Client(build_server(as_agent("bo"))) as bo:
        data(await planner.call_tool("task_create", {"title": "review", "assignee": "bo"}))
        notices = data(await bo.call_tool("message_query", {}))["messages"]
        assert [(m["kind"], m["sender"], m["about"]) for m in notices] == [("system", "system", "task 1")]


async def test_waiting_returns_mail_already_there_at_once(settings: Settings, as_agent: Any) -> None:
    async with Client(build_server(settings)) as ana, Client(build_server(as_agent("bo"))) as bo:
        data(await ana.call_tool("message_send", {"to": ["bo"], "body": "ready"}))
        waited = data(await bo.call_tool("message_wait", {"timeout": 5}))
        assert waited["arrived"] and [m["body"] for m in waited["messages"]] == ["ready"]
        nothing = data(await bo.call_tool("message_wait", {"timeout": 1, "thread": 1}))
        assert not nothing["arrived"]
        started = time.monotonic()
        unknown = await bo.call_tool("message_wait", {"timeout": 5, "thread": 999})
        assert unknown.is_error and text(unknown).startswith("thread 999 has no message you sent or received")
        assert time.monotonic() - started < 4  # refused at once, not after waiting out its timeout


@pytest.mark.engines("sqlite", "postgresql")
async def test_a_wait_in_one_process_returns_soon_after_a_send_in_another(db_url: str) -> None:
    """On PostgreSQL the send's NOTIFY wakes the waiting process's LISTEN connection (no polling)."""
    async with (
        Client(server_params("messaging", db_url, "ana")) as ana,
        Client(server_params("messaging", db_url, "bo")) as bo,
    ):
        data(await bo.call_tool("message_query", {}))  # bo exists before ana writes to it
        returned_at: list[float] = []

        async def wait() -> None:
            result = data(await bo.call_tool("message_wait", {"timeout": 30}))
            assert result["arrived"]
            returned_at.append(time.perf_counter())

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(wait)
                await anyio.sleep(0.5)  # let the wait begin
                sent_at = time.perf_counter()
                data(await ana.call_tool("message_send", {"to": ["bo"], "body": "now"}))
        assert returned_at[0] - sent_at < 1.0  # generous; bench/delivery.py measures the real figure


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_inbox_subscribers_are_notified_in_both_protocol_eras(
    settings: Settings, as_agent: Any, mode: str
) -> None:
    updates: list[str] = []
    async with Client(build_server(as_agent("bo")), mode=mode, message_handler=collector(updates)) as bo:  # type: ignore[arg-type]
        async with Client(build_server(settings)) as ana:
            await updated_by(
                bo, INBOX_URI, mode, updates, lambda: ana.call_tool("message_send", {"to": ["bo"], "body": "ping"})
            )
        inbox = await bo.read_resource(INBOX_URI)
        assert "ping" in inbox.contents[0].text  # type: ignore[union-attr]
    assert INBOX_URI in updates


async def test_readers_of_one_agent_racing_for_its_mail_each_get_a_message_exactly_once(
    settings: Settings, as_agent: Any
) -> None:
    fast = {"send_rate_per_minute": 10_000}
    bo = replace(as_agent("bo"), **fast)
    async with (
        Client(build_server(replace(settings, **fast))) as ana,
        Client(build_server(bo)) as bo_one,
        Client(build_server(bo)) as bo_two,  # two processes of one agent, each taking parallel calls
    ):
        sent = [
            data(await ana.call_tool("message_send", {"to": ["bo"], "body": f"m{i}"}))["message"]["id"]
            for i in range(60)
        ]
        seen: list[int] = []

        async def reader(client: Client, tool: str, arguments: dict[str, Any]) -> None:
            while found := data(await client.call_tool(tool, arguments))["messages"]:
                seen.extend(m["id"] for m in found)

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(reader, bo_one, "message_query", {"limit": 3})
                tg.start_soon(reader, bo_one, "message_query", {"limit": 3})
                tg.start_soon(reader, bo_two, "message_query", {"limit": 3})
                tg.start_soon(reader, bo_two, "message_wait", {"timeout": 1})
        assert sorted(seen) == sent


async def test_change_watching_runs_only_while_someone_listens_or_waits(settings: Settings, as_agent: Any) -> None:
    server = build_server(as_agent("bo"))
    assert isinstance(server, RoundtableServer)

    async def followers(expected: int) -> None:
        with anyio.fail_after(5):
            while server.current().changes.waiting != expected:
                await anyio.sleep(0.02)

    async with Client(server) as bo:
        await followers(0)  # nobody listens: the inbox watcher idles and nothing polls data_version
        async with bo.listen(resource_subscriptions=[INBOX_URI]):
            await followers(1)
        await followers(0)
        async with anyio.create_task_group() as tg:
            tg.start_soon(bo.call_tool, "message_wait", {"timeout": 1})
            await followers(1)
        await followers(0)


@pytest.mark.parametrize(
    "edit",
    [
        "UPDATE messages SET kind = 'broadcast', audience = '*' WHERE body = 'pay 20'",
        "UPDATE messages SET priority = 'urgent' WHERE body = 'pay 20'",
        "UPDATE messages SET ack_required = 1, ack_deadline = 1 WHERE body = 'pay 20'",
        "UPDATE messages SET thread_id = 1 WHERE body = 'pay 20'",
        "UPDATE messages SET ref_type = 'task', ref_id = '1' WHERE body = 'pay 20'",
        "UPDATE messages SET sender_id = 'named:cy' WHERE body = 'pay 20'",
        "UPDATE messages SET expires_at = 9999999999 WHERE body = 'pay 20'",
        "UPDATE messages SET correlation_id = 'x' WHERE body = 'pay 20'",
    ],
)
async def test_signing_covers_every_column_that_decides_delivery_and_meaning(settings: Settings, edit: str) -> None:
    secret = replace(settings, secret="team-secret")
    async with Client(build_server(secret)) as ana, Client(build_server(replace(secret, agent="bo"))) as bo:
        data(await ana.call_tool("message_send", {"to": ["bo"], "body": "pay 10"}))
        data(await ana.call_tool("message_send", {"to": ["bo"], "body": "pay 20"}))
        with direct(settings.db) as conn:
            conn.execute(edit)
        got = data(await bo.call_tool("message_query", {}))["messages"]
        assert [(m["body"], m["verified"]) for m in got] == [("pay 10", True), ("pay 20", False)]


async def test_a_copied_row_or_an_added_recipient_does_not_verify(settings: Settings) -> None:
    secret = replace(settings, secret="team-secret")
    async with (
        Client(build_server(secret)) as ana,
        Client(build_server(replace(secret, agent="bo"))) as bo,
        Client(build_server(replace(secret, agent="mallory"))) as mallory,
    ):
        data(await ana.call_tool("message_send", {"to": ["bo"], "body": "for bo only"}))
        with direct(settings.db) as conn:
            conn.execute("INSERT INTO message_recipients(agent_id, message_id) VALUES ('named:mallory', 1)")
            conn.execute(
                "INSERT INTO messages(id, sender_id, sender_name, kind, topic, subject, body, priority, reply_to,"
                " thread_id, correlation_id, ack_required, ack_deadline, created_at, expires_at, signature, ref_type,"
                " ref_id, audience, recipient_ids) SELECT 50, sender_id, sender_name, kind, topic, subject, body,"
                " priority, reply_to, 50, correlation_id, ack_required, ack_deadline, created_at, expires_at,"
                " signature, ref_type, ref_id, audience, recipient_ids FROM messages WHERE id = 1"
            )
            conn.execute("INSERT INTO message_recipients(agent_id, message_id) VALUES ('named:bo', 50)")
        stolen = data(await mallory.call_tool("message_query", {}))["messages"]
        assert [(m["body"], m["verified"]) for m in stolen] == [("for bo only", False)]
        mine = data(await bo.call_tool("message_query", {}))["messages"]
        assert [(m["id"], m["verified"]) for m in mine] == [(1, True), (50, False)]


async def test_notices_are_signed_and_verify(settings: Settings, as_agent: Any) -> None:
    from servers.coordination import build_server as coordination

    secret = replace(settings, secret="team-secret")
    async with Client(coordination(secret)) as planner, Client(build_server(replace(secret, agent="bo"))) as bo:
        data(await planner.call_tool("task_create", {"title": "review", "assignee": "bo"}))
        notices = data(await bo.call_tool("message_query", {}))["messages"]
        assert [(m["sender"], m["verified"]) for m in notices] == [("system", True)]


async def test_messages_signed_before_every_field_was_covered_say_so(settings: Settings) -> None:
    from shared.rules import signing

    secret = replace(settings, secret="team-secret")
    async with Client(build_server(secret)) as ana, Client(build_server(replace(secret, agent="bo"))) as bo:
        data(await ana.call_tool("message_send", {"to": ["bo"], "body": "old"}))
        with direct(settings.db) as conn:
            sender, audience, subject, body, created = conn.execute(  # type: ignore[misc]
                "SELECT sender_name, audience, subject, body, created_at FROM messages"
            ).fetchone()
            payload = signing.canonical_v1(
                sender=sender, audience=audience, subject=subject, body=body, created_at=created
            )
            old = signing.sign("team-secret", payload)
            conn.execute("UPDATE messages SET signature = ?, recipient_ids = NULL", (old,))
        got = data(await bo.call_tool("message_query", {}))["messages"]
        assert [(m["verified"], m["signature"]) for m in got] == [(False, "legacy")]


async def test_a_sender_filter_names_one_identity_and_a_rename_shows(settings: Settings) -> None:
    from servers.monitoring import build_server as monitoring

    async with (
        Client(build_server(replace(settings, agent=None))) as dave,
        Client(build_server(replace(settings, agent="bo"))) as bo,
    ):
        dave_name = data(await dave.call_tool("message_send", {"to": ["bo"], "body": "from the first"}))
        first = dave_name["message"]["sender"]
        async with Client(monitoring(replace(settings, agent=None))) as dave_team:
            data(await dave_team.call_tool("agent_register", {"name": "dave-away"}))
        got = data(await bo.call_tool("message_query", {"sender": "dave-away", "unread_only": False}))["messages"]
        assert [(m["body"], m["sender"], m["sender_now"]) for m in got] == [("from the first", first, "dave-away")]
        refused = await bo.call_tool("message_query", {"sender": first})
        assert refused.is_error and "no agent is named" in text(refused)


async def test_legacy_subscriptions_are_kept_per_connection_exactly_once(settings: Settings, as_agent: Any) -> None:
    import warnings

    from mcp.shared.exceptions import MCPDeprecationWarning

    updates: list[str] = []
    server = build_server(as_agent("bo"))
    async with (
        Client(server, mode="legacy", message_handler=collector(updates)) as bo,  # type: ignore[arg-type]
        Client(build_server(settings)) as ana,
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            for _ in range(3):
                await bo.subscribe_resource(INBOX_URI)
        notifier = server.current().notifier
        assert len(notifier.legacy[INBOX_URI]) == 1  # no growth: one entry for the one connection
        with anyio.fail_after(5):
            while not updates:  # the level trigger on subscribing
                await anyio.sleep(0.02)
        await anyio.sleep(0.5)
        updates.clear()
        data(await ana.call_tool("message_send", {"to": ["bo"], "body": "one"}))
        with anyio.fail_after(5):
            while not updates:
                await anyio.sleep(0.02)
        await anyio.sleep(0.5)
        assert updates == [INBOX_URI]  # exactly once, not once per subscribe call
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            await bo.unsubscribe_resource(INBOX_URI)
        assert not notifier.legacy.get(INBOX_URI)
        updates.clear()
        data(await ana.call_tool("message_send", {"to": ["bo"], "body": "two"}))
        await anyio.sleep(0.8)
        assert updates == []  # unsubscribed means no more updates
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            await bo.subscribe_resource(INBOX_URI)
        assert len(notifier.legacy[INBOX_URI]) == 1
    assert not notifier.legacy[INBOX_URI] and not notifier._tracked  # a closed connection leaves nothing behind


def test_a_wait_stays_under_common_client_timeouts_unless_progress_is_reported() -> None:
    from servers.messaging import mail

    assert mail.wait_seconds(None, progress=False) == 45  # the TypeScript SDK gives up at 60 s
    assert mail.wait_seconds(120, progress=False) == 45  # no token: the client cannot be kept waiting longer
    assert mail.wait_seconds(10, progress=False) == 10
    assert mail.wait_seconds(None, progress=True) == 60
    assert mail.wait_seconds(300, progress=True) == 300  # with progress (resetTimeoutOnProgress) a long wait is fine


async def test_the_wait_default_is_under_the_typescript_sdk_timeout(settings: Settings) -> None:
    async with Client(build_server(settings)) as ana:
        tools = {t.name: t for t in (await ana.list_tools()).tools}
    timeout = tools["message_wait"].input_schema["properties"]["timeout"]
    assert timeout.get("default") is None and "45" in timeout["description"]


async def test_concurrent_waits_per_agent_are_bounded_with_a_clear_refusal(settings: Settings) -> None:
    async with Client(build_server(replace(settings, max_waits=2))) as ana:
        results: list[Any] = []

        async def wait() -> None:
            results.append(await ana.call_tool("message_wait", {"timeout": 2}))

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            tg.start_soon(wait)
            await anyio.sleep(0.5)
            refused = await ana.call_tool("message_wait", {"timeout": 1})
            assert refused.is_error and "2 message_wait calls" in text(refused), text(refused)
            assert "ROUNDTABLE_MAX_WAITS" in text(refused)
        assert [r.is_error for r in results] == [False, False]
        again = await ana.call_tool("message_wait", {"timeout": 1})
        assert not again.is_error  # the bound frees as the waits end


async def test_a_sent_message_has_no_read_state_of_its_own_and_names_a_pruned_recipient(
    settings: Settings, as_agent: Any
) -> None:
    """The sender's view: receipts carry the recipients' state (a pruned recipient is shown by its name or
    as departed, never by its key); read/acknowledged/overdue are the reader's own and so left out of a sent message."""
    async with Client(build_server(as_agent("cy"))):
        pass  # cy joins, so a message can be addressed to it
    async with Client(build_server(settings)) as ana:
        sent = await ana.call_tool("message_send", {"to": ["cy"], "body": "still there?"})
        assert '"read"' not in text(sent) and data(sent)["message"]["read"] is None
        with direct(settings.db) as conn:  # cy is pruned (as after ROUNDTABLE_AGENT_RETENTION)
            conn.execute("DELETE FROM sessions WHERE agent_id = 'named:cy'")
            conn.execute("DELETE FROM agents WHERE id = 'named:cy'")
        mine = data(await ana.call_tool("message_query", {"sent": True}))["messages"]
    assert [r["agent"] for r in mine[0]["receipts"]] == ["cy"]  # its configured name, never "named:cy"
    assert "named:" not in json.dumps(mine) and mine[0]["read"] is None


async def test_since_reads_a_past_time_or_how_long_ago_and_refuses_the_future(settings: Settings) -> None:
    """A future since (an ISO time within the year ahead) matched nothing and answered an empty inbox."""
    async with Client(build_server(settings)) as ana:
        data(await ana.call_tool("message_send", {"to": ["ana"], "body": "note to self"}))
        ahead = await ana.call_tool("message_query", {"since": "2099-01-01T00:00:00Z"})
        assert ahead.is_error and "too far ahead" in text(ahead)
        soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 7 * 86400))
        future = await ana.call_tool("message_query", {"since": soon})
        assert text(future) == f'since={soon!r} is in the future; give a past time or how long ago, e.g. since="2h"'
        past = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
        assert [m["body"] for m in data(await ana.call_tool("message_query", {"since": past}))["messages"]] == [
            "note to self"
        ]


async def test_an_acknowledgement_due_after_the_message_expires_is_refused(settings: Settings) -> None:
    async with Client(build_server(settings)) as ana:
        late = {"to": ["ana"], "body": "ship?", "expires_in": "10m", "ack_required": True, "ack_within": "2h"}
        assert text(await ana.call_tool("message_send", late)) == (
            "the message expires (expires_in='10m') before its acknowledgement is due (ack_within='2h'); give an"
            " ack_within shorter than expires_in, or a longer expires_in"
        )
        assert data(await ana.call_tool("message_query", {}))["messages"] == []  # nothing was sent
        sent = data(await ana.call_tool("message_send", {**late, "ack_within": None}))["message"]
        assert sent["ack_deadline"] == sent["expires_at"]  # the default hour, cut to the message's life


async def test_waiting_on_a_topic_while_following_none_is_refused_at_once(settings: Settings, as_agent: Any) -> None:
    """No mail on a topic reaches an agent who follows no topic: the wait ran out its whole timeout."""
    async with Client(build_server(settings)) as ana, Client(build_server(as_agent("bo"))) as bo:
        started = time.monotonic()
        refused = await bo.call_tool("message_wait", {"topic": "build.*", "timeout": 30})
        assert text(refused) == (
            "you follow no topics, so no mail on 'build.*' can arrive; follow it first with"
            " message_subscribe(subscribe=['build.*'])"
        )
        assert time.monotonic() - started < 5
        data(await bo.call_tool("message_subscribe", {"subscribe": ["build.*"]}))
        data(await ana.call_tool("message_send", {"to": ["topic:build.done"], "body": "green"}))
        data(await bo.call_tool("message_subscribe", {"unsubscribe": ["build.*"]}))
        kept = data(await bo.call_tool("message_wait", {"topic": "build.*", "timeout": 1}))  # unread from before
        assert [m["body"] for m in kept["messages"]] == ["green"]
