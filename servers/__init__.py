"""Roundtable's MCP servers (thin adapters over shared/) and the `roundtable` command-line tool."""

SERVER_KINDS = ("coordination", "messaging", "knowledge", "monitoring")
"""The four servers a client registers; each is `roundtable-<kind>` and `python -m servers.<kind>`."""
