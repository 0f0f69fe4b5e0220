"""`roundtable serve` (the four servers over streamable HTTP on one port) and `roundtable token` (who may
connect, as whom, with which role). The mechanism is shared/frame/http.py; this is the command around it."""

from __future__ import annotations

import importlib
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO, TypeVar

import anyio

from servers import SERVER_KINDS
from servers.cli import SERVE_PORT
from shared.config import Role, Settings
from shared.db.connection import Database, explain_open_failure, folder_given
from shared.errors import RoundtableError, Unavailable
from shared.frame.http import Gate, build_app, is_loopback, path_of, proxy_headers
from shared.frame.runtime import RoundtableServer
from shared.rules.clock import iso
from shared.store.team import tokens

DEFAULT_PORT = SERVE_PORT
T = TypeVar("T")


def servers(settings: Settings) -> dict[str, RoundtableServer]:
    """The four servers, built as their stdio entry points build them."""
    built: dict[str, RoundtableServer] = {}
    for kind in SERVER_KINDS:
        server = importlib.import_module(f"servers.{kind}").build_server(settings)
        assert isinstance(server, RoundtableServer)
        built[kind] = server
    return built


async def _live_tokens(settings: Settings) -> int:
    settings.ensure_db_folder()
    db = await Database.open(settings.db)
    try:
        return await tokens.count_live(db)
    finally:
        await db.close()


def serve(settings: Settings, host: str, port: int, out: TextIO = sys.stderr) -> int:
    """Serve the team until interrupted; refuses to bind beyond loopback without a token to let anyone in."""
    import uvicorn  # a dependency of mcp; imported here so the other commands start fast

    try:
        live = anyio.run(_live_tokens, settings)
    except RoundtableError as exc:
        print(f"roundtable serve: {exc}", file=out)
        return 1
    except Exception as exc:
        print(f"roundtable serve: {explain_open_failure(settings.db, exc, retrying=False)}", file=out)
        return 1
    if live == 0 and not is_loopback(host):
        print(
            f"roundtable serve: refusing to listen on {host} with no token: nobody could connect, and it must never"
            " be open. Create one first: roundtable token create NAME [--role worker|observer|admin]",
            file=out,
        )
        return 2
    if live == 0:
        print(
            "roundtable serve: no tokens yet, so every request gets 401; create one: roundtable token create NAME",
            file=out,
        )
    from servers.dashboard.command import listen

    try:
        sock = listen(host, port)  # before the URLs are printed: a port in use is one line, not uvicorn's ERROR
    except OSError as exc:
        print(f"roundtable serve: cannot listen on {host}:{port}: {exc.strerror}; pick another --port", file=out)
        return 2
    port = sock.getsockname()[1]
    base = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
    print(f"roundtable serve: the team in {settings.db}", file=out)
    for kind in SERVER_KINDS:
        print(f"  {kind:<13} {base}{path_of(kind)}", file=out)
    print("  every request needs 'Authorization: Bearer <token>' (roundtable token create NAME)", file=out)
    if not is_loopback(host):
        print(
            "  put TLS in front of this port (a reverse proxy, see the README): tokens travel in every request",
            file=out,
        )
    out.flush()
    try:
        app = build_app(servers(settings), Gate(settings), host=host)
        config = uvicorn.Config(app, log_level="warning", lifespan="on", proxy_headers=proxy_headers())
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # Ctrl-C while starting, or uvicorn re-raising it after its shutdown: no traceback
        pass
    finally:
        sock.close()
    return 0


def _with_db(settings: Settings, job: Callable[[Database], Awaitable[T]], *, create: bool = True) -> T:
    """`job` on the team's database; only `token create` (create=True) makes a new team's file."""

    async def run() -> T:
        place = settings.db
        if isinstance(place, Path) and (problem := folder_given(place)):
            raise Unavailable(problem)
        if isinstance(place, Path) and not create and not place.exists():
            raise Unavailable(
                f"there is no Roundtable database at {place}: point --db / ROUNDTABLE_DB at your team's file"
            )
        settings.ensure_db_folder()
        db = await Database.open(settings.db)
        try:
            return await job(db)
        finally:
            await db.close()

    return anyio.run(run)


def token_create(settings: Settings, name: str, role: Role, out: TextIO = sys.stdout) -> int:
    try:
        issued: tokens.Issued = _with_db(settings, lambda db: tokens.create(db, name, role, now=time.time()))
    except RoundtableError as exc:
        print(f"roundtable token create: {exc}", file=sys.stderr)
        return 2
    whose = "the existing agent" if issued.existing_agent else "a new agent"
    print(f"token {issued.token_id} for {whose} {issued.name} ({issued.role}); shown once, keep it secret:", file=out)
    print(issued.token, file=out)
    return 0


def token_list(settings: Settings, include_revoked: bool, out: TextIO = sys.stdout) -> int:
    try:
        found: list[tokens.TokenInfo] = _with_db(
            settings, lambda db: tokens.listing(db, include_revoked=include_revoked), create=False
        )
    except RoundtableError as exc:
        print(f"roundtable token list: {exc}", file=sys.stderr)
        return 2
    if not found:
        print("no tokens; create one: roundtable token create NAME [--role worker|observer|admin]", file=out)
        return 0
    print(f"{'id':<9} {'agent':<24} {'role':<9} {'created':<21} {'last used':<21} revoked", file=out)
    for t in found:
        used = iso(t.last_used_at) if t.last_used_at else "-"
        revoked = iso(t.revoked_at) if t.revoked_at else "-"
        print(f"{t.token_id:<9} {t.name:<24} {t.role:<9} {iso(t.created_at):<21} {used:<21} {revoked}", file=out)
    return 0


def token_revoke(settings: Settings, which: str, out: TextIO = sys.stdout) -> int:
    try:
        ids: list[str] = _with_db(settings, lambda db: tokens.revoke(db, which, now=time.time()), create=False)
    except RoundtableError as exc:
        print(f"roundtable token revoke: {exc}", file=sys.stderr)
        return 1
    print(f"revoked {', '.join(ids)}; a running serve refuses it from the next request on", file=out)
    return 0


def configure_logging() -> None:
    logging.basicConfig(
        stream=sys.stderr, level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
