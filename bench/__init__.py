"""Benchmarks: figures beside a floor measured in the same run (SQLite itself, a bare MCP server)."""
