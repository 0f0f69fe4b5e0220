"""`roundtable dashboard`: check the file and the address, print the URL, serve until interrupted."""

from __future__ import annotations

import os
import socket
import sys
import threading
import webbrowser
from collections.abc import Callable
from typing import TextIO

import anyio

from servers.cli.team import NoDatabase, opened
from shared.config import Settings
from shared.db.connection import Database
from shared.errors import RoundtableError
from shared.frame.http import is_loopback, proxy_headers
from shared.store.team import tokens

DEFAULT_PORT = 8770
TOKEN_ENV = "ROUNDTABLE_DASHBOARD_TOKEN"


async def _live_tokens(settings: Settings) -> int:
    """Live tokens that open the dashboard (an observer's or an admin's; not a worker's)."""
    from servers.dashboard.app import WATCHERS

    async with opened(settings) as db:
        return await tokens.count_live(db, WATCHERS)


def url_of(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("", "0.0.0.0") else (f"[{host}]" if ":" in host else host)
    return f"http://{shown}:{port}/"


def listen(host: str, port: int) -> socket.socket:
    """The listening socket (port 0 picks a free one, printed with the URL)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def run(
    settings: Settings,
    host: str,
    port: int,
    *,
    token: str | None = None,
    open_browser: bool = False,
    out: TextIO = sys.stderr,
) -> int:
    """Serve the dashboard; 2 when there is nothing to show or the address would be open to anyone."""
    import uvicorn  # a dependency of mcp; imported here so the other commands start fast

    from servers.dashboard.app import build_app

    token = token or os.environ.get(TOKEN_ENV) or None
    loopback = is_loopback(host)
    try:
        live = anyio.run(_live_tokens, settings)
    except (NoDatabase, RoundtableError) as exc:
        print(f"roundtable dashboard: {exc}", file=out)
        return 2
    if not loopback and token is None and live == 0:
        print(
            f"roundtable dashboard: refusing to listen on {host} without a token: anyone who can reach it would see"
            f" the team. Pass --token SECRET (or {TOKEN_ENV}), or create one: roundtable token create NAME"
            " --role observer",
            file=out,
        )
        return 2
    try:
        sock = listen(host, port)
    except OSError as exc:
        print(f"roundtable dashboard: cannot listen on {host}:{port}: {exc.strerror}; pick another --port", file=out)
        return 2
    url = url_of(host, sock.getsockname()[1])
    print(f"roundtable dashboard: the team in {settings.db}", file=out)
    print(f"  open {url}" + ("" if loopback else "?token=<token>  (the token is then kept in a cookie)"), file=out)
    if not loopback:
        print("  put TLS in front of this port (a reverse proxy): the token travels with every request", file=out)
    print("  read-only; Ctrl-C to stop", file=out, flush=True)
    app = build_app(settings, loopback=loopback, token=token)
    config = uvicorn.Config(
        app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1, proxy_headers=proxy_headers()
    )
    server = uvicorn.Server(config)
    if open_browser:
        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


def alongside(settings: Settings, play: Callable[[], int], *, port: int = 0, out: TextIO = sys.stderr) -> int:
    """`roundtable demo --dashboard`: the dashboard (on loopback, opened in the browser) while `play` runs, and
    after it until Ctrl-C, so a newcomer watches the demo's team live. Returns play's exit code."""
    import uvicorn

    from servers.dashboard.app import build_app

    async def create() -> None:  # the demo would create it anyway; the read-only dashboard needs it first
        settings.ensure_db_folder()
        db = await Database.open(settings.db)
        await db.close()

    anyio.run(create)
    try:
        sock = listen("127.0.0.1", port)
    except OSError as exc:
        print(f"roundtable demo: cannot listen on 127.0.0.1:{port}: {exc.strerror}", file=out)
        return 2
    url = url_of("127.0.0.1", sock.getsockname()[1])
    config = uvicorn.Config(
        build_app(settings), log_level="warning", lifespan="on", timeout_graceful_shutdown=1, proxy_headers=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    print(f"the dashboard shows this team live at {url}", file=out, flush=True)
    webbrowser.open(url)
    code = 130
    try:
        code = play()
        print(f"\nthe dashboard keeps showing the team at {url}; Ctrl-C to stop", file=out, flush=True)
        while thread.is_alive():
            thread.join(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.should_exit = True
        thread.join(5)
        sock.close()
    return code
