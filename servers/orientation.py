"""The orientation call every server offers: `start_here` (a tool) and `roundtable://me` (the same as a
resource). Registered by each server's build_server with `register`; the brief is read by
shared/store/brief.py in one snapshot."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import Context

from shared.frame.runtime import RoundtableServer, runtime
from shared.frame.tool import add_tools, tool
from shared.models.brief import Brief
from shared.store import brief

ME_URI = "roundtable://me"
TOOL_NAME = "start_here"

GREETING = (
    "You are {you}, on a team of agents sharing one Roundtable database. Call {tool} first, and again "
    "after a long pause (it tells you who you are, what you hold and owe, what waits for you, and what to "
    "do next).\n\n"
)
"""What every server's instructions begin with, once the agent is known (shared/frame/handshake.py)."""


@tool(read_only=True, idempotent=True, title="Start here: who you are and what to do now")
async def start_here(ctx: Context[Any, Any]) -> Brief:
    """Call first and after a long pause: who you are, what you hold and owe, what awaits you, and the
    next step. Marks nothing read."""
    rt = runtime(ctx)
    return await brief.of(rt.db, rt.actor())


TOOLS = (start_here,)


def register(mcp: RoundtableServer) -> None:
    """Add `start_here` and the `roundtable://me` resource to a server."""
    add_tools(mcp, TOOLS)

    async def me() -> str:
        # A static resource cannot take a Context: it reads the runtime of the server it belongs to.
        rt = mcp.current()
        return (await brief.of(rt.db, rt.actor())).model_dump_json()

    mcp.resource(
        ME_URI,
        name="me",
        description="Who you are and what to do now (the same as the start_here tool)",
        mime_type="application/json",
    )(me)
