"""Launching real server processes over stdio, the way an MCP client does."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import psutil
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


def server_pid(module: str, agent: str) -> int | None:
    """The pid of this process's child running `servers.<module>` as `agent` (None when there is none).

    The stdio client does not expose its child; the child is found by its command line and its
    ROUNDTABLE_AGENT, which every server launched by `server_params` carries.
    """
    for child in psutil.Process().children(recursive=True):
        try:
            if f"servers.{module}" in child.cmdline() and child.environ().get("ROUNDTABLE_AGENT") == agent:
                return child.pid
        except psutil.Error:
            continue
    return None


def kill_server(module: str, agent: str, timeout: float = 5.0) -> bool:
    """SIGKILL the server process of `agent` and wait until it is gone; False when none was running."""
    pid = server_pid(module, agent)
    if pid is None:
        return False
    deadline = time.monotonic() + timeout
    try:
        proc = psutil.Process(pid)
        proc.send_signal(signal.SIGKILL)
        # Not proc.wait(): reaping the child would steal its exit status from the stdio client's watcher.
        while proc.status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
            time.sleep(0.005)
    except psutil.NoSuchProcess:
        pass
    return True
