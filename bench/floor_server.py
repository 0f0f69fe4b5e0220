"""The SDK floor: a bare MCPServer with one no-op tool, nothing of Roundtable's."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

mcp = MCPServer("floor")


@mcp.tool()
async def noop() -> str:
    """Do nothing."""
    return "ok"


if __name__ == "__main__":
    mcp.run()
