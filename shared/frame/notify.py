"""Change notifications for both protocol eras, driven by changes other processes commit: resource-updated
(e.g. the inbox) and prompts list-changed (skills served as prompts).

- 2026-07-28 clients listen with `subscriptions/listen`: we publish on the server's subscription bus.
- Older clients use `resources/subscribe`: MCPServer has no decorator for it, so we register the two
  low-level handlers ourselves and keep each subscriber's connection (`connection_of`: one per client;
  `ctx.session` is a new proxy on every request, so a set of those never deduplicates and never lets a
  subscriber go). For prompts, an older client that listed them is sent
  `notifications/prompts/list_changed` on its connection (capability `prompts.listChanged`).
A watcher follows the process's one change watcher (`rt.changes`, shared/db/watch.py) only while
someone listens, and publishes when a fingerprint (e.g. my unread count and newest id, or the newest
skill) changes. Changes this process commits itself do not wake it: the code making them publishes directly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.connection import Connection
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import NotificationOptions
from mcp.server.mcpserver import MCPServer
from mcp.server.subscriptions import InMemorySubscriptionBus, PromptsListChanged, ResourceUpdated, ServerEvent
from mcp.types import (
    EmptyResult,
    PromptsCapability,
    ResourcesCapability,
    ServerCapabilities,
    SubscribeRequestParams,
    ToolsCapability,
    UnsubscribeRequestParams,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from shared.db.watch import Doorbell
from shared.frame.jobs import Background, every

if TYPE_CHECKING:
    from shared.frame.runtime import Runtime


class CountingBus(InMemorySubscriptionBus):
    """The in-process bus, counting its listeners so the watchers can sleep while nobody listens, and waking
    them (`joined`) when someone starts to: on the bus, or through an older client's subscription."""

    def __init__(self) -> None:
        super().__init__()
        self.listeners = 0
        self._arrival = Doorbell()

    def joined(self) -> None:
        """Someone started to listen: wake the watchers sleeping in `until_someone_joins`."""
        self._arrival.ring()

    async def until_someone_joins(self) -> None:
        await self._arrival.wait()

    def subscribe(self, listener: Callable[[ServerEvent], None]) -> Callable[[], None]:
        unsubscribe = super().subscribe(listener)
        self.listeners += 1
        self.joined()
        done = False

        def once() -> None:
            nonlocal done
            if not done:
                done = True
                self.listeners -= 1
                unsubscribe()

        return once


GONE = (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError)


def connection_of(ctx: ServerRequestContext[Any]) -> Connection:
    """The client connection a request came on: one per client, the same object for all its requests.

    `ctx.session` is a per-request proxy (a new ServerSession each time) and SDK 2.3 gives low-level
    handlers no public way to the connection, so this reads the proxy's private `_connection`: the one
    place we do.
    """
    connection = ctx.session._connection
    assert isinstance(connection, Connection)
    return connection


class Notifier:
    def __init__(self, bus: CountingBus) -> None:
        self.bus = bus
        self.legacy: dict[str, set[Connection]] = {}
        self.prompt_sessions: set[Connection] = set()  # the connections of older clients that listed prompts
        self._tracked: set[Connection] = set()

    def track(self, connection: Connection) -> Connection:
        """Forget `connection` in every set when it closes, so clients that come and go leave nothing behind."""
        if connection not in self._tracked:
            self._tracked.add(connection)
            connection.exit_stack.callback(self.forget, connection)
        return connection

    def forget(self, connection: Connection) -> None:
        for subscribers in self.legacy.values():
            subscribers.discard(connection)
        self.prompt_sessions.discard(connection)
        self._tracked.discard(connection)

    def listening(self, uri: str) -> bool:
        return self.bus.listeners > 0 or bool(self.legacy.get(uri))

    async def publish(self, uri: str) -> None:
        await self.bus.publish(ResourceUpdated(uri=uri))
        for connection in list(self.legacy.get(uri, ())):
            try:
                await connection.send_resource_updated(uri)
            except GONE:
                self.legacy[uri].discard(connection)  # that client went away

    def listening_to_prompts(self) -> bool:
        return self.bus.listeners > 0 or bool(self.prompt_sessions)

    def prompt_lister(self, ctx: ServerRequestContext[Any]) -> None:
        """Remember the connection of an older client that listed prompts, to tell it when they change."""
        if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            self.prompt_sessions.add(self.track(connection_of(ctx)))
            self.bus.joined()

    def subscribed(self, uri: str, connection: Connection) -> None:
        """An older client subscribed to `uri` (resources/subscribe) on `connection`."""
        self.legacy.setdefault(uri, set()).add(self.track(connection))
        self.bus.joined()

    async def prompts_changed(self) -> None:
        await self.bus.publish(PromptsListChanged())
        for connection in list(self.prompt_sessions):
            try:
                await connection.send_prompt_list_changed()
            except GONE:
                self.prompt_sessions.discard(connection)


