"""Change notifications for both protocol eras, driven by changes other processes commit: resource-updated
(e.g. the inbox) and prompts list-changed (skills served as prompts).

- 2026-07-28 clients listen with `subscriptions/listen`: we publish on the server's subscription bus.
- Older clients use `resources/subscribe`: MCPServer has no decorator for it, so we register the two
  low-level handlers ourselves and keep each subscriber's session. For prompts, an older client that
  listed them is sent `notifications/prompts/list_changed` on its session (capability
  `prompts.listChanged`).
A watcher polls `PRAGMA data_version` only while someone listens, and publishes when a fingerprint
(e.g. my unread count and newest id, or the newest skill) changes. Changes this process commits itself do
not move data_version: the code making them publishes directly.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable, Coroutine, Hashable
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import NotificationOptions
from mcp.server.mcpserver import MCPServer
from mcp.server.models import InitializationOptions
from mcp.server.session import ServerSession
from mcp.server.subscriptions import InMemorySubscriptionBus, PromptsListChanged, ResourceUpdated, ServerEvent
from mcp.types import EmptyResult, SubscribeRequestParams, UnsubscribeRequestParams
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from shared.errors import RoundtableError

if TYPE_CHECKING:
    from shared.frame.runtime import Runtime

log = logging.getLogger(__name__)


class CountingBus(InMemorySubscriptionBus):
    """The in-process bus, counting its listeners so the watcher can idle when nobody listens."""

    def __init__(self) -> None:
        super().__init__()
        self.listeners = 0

    def subscribe(self, listener: Callable[[ServerEvent], None]) -> Callable[[], None]:
        unsubscribe = super().subscribe(listener)
        self.listeners += 1
        done = False

        def once() -> None:
            nonlocal done
            if not done:
                done = True
                self.listeners -= 1
                unsubscribe()

        return once


GONE = (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError)


class Notifier:
    def __init__(self, bus: CountingBus) -> None:
        self.bus = bus
        self.legacy: dict[str, set[ServerSession]] = {}
        self.prompt_sessions: set[ServerSession] = set()

    def listening(self, uri: str) -> bool:
        return self.bus.listeners > 0 or bool(self.legacy.get(uri))

    async def publish(self, uri: str) -> None:
        await self.bus.publish(ResourceUpdated(uri=uri))
        for session in list(self.legacy.get(uri, ())):
            try:
                await session.send_resource_updated(uri)
            except GONE:
                self.legacy[uri].discard(session)  # that client went away

    def listening_to_prompts(self) -> bool:
        return self.bus.listeners > 0 or bool(self.prompt_sessions)

    def prompt_lister(self, ctx: ServerRequestContext[Any]) -> None:
        """Remember the session of an older client that listed prompts, to tell it when they change."""
        if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            self.prompt_sessions.add(ctx.session)

    async def prompts_changed(self) -> None:
        await self.bus.publish(PromptsListChanged())
        for session in list(self.prompt_sessions):
            try:
                await session.send_prompt_list_changed()
            except GONE:
                self.prompt_sessions.discard(session)


def serve_legacy_subscriptions(mcp: MCPServer[Any]) -> None:
    """Answer `resources/subscribe` / `resources/unsubscribe` (pre-2026 clients).

    MCPServer exposes no hook for these, so this reaches its low-level server (`_lowlevel_server`, a
    private attribute): the one place we do.
    """

    async def subscribe(ctx: ServerRequestContext[Runtime], params: SubscribeRequestParams) -> EmptyResult:
        ctx.lifespan_context.notifier.legacy.setdefault(str(params.uri), set()).add(ctx.session)
        return EmptyResult()

    async def unsubscribe(ctx: ServerRequestContext[Runtime], params: UnsubscribeRequestParams) -> EmptyResult:
        ctx.lifespan_context.notifier.legacy.get(str(params.uri), set()).discard(ctx.session)
        return EmptyResult()

    lowlevel = mcp._lowlevel_server
    lowlevel.add_request_handler("resources/subscribe", SubscribeRequestParams, subscribe)
    lowlevel.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, unsubscribe)


def advertise_prompt_list_changes(mcp: MCPServer[Any]) -> None:
    """Advertise `prompts.listChanged` to pre-2026 clients (2026-07-28 clients learn it from the bus).

    The SDK takes that flag only as an argument of the low-level server's create_initialization_options,
    which MCPServer calls without it; this wraps that method on our instance (`_lowlevel_server`, private).
    """
    lowlevel = mcp._lowlevel_server
    original = lowlevel.create_initialization_options

    def with_prompts_changed(
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        options = notification_options or NotificationOptions()
        options.prompts_changed = True
        return original(options, experimental_capabilities, extensions)

    lowlevel.create_initialization_options = with_prompts_changed  # type: ignore[method-assign]


Watch = Callable[["Runtime"], Coroutine[Any, Any, None]]


def watcher(uri: str, fingerprint: Callable[[Runtime], Awaitable[Hashable]], interval: float = 0.1) -> Watch:
    """A background task publishing `uri` updates whenever `fingerprint(rt)` changes while anyone listens.

    When listening starts it publishes once at once (a level trigger: "read it now"), so nothing that
    arrived between the subscription and the first look is missed.
    """
    return _watch(
        uri, lambda rt: rt.notifier.listening(uri), lambda rt: rt.notifier.publish(uri), fingerprint, interval
    )


def prompts_watcher(fingerprint: Callable[[Runtime], Awaitable[Hashable]], interval: float = 0.1) -> Watch:
    """A background task sending prompts list-changed whenever `fingerprint(rt)` changes while anyone listens."""
    return _watch(
        "the prompt list",
        lambda rt: rt.notifier.listening_to_prompts(),
        lambda rt: rt.notifier.prompts_changed(),
        fingerprint,
        interval,
    )


def _watch(
    what: str,
    listening: Callable[[Runtime], bool],
    publish: Callable[[Runtime], Awaitable[None]],
    fingerprint: Callable[[Runtime], Awaitable[Hashable]],
    interval: float,
) -> Watch:
    async def watch(rt: Runtime) -> None:
        last_version: int | None = None
        last: Hashable = None
        while True:
            await anyio.sleep(interval)
            if rt._db is None or not listening(rt):
                last_version, last = None, None
                continue
            try:
                version = await rt.db.data_version()
                if version == last_version:
                    continue
                last_version = version
                current = await fingerprint(rt)
            except (sqlite3.Error, RoundtableError) as exc:
                log.warning("watching %s failed: %s", what, exc)
                continue
            if last is None or current != last:
                await publish(rt)
            last = current

    return watch
