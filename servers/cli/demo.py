"""`roundtable demo`: three agents, each a real MCP client launching its own servers over stdio against one
database, play a short scene (servers/cli/scene.py), then the final board is printed.

Every step checks that the structured result says what the narration claims; the first that does not ends
the demo with exit status 1, after the servers were closed cleanly.
"""

from __future__ import annotations

import functools
import json
import math
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import anyio
from mcp import Client, MCPError
from mcp.client.stdio import stdio_client

from servers import SERVER_KINDS
from servers.cli import scene as scenes
from servers.cli.launch import last_lines, server_params
from servers.cli.render import paint
from servers.cli.scene import Part, Scene, StepFailed
from shared.db.connection import explain_open_failure, folder_given, read_only_uri
from shared.frame.channel import Listener

CAST = ("planner", "ana", "bo")
START_TIMEOUT = 30.0
CALL_TIMEOUT = 15.0
SCENE_TIMEOUT = 45.0


@dataclass
class Server:
    """One server process of one agent: its client once connected, its captured stderr, why it failed."""

    agent: str
    kind: str
    errlog: TextIO
    client: Client | None = None
    tools: frozenset[str] = frozenset()
    error: str | None = None
    listener: Listener | None = None
    """Claude Code channel pushes this (messaging) server sent its client (shared/frame/channel.py)."""


@dataclass
class Agent:
    """A demo agent: one MCP client per server kind, each a separate process speaking for this name."""

    name: str
    servers: dict[str, Server] = field(default_factory=dict)

    def server_for(self, tool: str) -> Server:
        for server in self.servers.values():
            if tool in server.tools:
                return server
        raise StepFailed(f"a server of {self.name} offering {tool}", "no such tool on its servers")

    async def call(self, tool: str, arguments: dict[str, Any]) -> tuple[bool, Any]:
        """Call a tool; (True, structured result) or (False, the error text). Bounded by CALL_TIMEOUT."""
        server = self.server_for(tool)
        if server.client is None:
            raise StepFailed(f"roundtable-{server.kind} of {self.name} running", f"it stopped: {server.error}")
        try:
            with anyio.fail_after(CALL_TIMEOUT):
                result = await server.client.call_tool(tool, arguments)
        except TimeoutError:
            raise StepFailed(f"an answer to {tool} within {CALL_TIMEOUT:g} s", "none") from None
        except (MCPError, anyio.ClosedResourceError, anyio.BrokenResourceError) as exc:
            lost = f"{exc or type(exc).__name__} (roundtable-{server.kind} of {self.name} stopped?)"
            raise StepFailed(f"an answer to {tool}", lost) from None
        text = " ".join(getattr(block, "text", "") for block in result.content).strip()
        if result.is_error:
            return False, text.removeprefix(f"Error executing tool {tool}: ")
        if result.structured_content is not None:
            return True, result.structured_content
        return True, json.loads(text) if text.startswith(("{", "[")) else text


async def _serve(server: Server, db: Path, stop: anyio.Event, arrived: Callable[[Server], None]) -> None:
    """Hold one server connection open until `stop`; record a failure instead of raising it."""
    params = server_params(server.kind, db, server.agent)
    extra: dict[str, Any] = {}
    if server.kind == "messaging":  # a Claude Code channel: its client hears pushes, as Claude Code does
        server.listener = Listener()
        extra = {"mode": "legacy", "extensions": [server.listener.extension()]}
    try:
        with anyio.CancelScope(deadline=anyio.current_time() + START_TIMEOUT) as startup:
            async with Client(stdio_client(params, errlog=server.errlog), **extra) as client:
                server.tools = frozenset(t.name for t in (await client.list_tools()).tools)
                server.client = client
                startup.deadline = math.inf
                arrived(server)
                await stop.wait()
        if startup.cancelled_caught:
            server.error = f"no answer within {START_TIMEOUT:g} s"
    except Exception as exc:  # a server that fails is what the demo reports, with its stderr
        server.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    finally:
        server.client = None if server.error else server.client
        arrived(server)


