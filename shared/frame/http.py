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
- Sessions are bounded per token: the SDK's own limit (`max_sessions`, 10,000 per server) is for every token
  together, so the gate counts the sessions (mcp-session-id) each token opened at each server and refuses a
  new one past `MAX_SESSIONS_PER_TOKEN` (429) — one agent cannot lock the others out by opening sessions. A
  session is counted until it is deleted, answered 404 or idle past the SDK's idle timeout. A request naming
  a session its token did not open is answered 404 by the gate (as the SDK would), before any `sessions` row
  is written, so made-up session ids cost no write and leave no row. A request repeating mcp-session-id or
  mcp-protocol-version is refused (400): the SDK reads the first of them and would otherwise serve a request
  the gate judged by another (a legacy session opened past the limit, judged as a sessionless 2026 request).
- Requests are bounded per token too: at most `MAX_REQUESTS_PER_TOKEN` open at once at one server (429 past
  it), streams included, since a 2026-07-28 client opens no session and the session count never sees it.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager, nullcontext
from dataclasses import dataclass, field, replace

import anyio
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser, BearerAuthBackend, RequireAuthMiddleware
from mcp.server.auth.provider import AccessToken
from mcp.server.streamable_http_manager import DEFAULT_SESSION_IDLE_TIMEOUT, StreamableHTTPASGIApp
from mcp.types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.actor import Actor
from shared.config import Settings
from shared.db.connection import Database
from shared.frame.inflight import InFlight
from shared.frame.jobs import SURVIVABLE
from shared.frame.runtime import CALLER, RoundtableServer
from shared.rules.clock import Clock, system_clock
from shared.store.team import tokens

log = logging.getLogger("roundtable.http")

SESSION_HEADER = b"mcp-session-id"
PROTOCOL_HEADER = b"mcp-protocol-version"
ROUTING_HEADERS = (SESSION_HEADER, PROTOCOL_HEADER)
"""The headers the gate and the SDK must read alike (which session, which era): a request repeating one is refused."""
MAX_SESSIONS_PER_TOKEN = 64
"""Open sessions one token may have at one server (a client holds one; reconnects that never DELETE leave
theirs until the SDK's idle timeout)."""
MAX_REQUESTS_PER_TOKEN = 256
"""Requests one token may have open at one server at once, streams included: 2026-07-28 clients open no
sessions, so only this bounds their `subscriptions/listen` streams (each holds a connection and memory)."""
SESSION_IDLE = float(DEFAULT_SESSION_IDLE_TIMEOUT)
"""The SDK's idle timeout for a session, passed to it explicitly so that the gate's count ages as it does."""
DIRECT = ""
"""The session key of requests that carry no mcp-session-id (2026-07-28 clients, and an initialize)."""


def path_of(kind: str) -> str:
    return f"/{kind}/mcp"


FORWARDING = (b"forwarded", b"via", b"x-real-ip")
"""Headers a proxy adds (as any X-Forwarded-* header): a request carrying one came through a proxy, whose
visitors may be anyone, though the connection is from loopback (nginx's `proxy_pass http://127.0.0.1:PORT`
also sends `Host: 127.0.0.1:PORT`)."""
TRUSTED_PROXIES = "FORWARDED_ALLOW_IPS"
"""uvicorn's setting: the proxies whose X-Forwarded-For and X-Forwarded-Proto it takes as the client's
address and scheme. Its default trusts any loopback peer, so that any local process could claim any address;
here uvicorn reads those headers only when this is set."""


def forwarded(scope: Scope) -> bool:
    """Whether the request carries a header a proxy adds (Forwarded, Via, X-Real-IP, any X-Forwarded-*)."""
    return any(name in FORWARDING or name.startswith(b"x-forwarded-") for name, _ in scope.get("headers") or ())


def proxy_headers() -> bool:
    """uvicorn's `proxy_headers`: on only when FORWARDED_ALLOW_IPS names the proxies to trust."""
    return bool(os.environ.get(TRUSTED_PROXIES, "").strip())


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


def _nothing() -> None:
    """What a request that opens no session lets go of when one opens."""


