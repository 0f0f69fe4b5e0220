"""`roundtable connect URL --token …`: a local stdio MCP server forwarding to one remote Roundtable endpoint.

For Claude Desktop and any stdio-only client: Desktop takes neither remote servers nor headers from its
config file. The bridge connects to the endpoint (streamable HTTP, the bearer token in every request,
the initialize handshake so the remote server can push notifications), then serves over stdio the remote
server's name, instructions, tools, resources and prompts, forwarding every call and its result or error
unchanged. Notifications forwarded: resource updates (the bridge subscribes remotely to every resource the
endpoint lists, and to any other a local client subscribes to) and tool, resource and prompt list
changes, to local clients of either protocol era (older: `resources/subscribe`; 2026-07-28:
`subscriptions/listen`).
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp.client.client import ConnectMode
from mcp.client.session import MessageHandlerFnT
from mcp.client.streamable_http import streamable_http_client
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import NotificationOptions, Server
from mcp.server.session import ServerSession
from mcp.server.stdio import stdio_server
from mcp.server.subscriptions import (
    InMemorySubscriptionBus,
    ListenHandler,
    PromptsListChanged,
    ResourceUpdated,
)
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp.types import (
    CallToolRequestParams,
    CallToolResult,
    EmptyResult,
    GetPromptRequestParams,
    GetPromptResult,
    InputRequiredResult,
    ListPromptsResult,
    ListResourcesResult,
    ListResourceTemplatesResult,
    ListToolsResult,
    PaginatedRequestParams,
    PromptListChangedNotification,
    ReadResourceRequestParams,
    ReadResourceResult,
    ResourceListChangedNotification,
    ResourceUpdatedNotification,
    SubscribeRequestParams,
    ToolListChangedNotification,
    UnsubscribeRequestParams,
)

from shared import __version__
from shared.frame import wire

log = logging.getLogger("roundtable.connect")
GONE = (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError)


class Sessions:
    """Where the remote server's notifications go: the local clients' sessions (older protocol: resource
    updates only to the sessions subscribed to that resource) and the bus (2026-07-28 listeners)."""

    def __init__(self) -> None:
        self.legacy: set[ServerSession] = set()
        self.subscribed: dict[str, set[ServerSession]] = {}
        self.remote_subscribed: set[str] = set()
        self.bus = InMemorySubscriptionBus()

    def note(self, ctx: ServerRequestContext[Any]) -> None:
        self.legacy.add(ctx.session)

    async def forward(self, message: object) -> None:
        """One notification from the remote server, passed on to the local sessions it concerns."""
        if isinstance(message, ResourceUpdatedNotification):
            uri = str(message.params.uri)
            await self.bus.publish(ResourceUpdated(uri=uri))
            for session in list(self.subscribed.get(uri, ())):
                await self._send(session, lambda s: s.send_resource_updated(uri))
            return
        if isinstance(message, PromptListChangedNotification):
            await self.bus.publish(PromptsListChanged())
            send: Callable[[ServerSession], Awaitable[None]] = lambda s: s.send_prompt_list_changed()  # noqa: E731
        elif isinstance(message, ToolListChangedNotification):
            send = lambda s: s.send_tool_list_changed()  # noqa: E731
        elif isinstance(message, ResourceListChangedNotification):
            send = lambda s: s.send_resource_list_changed()  # noqa: E731
        else:
            return  # requests and errors from the remote are no notifications
        for session in list(self.legacy):
            await self._send(session, send)

    async def _send(self, session: ServerSession, send: Callable[[ServerSession], Awaitable[None]]) -> None:
        try:
            await send(session)
        except GONE:  # that local client went away
            self.legacy.discard(session)
            for sessions in self.subscribed.values():
                sessions.discard(session)


async def subscribe_remotely(remote: Client, sessions: Sessions, uri: str) -> None:
    """Ask the remote server for updates of `uri` (once per URI; the older protocol's resources/subscribe)."""
    if uri in sessions.remote_subscribed:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MCPDeprecationWarning)
        await remote.subscribe_resource(uri)
    sessions.remote_subscribed.add(uri)


