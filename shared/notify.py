"""Resource-updated notifications for both protocol eras, driven by changes other processes commit.

- 2026-07-28 clients listen with `subscriptions/listen`: we publish on the server's subscription bus.
- Older clients use `resources/subscribe`: MCPServer has no decorator for it, so we register the two
  low-level handlers ourselves and keep each subscriber's session.
A watcher polls `PRAGMA data_version` only while someone listens, and publishes when a resource's
fingerprint (e.g. my unread count and newest id) changes.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable, Coroutine, Hashable
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.server.session import ServerSession
from mcp.server.subscriptions import InMemorySubscriptionBus, ResourceUpdated, ServerEvent
from mcp.types import EmptyResult, SubscribeRequestParams, UnsubscribeRequestParams

from shared.errors import RoundtableError

if TYPE_CHECKING:
    from shared.runtime import Runtime

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


class Notifier:
    def __init__(self, bus: CountingBus) -> None:
        self.bus = bus
        self.legacy: dict[str, set[ServerSession]] = {}

    def listening(self, uri: str) -> bool:
        return self.bus.listeners > 0 or bool(self.legacy.get(uri))

    async def publish(self, uri: str) -> None:
        await self.bus.publish(ResourceUpdated(uri=uri))
        for session in list(self.legacy.get(uri, ())):
            try:
                await session.send_resource_updated(uri)
            except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
                self.legacy[uri].discard(session)  # that client went away


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


def watcher(
    uri: str, fingerprint: Callable[[Runtime], Awaitable[Hashable]], interval: float = 0.1
) -> Callable[[Runtime], Coroutine[Any, Any, None]]:
    """A background task publishing `uri` updates whenever `fingerprint(rt)` changes while anyone listens.

    When listening starts it publishes once at once (a level trigger: "read it now"), so nothing that
    arrived between the subscription and the first look is missed.
    """

    async def watch(rt: Runtime) -> None:
        last_version: int | None = None
        last: Hashable = None
        while True:
            await anyio.sleep(interval)
            if rt._db is None or not rt.notifier.listening(uri):
                last_version, last = None, None
                continue
            try:
                version = await rt.db.data_version()
                if version == last_version:
                    continue
                last_version = version
                current = await fingerprint(rt)
            except (sqlite3.Error, RoundtableError) as exc:
                log.warning("watching %s failed: %s", uri, exc)
                continue
            if last is None or current != last:
                await rt.notifier.publish(uri)
            last = current

    return watch
