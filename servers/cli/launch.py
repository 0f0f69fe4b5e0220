"""Starting Roundtable servers the way an MCP client does: `python -m servers.<kind>` over stdio, with a
minimal environment and stderr kept apart so it never garbles what the CLI prints.

The one launcher of this checkout's servers: `roundtable demo` and `roundtable doctor` when no client is
configured (servers/cli/demo.py, doctor.py), the tests (tests/stdio.py passes it on) and the benchmarks
(bench/*.py) all start servers with `server_params`, and `roundtable serve` (HTTP) with `serve_command`. A
command a client config names (what `install` registered, what `doctor` checks) is started by
servers/cli/probe.py instead, with that client's environment.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TextIO

from mcp import StdioServerParameters

from shared.db.place import Place, PostgresUrl, parse_place

PASSED_ON = ("PATH", "HOME", "SYSTEMROOT", "PYTHONPATH")


def server_params(
    kind: str,
    db: Place | str,
    agent: str | None = None,
    *,
    role: str = "worker",
    log_level: str = "WARNING",
    module: str | None = None,
    cwd: Path | None = None,
    **env: str,
) -> StdioServerParameters:
    """`python -m servers.<kind>` on `db`, with this interpreter and only the variables it needs.

    - `agent`: the ROUNDTABLE_AGENT it speaks for; None leaves it unset, so the server derives its agent
      from its parent process as under a real client (shared/frame/identity.py).
    - `module`: run this module instead of servers.<kind> (the benchmarks' bare-SDK floor server).
    - `cwd`: run from this folder, with it as PYTHONPATH (bench.* is not installed; a checkout runs it).
    - `env`: more variables, or overrides, e.g. ROUNDTABLE_PRESENCE_TIMEOUT="1".
    """
    child_env = {
        **{k: v for k, v in os.environ.items() if k in PASSED_ON},
        "ROUNDTABLE_DB": db.url if isinstance(db, PostgresUrl) else str(db),
        "ROUNDTABLE_ROLE": role,
        "ROUNDTABLE_LOG_LEVEL": log_level,
    }
    if agent is not None:
        child_env["ROUNDTABLE_AGENT"] = agent
    if cwd is not None:
        child_env["PYTHONPATH"] = str(cwd)
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", module or f"servers.{kind}"],
        env={**child_env, **env},
        cwd=cwd,
    )


def hook_command(event: str, db: Path, agent: str | None = None, **env: str) -> tuple[list[str], dict[str, str]]:
    """`python -m servers.cli hook EVENT` on `db` (as `roundtable hook`, which Claude Code runs), and its minimal
    environment: the demo and the benchmarks run the hook with it."""
    child_env = {k: v for k, v in os.environ.items() if k in PASSED_ON} | {"ROUNDTABLE_DB": str(db)}
    if agent is not None:
        child_env["ROUNDTABLE_AGENT"] = agent
    return [sys.executable, "-m", "servers.cli", "hook", event], {**child_env, **env}


def last_lines(errlog: TextIO, count: int = 5) -> list[str]:
    """The last non-blank lines a server wrote to its (captured) stderr."""
    errlog.flush()
    errlog.seek(0)
    return [line for line in errlog.read().splitlines() if line.strip()][-count:]


def serve_command(
    db: Place | str, port: int, *, host: str = "127.0.0.1", **env: str
) -> tuple[list[str], dict[str, str]]:
    """`python -m servers.cli serve` on `db` at host:port, and its minimal environment (plus `env`): the tests
    and the benchmarks start `roundtable serve` with it. A PostgreSQL URL goes in ROUNDTABLE_DB, not on the
    command line, where `ps` would show its password."""
    child_env = {k: v for k, v in os.environ.items() if k in PASSED_ON} | {"ROUNDTABLE_LOG_LEVEL": "WARNING"}
    place = parse_place(db) if isinstance(db, str) else db
    argv = [sys.executable, "-m", "servers.cli", "serve", "--host", host, "--port", str(port)]
    if isinstance(place, PostgresUrl):
        child_env["ROUNDTABLE_DB"] = place.url
    else:
        argv[4:4] = ["--db", str(place)]
    return argv, {**child_env, **env}


def free_port() -> int:
    """A TCP port free on loopback now (the OS's choice)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_listening(proc: subprocess.Popen[bytes], port: int, timeout: float, errlog: Path) -> None:
    """Until `proc` accepts connections on loopback `port`; raises with its stderr if it ends or never does."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the server ended ({proc.returncode}): {errlog.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not listen on {port}: {errlog.read_text()}") from None
            time.sleep(0.05)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (as Ctrl-C: uvicorn shuts down cleanly), then SIGKILL after 10 s."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
