"""The dashboard's web app: one page, its static files, read-only JSON views and a server-sent event stream.

- Live: `/stream` sends the whole first page of every panel (views.state) and the audit events since the
  last one sent, at once and again after every commit by any process — woken by the one change watcher
  (shared/db/watch.py, with the post-commit wake-up of shared/db/wakeup.py), never a timer of its own.
  The state is computed once per change for every open stream (live.py, `Broadcast`). Each message's SSE
  id is the newest audit event id it carries, so a browser that reconnects (it sends Last-Event-ID) gets
  every event it missed, up to views.FEED_RESUME_MAX, and a fresh state.
- Read-only: the file is opened with SQLite's mode=ro (as `roundtable status`), every route is a GET.
- The door (`Door`): bound to loopback, requests must name a loopback Host (a web page elsewhere cannot reach
  it through DNS rebinding), and one that came through a proxy (it carries Forwarded, Via, X-Real-IP or an
  X-Forwarded-* header: shared/frame/http.py `forwarded`) is from anyone, so it needs a token as below; bound
  to any other address, every request must carry a token — the `--token`
  given at start or any live `roundtable token` — as a bearer header, or once as `?token=` (dropped from the
  address; the HttpOnly, SameSite=Strict cookie then holds a pass derived from it, never the token, which
  also opens `roundtable serve`: the token's id and its HMAC under a key this process drew at random, so a
  pass opens only this dashboard, only while it runs, and only while its token is live). The page loads nothing from
  elsewhere and its Content-Security-Policy forbids it, with no inline script. A `roundtable token` opens it
  only when it is an observer's or an admin's (the page shows every agent's mail), and the open streams'
  tokens are checked again at every change, so a revoked one's stream ends with nothing more sent.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from servers.cli.team import opened
from servers.dashboard import views
from servers.dashboard.live import Broadcast
from shared.config import Settings
from shared.db.connection import Database
from shared.db.wakeup import Wakeup
from shared.db.watch import POLL_SECONDS, ChangeWatcher
from shared.errors import NotFound, RoundtableError
from shared.frame.http import forwarded
from shared.store.team import tokens

log = logging.getLogger("roundtable.dashboard")

COOKIE = "roundtable_dashboard"
STATIC = {"dashboard.js": "text/javascript", "dashboard.css": "text/css", "index.html": "text/html"}
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self';"
        " base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "[::1]", "::1"}
WATCHERS = ("observer", "admin")
"""The roles whose `roundtable token` opens the dashboard."""
GIVEN = "-"
"""The cookie's pass names the --token so (a token id is hex)."""
ADMITTED = "roundtable.dashboard.token"
"""Where the Door leaves the id of the token it admitted a request with (in the ASGI scope), for the stream to
re-check; absent for the --token and on loopback."""


@dataclass(frozen=True)
class Visitor:
    """Whom a token let in: a `roundtable token` (its id), or the --token given at start (None)."""

    token_id: str | None


def _host_name(host_header: str) -> str:
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _static(name: str) -> bytes:
    return (resources.files("servers.dashboard") / "static" / name).read_bytes()


