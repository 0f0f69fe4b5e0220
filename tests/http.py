"""`roundtable serve` in tests: a real serve process (uvicorn) on a free loopback port, tokens made through
the store, and the SDK's streamable HTTP client sending one."""

from __future__ import annotations

import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from servers.cli.launch import free_port, serve_command, stop, wait_until_listening
from shared.config import Role
from shared.db.connection import Database
from shared.db.place import Place, parse_place
from shared.store.team import tokens

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    port: int
    db: Place

    def url(self, kind: str) -> str:
        return f"http://127.0.0.1:{self.port}/{kind}/mcp"


@contextmanager
def serving(
    db: Place | str, *, port: int | None = None, timeout: float = 30.0, logs: Path | None = None, **env: str
) -> Iterator[Served]:
    """`python -m servers.cli serve --db DB --port PORT` until the block ends (then SIGTERM, as Ctrl-C); its
    stderr goes to `logs` (default: the database file's folder; a PostgreSQL team needs `logs`)."""
    db = parse_place(db) if isinstance(db, str) else db
    port = port or free_port()
    argv, child_env = serve_command(db, port, **env)
    folder = logs or (db.parent if isinstance(db, Path) else None)
    assert folder is not None, "serving a PostgreSQL team: say where its log goes (logs=tmp_path)"
    errlog = folder / f"serve-{port}.log"
    with errlog.open("wb") as err:
        proc = subprocess.Popen(argv, env=child_env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
    try:
        wait_until_listening(proc, port, timeout, errlog)
        yield Served(proc, port, db)
    finally:
        stop(proc)


async def make_token(db_path: Place | str, name: str, role: Role = "worker") -> str:
    db = await Database.open(parse_place(db_path) if isinstance(db_path, str) else db_path)
    try:
        return (await tokens.create(db, name, role, now=time.time())).token
    finally:
        await db.close()


async def revoke_token(db_path: Place, which: str) -> None:
    db = await Database.open(db_path)
    try:
        await tokens.revoke(db, which, now=time.time())
    finally:
        await db.close()


@asynccontextmanager
async def connect(
    url: str, token: str | None, *, mode: str = "legacy", terminate_on_close: bool = True, extensions: Any = ()
) -> AsyncIterator[Client]:
    """The SDK client over streamable HTTP, sending `Authorization: Bearer <token>` (none for None), with these
    client `extensions` (e.g. a channel Listener's)."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    http = create_mcp_http_client(headers=headers)
    transport = streamable_http_client(url, http_client=http, terminate_on_close=terminate_on_close)
    async with http, Client(transport, mode=mode, extensions=list(extensions)) as client:  # type: ignore[arg-type]
        yield client


def make_token_sync(db_path: Place, name: str, role: Role = "worker") -> str:
    return anyio.run(make_token, db_path, name, role)
