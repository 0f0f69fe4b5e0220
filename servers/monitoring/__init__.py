"""roundtable-monitoring: who is here and what they are doing, the health of the shared state, per-tool
performance and the audit trail.

A thin MCP adapter over shared/store/team (agents, presence, health, metrics, summary) and
shared/store/events.py; its tools are in servers/monitoring/team.py, no SQL here. Tool calls of all four
servers are measured in shared/frame/runtime.py.
"""

from __future__ import annotations

from collections.abc import Sequence

from mcp.server.mcpserver import MCPServer

from servers import orientation
from servers.monitoring import team
from shared.config import Settings
from shared.frame.jobs import every
from shared.frame.notify import advertise, serve_legacy_subscriptions, watcher
from shared.frame.runtime import Runtime, create_server, run_main
from shared.frame.tool import add_tools
from shared.rules.clock import Clock, system_clock

DESCRIPTION = "Roundtable monitoring server: presence, the health of the shared state, tool performance, audit trail."
STATUS_URI = "roundtable://status"

INSTRUCTIONS = """\
Shows what the team sharing this Roundtable database is doing. agent_status: who is online, idle or gone,
what each holds and owes. agent_register: set your name, capabilities (tasks' `requires` match them) and
current activity, so others know what you are doing. network_health: is the shared state healthy, and if
not, why and what to do. performance_metrics: which tool is slow or failing, for whom. event_log: the audit
trail of every change. The resource roundtable://status is a compact team summary.
"""


def build_server(settings: Settings, clock: Clock = system_clock) -> MCPServer[Runtime]:
    mcp = create_server(
        "monitoring",
        settings,
        instructions=INSTRUCTIONS,
        clock=clock,
        background=[
            every(team.PRUNE_SECONDS, team.prune, what="pruning agents", at_start=True),
            every(team.PRUNE_SECONDS, team.prune_history, what="pruning old history"),
            every(team.INTEGRITY_POLL_SECONDS, team.check_integrity, what="checking integrity"),
            watcher(STATUS_URI, team.status, interval=0.25),
        ],
    )
    serve_legacy_subscriptions(mcp)
    add_tools(mcp, team.TOOLS)
    orientation.register(mcp)

    async def status() -> str:
        # A static resource cannot take a Context: it reads the runtime of the server it belongs to.
        return await team.status(mcp.current())

    mcp.resource(
        STATUS_URI,
        name="status",
        description="The team at a glance: agents and presence, tasks by state, proposals, mail, health",
        mime_type="application/json",
    )(status)
    advertise(mcp, resources=True, subscribe=True, prompts=False)
    return mcp


def main(argv: Sequence[str] | None = None) -> None:
    run_main("monitoring", build_server, DESCRIPTION, argv)