async def _refuse(send: Send, status: int, message: str, code: int) -> None:
    """A JSON-RPC error with no id, as the SDK's session manager answers a session it does not serve."""
    body = json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


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
        self.opened: dict[tuple[str, str], dict[str, float]] = {}
        """(server, token id) → the sessions the SDK opened for that token there → when a request last ended."""
        self.opening: InFlight[tuple[str, str]] = InFlight()
        """(server, token id) → its requests in flight that may open a session (no mcp-session-id)."""
        self.requests: InFlight[tuple[str, str]] = InFlight()
        """(server, token id) → its requests in flight (a stream open is one), at most MAX_REQUESTS_PER_TOKEN."""
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

    def _alive(self, kind: str, token_id: str, key: str, last: float, now: float) -> bool:
        """Whether the SDK still holds this session: a request or stream open, or one within its idle timeout."""
        live = self.book.get((kind, token_id, key))
        return (live is not None and live.inflight > 0) or now - last < SESSION_IDLE

    def _sessions_of(self, kind: str, token_id: str, now: float) -> int:
        """The sessions this token has open at this server, and those it is opening."""
        mine = self.opened.get((kind, token_id), {})
        alive = sum(1 for key, last in mine.items() if self._alive(kind, token_id, key, last, now))
        return alive + self.opening[kind, token_id]

    def _forget(self, kind: str, token_id: str, key: str) -> None:
        mine = self.opened.get((kind, token_id))
        if mine is not None:
            mine.pop(key, None)
            if not mine:
                del self.opened[(kind, token_id)]

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
        gone = {live.holder.token_id for live in revoked}
        for place, mine in list(self.opened.items()):  # a minute past the SDK's idle timeout, it forgot them too
            for key, last in list(mine.items()):
                if place[1] in gone or not self._alive(*place, key, last + 60.0, now):
                    self._forget(*place, key)
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
            raw = scope.get("headers") or []
            repeated = next((name for name in ROUTING_HEADERS if sum(1 for k, _ in raw if k == name) > 1), None)
            if repeated is not None:  # the SDK reads the first, a dict the last: one header, or no request
                await _refuse(send, 400, f"Bad Request: send one {repeated.decode()} header, not several", -32600)
                return
            headers: Mapping[bytes, bytes] = dict(raw)
            version = headers.get(PROTOCOL_HEADER)
            # as the SDK routes it: a later protocol version is served without sessions, whatever the header says
            legacy = version is None or version.decode("latin-1") in HANDSHAKE_PROTOCOL_VERSIONS
            key = headers.get(SESSION_HEADER, b"").decode("latin-1")[:128] if legacy else DIRECT
            place = (kind, holder.token_id)
            now = self.clock()
            if legacy and key and key not in self.opened.get(place, {}):
                await _refuse(send, 404, "Session not found", -32600)  # not one this token opened here
                return
            opens = legacy and key == DIRECT
            if opens and self._sessions_of(kind, holder.token_id, now) >= MAX_SESSIONS_PER_TOKEN:
                await _refuse(
                    send,
                    429,
                    f"{holder.name}'s token already has {MAX_SESSIONS_PER_TOKEN} open sessions at {kind}; end one"
                    f" (HTTP DELETE with its mcp-session-id) or reuse it; an idle one closes after"
                    f" {int(SESSION_IDLE // 60)} min",
                    -32000,
                )
                return
            if self.requests.full(place, MAX_REQUESTS_PER_TOKEN):
                await _refuse(
                    send,
                    429,
                    f"{holder.name}'s token already has {MAX_REQUESTS_PER_TOKEN} requests open at {kind} (streams,"
                    " listens and waits count); let some end before opening more",
                    -32000,
                )
                return
            # an opening is counted from its check on, before the await that writes its row: initializes that
            # arrive together each see the others (`opened` lets go of it once the SDK names the session)
            with (
                self.requests.held(place),
                self.opening.held(place) if opens else nullcontext(_nothing) as opened,
            ):
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
                        new = dict(message.get("headers") or []).get(SESSION_HEADER) if opens and status < 300 else None
                        if new:
                            self.opened.setdefault(place, {})[new.decode("latin-1")] = self.clock()
                            opened()  # counted as open from now on, no longer as opening
                            if live.key == DIRECT:
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
                    if key and key in self.opened.get(place, {}):
                        self.opened[place][key] = live.last
                    CALLER.reset(token)
                if cancel.cancelled_caught and not finished:  # its token was revoked: end the response cleanly
                    if status == 0:
                        await send({"type": "http.response.start", "status": 401, "headers": []})
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                deleted = scope.get("method") == "DELETE" and 200 <= status < 300
                if deleted or (key and status == 404):  # or the SDK no longer holds it (it expired): its row goes
                    self._forget(kind, holder.token_id, key)
                    await self._end([live])

        return serve


def build_app(servers: Mapping[str, RoundtableServer], gate: Gate, *, host: str = "127.0.0.1") -> Starlette:
    """One Starlette app serving each server at `/<kind>/mcp` behind the gate (tokens required)."""
    routes: list[Route] = []
    managers = []
    for kind, mcp in servers.items():
        mcp.over_http = True
        # builds its session manager
        mcp.streamable_http_app(streamable_http_path=path_of(kind), host=host, session_idle_timeout=SESSION_IDLE)
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
