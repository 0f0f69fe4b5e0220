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
skill) changes. Over stdio, changes this process commits itself do not wake it (they are its own agent's);
over HTTP they do (`Database.on_commit`: there they are every agent's).

Every subscription remembers whose it is: the caller of the request that made it (`runtime.CALLER`, over
HTTP its token's agent; None over stdio, where the process's agent is the only one). A resource that reads
differently per agent (the inbox) is watched per agent (`agents_watcher`): one fingerprint per change for
each agent listening, and its update goes to that agent's listeners alone, so over `roundtable serve` one
agent learns nothing of another's mail, not even when it came.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Hashable
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel
from mcp.server.connection import Connection
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import NotificationOptions
from mcp.server.mcpserver import MCPServer
from mcp.server.subscriptions import PromptsListChanged, ResourceUpdated, ServerEvent
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
    from shared.actor import Actor
    from shared.frame.runtime import Runtime

log = logging.getLogger("roundtable.notify")


Whose = Callable[[], "Actor | None"]
"""Who sends the request being served (over HTTP its token's agent, `runtime.CALLER`; over stdio None)."""
OWN = ""
"""The key of a subscription made with no caller named: over stdio, the process's own agent."""


def key_of(who: Actor | None) -> str:
    """Whose a subscription is, as one string: the subscribing agent's id, or OWN."""
    return who.id if who is not None else OWN


def _no_caller() -> Actor | None:
    return None


class CountingBus:
    """The in-process subscription bus (the SDK's SubscriptionBus, in place of its InMemorySubscriptionBus),
    knowing whose each listen stream is and counting them: `whose()` is read when a stream subscribes (inside
    its `subscriptions/listen` request, so over HTTP the caller). `publish(event, to=keys)` reaches only the
    streams of those agents, so one agent's inbox update goes to that agent's streams alone. It wakes the
    watchers (`joined`) when someone starts to listen: on the bus, or through an older client's subscription."""

    def __init__(self, whose: Whose = _no_caller) -> None:
        self.whose = whose
        self.streams: dict[object, tuple[Actor | None, Callable[[ServerEvent], None]]] = {}
        self.on_join: Callable[[], None] | None = None
        """Set by the running lifespan: wakes the watchers already following changes (a newcomer is looked for)."""
        self.joins: Counter[str] = Counter()
        """Per agent (key_of), how many subscriptions it has made, here or through an older client's: a number
        that moves when one more of its sessions starts to listen, which `agents_watcher` tells at once."""
        self._arrival = Doorbell()

    @property
    def listeners(self) -> int:
        return len(self.streams)

    def joined(self) -> None:
        """Someone started to listen: wake the watchers sleeping in `until_someone_joins`, and those following."""
        self._arrival.ring()
        if self.on_join is not None:
            self.on_join()

    async def until_someone_joins(self) -> None:
        await self._arrival.wait()

    def subscribe(self, listener: Callable[[ServerEvent], None]) -> Callable[[], None]:
        token = object()
        who = self.whose()
        self.streams[token] = (who, listener)
        self.joins[key_of(who)] += 1
        self.joined()

        def unsubscribe() -> None:
            self.streams.pop(token, None)

        return unsubscribe

    async def publish(self, event: ServerEvent, to: Collection[str] | None = None) -> None:
        """Deliver `event` to every stream, or (`to`) to the streams of those agents (keys, `key_of`) only.
        A raising listener is logged and skipped, as the SDK's bus does; ends with a checkpoint so that the
        streams drain between a burst's events."""
        for who, listener in list(self.streams.values()):
            if to is not None and key_of(who) not in to:
                continue
            try:
                listener(event)
            except Exception:  # fan-out boundary: one bad listener must not starve the others
                log.exception("subscription listener raised; continuing")
        await anyio.lowlevel.checkpoint()


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
        self.legacy: dict[str, dict[Connection, Actor | None]] = {}
        """URI → the connections of older clients subscribed to it → who subscribed (bus.whose() then)."""
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
            subscribers.pop(connection, None)
        self.prompt_sessions.discard(connection)
        self._tracked.discard(connection)

    def listening(self, uri: str) -> bool:
        return self.bus.listeners > 0 or bool(self.legacy.get(uri))

    def subscribers(self, uri: str) -> dict[str, Actor | None]:
        """The agents listening for `uri`, once each (key_of → who): the subscribers of older clients, and every
        listen stream's (a stream's filter is the SDK's to read, so a stream counts for every URI)."""
        found = {key_of(who): who for who, _ in list(self.bus.streams.values())}
        for who in self.legacy.get(uri, {}).values():
            found.setdefault(key_of(who), who)
        return found

    async def publish(self, uri: str, to: Collection[str] | None = None) -> None:
        """Tell the listeners of `uri` it changed: every one, or (`to`) those of these agents only."""
        await self.bus.publish(ResourceUpdated(uri=uri), to)
        for connection, who in list(self.legacy.get(uri, {}).items()):
            if to is not None and key_of(who) not in to:
                continue
            try:
                await connection.send_resource_updated(uri)
            except GONE:
                self.legacy[uri].pop(connection, None)  # that client went away

    def listening_to_prompts(self) -> bool:
        return self.bus.listeners > 0 or bool(self.prompt_sessions)

    def prompt_lister(self, ctx: ServerRequestContext[Any]) -> None:
        """Remember the connection of an older client that listed prompts, to tell it when they change."""
        if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            self.prompt_sessions.add(self.track(connection_of(ctx)))
            self.bus.joined()

    def subscribed(self, uri: str, connection: Connection) -> None:
        """An older client subscribed to `uri` (resources/subscribe) on `connection`, as the request's caller."""
        who = self.bus.whose()
        self.legacy.setdefault(uri, {})[self.track(connection)] = who
        self.bus.joins[key_of(who)] += 1
        self.bus.joined()

    def unsubscribed(self, uri: str, connection: Connection) -> None:
        self.legacy.get(uri, {}).pop(connection, None)

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
        ctx.lifespan_context.notifier.unsubscribed(str(params.uri), connection_of(ctx))
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
Fingerprints = Callable[["Runtime"], Awaitable[dict[str, Hashable]]]
"""Whose listeners to tell (key_of, or EVERYONE) → what they are told about, as it is now."""
EVERYONE = "*"
"""The one key of a watcher whose resource is the same for every listener (the team's status, the prompts)."""


def watcher(uri: str, fingerprint: Callable[[Runtime], Awaitable[Hashable]], interval: float = 0.1) -> Watch:
    """A background task publishing `uri` updates whenever `fingerprint(rt)` changes while anyone listens: a
    resource that reads the same for every agent (the team's status).

    It looks at the fingerprint after each commit by another process, at most once per `interval` seconds,
    and while anyone listens checks every `interval` seconds whether they still do; while nobody listens it
    sleeps until someone subscribes. When listening starts it publishes once at once (a level trigger: "read
    it now"), so nothing that arrived between the subscription and the first look is missed; so it does when
    one more subscription comes while others listen (`CountingBus.joins`; those get a spurious re-read).
    """

    async def everyone(rt: Runtime) -> dict[str, Hashable]:
        # with every subscription made so far: one more (another agent's, over serve) is told at once too
        return {EVERYONE: (await fingerprint(rt), rt.notifier.bus.joins.total())}

    return _watch(
        uri, lambda rt: rt.notifier.listening(uri), lambda rt, _: rt.notifier.publish(uri), everyone, interval
    )


def agents_watcher(
    uri: str, fingerprint: Callable[[Runtime, Actor | None], Awaitable[Hashable]], interval: float = 0.1
) -> Watch:
    """`watcher` for a resource that reads differently for each agent (the inbox): each subscription is judged
    by the agent that made it (None over stdio: the process's own). One `fingerprint(rt, who)` per change for
    each agent listening, however many sessions it has; an update goes to that agent's listeners alone, when
    its own fingerprint moved, and at once when one more of its sessions starts to listen (the level trigger:
    its first subscription's, and another window's while one listens; `CountingBus.joins`)."""

    async def each(rt: Runtime) -> dict[str, Hashable]:
        joins = rt.notifier.bus.joins
        return {key: (await fingerprint(rt, who), joins[key]) for key, who in rt.notifier.subscribers(uri).items()}

    return _watch(
        uri, lambda rt: rt.notifier.listening(uri), lambda rt, keys: rt.notifier.publish(uri, keys), each, interval
    )


def prompts_watcher(fingerprint: Callable[[Runtime], Awaitable[Hashable]], interval: float = 0.1) -> Watch:
    """A background task sending prompts list-changed whenever `fingerprint(rt)` changes while anyone
    listens (looking and checking for listeners as `watcher` does)."""

    async def everyone(rt: Runtime) -> dict[str, Hashable]:
        return {EVERYONE: await fingerprint(rt)}

    return _watch(
        "the prompt list",
        lambda rt: rt.notifier.listening_to_prompts(),
        lambda rt, _: rt.notifier.prompts_changed(),
        everyone,
        interval,
    )


def _watch(
    what: str,
    listening: Callable[[Runtime], bool],
    publish: Callable[[Runtime, set[str]], Awaitable[None]],
    fingerprints: Fingerprints,
    interval: float,
) -> Watch:
    async def watch(rt: Runtime) -> None:
        last: dict[str, Hashable] = {}  # key → the fingerprint last published; a key not here is told at its first look

        async def follow() -> None:
            """Look at once and after every change (and every newcomer), publish what moved; for as long as it
            is let run."""
            async with aclosing(rt.changes.changes()) as changes:
                async for _ in changes:
                    current = await fingerprints(rt)
                    moved = {key for key, now in current.items() if key not in last or last[key] != now}
                    if moved:
                        await publish(rt, moved)
                    last.clear()
                    last.update(current)  # whoever stopped listening is forgotten: told at once when back
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
