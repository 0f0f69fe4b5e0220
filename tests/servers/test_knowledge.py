"""The knowledge server through the in-process client: adding and finding knowledge, identity and roles,
experience announcements reaching the messaging server's followers, skills as tools and as prompts, and the
prompts list-changed notification in both protocol eras."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import PromptListChangedNotification, ServerNotification

from servers import messaging, monitoring
from servers.knowledge import build_server
from shared.config import Settings
from tests.results import data, text

pytestmark = [pytest.mark.anyio, pytest.mark.engines("sqlite", "postgresql")]


SHIP = {
    "name": "ship",
    "description": "Ship a branch to an environment",
    "parameters": [{"name": "branch", "description": "what to ship"}, {"name": "env", "default": "staging"}],
    "steps": ["Run the tests on {branch}", "Deploy {branch} to {env}", "Post {{done}} in topic:deploys"],
}


async def test_what_one_agent_adds_another_finds_with_its_author(settings: Settings, as_agent: Any) -> None:
    async with Client(build_server(settings)) as ana, Client(build_server(as_agent("bo"))) as bo:
        added = data(
            await ana.call_tool(
                "knowledge_add",
                {
                    "title": "WAL needs a local disk",
                    "body": "Never put the db on NFS",
                    "kind": "fact",
                    "tags": ["sqlite"],
                },
            )
        )
        found = data(await bo.call_tool("knowledge_query", {"text": "nfs", "kind": "fact", "author": "ana"}))
        assert [h["id"] for h in found["hits"]] == [added["entry"]["id"]]
        assert found["hits"][0]["author"] == "ana" and found["total"] == 1
        detail = data(await bo.call_tool("knowledge_get", {"entry_id": added["entry"]["id"]}))
        assert detail["entry"]["body"] == "Never put the db on NFS" and detail["current"] == added["entry"]["id"]
        twin = data(await bo.call_tool("knowledge_add", {"title": "wal needs a LOCAL disk", "body": "or SMB"}))
        assert [d["author"] for d in twin["possible_duplicates"]] == ["ana"]
        assert "supersedes=<its id>" in twin["next_step"]
        unknown = await bo.call_tool("knowledge_query", {"text": "nfs", "author": "zed"})
        assert unknown.is_error and "no agent is named 'zed'" in text(unknown)
        for blank in ("", "  "):  # listed the newest, raw dropped
            raw = await bo.call_tool("knowledge_query", {"text": blank, "raw": True})
            assert text(raw) == "raw=true reads text as FTS5 syntax; give text, or leave raw out"
        assert data(await bo.call_tool("knowledge_query", {"text": "NFS OR SMB", "raw": True}))["total"] == 2


async def test_a_retried_add_returns_the_entry_already_recorded(settings: Settings) -> None:
    async with Client(build_server(settings)) as ana:
        entry = {"title": "Release steps", "body": "tag, build, publish", "kind": "howto"}
        first = data(await ana.call_tool("knowledge_add", entry))
        retry = data(await ana.call_tool("knowledge_add", entry))
        assert not first["already_recorded"] and retry["already_recorded"]
        assert retry["entry"]["id"] == first["entry"]["id"] and "nothing new was written" in retry["next_step"]
        tagged = await ana.call_tool("knowledge_add", {**entry, "tags": ["ci"], "links": ["docs/RELEASE.md"]})
        assert text(tagged) == (  # was 'already recorded' with the tags and links dropped
            "you recorded this title and body as entry 1 with other tags and links; to change them, add it again"
            " with supersedes=1"
        )
        assert data(await ana.call_tool("knowledge_query", {"text": "release"}))["total"] == 1
        same = data(await ana.call_tool("knowledge_add", {**entry, "tags": [], "source": ""}))
        assert same["already_recorded"]  # the same details, given empty
        fixed = data(await ana.call_tool("knowledge_add", {**entry, "tags": ["ci"], "supersedes": 1}))
        assert fixed["entry"]["tags"] == ["ci"] and fixed["entry"]["supersedes"] == 1


async def test_a_retried_experience_share_is_neither_stored_nor_announced_twice(
    settings: Settings, as_agent: Any
) -> None:
    async with Client(build_server(settings)) as ana, Client(messaging.build_server(as_agent("bo"))) as bo_mail:
        data(await bo_mail.call_tool("message_subscribe", {"subscribe": ["knowledge.experience"]}))
        lesson = {"title": "t", "context": "c", "tried": "t", "outcome": "success", "lesson": "l"}
        first = data(await ana.call_tool("experience_share", lesson))
        retry = data(await ana.call_tool("experience_share", lesson))
        assert not first["already_recorded"] and first["announced_to"] == ["bo"]
        assert retry["already_recorded"] and retry["entry"]["id"] == first["entry"]["id"]
        assert retry["message_id"] is None and retry["announced_to"] == []
        tagged = await ana.call_tool("experience_share", {**lesson, "tags": ["ci"]})  # the tags were dropped
        assert text(tagged) == (
            "you shared this experience as entry 1 with other tags (none), announced then and kept as shared; share"
            " it with those tags, or give a new lesson its own title"
        )
        assert len(data(await bo_mail.call_tool("message_query", {}))["messages"]) == 1


async def test_skill_list_text_matches_every_word_anywhere(settings: Settings) -> None:
    async with Client(build_server(settings)) as ana:
        data(await ana.call_tool("skill_define", SHIP))
        assert [k["name"] for k in data(await ana.call_tool("skill_list", {"text": "branch SHIP"}))["skills"]] == [
            "ship"
        ]
        assert data(await ana.call_tool("skill_list", {"text": "branch sail"}))["skills"] == []


async def test_observers_may_search_but_not_write(settings: Settings, as_agent: Any) -> None:
    async with Client(build_server(as_agent("watcher", role="observer"))) as observer:
        assert data(await observer.call_tool("knowledge_query", {"text": "anything"}))["total"] == 0
        for name, args in [
            ("knowledge_add", {"title": "t", "body": "b"}),
            ("experience_share", {"title": "t", "context": "c", "tried": "t", "outcome": "success", "lesson": "l"}),
            ("skill_define", SHIP),
        ]:
            refused = await observer.call_tool(name, args)
            assert refused.is_error and "observer" in text(refused), name


async def test_an_agent_renamed_by_another_of_its_servers_writes_under_its_new_name(
    settings: Settings, as_agent: Any
) -> None:
    async with (
        Client(build_server(settings)) as ana,
        Client(monitoring.build_server(settings)) as ana_monitoring,
        Client(messaging.build_server(as_agent("bo"))) as bo_mail,
    ):
        data(await bo_mail.call_tool("message_subscribe", {"subscribe": ["knowledge.experience"]}))
        data(await ana_monitoring.call_tool("agent_register", {"name": "ana-lead"}))
        lesson = {"title": "t", "context": "c", "tried": "t", "outcome": "success", "lesson": "l"}
        data(await ana.call_tool("experience_share", lesson))
        mail = data(await bo_mail.call_tool("message_query", {}))["messages"]
        assert [m["sender"] for m in mail] == ["ana-lead"] and mail[0]["body"].startswith("ana-lead shared")


async def test_experiences_are_announced_to_followers_of_the_topic(settings: Settings, as_agent: Any) -> None:
    async with (
        Client(build_server(settings)) as ana,
        Client(messaging.build_server(as_agent("bo"))) as bo_mail,
    ):
        data(await bo_mail.call_tool("message_subscribe", {"subscribe": ["knowledge.experience"]}))
        shared = data(
            await ana.call_tool(
                "experience_share",
                {
                    "title": "Flaky CI",
                    "context": "CI fails one run in five",
                    "tried": "retrying network tests",
                    "outcome": "success",
                    "lesson": "retry only tests marked network",
                    "tags": ["ci"],
                },
            )
        )
        assert shared["announced_to"] == ["bo"] and shared["entry"]["kind"] == "experience"
        mail = data(await bo_mail.call_tool("message_query", {}))["messages"]
        assert [(m["sender"], m["topic"]) for m in mail] == [("ana", "knowledge.experience")]
        assert "retry only tests marked network" in mail[0]["body"]
        found = data(await ana.call_tool("knowledge_query", {"text": "flaky", "kind": "experience"}))
        assert found["total"] == 1


async def test_skills_are_defined_listed_and_executed_as_tools(settings: Settings) -> None:
    async with Client(build_server(settings)) as ana:
        saved = data(await ana.call_tool("skill_define", SHIP))
        assert saved["skill"]["version"] == 1
        listed = data(await ana.call_tool("skill_list", {}))
        assert [s["name"] for s in listed["skills"]] == ["ship"] and listed["total"] == 1
        run = data(await ana.call_tool("skill_execute", {"name": "ship", "arguments": {"branch": "main"}}))
        assert run["steps"] == ["Run the tests on main", "Deploy main to staging", "Post {done} in topic:deploys"]
        missing = await ana.call_tool("skill_execute", {"name": "ship", "arguments": {"env": "prod"}})
        assert missing.is_error and "needs branch" in text(missing) and "env (optional)" in text(missing)
        hostile = await ana.call_tool("skill_define", {**SHIP, "steps": ["{branch.__class__}"]})
        assert hostile.is_error and "not a placeholder" in text(hostile)
        both = [{"name": "branch", "required": True, "default": "main"}]  # was saved as optional, required dropped
        assert text(await ana.call_tool("skill_define", {**SHIP, "parameters": both})) == (
            "parameter 'branch' has a default, so it is optional; leave out required=true, or drop the default"
        )
        data(await ana.call_tool("skill_define", {"name": "announce", "description": "tell", "steps": ["say hi"]}))
        composed = data(
            await ana.call_tool(
                "skill_compose", {"name": "release", "description": "ship, then tell", "skills": ["ship", "announce"]}
            )
        )
        assert composed["skill"]["composed_of"] == ["ship@1", "announce@1"]
        odd = {"name": "odd", "description": "d", "skills": ["ship@²", "announce"]}  # a digit to isdigit, not int()
        refused = await ana.call_tool("skill_compose", odd)
        assert refused.is_error and "'name@3'" in text(refused), text(refused)
        some = data(await ana.call_tool("skill_list", {"text": "then tell", "limit": 1}))
        assert [s["name"] for s in some["skills"]] == ["release"] and some["total"] == 1 and some["next_cursor"] is None
        first = data(await ana.call_tool("skill_list", {"limit": 2}))
        assert first["total"] == 3 and first["next_cursor"] == "2"
        past = data(await ana.call_tool("skill_list", {"cursor": "9"}))  # it said "No skills found; save one"
        assert past["skills"] == [] and past["next_step"] == (
            "No skills past cursor 9: the 3 matching are on earlier pages; omit cursor to start over."
        )


async def test_skills_appear_as_prompts_and_render_with_arguments(settings: Settings, as_agent: Any) -> None:
    async with Client(build_server(settings)) as ana, Client(build_server(as_agent("bo"))) as bo:
        data(await ana.call_tool("skill_define", SHIP))
        prompts = (await bo.list_prompts()).prompts  # defined through another connection: read from the db
        assert [(p.name, p.description) for p in prompts] == [("ship", SHIP["description"])]
        assert [(a.name, a.required) for a in prompts[0].arguments or []] == [("branch", True), ("env", False)]
        got = await bo.get_prompt("ship", {"branch": "main", "env": "prod"})
        body = got.messages[0].content.text  # type: ignore[union-attr]
        assert "1. Run the tests on main" in body and "2. Deploy main to prod" in body
        with pytest.raises(MCPError, match="needs branch"):
            await bo.get_prompt("ship", {})
        with pytest.raises(MCPError, match="no skill named 'sail'"):
            await bo.get_prompt("sail", {})
        with pytest.raises(MCPError, match="is not one prompts/list returned"):
            await bo.list_prompts(cursor="page-two", cache_mode="bypass")


async def wait_for_prompt(client: Client, name: str, changed: anyio.Event) -> None:
    with anyio.fail_after(5):
        await changed.wait()
    assert name in [p.name for p in (await client.list_prompts()).prompts]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_prompt_menus_hear_when_another_process_changes_skills(
    settings: Settings, as_agent: Any, mode: str
) -> None:
    changed = anyio.Event()

    async def on_message(message: Any) -> None:
        root = getattr(message, "root", message)
        if isinstance(message, ServerNotification | PromptListChangedNotification) and isinstance(
            root, PromptListChangedNotification
        ):
            changed.set()

    async with (
        Client(build_server(settings), mode=mode, message_handler=on_message) as ana,  # type: ignore[arg-type]
        Client(build_server(as_agent("bo"))) as bo,
    ):
        if mode == "legacy":
            assert ana.server_capabilities.prompts and ana.server_capabilities.prompts.list_changed
            assert (await ana.list_prompts()).prompts == []  # listing prompts is what asks for changes
            data(await bo.call_tool("skill_define", SHIP))
            await wait_for_prompt(ana, "ship", changed)
        else:
            async with ana.listen(prompts_list_changed=True) as sub:
                data(await bo.call_tool("skill_define", SHIP))
                with anyio.fail_after(5):
                    async for _ in sub:
                        if "ship" in [p.name for p in (await ana.list_prompts()).prompts]:
                            break
                data(await ana.call_tool("skill_define", {**SHIP, "name": "mine"}))  # this process: published at once
                with anyio.fail_after(5):
                    async for _ in sub:
                        if "mine" in [p.name for p in (await ana.list_prompts()).prompts]:
                            break


async def test_a_client_that_lists_prompts_often_hears_each_change_once(settings: Settings, as_agent: Any) -> None:
    heard: list[Any] = []

    async def on_message(message: Any) -> None:
        if isinstance(getattr(message, "root", message), PromptListChangedNotification):
            heard.append(message)

    server = build_server(settings)
    async with (
        Client(server, mode="legacy", message_handler=on_message) as ana,  # type: ignore[arg-type]
        Client(build_server(as_agent("bo"))) as bo,
    ):
        for _ in range(6):
            await ana.list_prompts()
        assert len(server.current().notifier.prompt_sessions) == 1
        data(await bo.call_tool("skill_define", SHIP))
        with anyio.fail_after(5):
            while not heard:
                await anyio.sleep(0.02)
        await anyio.sleep(0.5)
        assert len(heard) == 1
