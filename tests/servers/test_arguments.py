"""Arguments are checked, in every tool of every server (shared/frame/tool.py): an unknown argument is
refused with its name, the nearest valid one and the tool's arguments; a wrong type is one line without
pydantic's text or URL; a lone value is taken where a list is expected; an unknown tool lists the tools."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
from mcp import Client, MCPError

from servers import SERVER_KINDS
from shared.config import Settings
from shared.frame.tool import lean
from tests.results import data, text

pytestmark = pytest.mark.anyio


def client(kind: str, tmp_path: Path) -> Client:
    module = importlib.import_module(f"servers.{kind}")
    return Client(module.build_server(Settings(db=tmp_path / "rt.db", agent="ana", role="admin")))


@pytest.mark.parametrize("kind", SERVER_KINDS)
async def test_every_tool_refuses_an_unknown_argument_and_a_wrong_type_in_one_line(kind: str, tmp_path: Path) -> None:
    async with client(kind, tmp_path) as c:
        for t in (await c.list_tools()).tools:
            props = t.input_schema.get("properties", {})
            assert t.input_schema.get("additionalProperties") is False, t.name
            result = await c.call_tool(t.name, {"bogus_argument": 1})
            message = text(result)
            assert result.is_error and message.startswith(f"{t.name} has no 'bogus_argument'"), message
            assert " (it takes: " in message and "; (" not in message, message
            assert all(name in message for name in props), (t.name, message)
            for name, schema in props.items():
                if schema.get("type") in ("integer", "boolean") or "integer" in str(schema.get("anyOf", "")):
                    wrong = await c.call_tool(t.name, {name: {"not": "a number"}})
                    line = text(wrong)
                    assert wrong.is_error and "\n" not in line, (t.name, name, line)
                    assert "pydantic" not in line and "http" not in line and name in line, (t.name, name, line)
                    break


async def test_known_intents_name_the_right_argument_or_tool(tmp_path: Path) -> None:
    async with client("coordination", tmp_path) as c:
        task = data(await c.call_tool("task_create", {"title": "reproduce the flake"}))["task"]
        await c.call_tool("task_claim", {"task_id": task["id"]})
        failed = await c.call_tool("task_complete", {"task_id": task["id"], "status": "failed", "result": "red"})
        assert failed.is_error and "task_complete has no 'status'; use success=false" in text(failed)
        done = await c.call_tool("task_update", {"task_id": task["id"], "status": "done"})
        assert text(done) == "task_update cannot set status 'done'; finish with task_complete"
        blocked = await c.call_tool("task_create", {"title": "x", "blocked_by": [1]})
        assert "use depends_on" in text(blocked)
        near = await c.call_tool("task_list", {"statuss": ["open"]})
        assert "did you mean 'status'?" in text(near)
        listed = data(await c.call_tool("task_list", {}))
        assert [t["status"] for t in listed["tasks"]] == ["claimed"]  # nothing was half-done


async def test_a_lone_value_where_a_list_is_expected_and_numeric_strings_work(tmp_path: Path) -> None:
    async with client("coordination", tmp_path) as c:
        made = data(await c.call_tool("task_create", {"title": "x", "tags": "one", "max_attempts": "2"}))
        assert made["task"]["tags"] == ["one"] and made["task"]["max_attempts"] == 2
        assert data(await c.call_tool("task_list", {"status": "open", "limit": "5"}))["total"] == 1
        wrong = await c.call_tool("task_list", {"limit": "many"})
        assert text(wrong) == "task_list: 'limit' must be a whole number, not 'many'"
        boolean = await c.call_tool("task_create", {"title": "y", "max_attempts": True})  # pydantic's lax mode: 1
        assert text(boolean) == "task_create: 'max_attempts' must be a whole number, not True"
        assert text(await c.call_tool("task_list", {"limit": False})) == (
            "task_list: 'limit' must be a whole number, not False"
        )
        assert data(await c.call_tool("task_list", {}))["total"] == 1
    async with client("messaging", tmp_path) as c:
        seconds = await c.call_tool("message_wait", {"timeout": True})
        assert text(seconds) == "message_wait: 'timeout' must be a number, not True"


async def test_a_refusal_is_its_own_line_without_the_sdk_prefix(tmp_path: Path) -> None:
    async with client("coordination", tmp_path) as c:
        missing = await c.call_tool("task_claim", {"task_id": 99})
        assert missing.is_error and text(missing) == "task 99 does not exist; find tasks with task_list()"


async def test_refusals_pydantic_words_for_numbers_nested_keys_and_long_keys_are_ours(tmp_path: Path) -> None:
    async with client("coordination", tmp_path) as c:
        huge = await c.call_tool("task_create", {"title": "x", "depends_on": [1e308]})
        assert text(huge) == "task_create: 'depends_on[0]' must be a whole number below 2^63, not 1e+308"
        assert data(await c.call_tool("task_list", {}))["total"] == 0
    async with client("messaging", tmp_path) as c:
        nan = await c.call_tool("message_wait", {"timeout": "NaN"})
        assert text(nan) == "message_wait: 'timeout' must be a finite number, not 'NaN'"
    async with client("knowledge", tmp_path) as c:
        who = {"name": "who", "defualt": "you"}
        misspelt = {"name": "greet", "description": "d", "steps": ["hi {who}"], "parameters": [who]}
        nested = await c.call_tool("skill_define", misspelt)
        assert text(nested) == (
            "skill_define: 'parameters[0]' has no 'defualt' (it takes: name, description, required, default)"
        )
        assert data(await c.call_tool("skill_list", {}))["total"] == 0  # nothing was saved without it
        key = "k" * 5000
        long_key = await c.call_tool("skill_execute", {"name": "greet", "arguments": {key: "x"}})
        assert long_key.is_error and "\n" not in text(long_key) and len(text(long_key)) < 150, text(long_key)[:300]


async def test_a_list_below_its_minimum_and_a_text_off_its_pattern_name_the_rule(tmp_path: Path) -> None:
    async with client("coordination", tmp_path) as c:
        one = await c.call_tool("consensus_propose", {"title": "ship?", "options": ["yes"]})
        assert text(one) == "consensus_propose: 'options' needs at least 2 items, not 1"
        assert data(await c.call_tool("consensus_list", {"status": "all"}))["proposals"] == []
        surrogate = await c.call_tool("task_create", {"title": "a\ud800b"})
        assert text(surrogate) == "task_create: 'title' must be valid unicode text, not 'a\\ud800b'"
    async with client("knowledge", tmp_path) as c:
        lone = await c.call_tool("skill_compose", {"name": "both", "description": "d", "skills": ["build"]})
        assert text(lone) == "skill_compose: 'skills' needs at least 2 items, not 1"
        unnamed = {"name": "greet", "description": "d", "steps": ["hi"], "parameters": [{"name": "a b"}]}
        pattern = await c.call_tool("skill_define", unnamed)
        assert text(pattern) == (
            "skill_define: 'parameters[0].name' must match ^[A-Za-z_][A-Za-z0-9_]{0,39}$, not 'a b'"
        )
        assert data(await c.call_tool("skill_list", {}))["total"] == 0


async def test_an_unknown_tool_is_answered_with_the_tools(tmp_path: Path) -> None:
    async with client("coordination", tmp_path) as c:
        result = await c.call_tool("task_craete", {})
        assert result.is_error
        assert text(result).startswith("Unknown tool: task_craete; did you mean task_create?")
        assert "task_complete" in text(result) and "consensus_vote" in text(result)


@pytest.mark.parametrize("kind", SERVER_KINDS)
async def test_every_result_text_is_compact_json_without_empty_fields(kind: str, tmp_path: Path) -> None:
    async with client(kind, tmp_path) as c:
        answered = 0
        for t in (await c.list_tools()).tools:
            if t.input_schema.get("required") or "wait" in t.name or t.name == "sandbox_test":
                continue  # called with no arguments: only the tools that need none
            result = await c.call_tool(t.name, {})
            if result.is_error or result.structured_content is None or not text(result).startswith("{"):
                continue
            answered += 1
            body = text(result)
            assert "\n" not in body and ": " not in body.split('"')[0], (t.name, body[:200])
            parsed = json.loads(body)
            assert parsed == lean(result.structured_content), t.name
            assert "null" not in json.dumps(parsed) and '""' not in body, (t.name, body[:200])
        assert answered, kind
    async with client("coordination", tmp_path) as c:
        made = await c.call_tool("task_create", {"title": "x"})
        assert json.loads(text(made)) == lean(made.structured_content)
        assert "assignee" not in json.loads(text(made))["task"] and "assignee" in made.structured_content["task"]


async def test_message_send_to_one_name_given_as_a_string(tmp_path: Path) -> None:
    from servers.messaging import build_server

    async with Client(build_server(Settings(db=tmp_path / "rt.db", agent="planner"))):
        pass  # the planner exists
    async with client("messaging", tmp_path) as c:
        sent = data(await c.call_tool("message_send", {"to": "planner", "body": "hi"}))
        assert sent["delivered_to"] == ["planner"]


INVISIBLE = "\u200b \u200c\u200d\u2060\ufeff\u00ad\t"  # zero-width space, joiners, word joiner, BOM, soft hyphen


async def test_required_text_of_invisible_characters_only_is_refused_in_one_line(tmp_path: Path) -> None:
    async with client("coordination", tmp_path) as c:
        for title in ("\u200b", INVISIBLE):
            task = await c.call_tool("task_create", {"title": title})
            assert task.is_error and text(task) == "title has no visible characters; give it words"
        vote = await c.call_tool("consensus_propose", {"title": INVISIBLE})
        assert text(vote) == "title has no visible characters; give it words"
        option = await c.call_tool("consensus_propose", {"title": "ship?", "options": ["yes", "\u2060"]})
        assert text(option) == "option 2 has no visible characters; give each option words"
        idea = {"title": "t", "kind": "improvement", "change": "c", "why": "\ufeff", "expected_effect": "e"}
        assert "an improvement needs why" in text(await c.call_tool("consensus_propose", idea))
        coder = data(await c.call_tool("task_create", {"title": "\u200bthe \U0001f469\u200d\U0001f4bb task"}))
        assert coder["task"]["title"] == "\u200bthe \U0001f469\u200d\U0001f4bb task"  # visible among them: kept
        assert data(await c.call_tool("task_list", {}))["total"] == 1
    async with client("messaging", tmp_path) as c:
        mail = await c.call_tool("message_send", {"to": "ana", "body": INVISIBLE})
        assert text(mail) == "body has no visible characters; say something"
    async with client("knowledge", tmp_path) as c:
        entry = await c.call_tool("knowledge_add", {"title": "\u200d", "body": "b"})
        assert text(entry) == "title has no visible characters; give the entry a short, specific title"
        body = await c.call_tool("knowledge_add", {"title": "t", "body": INVISIBLE})
        assert text(body) == "body has no visible characters; write what you learned"
        lesson = {"title": "t", "context": "c", "tried": "t", "outcome": "success", "lesson": "\u200b\u200b"}
        assert text(await c.call_tool("experience_share", lesson)) == (
            "lesson has no visible characters; an experience needs context, what was tried and the lesson"
        )
        skill = await c.call_tool("skill_define", {"name": "greet", "description": INVISIBLE, "steps": ["hi"]})
        assert text(skill) == "description has no visible characters; say what the skill achieves and when to use it"
        step = await c.call_tool("skill_define", {"name": "greet", "description": "d", "steps": ["hi", "\u200b"]})
        assert text(step) == "step 2 has no visible characters; write what to do in it, or leave it out"
        assert data(await c.call_tool("knowledge_query", {}))["total"] == 0


@pytest.mark.engines("sqlite", "postgresql")
async def test_a_nul_character_in_any_text_is_refused_in_one_line_on_both_engines(settings: Settings) -> None:
    """PostgreSQL cannot store 0x00 in text (the call failed as a bare 'Error executing tool'); SQLite kept it."""
    nul = "a\x00b"
    calls = {
        "coordination": [
            ("task_create", {"title": nul}, "'title'"),
            ("task_create", {"title": "x", "tags": ["ok", nul]}, "'tags[1]'"),
            ("task_list", {"text": nul}, "'text'"),
            ("consensus_propose", {"title": nul}, "'title'"),
        ],
        "messaging": [
            ("message_send", {"to": ["ana"], "body": nul}, "'body'"),
            ("message_query", {"sender": nul}, "'sender'"),
        ],
        "knowledge": [
            ("knowledge_add", {"title": "t", "body": nul}, "'body'"),
            ("skill_list", {"text": nul}, "'text'"),
            ("skill_execute", {"name": "greet", "arguments": {"who": nul}}, "'arguments.who'"),
        ],
        "monitoring": [
            ("agent_register", {"activity": nul}, "'activity'"),
            ("event_log", {"object_type": nul}, "'object_type'"),
            ("agent_status", {"name": nul}, "'name'"),
        ],
    }
    for kind, tries in calls.items():
        module = importlib.import_module(f"servers.{kind}")
        async with Client(module.build_server(settings)) as c:
            for name, arguments, where in tries:
                result = await c.call_tool(name, arguments)
                assert result.is_error and text(result) == (
                    f"{name}: {where} must not contain a NUL character (\\x00); remove it"
                ), (name, text(result))
            assert not (await c.call_tool("start_here", {})).is_error  # the server answers on
    async with Client(importlib.import_module("servers.coordination").build_server(settings)) as c:
        assert data(await c.call_tool("task_list", {}))["total"] == 0  # nothing was written
    async with Client(importlib.import_module("servers.knowledge").build_server(settings)) as c:
        who = {"name": "who", "default": nul}
        nested = {"name": "greet", "description": "d", "steps": ["hi {who}"], "parameters": [who]}
        assert text(await c.call_tool("skill_define", nested)) == (
            "skill_define: 'parameters[0].default' must not contain a NUL character (\\x00); remove it"
        )


async def test_an_argument_a_mode_would_ignore_is_refused_and_a_default_or_agreeing_value_is_not(
    tmp_path: Path,
) -> None:
    async with client("coordination", tmp_path) as c:
        await c.call_tool("task_create", {"title": "x"})
        limit = await c.call_tool("task_list", {"task_id": 1, "limit": 5})  # was dropped: the one task came back
        assert text(limit) == "task_id reads one task in full; leave out limit, or drop task_id to filter the list"
        defaults = {"task_id": 1, "limit": 20, "ready_only": False, "status": [], "text": ""}  # a client's defaults
        assert data(await c.call_tool("task_list", defaults))["task"]["id"] == 1
        await c.call_tool("consensus_propose", {"title": "ship?", "voters": ["ana"]})
        assert text(await c.call_tool("consensus_list", {"proposal_id": 1, "limit": 3})) == (
            "proposal_id reads one proposal in full; leave out limit, or drop proposal_id to filter the list"
        )
    async with client("messaging", tmp_path) as c:
        await c.call_tool("message_send", {"to": ["ana"], "body": "hi"})
        thread = await c.call_tool("message_query", {"thread": 2, "text": "nothing like it", "limit": 1})
        assert text(thread) == (
            "thread reads that whole thread, read or not; leave out text, limit, or drop thread to filter your mail"
        )
        unread = await c.call_tool("message_query", {"thread": 2, "unread_only": True})
        assert "leave out unread_only" in text(unread)
        whole = data(await c.call_tool("message_query", {"thread": 2, "unread_only": False, "mark_read": False}))
        assert [m["body"] for m in whole["messages"]] == ["hi"]
        sent = await c.call_tool("message_query", {"sent": True, "sender": "ana", "since": "1h"})
        assert text(sent) == (
            "sent lists the mail you sent with who read and acknowledged it; leave out sender, since, or drop sent"
            " to filter your inbox"
        )
        mine = data(await c.call_tool("message_query", {"sent": True, "unread_only": False, "limit": 5}))
        assert [m["body"] for m in mine["messages"]] == ["hi"]
        assert len(data(await c.call_tool("message_query", {}))["messages"]) == 2  # the refusals marked none read


async def test_an_agent_name_with_spaces_around_it_is_that_agent_and_a_blank_one_is_none(tmp_path: Path) -> None:
    """' bo ' was 'no agent is named ...' in agent_status, matched no event in event_log, and a blank assignee
    was "no agent is named ''"."""
    from servers.coordination import build_server

    async with Client(build_server(Settings(db=tmp_path / "rt.db", agent="bo"))):
        pass  # bo exists
    async with client("coordination", tmp_path) as c:
        assert data(await c.call_tool("task_create", {"title": "x", "assignee": " bo "}))["task"]["assignee"] == "bo"
        assert data(await c.call_tool("task_create", {"title": "y", "assignee": "   "}))["task"]["assignee"] is None
    async with client("monitoring", tmp_path) as c:
        assert [a["name"] for a in data(await c.call_tool("agent_status", {"name": "  bo  "}))["agents"]] == ["bo"]
        joined = data(await c.call_tool("event_log", {"agent": " bo ", "kind": "agent."}))["events"]
        assert [e["kind"] for e in joined] == ["agent.joined"]
    async with Client(build_server(Settings(db=tmp_path / "rt.db", agent="bo"))) as bo:
        await bo.call_tool("task_create", {"title": "z", "assignee": "ana"})  # a notice from the system
    async with client("messaging", tmp_path) as c:
        await c.call_tool("message_send", {"to": ["ana"], "body": "to myself"})
        for blank in ("", "   "):  # sender="" answered an empty inbox, "   " no agent named '   '
            mail = data(await c.call_tool("message_query", {"sender": blank, "mark_read": False}))["messages"]
            assert [m["sender"] for m in mail] == ["system", "ana"], (blank, mail)
        mine = data(await c.call_tool("message_query", {"sender": " ana ", "mark_read": False}))["messages"]
        assert [m["body"] for m in mine] == ["to myself"]
        notices = data(await c.call_tool("message_query", {"sender": " System ", "mark_read": False}))["messages"]
        assert [m["sender"] for m in notices] == ["system"]


async def test_items_run_together_with_commas_are_refused_shown_apart(tmp_path: Path) -> None:
    """tags="a, b" was kept as the one tag 'a, b' (a lone value is taken as a list of it)."""
    async with client("coordination", tmp_path) as c:
        tags = await c.call_tool("task_create", {"title": "x", "tags": "ci, flaky"})
        assert text(tags) == "task_create: 'tags[0]' is one item, not a list: give each its own, e.g. ['ci', 'flaky']"
        needs = await c.call_tool("task_create", {"title": "x", "requires": ["gpu,cuda"]})
        assert text(needs) == (
            "task_create: 'requires[0]' is one item, not a list: give each its own, e.g. ['gpu', 'cuda']"
        )
        assert data(await c.call_tool("task_list", {}))["total"] == 0
        assert data(await c.call_tool("task_create", {"title": "x", "tags": ["ci", "flaky"]}))["task"]["tags"] == [
            "ci",
            "flaky",
        ]
    async with client("messaging", tmp_path) as c:
        to = await c.call_tool("message_send", {"to": "ana, bo", "body": "hi"})
        assert text(to) == "message_send: 'to[0]' is one item, not a list: give each its own, e.g. ['ana', 'bo']"
    async with client("monitoring", tmp_path) as c:
        caps = await c.call_tool("agent_register", {"capabilities": "python, sql"})
        assert "'capabilities[0]' is one item, not a list" in text(caps)


async def test_task_list_filters_that_together_match_no_task_ever_are_refused(tmp_path: Path) -> None:
    """mine with ready_only, or ready_only with status=['done'], answered an empty list as if nothing matched."""
    async with client("coordination", tmp_path) as c:
        await c.call_tool("task_create", {"title": "x"})
        await c.call_tool("task_claim", {"task_id": 1})
        both = await c.call_tool("task_list", {"mine": True, "ready_only": True})
        assert text(both) == "mine lists the tasks you hold, none of them ready to claim; pass mine or ready_only"
        done = await c.call_tool("task_list", {"ready_only": True, "status": ["open", "done"]})
        assert text(done) == "ready_only lists open tasks you could claim now; leave out status, or drop ready_only"
        held = await c.call_tool("task_list", {"mine": True, "status": ["open"]})
        assert text(held) == "mine lists the tasks you hold (claimed); leave out status, or drop mine"
        assert data(await c.call_tool("task_list", {"mine": True, "status": ["claimed"]}))["total"] == 1
        assert data(await c.call_tool("task_list", {"ready_only": True, "status": ["open"]}))["total"] == 0


@pytest.mark.engines("sqlite", "postgresql")
async def test_a_whole_number_beyond_64_bits_is_refused_naming_the_argument(settings: Settings) -> None:
    """It reached the database and came back as 'a number is too large …', naming no argument."""
    big = 2**63
    async with Client(importlib.import_module("servers.coordination").build_server(settings)) as c:
        listed = await c.call_tool("task_list", {"task_id": big})
        assert text(listed) == f"task_list: 'task_id' must be a whole number below 2^63, not {big}"
        deps = await c.call_tool("task_create", {"title": "x", "depends_on": [1, big * 2]})
        assert text(deps) == f"task_create: 'depends_on[1]' must be a whole number below 2^63, not {big * 2}"
        assert data(await c.call_tool("task_list", {}))["total"] == 0
        assert "does not exist" in text(await c.call_tool("task_list", {"task_id": big - 1}))
    async with Client(importlib.import_module("servers.messaging").build_server(settings)) as c:
        acks = await c.call_tool("message_acknowledge", {"ids": [big]})
        assert text(acks) == f"message_acknowledge: 'ids[0]' must be a whole number below 2^63, not {big}"


async def test_a_boolean_in_a_list_of_numbers_is_refused_not_read_as_1(tmp_path: Path) -> None:
    """depends_on=true made the task depend on task 1, ids=[true] acknowledged message 1 (pydantic's lax mode)."""
    async with client("coordination", tmp_path) as c:
        await c.call_tool("task_create", {"title": "first"})
        lone = await c.call_tool("task_create", {"title": "x", "depends_on": True})
        assert text(lone) == "task_create: 'depends_on[0]' must be a whole number, not True"
        later = await c.call_tool("task_create", {"title": "x", "depends_on": [1, False]})
        assert text(later) == "task_create: 'depends_on[1]' must be a whole number, not False"
        assert data(await c.call_tool("task_list", {}))["total"] == 1
        await c.call_tool("task_claim", {"task_id": 1})
        drop = await c.call_tool("task_update", {"task_id": 1, "remove_depends_on": [True]})
        assert text(drop) == "task_update: 'remove_depends_on[0]' must be a whole number, not True"
        assert data(await c.call_tool("task_create", {"title": "y", "depends_on": ["1"]}))["task"]["depends_on"] == [1]
    async with client("messaging", tmp_path) as c:
        await c.call_tool("message_send", {"to": ["ana"], "body": "hi", "ack_required": True})
        ack = await c.call_tool("message_acknowledge", {"ids": True})
        assert text(ack) == "message_acknowledge: 'ids[0]' must be a whole number, not True"
        assert data(await c.call_tool("start_here", {}))["owe_acks"] == 1  # nothing was acknowledged


async def test_a_refusal_never_echoes_a_huge_name_back(tmp_path: Path) -> None:
    """A 100 KB tool name came back whole in 'Unknown tool: …' (an argument's name in 'task_list has no …'), a
    100 KB prompt name or argument in the prompts/get refusal: the answer is cut to one short line."""
    huge = "x" * 100_000
    async with client("coordination", tmp_path) as c:
        unknown = await c.call_tool(huge, {})
        assert unknown.is_error and text(unknown).startswith("Unknown tool: xxx") and len(text(unknown)) < 300
        argument = await c.call_tool("task_list", {huge: 1})  # an unknown argument's name came back whole too
        assert text(argument).startswith("task_list has no 'xxx") and len(text(argument)) < 200, text(argument)[:300]
        assert not (await c.call_tool("start_here", {})).is_error
    async with client("knowledge", tmp_path) as c:
        greet = {"name": "greet", "description": "d", "steps": ["hi {who}"], "parameters": [{"name": "who"}]}
        data(await c.call_tool("skill_define", greet))
        with pytest.raises(MCPError) as name:
            await c.get_prompt(huge, {})
        assert name.value.error.message.startswith("skill name 'xxx") and len(name.value.error.message) < 200
        with pytest.raises(MCPError) as key:
            await c.get_prompt("greet", {"who": "bo", huge: "x"})
        assert "has no parameter 'xxx" in key.value.error.message and len(key.value.error.message) < 200


async def test_a_refusal_naming_many_values_names_a_few_and_counts_the_rest(tmp_path: Path) -> None:
    """500 unknown ids came back as a 10 KB answer, 50 unknown names of 100 characters as 5 KB."""
    async with client("messaging", tmp_path) as c:
        ids = list(range(10**12, 10**12 + 500))
        acks = await c.call_tool("message_acknowledge", {"ids": ids})
        assert text(acks) == (
            f"messages [{', '.join(map(str, ids[:10]))} and 490 more] are not addressed to you; see message_query()"
        )
        names = [f"{i:02d}" + "y" * 98 for i in range(50)]
        mail = await c.call_tool("message_send", {"to": names, "body": "hi"})
        assert text(mail).startswith("no agent is named '00yyy") and " and 45 more; known agents: ana" in text(mail)
        assert len(text(mail)) < 400, len(text(mail))
    async with client("coordination", tmp_path) as c:
        deps = await c.call_tool("task_create", {"title": "x", "depends_on": list(range(10**12, 10**12 + 50))})
        assert "and 40 more]; check the ids with task_list()" in text(deps) and len(text(deps)) < 300
        assert data(await c.call_tool("task_list", {}))["total"] == 0


async def test_null_for_an_optional_argument_is_that_argument_left_out(tmp_path: Path) -> None:
    """Models send null for "no value": it was "task_list: 'limit' must be a whole number, not None"."""
    async with client("coordination", tmp_path) as c:
        nulls = {"title": "x", "description": None, "priority": None, "tags": None, "max_attempts": None}
        made = data(await c.call_tool("task_create", nulls))["task"]
        assert (made["priority"], made["tags"], made["max_attempts"]) == ("normal", [], 3)
        listed = data(await c.call_tool("task_list", {"limit": None, "ready_only": None, "status": None}))
        assert listed["total"] == 1
        required = await c.call_tool("task_create", {"title": None})
        assert text(required) == "task_create: 'title' must be text, not None"
        mode = await c.call_tool("task_list", {"task_id": 1, "limit": None})  # left out: the mode is not crossed
        assert data(mode)["task"]["id"] == 1
    async with client("messaging", tmp_path) as c:
        assert data(await c.call_tool("message_query", {"unread_only": None, "mark_read": None}))["unread_left"] == 0


async def test_task_list_tag_and_text_with_spaces_around_them_are_that_tag_and_text(tmp_path: Path) -> None:
    """tag=' ci ' matched no task tagged 'ci' (tags are stripped on write), text='   ' only text holding three
    spaces: both answered total 0 as if nothing matched."""
    async with client("coordination", tmp_path) as c:
        await c.call_tool("task_create", {"title": "the flaky one", "tags": [" ci "]})  # stored as 'ci'
        await c.call_tool("task_create", {"title": "another"})
        tagged = data(await c.call_tool("task_list", {"tag": " ci "}))
        assert [t["title"] for t in tagged["tasks"]] == ["the flaky one"]
        assert data(await c.call_tool("task_list", {"text": " flaky  "}))["total"] == 1
        assert data(await c.call_tool("task_list", {"tag": "  ", "text": "   "}))["total"] == 2  # blank: no filter