def _cursor(params: PaginatedRequestParams | None) -> str | None:
    return params.cursor if params is not None else None


def bridge_server(remote: Client, sessions: Sessions) -> Server[Any]:
    """A low-level server whose every handler asks `remote` and answers what it answered."""

    async def list_tools(ctx: ServerRequestContext[Any], params: PaginatedRequestParams | None) -> ListToolsResult:
        sessions.note(ctx)
        return await remote.list_tools(cursor=_cursor(params))

    async def call_tool(
        ctx: ServerRequestContext[Any], params: CallToolRequestParams
    ) -> CallToolResult | InputRequiredResult:
        sessions.note(ctx)
        token = (ctx.meta or {}).get("progress_token")
        if token is None:
            return await remote.session.call_tool(params.name, params.arguments)

        async def progress(progress: float, total: float | None, message: str | None) -> None:
            # the remote's progress, under the local caller's token (so a long message_wait stays alive there)
            await ctx.session.send_progress_notification(token, progress, total, message, str(ctx.request_id))

        return await remote.session.call_tool(params.name, params.arguments, progress_callback=progress)

    async def list_resources(
        ctx: ServerRequestContext[Any], params: PaginatedRequestParams | None
    ) -> ListResourcesResult:
        sessions.note(ctx)
        return await remote.list_resources(cursor=_cursor(params))

    async def list_templates(
        ctx: ServerRequestContext[Any], params: PaginatedRequestParams | None
    ) -> ListResourceTemplatesResult:
        sessions.note(ctx)
        return await remote.list_resource_templates(cursor=_cursor(params))

    async def read_resource(
        ctx: ServerRequestContext[Any], params: ReadResourceRequestParams
    ) -> ReadResourceResult | InputRequiredResult:
        sessions.note(ctx)
        return await remote.read_resource(str(params.uri))

    async def subscribe(ctx: ServerRequestContext[Any], params: SubscribeRequestParams) -> EmptyResult:
        sessions.note(ctx)
        uri = str(params.uri)
        await subscribe_remotely(remote, sessions, uri)
        sessions.subscribed.setdefault(uri, set()).add(ctx.session)
        await ctx.session.send_resource_updated(uri)  # a level trigger, as the servers give: "read it now"
        return EmptyResult()

    async def unsubscribe(ctx: ServerRequestContext[Any], params: UnsubscribeRequestParams) -> EmptyResult:
        sessions.subscribed.get(str(params.uri), set()).discard(ctx.session)
        return EmptyResult()

    async def list_prompts(ctx: ServerRequestContext[Any], params: PaginatedRequestParams | None) -> ListPromptsResult:
        sessions.note(ctx)
        return await remote.list_prompts(cursor=_cursor(params))

    async def get_prompt(
        ctx: ServerRequestContext[Any], params: GetPromptRequestParams
    ) -> GetPromptResult | InputRequiredResult:
        sessions.note(ctx)
        return await remote.session.get_prompt(params.name, params.arguments)

    capabilities = remote.server_capabilities
    info = remote.server_info
    handlers: dict[str, Any] = {"on_list_tools": list_tools, "on_call_tool": call_tool}
    if capabilities.resources is not None:
        handlers |= {
            "on_list_resources": list_resources,
            "on_list_resource_templates": list_templates,
            "on_read_resource": read_resource,
        }
        if capabilities.resources.subscribe:
            handlers |= {"on_subscribe_resource": subscribe, "on_unsubscribe_resource": unsubscribe}
    if capabilities.prompts is not None:
        handlers |= {"on_list_prompts": list_prompts, "on_get_prompt": get_prompt}
    return Server(
        info.name if info else "roundtable",
        version=info.version if info else __version__,
        instructions=remote.instructions,
        on_subscriptions_listen=ListenHandler(sessions.bus),
        **handlers,
    )