class Dashboard:
    """The app's state: its settings, the read-only connection, the change watcher."""

    def __init__(self, settings: Settings, *, loopback: bool, token: str | None = None) -> None:
        self.settings = settings
        self.loopback = loopback
        self.token = token or None
        self._db: Database | None = None
        self._watcher: ChangeWatcher | None = None
        self.broadcast = Broadcast(settings, lambda: self.db, lambda: self.watcher)
        self._key = secrets.token_bytes(32)
        """Signs the cookie's passes: drawn at start, so a pass ends with the process."""

    @property
    def db(self) -> Database:
        if self._db is None:
            raise RuntimeError("the dashboard is not running")
        return self._db

    @property
    def watcher(self) -> ChangeWatcher:
        if self._watcher is None:
            raise RuntimeError("the dashboard is not running")
        return self._watcher

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with opened(self.settings) as db:
            # read-only, a SQLite database binds no wake-up socket of its own: the dashboard binds one; on
            # PostgreSQL the database's LISTEN connection wakes it
            wakeup = Wakeup.open(self.settings.db) if isinstance(self.settings.db, Path) else None

            async def wait(seconds: float) -> bool:
                if wakeup is None:
                    return await db.wait_for_change(seconds)
                return await wakeup.wait(seconds)

            self._db = db
            self._watcher = ChangeWatcher(db.data_version, wait)
            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._watch)
                    tg.start_soon(self.broadcast.run)
                    try:
                        yield
                    finally:
                        tg.cancel_scope.cancel()
            finally:
                self._db = self._watcher = None
                if wakeup is not None:
                    wakeup.close()

    async def _watch(self) -> None:
        """The change watcher's rounds, for as long as the app runs (each round waits for a wake-up)."""
        watcher = self.watcher
        while True:
            try:
                await watcher.watch_round(self._db.watch_seconds if self._db is not None else POLL_SECONDS)
            except (RoundtableError, OSError) as exc:
                log.warning("watching for changes failed: %s", exc)
                await anyio.sleep(1.0)

    async def admits(self, token: str) -> Visitor | None:
        """The --token, or a live token of an observer or an admin. Not a worker's: the page shows every
        agent's mail, which over MCP an agent reads only of its own."""
        if not token:
            return None
        if self.token is not None and hmac.compare_digest(token.encode(), self.token.encode()):
            return Visitor(None)
        holder = await tokens.verify(self.db, token)
        return Visitor(holder.token_id) if holder is not None and holder.role in WATCHERS else None

    def _seal(self, label: str) -> str:
        return hmac.new(self._key, label.encode(), hashlib.sha256).hexdigest()

    def pass_for(self, visitor: Visitor) -> str:
        """What the cookie holds for a visitor the token let in: `<token id>.<HMAC of it>` (`-` for the --token).
        Not the token: another program that reads the cookie cannot use it at `roundtable serve`."""
        label = visitor.token_id or GIVEN
        return f"{label}.{self._seal(label)}"

    async def admits_pass(self, value: str) -> Visitor | None:
        """The visitor a cookie's pass names, while its token is live (one read by id, as `admits`)."""
        label, _, seal = value.partition(".")
        if not label or len(label) > 64 or not hmac.compare_digest(seal.encode(), self._seal(label).encode()):
            return None
        if label == GIVEN:
            return Visitor(None) if self.token is not None else None
        holder = await tokens.holder_of(self.db, label)
        return Visitor(holder.token_id) if holder is not None and holder.role in WATCHERS else None


class Door:
    """ASGI middleware: loopback Host names only when bound to loopback, and a token for a request through a
    proxy; a token on every request otherwise."""

    def __init__(self, app: ASGIApp, dashboard: Dashboard) -> None:
        self.app = app
        self.dashboard = dashboard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)

        async def headed(message: Any) -> None:
            if message["type"] == "http.response.start":
                have = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items() if k.encode() not in have
                ]
            await send(message)

        if self.dashboard.loopback:
            if _host_name(request.headers.get("host", "")) not in LOOPBACK_NAMES:
                refused = PlainTextResponse(
                    "this dashboard answers only to localhost; open http://127.0.0.1:<port>/", status_code=403
                )
                await refused(scope, receive, headed)
                return
            if not forwarded(scope):
                await self.app(scope, receive, headed)
                return
        given = request.query_params.get("token", "")
        visitor = await self.dashboard.admits(given) if given and request.method == "GET" else None
        if visitor is not None:
            # to this path on this host: a path of several leading slashes would read as another host
            # (//evil.example/), an open redirect carrying the dashboard's name
            back = RedirectResponse("/" + request.url.path.lstrip("/\\"), status_code=303)
            # behind a TLS proxy the scheme here is http: its X-Forwarded-Proto makes the cookie Secure too
            https = "https" in (request.url.scheme, request.headers.get("x-forwarded-proto", "").lower())
            back.set_cookie(COOKIE, self.dashboard.pass_for(visitor), httponly=True, samesite="strict", secure=https)
            await back(scope, receive, headed)
            return
        auth = request.headers.get("authorization", "")
        bearer = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        # Starlette's parser reads cookies as browsers send them; http.cookies stops at the first cookie it finds
        # malformed (x="a; …), so any other site's cookie for this host hid this one: a 401 on every request
        if bearer:
            visitor = await self.dashboard.admits(bearer)
        else:
            visitor = await self.dashboard.admits_pass(request.cookies.get(COOKIE, ""))
        if visitor is None:
            refused = PlainTextResponse(
                "401: this dashboard needs a token"
                + (" for a request through a proxy, even on loopback" if self.dashboard.loopback else "")
                + "; open it once as /?token=<token>, and again after the dashboard restarts (the --token given to"
                " `roundtable dashboard`, or one from `roundtable token create NAME --role observer`)",
                status_code=401,
                headers={"www-authenticate": "Bearer"},
            )
            await refused(scope, receive, headed)
            return
        if visitor.token_id is not None:
            scope[ADMITTED] = visitor.token_id
        await self.app(scope, receive, headed)


