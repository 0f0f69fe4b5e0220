"""Launching real server processes over stdio, the way an MCP client does."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mcp import StdioServerParameters

ROOT = Path(__file__).resolve().parent.parent


def server_params(module: str, db: Path, agent: str | None = None, **env: str) -> StdioServerParameters:
    """`python -m servers.<module>` against `db`, as agent `agent` (derived from this process when None)."""
    child_env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", ""),
        "PYTHONPATH": str(ROOT),
        "ROUNDTABLE_DB": str(db),
        "ROUNDTABLE_LOG_LEVEL": "WARNING",
        **env,
    }
    if agent is not None:
        child_env["ROUNDTABLE_AGENT"] = agent
    return StdioServerParameters(command=sys.executable, args=["-m", f"servers.{module}"], env=child_env, cwd=ROOT)
