"""The shared server base: lifespan registration, the tool decorator's error mapping, observers."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import pytest
from mcp import Client
from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from shared.config import Settings
from shared.errors import NotFound
from shared.frame.runtime import Runtime, create_server, runtime
from shared.frame.tool import tool
from tests.results import text

pytestmark = pytest.mark.anyio


def toy_server(settings: Settings) -> MCPServer[Runtime]:
    mcp = create_server("toy", settings, instructions="A toy server for tests.")

    @tool(mcp, read_only=True)
    async def whoami(ctx: Context[Any, Any]) -> dict[str, str]:
        """Say which agent this process speaks for."""
        me = runtime(ctx).agent
        return {"id": me.id, "name": me.name}

    @tool(mcp, read_only=True)
    async def lookup(item: Annotated[int, Field(ge=1, description="an id")], ctx: Context[Any, Any]) -> str:
        """Fail the way a store fails."""
        raise NotFound(f"item {item} does not exist; list items first")

    @tool(mcp, read_only=False)
    async def write(ctx: Context[Any, Any]) -> str:
        """A write that observers may not do."""
        runtime(ctx).require_writer()
        return "written"

    return mcp


async def test_the_lifespan_registers_this_agent_and_a_session(settings: Settings) -> None:
    async with Client(toy_server(settings)) as client:
        result = await client.call_tool("whoami", {})
        assert result.structured_content == {"id": "named:ana", "name": "ana"}


async def test_domain_errors_reach_the_model_with_their_message(settings: Settings) -> None:
    async with Client(toy_server(settings)) as client:
        result = await client.call_tool("lookup", {"item": 7})
        assert result.is_error
        assert "item 7 does not exist; list items first" in text(result)
        bad = await client.call_tool("lookup", {"item": 0})
        assert bad.is_error


async def test_tools_carry_true_annotations(settings: Settings) -> None:
    async with Client(toy_server(settings)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert tools["whoami"].annotations is not None and tools["whoami"].annotations.read_only_hint
        assert tools["write"].annotations is not None and tools["write"].annotations.read_only_hint is False
        assert tools["lookup"].input_schema["properties"]["item"]["minimum"] == 1


async def test_observers_are_refused_writes_with_the_fix(settings: Settings) -> None:
    async with Client(toy_server(replace(settings, role="observer"))) as client:
        result = await client.call_tool("write", {})
        assert result.is_error
        assert "ROUNDTABLE_ROLE=worker" in text(result)


async def test_a_file_that_is_not_a_database_gives_a_clear_error_and_the_server_answers(
    settings: Settings,
) -> None:
    settings.db.write_bytes(b"this is not sqlite" * 100)
    async with Client(toy_server(settings)) as client:
        result = await client.call_tool("whoami", {})
        assert result.is_error
        assert "not a SQLite database" in text(result)
        assert (await client.list_tools()).tools


async def test_a_folder_given_as_the_database_is_named_as_a_folder_with_the_file_to_give(
    settings: Settings, tmp_path: Path
) -> None:
    # `--db .roundtable` for `--db .roundtable/roundtable.db`: the servers said "missing folder or permissions".
    folder = tmp_path / ".roundtable"
    folder.mkdir()
    async with Client(toy_server(replace(settings, db=folder))) as client:
        result = await client.call_tool("whoami", {})
        assert result.is_error
        assert f"{folder} is a folder, not a database file" in text(result)
        assert f"e.g. {folder / 'roundtable.db'}" in text(result)
