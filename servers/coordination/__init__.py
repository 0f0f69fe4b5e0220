"""roundtable-coordination: the shared task queue, and team decisions and improvements by vote.

A thin MCP adapter: tools validate arguments and call the stores in shared/store; no SQL here.
"""

from __future__ import annotations

from collections.abc import Sequence

from mcp.server.mcpserver import MCPServer

from servers import orientation
from servers.coordination import consensus, tasks
from shared.config import Settings
from shared.frame.notify import advertise
from shared.frame.runtime import Runtime, create_server, run_main
from shared.frame.tool import add_tools
from shared.rules import toolsets
from shared.rules.clock import Clock, system_clock

DESCRIPTION = (
    "Roundtable coordination server: shared tasks with claims, leases, dependencies and schedules; "
    "decisions and improvements by vote."
)

INSTRUCTIONS = (
    """\
Coordinates work between several agents sharing one Roundtable database.
Tasks: task_create puts work in the queue; task_claim() takes the best ready task for you atomically (no
two agents ever hold the same task); report with task_update (progress, note, release, block) while you
work and finish with task_complete. A claim lasts while you are present, up to its lease: extend it with
task_update(extend_lease=...) for long work. task_list(ready_only=true) shows what you could claim.
"""
    + consensus.INSTRUCTIONS
)


def build_server(settings: Settings, clock: Clock = system_clock) -> MCPServer[Runtime]:
    mcp = create_server(
        "coordination",
        settings,
        instructions=INSTRUCTIONS,
        clock=clock,
        background=[tasks.SWEEP, consensus.CLOSING],
    )
    mcp.hidden = frozenset(toolsets.ALIASES)  # callable under the old name, not listed
    if not (settings.sandbox_allow and settings.sandbox_root):
        mcp.hidden |= {"sandbox_test"}  # off: not listed; a call says how to turn it on
    add_tools(mcp, tasks.TOOLS, consensus.TOOLS)
    orientation.register(mcp)
    advertise(mcp, resources=True, subscribe=False, prompts=False)  # roundtable://me (servers/orientation.py)
    return mcp


def main(argv: Sequence[str] | None = None) -> None:
    run_main("coordination", build_server, DESCRIPTION, argv)