def serve_legacy_subscriptions(mcp: MCPServer[Any]) -> None:
    """Answer `resources/subscribe` / `resources/unsubscribe` (pre-2026 clients).

    MCPServer exposes no hook for these, so this reaches its low-level server (`_lowlevel_server`, a
    private attribute): the one place we do.
    """

    async def subscribe(ctx: ServerRequestContext[Runtime], params: SubscribeRequestParams) -> EmptyResult:
        ctx.lifespan_context.notifier.subscribed(str(params.uri), connection_of(ctx))
        return EmptyResult()

    async def unsubscribe(ctx: ServerRequestContext[Runtime], params: UnsubscribeRequestParams) -> EmptyResult:
        ctx.lifespan_context.notifier.legacy.get(str(params.uri), set()).discard(connection_of(ctx))
        return EmptyResult()

    lowlevel = mcp._lowlevel_server
    lowlevel.add_request_handler("resources/subscribe", SubscribeRequestParams, subscribe)
    lowlevel.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, unsubscribe)


def advertise(mcp: MCPServer[Any], *, resources: bool, subscribe: bool, prompts: bool) -> None:
    """Advertise exactly what this server serves, in both eras, and stop answering what it does not.

    MCPServer registers prompts/* and resources/* handlers on every server, so the SDK advertises
    `prompts` and `resources` everywhere; at 2026-07-28 it also derives every `listChanged` and
    `resources.subscribe` from one fact (subscriptions/listen is served). Here the handlers a server does
    not serve are removed (a client asking gets JSON-RPC -32601, method not found, instead of an internal
    error), and the advertised flags are set from what the server does: `resources.subscribe` where
    resources change (inbox, status), `prompts.listChanged` where skills are served as prompts; the tool
    list never changes. This wraps the low-level server's get_capabilities on our instance and edits its
    `_request_handlers` (private attributes): the one place we do.
    """
    lowlevel = mcp._lowlevel_server
    handlers = lowlevel._request_handlers
    if not prompts:
        for method in ("prompts/list", "prompts/get"):
            handlers.pop(method, None)
    if not resources:
        for method in ("resources/list", "resources/read", "resources/templates/list"):
            handlers.pop(method, None)
    original = lowlevel.get_capabilities

    def served(
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
        *,
        protocol_version: str | None = None,
    ) -> ServerCapabilities:
        caps = original(notification_options, experimental_capabilities, extensions, protocol_version=protocol_version)
        update: dict[str, Any] = {"tools": ToolsCapability(list_changed=False)}
        update["prompts"] = PromptsCapability(list_changed=True) if prompts else None
        update["resources"] = ResourcesCapability(subscribe=subscribe, list_changed=False) if resources else None
        return caps.model_copy(update=update)

    lowlevel.get_capabilities = served  # type: ignore[method-assign]


Watch = Background


def watcher(uri: str, fingerprint: Callable[[Runtime], Awaitable[Hashable]], interval: float = 0.1) -> Watch:
    """A background task publishing `uri` updates whenever `fingerprint(rt)` changes while anyone listens.

    It looks at the fingerprint after each commit by another process, at most once per `interval` seconds,
    and while anyone listens checks every `interval` seconds whether they still do; while nobody listens it
    sleeps until someone subscribes. When listening starts it publishes once at once (a level trigger: "read
    it now"), so nothing that arrived between the subscription and the first look is missed.
    """
    return _watch(
        uri, lambda rt: rt.notifier.listening(uri), lambda rt: rt.notifier.publish(uri), fingerprint, interval
    )


def prompts_watcher(fingerprint: Callable[[Runtime], Awaitable[Hashable]], interval: float = 0.1) -> Watch:
    """A background task sending prompts list-changed whenever `fingerprint(rt)` changes while anyone
    listens (looking and checking for listeners as `watcher` does)."""
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
        last: list[Hashable] = []  # the fingerprint last published; empty: publish at the next look

        async def follow() -> None:
            """Look at once and after every change, publish what moved; for as long as it is let run."""
            async with aclosing(rt.changes.changes()) as changes:
                async for _ in changes:
                    current = await fingerprint(rt)
                    if not last or current != last[0]:
                        await publish(rt)
                    last[:] = [current]
                    await anyio.sleep(interval)

        async def one_round(rt: Runtime) -> None:
            if not listening(rt):
                # Nobody listens: sleep until someone starts to; the next round (one interval later, as when
                # this polled) makes the first look, so a burst of subscriptions and listings is told once.
                await rt.notifier.bus.until_someone_joins()
                return
            await _while(lambda: listening(rt), follow(), interval)
            last.clear()  # nobody listens now: whoever listens next is told at once

        await every(interval, one_round, what=f"watching {what}")(rt)

    return watch


async def _while(condition: Callable[[], bool], body: Awaitable[None], interval: float) -> None:
    """Run `body` until it ends or `condition()` (checked every `interval` seconds) turns false.

    The body's own failures propagate as they are, not wrapped in an exception group, so `every`
    (shared/frame/jobs.py) judges them like any other round's.
    """
    failure: BaseException | None = None

    async def stop_when_false(scope: anyio.CancelScope) -> None:
        # Who listens is a count and a few sets of sessions (and a legacy session that goes away is only
        # noticed when a publish to it fails): nothing signals a change, so look; it costs nothing.
        while condition():  # noqa: ASYNC110
            await anyio.sleep(interval)
        scope.cancel()

    async with anyio.create_task_group() as tg:
        tg.start_soon(stop_when_false, tg.cancel_scope)
        try:
            await body
        except Exception as exc:  # re-raised below, outside the task group
            failure = exc
        tg.cancel_scope.cancel()
    if failure is not None:
        raise failure
