"""What a server says about itself when a client connects, once its agent is known: instructions that
begin by naming the agent ("You are ana, a worker …") and say to call the orientation tool first, and —
for the messaging server — the experimental capability `claude/channel` that lets Claude Code take its
pushes (shared/frame/channel.py).

The instructions and capabilities of an initialize result are fixed by the SDK before the lifespan has
registered the agent, so a server middleware (the low-level server's `middleware` list, reached through
`_lowlevel_server`, private: this is the one place) amends the `initialize` and `server/discover` results
on their way out. The same middleware notes each connected client's connection for the channel, as the
request's caller (over HTTP its token's agent).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mcp.server.context import CallNext, ServerRequestContext
from mcp.server.mcpserver import MCPServer

from shared.errors import Unavailable

if TYPE_CHECKING:
    from shared.frame.runtime import Runtime

ORIENTATION_TOOL = "start_here"
CHANNEL_CAPABILITY = "claude/channel"


def greeting(rt: Runtime) -> str:
    """The first lines of every server's instructions: who this session is and what to call first."""
    try:
        me = rt.agent  # over HTTP the request's caller (its token's agent), not the process's `system`
    except Unavailable:
        return ""
    article = "an" if me.role[:1] in "aeiou" else "a"
    return (
        f"You are {me.name}, {article} {me.role}, on a team of agents sharing one Roundtable database. "
        f"Call {ORIENTATION_TOOL} first, and again after a long pause: it says what you hold and owe, what "
        "waits for you and what to do next.\n\n"
    )


def install(mcp: MCPServer[Any], *, channel: bool = False) -> None:
    """Amend initialize/discover results (greeting, and the channel capability when `channel`) and note
    each connected session for the channel."""

    async def amend(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> Any:
        result = await call_next(ctx)
        rt = ctx.lifespan_context
        if not hasattr(rt, "channel"):
            return result
        if ctx.method in ("initialize", "server/discover") and isinstance(result, dict):
            result["instructions"] = greeting(rt) + str(result.get("instructions") or "")
            if channel:
                capabilities = result.setdefault("capabilities", {})
                capabilities.setdefault("experimental", {})[CHANNEL_CAPABILITY] = {}
        # Claude Code connects with the initialize handshake; a 2026-07-28 client (no handshake, no stream of
        # its own outside a request) gets no pushes, so a server it talks to keeps idling while nobody listens.
        if channel and ctx.method in ("initialize", "notifications/initialized"):
            from shared.frame import channel as pushes  # the messaging server's alone: loaded where it runs
            from shared.frame.notify import connection_of
            from shared.frame.runtime import CALLER

            # each connection's own push state: over stdio the one client, over HTTP (roundtable serve) each
            # session, as its token's agent (CALLER), pushed on the session's own stream
            connection, who = connection_of(ctx), CALLER.get()
            if ctx.method == "initialize":
                await pushes.note_start(rt, connection, who)  # before the answer leaves: what arrives after is pushed
            else:
                await pushes.connected(rt, connection, who)
        return result

    mcp._lowlevel_server.middleware.append(amend)
