"""The SDK floor: a bare MCPServer with one no-op tool, nothing of Roundtable's."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

mcp = MCPServer("floor")


@mcp.tool()
async def noop() -> str:
    """Do nothing."""
    return "ok"


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["--http"]:  # the floor over streamable HTTP: /mcp on this loopback port
        mcp.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        mcp.run()