def _flatten(exc: BaseException) -> Iterator[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _flatten(inner)
    else:
        yield exc


@dataclass
class Outcome:
    code: int
    steps: int
    seconds: float


async def play(
    db: Path,
    out: TextIO = sys.stdout,
    *,
    acts: Sequence[Part] | None = None,
    kinds: Sequence[str] | None = None,
    shared_db: bool = False,
) -> Outcome:
    """Start the cast's servers, play `acts` (default: the whole scene), print the board; never hangs."""
    kinds = tuple(kinds or SERVER_KINDS)
    began = time.perf_counter()
    cast = _cast(kinds)
    everything = [s for a in cast.values() for s in a.servers.values()]
    try:
        return await _run(db, out, cast, everything, kinds, acts, shared_db, began)
    finally:
        for s in everything:
            s.errlog.close()


def _cast(kinds: Sequence[str]) -> dict[str, Agent]:
    """The agents, each with one (not yet started) server per kind and a private file for its stderr."""
    cast = {name: Agent(name) for name in CAST}
    for agent in cast.values():
        for kind in kinds:
            agent.servers[kind] = Server(agent.name, kind, tempfile.TemporaryFile("w+"))  # noqa: SIM115
    return cast


async def _run(
    db: Path,
    out: TextIO,
    cast: dict[str, Agent],
    everything: list[Server],
    kinds: tuple[str, ...],
    acts: Sequence[Part] | None,
    shared_db: bool,
    began: float,
) -> Outcome:
    def say(line: str = "") -> None:
        print(line, file=out, flush=True)

    scene = Scene(cast=cast, kinds=kinds, out=out, shared_db=shared_db, db=db)
    started, stop = anyio.Event(), anyio.Event()
    pending = set(map(id, everything))

    def arrived(server: Server) -> None:
        pending.discard(id(server))
        if not pending:
            started.set()

    failure: tuple[str, list[str]] | None = None
    async with anyio.create_task_group() as tg:
        for server in everything:
            tg.start_soon(_serve, server, db, stop, arrived)
        try:
            await started.wait()
            broken = [s for s in everything if s.client is None]
            if broken:
                s = broken[0]
                failure = (f"roundtable-{s.kind} for {s.agent} did not start: {s.error}", last_lines(s.errlog))
            else:
                say(
                    paint(
                        f"{len(everything)} servers up in {time.perf_counter() - began:.1f} s "
                        f"({len(cast)} agents, servers: {', '.join(kinds)})",
                        "dim",
                        out,
                    )
                )
                say()
                failure = await _play_scene(scene, acts)
        finally:
            stop.set()
    if failure is not None:
        message, stderr = failure
        say(paint(f"✗ {message}", "red", out))
        for line in stderr:
            say(paint(f"    │ {line}", "dim", out))
        return Outcome(1, scene.number, time.perf_counter() - began)
    return Outcome(0, scene.number, time.perf_counter() - began)


async def _play_scene(scene: Scene, acts: Sequence[Part] | None) -> tuple[str, list[str]] | None:
    """Run the acts; the first failed check (or a hang) as (message, the called server's last stderr lines)."""
    try:
        with anyio.fail_after(SCENE_TIMEOUT):
            await scenes.perform(scene, acts)
    except TimeoutError:
        return f"step {scene.number}: expected the scene to finish within {SCENE_TIMEOUT:g} s, got a hang", []
    except BaseExceptionGroup as group:
        failed = next((e for e in _flatten(group) if isinstance(e, StepFailed)), None)
        if failed is None:
            raise
        return _describe(scene, failed)
    except StepFailed as failed:
        return _describe(scene, failed)
    return None


def _describe(scene: Scene, failed: StepFailed) -> tuple[str, list[str]]:
    stderr = last_lines(scene.last_server.errlog) if scene.last_server is not None else []
    return f"step {scene.number}: expected {failed.expected}, got {failed.got}", stderr


def refusal(db: Path) -> str | None:
    """Why the demo cannot play on `db` (a folder, a file that is not a database, a place it cannot write),
    said before twelve servers start only to fail at the first step; None when it can."""
    if problem := folder_given(db):
        return problem
    try:
        if db.exists():
            with closing(sqlite3.connect(read_only_uri(db), uri=True, timeout=5)) as conn:
                conn.execute("PRAGMA schema_version").fetchone()
    except sqlite3.DatabaseError as exc:
        if "not a database" in str(exc):
            return f"{db} is not a SQLite database (another program's file?): give --db a team's file, or a new path"
        return explain_open_failure(db, exc, retrying=False)
    return None


def run(db: Path | None, keep: bool, default_db: Path | None = None, *, made: Path | None = None) -> int:
    """The `roundtable demo` command: a fresh temporary database unless `db` is given. `made`: the temporary
    folder the caller made for it (`demo --dashboard` shows the file before the demo starts), which the caller
    removes; this says it is a fresh file all the same, and where it is kept."""
    out = sys.stdout
    folder = made if made is not None else None if db is not None else Path(tempfile.mkdtemp(prefix="roundtable-demo-"))
    path = db if db is not None else Path(folder or ".") / "roundtable.db"
    print(paint("Roundtable demo", "bold", out) + f" — {', '.join(CAST)} work as one team through real servers")
    if db is None:
        print(paint(f"database: a fresh temporary file, {path}", "dim", out))
    else:
        note = " (your default shared database)" if default_db is not None and db == default_db else ""
        joins = f"the demo's agents {', '.join(CAST)} and their work join that team"
        print(paint(f"database: {path}{note}; {joins}", "yellow", out))
    try:
        outcome = anyio.run(functools.partial(play, path, out, shared_db=db is not None))
    except KeyboardInterrupt:
        print(paint("\ninterrupted; the servers were stopped", "yellow", out))
        outcome = Outcome(130, 0, 0.0)
    finally:
        if folder is not None and made is None and not keep:
            shutil.rmtree(folder, ignore_errors=True)
    if outcome.code == 0:
        print(paint(f"\n✓ all {outcome.steps} steps did what they said, in {outcome.seconds:.1f} s", "green", out))
    if folder is not None and keep:
        print(f"database kept: {path}")
    return outcome.code
