"""The team over streamable HTTP (`roundtable serve`): the four servers on one port, an agent per token.

- One path per server (`/<kind>/mcp`), each the SDK's streamable HTTP session manager behind the SDK's
  bearer-token middleware. The token verifier is `Gate.verify_token`: one indexed read per request
  (shared/store/team/tokens.py), so a revoked token is refused at once. No OAuth resource-server URL is
  set, so a 401 does not advertise OAuth (clients then use the header they were configured with).
- Who acts comes from the token, per request: the gate's endpoint sets `runtime.CALLER` to the token's
  agent (with the token's role) around each request; the SDK carries context variables to the handler.
  The per-process agent of a stdio server (`Runtime.me`) is, over HTTP, `system`, an observer that only
  background jobs act as.
- Presence follows HTTP sessions: the gate keeps a `sessions` row per HTTP session (`mcp-session-id`), or
  per token and server for clients that send none (2026-07-28 requests). A session is live while it has a
  request or stream open, or had one within the presence timeout; the gate heartbeats live rows and
  deletes the rows of sessions that ended (DELETE), went quiet or whose token was revoked (their open
  requests are cancelled). An agent is online while any of its sessions is live; a vanished client's
  claims lapse and return to the queue as over stdio.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace

import anyio
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser, BearerAuthBackend, RequireAuthMiddleware
from mcp.server.auth.provider import AccessToken
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.actor import Actor
from shared.config import Settings
from shared.db.connection import Database
from shared.frame.jobs import SURVIVABLE
from shared.frame.runtime import CALLER, RoundtableServer
from shared.rules.clock import Clock, system_clock
from shared.store.team import tokens

log = logging.getLogger("roundtable.http")

SESSION_HEADER = b"mcp-session-id"
DIRECT = ""
"""The session key of requests that carry no mcp-session-id (2026-07-28 clients, and an initialize)."""


def path_of(kind: str) -> str:
    return f"/{kind}/mcp"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(eq=False)
class Live:
    """One HTTP session of one token's agent at one server, and its `sessions` row."""

    row_id: str
    kind: str
    key: str
    holder: tokens.Holder
    last: float
    inflight: int = 0
    scopes: set[anyio.CancelScope] = field(default_factory=set)
    ready: anyio.Event = field(default_factory=anyio.Event)


def _holder(access: AccessToken) -> tokens.Holder:
    claims = access.claims or {}
    return tokens.Holder(access.client_id, str(access.subject), str(claims["name"]), claims["role"])


