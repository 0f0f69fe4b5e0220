"""What every Roundtable server shares: the per-process Runtime, the lifespan that opens the database,
registers this agent's session and heartbeats, the tool decorator that maps domain errors to ToolErrors,
and `main()` plumbing. Server modules build on `create_server` and `tool` and never repeat this.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, CallToolResult, InputRequiredResult
from mcp.types import Tool as MCPTool
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from shared import __version__
from shared.actor import Actor
from shared.config import Settings, settings_from_argv
from shared.db.connection import Database, explain_open_failure
from shared.db.watch import POLL_SECONDS, ChangeWatcher
from shared.errors import Forbidden, RoundtableError, Unavailable
from shared.frame import handshake, identity, instrument, wire
from shared.frame.inflight import InFlight
from shared.frame.jobs import Background, every
from shared.frame.notify import CountingBus, Notifier
from shared.frame.tool import unknown_resource, unknown_tool
from shared.rules import quoting
from shared.rules.clock import Clock, system_clock
from shared.rules.pulse import Pulse
from shared.store.team import agents

if TYPE_CHECKING:
    from mcp.server.connection import Connection

    from shared.frame.channel import Push

log = logging.getLogger("roundtable")
RESOURCE_NOT_FOUND = -32002
"""JSON-RPC code for an unknown resource (MCP spec up to 2025-11-25)."""

CALLER: ContextVar[Actor | None] = ContextVar("roundtable_caller", default=None)
"""Who sends the request being served, when the transport says so per request (`roundtable serve`: the agent
of the request's bearer token, shared/frame/http.py). Unset over stdio, where the process's agent acts."""


@dataclass
class Runtime:
    """Per-process state handed to every tool: settings, the database, who we are, the clock."""

    settings: Settings
    server: str
    clock: Clock
    started_at: float
    notifier: Notifier
    me: Actor | None = None
    over_http: bool = False
    failure: str | None = None
    channel: dict[Connection, Push] = field(default_factory=dict)
    """The client connections the channel pushes to (shared/frame/channel.py), each with whose mail and past
    which message; noted by shared/frame/handshake.py: over stdio the one client, over HTTP each session's."""
    client_named: bool = False  # clientInfo.name recorded for this process's agent
    waiting: InFlight[str] = field(default_factory=InFlight)
    """Agent id → its message_wait calls waiting on this server now (at most max_waits each). By agent: over
    HTTP one process serves every agent, and one agent's waits must not use up another's."""
    recorder: instrument.Recorder = field(default_factory=instrument.Recorder)
    _db: Database | None = field(default=None, repr=False)
    changes: ChangeWatcher = field(init=False, repr=False)
    pulse: Pulse = field(init=False, repr=False)
    """This process's own heartbeats: the time presence is judged as of (shared/rules/pulse.py)."""

    def __post_init__(self) -> None:
        self.changes = ChangeWatcher(lambda: self.db.data_version(), self._wait_for_wakeup)
        self.pulse = Pulse(self.settings.heartbeat_interval, self.settings.presence_timeout)

    async def _wait_for_wakeup(self, seconds: float) -> bool:
        """Until another process's commit is announced to this one's database, or `seconds` pass."""
        if self._db is None:
            await anyio.sleep(seconds)
            return False
        return await self._db.wait_for_change(seconds)

    @property
    def db(self) -> Database:
        """The shared database; raises Unavailable (with the fix) when it could not be opened."""
        if self._db is None:
            raise Unavailable(self.failure or "the shared database is not open yet; retry in a moment")
        return self._db

    @property
    def is_open(self) -> bool:
        """The database is open and this process's agent registered: tools and jobs can run."""
        return self._db is not None and self.me is not None

    @property
    def agent(self) -> Actor:
        """Who acts: the request's caller when the transport names one per request (CALLER, over HTTP),
        else the agent this process speaks for, as registered (its `now` is the registration time).
        Over HTTP the process itself is `system`, an observer: background jobs act as it."""
        caller = CALLER.get()
        if caller is not None:
            return caller
        if self.me is None:
            raise Unavailable(self.failure or "this server has not registered its agent yet; retry in a moment")
        return self.me

    def now(self) -> float:
        return self.clock()

    def actor(self) -> Actor:
        """The caller now: who it is, the time, and the settings that judge it, presence judged as of this
        process's pulse (shared/rules/pulse.py). Built once per call."""
        now = self.clock()
        return self.agent.at(now).judged(self.pulse.judged_at(now))

    def require_writer(self) -> Actor:
        """The caller now, if it may change shared state; observers are refused with the fix."""
        me = self.actor()
        if me.role == "observer" and CALLER.get() is not None:
            raise Forbidden(
                f"{me.name}'s token is an observer's and cannot change shared state; "
                "ask the team lead for a worker token (roundtable token create NAME --role worker)"
            )
        if me.role == "observer":
            raise Forbidden(
                f"{me.name} is an observer (ROUNDTABLE_ROLE=observer) and cannot change shared state; "
                "run this server with ROUNDTABLE_ROLE=worker to take part"
            )
        return me

    async def writer(self) -> Actor:
        """The caller, as require_writer, under the name it has now (agent_register renames it for all
        four servers of its client, so the name read at start-up may be stale)."""
        me = self.require_writer()
        return me.named(await agents.current_name(self.db, me.id))

    @property
    def is_admin(self) -> bool:
        return self.settings.role == "admin"


class RoundtableServer(MCPServer[Runtime]):
    """MCPServer with every tool call measured, hidden tools left out of tools/list, and the Runtime of its
    running lifespan.

    `runtime` serves handlers that get no Context (static resources). A stdio server process has
    exactly one lifespan, so it is always the caller's. `instrumented = False` turns the measuring off
    (the instrumentation benchmark compares both).
    """

    runtime: Runtime | None = None
    instrumented: bool = True
    over_http: bool = False
    """Served by `roundtable serve`: each request's caller comes from its token (set before the lifespan)."""
    toolset: frozenset[str] | None = None
    """The tools `add_tools` registers (settings.tools, ROUNDTABLE_TOOLS); None: every tool."""
    hidden: frozenset[str] = frozenset()
    """Registered but not listed (sandbox_test while it is off: a call still says how to turn it on)."""

    def current(self) -> Runtime:
        if self.runtime is None:
            raise Unavailable("the server is still starting; retry in a moment")
        return self.runtime

    async def run_stdio_async(self) -> None:
        """The SDK's stdio loop, with every line the client sends answered (shared/frame/wire.py)."""
        async with stdio_server() as (read, write):
            options = self._lowlevel_server.create_initialization_options()
            await self._lowlevel_server.run(wire.AnsweringReader(read, write), write, options)

    async def list_tools(self) -> list[MCPTool]:
        """The tools, less the hidden ones; their schemas were compacted once at registration (schema.py)."""
        return [tool for tool in await super().list_tools() if tool.name not in self.hidden]

    async def read_resource(self, uri: Any, context: Context[Runtime, Any] | None = None) -> Any:
        """An unknown resource is the spec's "resource not found": -32002 up to protocol 2025-11-25 (the
        2026-07-28 spec retired that code for -32602, invalid params), its message and data cut short."""
        try:
            return await super().read_resource(uri, context)
        except ResourceNotFoundError as exc:  # one line naming where it is, or what there is (shared/frame/tool.py)
            message = unknown_resource(self, str(uri))
            version = context.protocol_version if context is not None else None
            code = RESOURCE_NOT_FOUND if version is not None and version not in MODERN_PROTOCOL_VERSIONS else None
            if context is None:
                raise ResourceNotFoundError(message) from exc
            # The SDK's answer carries the URI as data, whole (a 100 KB one too): it is cut here, as in the message.
            data = {"uri": quoting.cut(str(uri), 1000)}
            raise MCPError(code=code or INVALID_PARAMS, message=message, data=data) from exc

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Runtime, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        """Every tool call of every server passes here, including calls the SDK refuses before the tool
        runs (unknown tool, arguments failing validation): one sample each, with its error kind."""
        rt = self.runtime
        if context is not None:
            try:  # noqa: SIM105 - contextlib.suppress would cost a fraction of a µs on every call
                rt = context.request_context.lifespan_context
            except ValueError:  # no request: a direct call, e.g. from a test
                pass
        if name not in self._tool_manager._tools:  # one line listing what there is (shared/frame/tool.py)
            exc = ToolError(unknown_tool(self, name))
            if rt is not None and self.instrumented:
                caller = CALLER.get() or rt.me
                rt.recorder.add(
                    (rt.clock(), caller.id if caller else None, rt.server, instrument.UNKNOWN_TOOL, 0.0, "unknown_tool")
                )
            raise exc
        if rt is not None and context is not None and not rt.client_named:
            await _name_the_client(rt, context)
        if rt is None or not self.instrumented:
            return await super().call_tool(name, arguments, context)
        started, clock = rt.clock(), time.perf_counter()
        caller = CALLER.get() or rt.me
        agent = caller.id if caller is not None else None
        try:
            result = await super().call_tool(name, arguments, context)
        except BaseException as exc:
            kind = instrument.error_kind(exc)
            tool_name = instrument.UNKNOWN_TOOL if kind == "unknown_tool" else name
            rt.recorder.add((started, agent, rt.server, tool_name, time.perf_counter() - clock, kind))
            raise
        rt.recorder.add((started, agent, rt.server, name, time.perf_counter() - clock, None))
        return result


async def _name_the_client(rt: Runtime, context: Context[Runtime, Any]) -> None:
    """Once per process: record the client's own name from MCP clientInfo (the process tree only shows
    'node' or a launcher's name). Both eras carry it: the handshake, or the 2026 request envelope."""
    if rt._db is None or rt.me is None:
        return
    rt.client_named = True
    try:
        params = context.request_context.session.client_params
    except (ValueError, AttributeError):  # no request (a direct call) or no session
        return
    name = params.client_info.name.strip() if params is not None and params.client_info is not None else ""
    if name:
        try:
            await agents.set_client_name(rt.db, rt.me, name)
        except (sqlite3.Error, RoundtableError) as exc:
            log.warning("could not record the client name %r: %s", name, exc)


def runtime(ctx: Context[Any, Any]) -> Runtime:
    """The Runtime of the server handling this request."""
    state = ctx.request_context.lifespan_context
    assert isinstance(state, Runtime)
    return state


def _failed(rt: Runtime, why: str) -> None:
    """The database cannot be used: every tool answers `why` until a heartbeat's retry succeeds. Logged when
    the reason changes, not on every retry."""
    if why != rt.failure:
        log.error("%s", why)
    rt.failure = why


async def _open(rt: Runtime) -> None:
    """Open the database and register this process's session; record the reason on failure."""
    try:
        rt.settings.ensure_db_folder()
        db = await Database.open(rt.settings.db)
    except (sqlite3.Error, OSError) as exc:
        _failed(rt, explain_open_failure(rt.settings.db, exc))
        return
    except RoundtableError as exc:
        _failed(rt, str(exc))
        return
    if rt.over_http:  # who acts comes from each request's token; the process itself registers no agent
        rt.me = replace(Actor.of(rt.settings, id="", name="system"), role="observer")
        # one agent's commit here is another's news (mail, a notice): wake this process's waiters and watchers
        # too, whose connection does not show its own commits
        db.on_commit = rt.changes.nudge
        rt._db, rt.failure = db, None
        log.info("%s server over HTTP on %s", rt.server, rt.settings.db)
        return
    try:
        ident = identity.resolve(rt.settings)
        registered = await agents.register_session(
            db,
            key=ident.key,
            explicit_name=ident.explicit_name,
            default_base=ident.default_base,
            client_name=ident.client_name,
            host=ident.host,
            role=rt.settings.role,
            server=rt.server,
            pid=os.getpid(),
            now=rt.now(),
            presence_timeout=rt.settings.presence_timeout,
        )
    except (sqlite3.Error, OSError) as exc:  # a read-only or damaged file: say so and keep answering
        await db.close()
        _failed(rt, explain_open_failure(rt.settings.db, exc))
        return
    except RoundtableError as exc:  # the write lock held past the busy timeout (its holder named)
        await db.close()
        _failed(rt, str(exc))
        return
    except BaseException:
        await db.close()
        raise
    rt.me = Actor.of(rt.settings, id=registered.id, name=registered.name, session_id=registered.session_id)
    rt.pulse.beat(registered.now, rt.now())  # registering wrote the session's first heartbeat
    rt._db, rt.failure = db, None
    log.info("%s server for agent %s on %s", rt.server, rt.me.name, rt.settings.db)


async def _reopen_moved_file(rt: Runtime) -> None:
    """The database file was deleted or replaced under us: restore it from our open copy if it is gone,
    then reconnect to whatever file the path names now, so every process shares one file again."""
    old = rt.db
    if await old.restore_file():
        log.warning("%s was deleted while in use; restored it from this server's open copy", old.shown)
    else:
        log.warning("%s was replaced while in use; reconnecting to the new file", old.shown)
    rt._db = None
    await old.close()
    await _open(rt)


async def _keep_alive(rt: Runtime) -> None:
    """One heartbeat; opens the database if it was unavailable, follows the file if it was moved, rejoins it
    if its -wal/-shm files were deleted."""
    if rt._db is None or rt.me is None:
        await _open(rt)
        return
    if rt._db.file_changed():
        await _reopen_moved_file(rt)
    else:
        await rt._db.rejoin()  # when its -wal/-shm were deleted: saves their commits into the file, reconnects
    if rt.over_http:
        return  # HTTP sessions are heartbeated by the serve process's session book (shared/frame/http.py)
    now = rt.now()
    await agents.heartbeat(rt.db, rt.agent, server=rt.server, pid=os.getpid(), host=_HOST, now=now)
    rt.pulse.beat(now, rt.now())


async def _watch_changes(rt: Runtime) -> None:
    """Rounds of the change watcher: each waits for a wake-up (or POLL_SECONDS) itself, so the job loops
    without a pause of its own; while the database is not open it only sleeps."""
    if not rt.is_open:
        await anyio.sleep(POLL_SECONDS)
        return
    try:
        await rt.changes.watch_round(rt.db.watch_seconds)
    except BaseException:
        await anyio.sleep(POLL_SECONDS)  # a failing round (reported by the runner) never spins
        raise


_HOST = socket.gethostname()
FRAME_JOBS = (
    every(lambda rt: rt.settings.heartbeat_interval, _keep_alive, what="heartbeat", needs_db=False),
    every(instrument.FLUSH_SECONDS, instrument.flush_and_roll_up, what="flushing tool-call samples"),
    every(0.0, _watch_changes, what="watching for changes", needs_db=False),
)
"""The jobs every server runs: heartbeat (which also opens the database), metrics, the change watcher."""


def create_server(
    kind: str,
    settings: Settings,
    *,
    instructions: str,
    clock: Clock = system_clock,
    background: Sequence[Background] = (),
    channel: bool = False,
) -> RoundtableServer:
    """An MCPServer for one Roundtable server kind with the shared lifespan installed; its instructions
    begin with who the agent is (shared/frame/handshake.py), and with `channel` it declares Claude Code's
    `claude/channel` capability (shared/frame/channel.py pushes)."""
    bus = CountingBus(whose=CALLER.get)  # over HTTP each subscription is its caller's

    @asynccontextmanager
    async def lifespan(server: MCPServer[Runtime]) -> AsyncIterator[Runtime]:
        rt = Runtime(
            settings=settings,
            server=kind,
            clock=clock,
            started_at=clock(),
            notifier=Notifier(bus),
            over_http=isinstance(server, RoundtableServer) and server.over_http,
        )
        await _open(rt)
        try:
            async with anyio.create_task_group() as tg:
                for task in (*FRAME_JOBS, *background):
                    tg.start_soon(task, rt)
                if isinstance(server, RoundtableServer):
                    server.runtime = rt
                bus.on_join = rt.changes.nudge  # a watcher already following looks for the newcomer at once
                try:
                    yield rt
                finally:
                    bus.on_join = None
                    tg.cancel_scope.cancel()
                    if isinstance(server, RoundtableServer):
                        server.runtime = None
        finally:
            with anyio.CancelScope(shield=True):
                await instrument.flush(rt)
                if rt._db is not None:
                    try:
                        if rt.me is not None and not rt.over_http:
                            await agents.end_session(rt._db, rt.me)
                    except (sqlite3.Error, RoundtableError) as exc:
                        log.warning("could not end session cleanly: %s", exc)
                    await rt._db.close()

    server = RoundtableServer(
        name=f"roundtable-{kind}", version=__version__, instructions=instructions, lifespan=lifespan, subscriptions=bus
    )
    server.toolset = settings.tools
    handshake.install(server, channel=channel)
    return server


def run_main(
    kind: str,
    build: Callable[[Settings], MCPServer[Runtime]],
    description: str,
    argv: Sequence[str] | None = None,
) -> None:
    """Console-script entry point: flags and env → Settings → the server over stdio; logs go to stderr."""
    settings = settings_from_argv(argv, f"roundtable-{kind}", description, __version__)
    logging.basicConfig(
        stream=sys.stderr,
        level=os.environ.get("ROUNDTABLE_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    if sys.stdin.isatty():
        print(
            f"roundtable-{kind} is a stdio MCP server: an MCP client starts it (roundtable install claude-code sets "
            "one up). Waiting for a client on stdin; Ctrl-C to stop.",
            file=sys.stderr,
        )
    build(settings).run()