Handler = Callable[[Request], Awaitable[Response]]


def _json(payload: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(payload, status_code=status)


def _refusal(exc: RoundtableError) -> JSONResponse:
    return _json({"error": str(exc)}, 404 if isinstance(exc, NotFound) else 400)


CURSOR = re.compile(r"^[0-9:a-zA-Z_-]{1,40}$")


def _whole(raw: str) -> bool:
    """A whole number as a parameter may give one: ASCII digits only (str.isdigit also takes '²', which int()
    refuses: a 500), at most 18 of them."""
    return raw.isascii() and raw.isdigit() and len(raw) <= 18


def build_app(settings: Settings, *, loopback: bool = True, token: str | None = None) -> Starlette:
    """The dashboard app for the team in `settings.db` (opened when the app starts)."""
    dash = Dashboard(settings, loopback=loopback, token=token)

    async def page(request: Request) -> Response:
        return Response(_static("index.html"), media_type="text/html; charset=utf-8")

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC or name == "index.html":
            return PlainTextResponse("not found", status_code=404)
        return Response(_static(name), media_type=f"{STATIC[name]}; charset=utf-8")

    async def state(request: Request) -> Response:
        return _json(await views.state(dash.db, settings))

    async def column(request: Request) -> Response:
        status = request.query_params.get("status", "")
        cursor = request.query_params.get("cursor") or None
        if status not in views.COLUMNS:
            return _json({"error": f"status must be one of {', '.join(views.COLUMNS)}"}, 400)
        if cursor is not None and not CURSOR.match(cursor):
            return _json({"error": "cursor: pass the next_cursor of the previous page"}, 400)
        try:
            return _json(await dash.db.read(views.column, views.looking(settings), status, cursor))
        except RoundtableError as exc:
            return _refusal(exc)

    async def task(request: Request) -> Response:
        raw = request.path_params["task_id"]
        if not _whole(raw):
            return _json({"error": "a task id is a positive whole number"}, 400)
        try:
            return _json(await views.task_detail(dash.db, settings, int(raw)))
        except RoundtableError as exc:
            return _refusal(exc)

    async def mail(request: Request) -> Response:
        raw = request.query_params.get("before", "")
        if raw and not _whole(raw):
            return _json({"error": "before: pass the next_before of the previous page"}, 400)
        found = await dash.db.read(views.mail, views.looking(settings), int(raw) if raw else None)
        return _json(found)

    async def knowledge(request: Request) -> Response:
        try:
            return _json(await views.knowledge(dash.db, request.query_params.get("q", "")))
        except RoundtableError as exc:
            return _refusal(exc)

    async def stream(request: Request) -> Response:
        raw = request.headers.get("last-event-id") or request.query_params.get("last_event_id") or ""
        since = int(raw) if _whole(raw) else None
        holder = request.scope.get(ADMITTED)

        async def body() -> AsyncIterator[str]:
            yield "retry: 1000\n\n"
            async with aclosing(dash.broadcast.messages(since, holder)) as messages:
                async for message in messages:
                    yield message

        return StreamingResponse(body(), media_type="text/event-stream", headers={"x-accel-buffering": "no"})

    async def favicon(request: Request) -> Response:
        return Response(status_code=204)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with dash.running():
            yield

    routes = [
        Route("/", page),
        Route("/static/{name}", static),
        Route("/api/state", state),
        Route("/api/column", column),
        Route("/api/task/{task_id}", task),
        Route("/api/mail", mail),
        Route("/api/knowledge", knowledge),
        Route("/stream", stream),
        Route("/favicon.ico", favicon),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(Door, dashboard=dash)
    return app
