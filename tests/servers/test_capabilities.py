"""Each server advertises what it serves, in both protocol eras, and refuses the rest with the spec's codes."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from shared.config import Settings

pytestmark = pytest.mark.anyio

# server kind -> (serves resources, resources are subscribable, serves prompts)
SERVES = {
    "coordination": (True, False, False),  # roundtable://me, on every server (servers/orientation.py)
    "messaging": (True, True, False),
    "knowledge": (True, False, True),
    "monitoring": (True, True, False),
}


@pytest.mark.parametrize("mode", ["legacy", "auto"])
@pytest.mark.parametrize("kind", sorted(SERVES))
async def test_capabilities_name_only_what_the_server_serves(settings: Settings, kind: str, mode: str) -> None:
    resources, subscribe, prompts = SERVES[kind]
    build: Any = importlib.import_module(f"servers.{kind}").build_server
    async with Client(build(settings), mode=mode) as client:  # type: ignore[arg-type]
        caps = client.server_capabilities
        assert caps is not None and caps.tools is not None and not caps.tools.list_changed
        assert (caps.resources is not None) == resources, caps
        if caps.resources is not None:
            assert bool(caps.resources.subscribe) == subscribe and not caps.resources.list_changed
        assert (caps.prompts is not None) == prompts, caps
        if caps.prompts is not None:
            assert caps.prompts.list_changed
        if not prompts:
            with pytest.raises(MCPError) as refused:
                await client.get_prompt("anything")
            assert refused.value.error.code == -32601  # method not found: this server has no prompts
        if resources:
            with pytest.raises(MCPError) as unknown:
                await client.read_resource("roundtable://no-such-thing")
            # the spec's "resource not found": -32002 up to 2025-11-25; 2026-07-28 retired it for -32602
            assert unknown.value.error.code == (-32002 if mode == "legacy" else -32602)


@pytest.mark.parametrize("mode", ["legacy", "auto"])
@pytest.mark.parametrize("kind", sorted(SERVES))
async def test_what_a_server_advertises_is_what_it_serves_and_every_listed_resource_reads(
    settings: Settings, kind: str, mode: str
) -> None:
    """Issue 15: roundtable://me is registered on every server, so every server advertises resources and
    answers resources/list and resources/read; a server advertising none would hide it from clients."""
    build: Any = importlib.import_module(f"servers.{kind}").build_server
    server = build(settings)
    registered = {str(r.uri) for r in server._resource_manager.list_resources()}  # what the server serves
    async with Client(server, mode=mode) as client:  # type: ignore[arg-type]
        caps = client.server_capabilities
        assert caps is not None and (caps.resources is not None) == bool(registered), (caps, registered)
        listed = {str(r.uri) for r in (await client.list_resources()).resources}
        assert listed == registered and "roundtable://me" in listed
        for uri in listed:
            read = await client.read_resource(uri)
            assert read.contents, uri
        if caps.prompts is not None:
            await client.list_prompts()


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_an_unknown_resource_is_answered_with_where_it_is_or_the_servers_resources(
    settings: Settings, mode: str
) -> None:
    """It was 'Unknown resource: roundtable://inbox' on the coordination server, with no way on."""
    build: Any = importlib.import_module("servers.coordination").build_server
    async with Client(build(settings), mode=mode) as client:  # type: ignore[arg-type]
        with pytest.raises(MCPError) as elsewhere:
            await client.read_resource("roundtable://inbox")
        assert elsewhere.value.error.message == (
            "Unknown resource: roundtable://inbox; it is the messaging server's (roundtable-messaging);"
            " this server's resources: roundtable://me"
        )
        with pytest.raises(MCPError) as unknown:
            await client.read_resource("roundtable://" + "x" * 5000)
        assert unknown.value.error.code == (-32002 if mode == "legacy" else -32602)
        message = unknown.value.error.message
        assert message.endswith("; this server's resources: roundtable://me") and len(message) < 150, message
        with pytest.raises(MCPError) as huge:  # its data echoed the whole URI back (a 100 KB one too)
            await client.read_resource("roundtable://" + "x" * 100_000)
        assert len(str(huge.value.error.data)) < 1100 and len(huge.value.error.message) < 150