class Gate:
    """The serve process's door: checks tokens, names each request's caller, keeps presence per HTTP session.

    It has its own connection to the team's database (opened by `running`), beside the four servers'.
    """

    def __init__(self, settings: Settings, clock: Clock = system_clock) -> None:
        self.settings = settings
        self.clock = clock
        self._db: Database | None = None
        self.book: dict[tuple[str, str, str], Live] = {}
        self.pid = os.getpid()

    @property
    def db(self) -> Database:
        if self._db is None:
            raise RuntimeError("the gate is not running")
        return self._db

    # -- tokens ---------------------------------------------------------------------------------------

    async def verify_token(self, token: str) -> AccessToken | None:
        """The SDK's TokenVerifier: the token's agent and role, or None (→ 401) when unknown or revoked."""
        if self._db is None:
            return None
        holder = await tokens.verify(self._db, token)
        if holder is None:
            return None
        return AccessToken(
            token=token,
            client_id=holder.token_id,
            subject=holder.agent_id,
            scopes=[holder.role],
            claims={"name": holder.name, "role": holder.role},
        )

    # -- sessions -------------------------------------------------------------------------------------

    async def _enter(self, kind: str, holder: tokens.Holder, key: str, client: str, host: str) -> Live:
        """The live session for this request, opened (a `sessions` row) when it is new."""
        book_key = (kind, holder.token_id, key)
        live = self.book.get(book_key)
        if live is None:
            live = Live(uuid.uuid4().hex, kind, key, holder, self.clock())
            self.book[book_key] = live
            try:
                await tokens.open_session(
                    self.db, live.row_id, holder, server=kind, pid=self.pid, host=host, client=client, now=self.clock()
                )
            except BaseException:
                self.book.pop(book_key, None)
                live.ready.set()
                raise
            live.ready.set()
        else:
            await live.ready.wait()
        return live

    def _rekey(self, live: Live, key: str) -> None:
        """An initialize answered with a new mcp-session-id: the session's row follows it under that key."""
        old = (live.kind, live.holder.token_id, live.key)
        if self.book.get(old) is live:
            del self.book[old]
        live.key = key
        self.book.setdefault((live.kind, live.holder.token_id, key), live)

    async def _end(self, lives: list[Live]) -> None:
        for live in lives:
            self.book.pop((live.kind, live.holder.token_id, live.key), None)
        await tokens.close_sessions(self.db, [live.row_id for live in lives])

    async def heartbeat(self) -> None:
        """One round: heartbeat live sessions; end quiet ones and those of revoked tokens (cancelling
        their open requests)."""
        now = self.clock()
        lives = list(self.book.values())
        valid = await tokens.live_ids(self.db, sorted({live.holder.token_id for live in lives}))
        revoked = [live for live in lives if live.holder.token_id not in valid]
        for live in revoked:
            for scope in list(live.scopes):
                scope.cancel()
        quiet = [
            live
            for live in lives
            if live.holder.token_id in valid
            and live.inflight == 0
            and now - live.last >= self.settings.presence_timeout
        ]
        await self._end(revoked + quiet)
        beats = [(live.row_id, live.holder.agent_id) for live in lives if live not in revoked and live not in quiet]
        await tokens.beat(self.db, beats, now=now)

    async def _beating(self) -> None:
        while True:
            await anyio.sleep(self.settings.heartbeat_interval)
            try:
                await self.heartbeat()
            except SURVIVABLE as exc:
                log.warning("heartbeating HTTP sessions failed: %s", exc)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Gate]:
        self.settings.ensure_db_folder()
        self._db = await Database.open(self.settings.db)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._beating)
                try:
                    yield self
                finally:
                    tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                try:
                    await self._end(list(self.book.values()))
                finally:
                    await self._db.close()
                    self._db = None

    # -- the endpoint ---------------------------------------------------------------------------------

    def endpoint(self, kind: str, app: ASGIApp) -> ASGIApp:
        """`app` (one server's streamable HTTP transport) with the caller and its session around each request.
        Runs inside RequireAuthMiddleware, so every request here carries a verified token."""

        async def serve(scope: Scope, receive: Receive, send: Send) -> None:
            user = scope.get("user")
            if scope["type"] != "http" or not isinstance(user, AuthenticatedUser):
                await app(scope, receive, send)
                return
            holder = _holder(user.access_token)
            headers: Mapping[bytes, bytes] = dict(scope.get("headers") or [])
            key = headers.get(SESSION_HEADER, b"").decode("latin-1")[:128]
            peer = scope.get("client")
            host = str(peer[0]) if peer else ""
            agent = headers.get(b"user-agent", b"").decode("latin-1")[:80]
            live = await self._enter(kind, holder, key, agent or "http", host)
            caller = replace(
                Actor.of(self.settings, id=holder.agent_id, name=holder.name, session_id=live.row_id),
                role=holder.role,
            )
            status, finished = 0, False

            async def watch(message: Message) -> None:
                nonlocal status, finished
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    if live.key == DIRECT and status < 300:
                        new = dict(message.get("headers") or []).get(SESSION_HEADER)
                        if new:
                            self._rekey(live, new.decode("latin-1"))
                elif message["type"] == "http.response.body" and not message.get("more_body", False):
                    finished = True
                await send(message)

            token = CALLER.set(caller)
            live.inflight += 1
            try:
                with anyio.CancelScope() as cancel:
                    live.scopes.add(cancel)
                    await app(scope, receive, watch)
            finally:
                live.scopes.discard(cancel)
                live.inflight -= 1
                live.last = self.clock()
                CALLER.reset(token)
            if cancel.cancelled_caught and not finished:  # its token was revoked: end the response cleanly
                if status == 0:
                    await send({"type": "http.response.start", "status": 401, "headers": []})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            if scope.get("method") == "DELETE" and 200 <= status < 300:
                await self._end([live])

        return serve


def build_app(servers: Mapping[str, RoundtableServer], gate: Gate, *, host: str = "127.0.0.1") -> Starlette:
    """One Starlette app serving each server at `/<kind>/mcp` behind the gate (tokens required)."""
    routes: list[Route] = []
    managers = []
    for kind, mcp in servers.items():
        mcp.over_http = True
        mcp.streamable_http_app(streamable_http_path=path_of(kind), host=host)  # builds its session manager
        manager = mcp.session_manager
        managers.append(manager)
        endpoint = RequireAuthMiddleware(gate.endpoint(kind, StreamableHTTPASGIApp(manager)), [], None)
        routes.append(Route(path_of(kind), endpoint=endpoint))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with gate.running(), AsyncExitStack() as stack:
            for manager in managers:
                await stack.enter_async_context(manager.run())
            yield

    return Starlette(
        routes=routes,
        middleware=[
            Middleware(AuthenticationMiddleware, backend=BearerAuthBackend(gate)),
            Middleware(AuthContextMiddleware),
        ],
        lifespan=lifespan,
    )
