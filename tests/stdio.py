"""Real server processes in tests: the one launcher (servers/cli/launch.py `server_params`, passed on
here so every test imports it from one place), and finding and killing a launched server."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import psutil

from servers.cli.launch import server_params

__all__ = ["ROOT", "kill_server", "server_params", "server_pid"]

ROOT = Path(__file__).resolve().parent.parent


def server_pid(module: str, agent: str) -> int | None:
    """The pid of this process's child running `servers.<module>` as `agent` (None when there is none).

    The stdio client does not expose its child; the child is found by its command line and its
    ROUNDTABLE_AGENT, which `server_params` sets when given an agent.
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
