"""Starting Roundtable servers the way an MCP client does: `python -m servers.<kind>` over stdio, with a
minimal environment and stderr kept apart so it never garbles what the CLI prints."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TextIO

from mcp import StdioServerParameters

PASSED_ON = ("PATH", "HOME", "SYSTEMROOT", "PYTHONPATH")


def server_params(
    kind: str, db: Path, agent: str, *, role: str = "worker", log_level: str = "WARNING"
) -> StdioServerParameters:
    """`python -m servers.<kind>` for `agent` on `db`, with this interpreter and only the variables it needs."""
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", f"servers.{kind}"],
        env={
            **{k: v for k, v in os.environ.items() if k in PASSED_ON},
            "ROUNDTABLE_DB": str(db),
            "ROUNDTABLE_AGENT": agent,
            "ROUNDTABLE_ROLE": role,
            "ROUNDTABLE_LOG_LEVEL": log_level,
        },
    )


def last_lines(errlog: TextIO, count: int = 5) -> list[str]:
    """The last non-blank lines a server wrote to its (captured) stderr."""
    errlog.flush()
    errlog.seek(0)
    return [line for line in errlog.read().splitlines() if line.strip()][-count:]