@asynccontextmanager
async def remote_client(
    url: str,
    token: str | None,
    *,
    mode: ConnectMode = "legacy",
    terminate_on_close: bool = True,
    message_handler: MessageHandlerFnT | None = None,
) -> AsyncIterator[Client]:
    """The SDK's client of a `roundtable serve` endpoint, sending `Authorization: Bearer <token>` (none for
    None) with every request. The bridge, the tests and the benchmarks connect with it."""
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"} if token is not None else {})
    transport = streamable_http_client(url, http_client=http, terminate_on_close=terminate_on_close)
    async with http, Client(transport, mode=mode, message_handler=message_handler) as client:
        yield client


@asynccontextmanager
async def connected(url: str, token: str, sessions: Sessions) -> AsyncIterator[Client]:
    """A client of the remote endpoint sending the token; remote notifications go to `sessions`."""

    async def on_message(message: object) -> None:
        await sessions.forward(message)  # requests and errors from the remote are no notifications: ignored

    async with remote_client(url, token, message_handler=on_message) as client:
        yield client


async def run(url: str, token: str) -> None:
    sessions = Sessions()
    async with connected(url, token, sessions) as remote:
        server = bridge_server(remote, sessions)
        resources = remote.server_capabilities.resources
        if resources is not None and resources.subscribe:  # 2026-07-28 local listeners hear of every resource
            for resource in (await remote.list_resources()).resources:
                await subscribe_remotely(remote, sessions, str(resource.uri))
        options = server.create_initialization_options(
            NotificationOptions(prompts_changed=True, resources_changed=True, tools_changed=True)
        )
        async with stdio_server() as (read, write):
            await server.run(wire.AnsweringReader(read, write), write, options)


def main(url: str, token: str) -> int:
    if not token:
        print(
            "roundtable connect: no token; pass --token or set ROUNDTABLE_TOKEN (roundtable token create NAME)",
            file=sys.stderr,
        )
        return 2
    try:
        anyio.run(run, url, token)
    except Exception as exc:  # the client sees the bridge end; say why on stderr, where clients log it
        print(f"roundtable connect: {url}: {anyio.run(why, url, token, exc)}", file=sys.stderr)
        return 1
    return 0


def _leaf(exc: BaseException) -> BaseException:
    """The exception under the task groups' (the SDK's transport runs in one): "unhandled errors in a
    TaskGroup" says nothing of the cause."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


async def why(url: str, token: str, exc: BaseException) -> str:
    """What went wrong, in one line with the fix. The SDK reports a refused request only as "Server returned an
    error response" (401) or "Not Found" (404): the status is asked again with one plain initialize."""
    leaf = _leaf(exc)
    if isinstance(leaf, httpx2.TransportError):
        if "ssl" in str(leaf).lower() and url.lower().startswith("https://"):
            return (
                f"TLS failed ({leaf}): roundtable serve itself speaks plain HTTP; use http:// for it, or https:// "
                "for the TLS proxy in front of it"
            )
        cause = str(leaf) or type(leaf).__name__
        return f"cannot reach it ({cause}): is roundtable serve running there, at that host and port?"
    info = {"name": "roundtable connect", "version": __version__}
    params = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": info}
    hello = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params}
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"}
    try:
        async with httpx2.AsyncClient(timeout=10) as http:
            status = (await http.post(url, json=hello, headers=headers)).status_code
    except httpx2.HTTPError:
        status = None
    if status == 401:
        return (
            "the token was refused (mistyped, or revoked): get a new one from the team's host (roundtable token "
            "create NAME there) and give it as ROUNDTABLE_TOKEN"
        )
    if status == 404:
        return (
            "no Roundtable endpoint at that path: give one server's URL, BASE/coordination/mcp, /messaging/mcp, "
            "/knowledge/mcp or /monitoring/mcp (roundtable config claude-desktop --url BASE prints all four)"
        )
    if status == 429:
        return "this token has too many open sessions or requests there: close its other clients, or wait, then retry"
    return f"{leaf}" + (f" (HTTP {status})" if status is not None and status >= 400 else "")
