"""Starting a configured server command as its MCP client would, and saying what the client would see.

`roundtable install` warms each server this way before registering it, and `roundtable doctor` checks the
commands a client config actually runs. The probe runs the command with the client's environment (Claude
Desktop passes almost none; Claude Code its own) and always on a scratch database, so the team's file gains
no agent, session or event.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from servers.cli.launch import last_lines

CONNECT_LIMIT = 30.0
"""Claude Code's connect limit for a stdio server (MCP_TIMEOUT changes it; CLIENTS.md)."""

DESKTOP_PASSES = ("HOME", "USER", "LOGNAME", "SHELL", "TMPDIR", "SYSTEMROOT", "APPDATA", "LOCALAPPDATA", "USERPROFILE")
"""What Claude Desktop passes a server of its own environment (besides a minimal PATH and the entry's env)."""
DESKTOP_PATH = r"C:\Windows\System32;C:\Windows" if os.name == "nt" else "/usr/bin:/bin:/usr/sbin:/sbin"

CERTIFICATE_HINTS = ("certificate verify failed", "invalid peer certificate", "unknownissuer", "ssl")
NETWORK_HINTS = ("failed to fetch", "dns error", "connection refused", "network", "offline", "no solution found")


def client_environment(client: str, entry_env: Mapping[str, str]) -> dict[str, str]:
    """The environment `client` starts a configured server with: Claude Code passes its own, Claude Desktop
    only a few variables and a minimal PATH; the entry's `env` on top in both."""
    if client == "claude-desktop":
        base = {k: v for k, v in os.environ.items() if k in DESKTOP_PASSES} | {"PATH": DESKTOP_PATH}
    else:
        base = dict(os.environ)
    return base | dict(entry_env)


@dataclass
class Probe:
    ok: bool
    seconds: float
    tools: int = 0
    problem: str = ""
    """What went wrong, in the client's words where it has them (a timeout, a certificate error, …)."""
    fix: str = ""


def limit() -> float:
    """The connect limit a Claude Code launched from here would apply (MCP_TIMEOUT is in milliseconds)."""
    raw = os.environ.get("MCP_TIMEOUT", "")
    return int(raw) / 1000 if raw.isdigit() and int(raw) > 0 else CONNECT_LIMIT


def known_cause(stderr: list[str], command: str) -> tuple[str, str] | None:
    """A cause a server's last stderr lines show that has a known fix: a certificate error, uvx offline."""
    text = " ".join(stderr).lower()
    last = stderr[-1][:200] if stderr else ""
    if "certificate" in text and any(h in text for h in CERTIFICATE_HINTS):
        return (
            f"certificate error while fetching packages: {last}",
            "set SSL_CERT_FILE (or UV_SYSTEM_CERTS=1; UV_NATIVE_TLS=1 in older uv) in the entry's env, or"
            " `roundtable install` (no network at launch)",
        )
    if command.endswith(("uvx", "uvx.exe")) and any(h in text for h in NETWORK_HINTS):
        return (
            f"uvx could not resolve the packages: {last}",
            "`roundtable install` registers a persistent install that needs no network at launch",
        )
    return None


SLOW_FIX = "`roundtable install` (a persistent install, warmed before registering) starts in about a second"


async def probe(
    command: str, args: list[str], env: Mapping[str, str], within: float | None = None, cwd: str | None = None
) -> Probe:
    """Start `command args` with exactly `env` over stdio, initialize, list tools, close; `within` seconds
    (the client's connect limit by default)."""
    timeout = limit() if within is None else within
    params = StdioServerParameters(command=command, args=list(args), env=dict(env), cwd=cwd)
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as errors:
        try:
            with anyio.fail_after(timeout):
                async with Client(stdio_client(params, errlog=errors)) as client:
                    tools = len((await client.list_tools()).tools)
        except TimeoutError:
            tail = last_lines(errors, 3)
            cause = known_cause(tail, command)
            problem = f"no answer within {timeout:g} s (the client gives up there)"
            return Probe(
                False,
                time.perf_counter() - started,
                problem=f"{problem}; {cause[0]}" if cause else problem,
                fix=cause[1] if cause else SLOW_FIX,
            )
        except OSError as exc:  # the command itself is missing or not executable
            bare = os.sep not in command and "/" not in command
            path = env.get("PATH", "")
            fix = (
                f"{command} is not on the PATH the client passes ({path}): give its full path, or `roundtable install`"
                if bare
                else "register it again: roundtable install <client> (or fix the path in the client's config)"
            )
            problem = f"cannot start {command}: {exc.strerror}"
            return Probe(False, time.perf_counter() - started, problem=problem, fix=fix)
        except Exception:  # any failure to start or answer is what the probe reports
            tail = last_lines(errors, 3)
            shown = " ".join([command, *args])
            problem, fix = known_cause(tail, command) or (
                f"did not answer: {tail[-1][:200] if tail else 'no output'}",
                f"run it by hand to see the whole error: {shown}",
            )
            return Probe(False, time.perf_counter() - started, problem=problem, fix=fix)
    return Probe(True, time.perf_counter() - started, tools=tools)


def scratch_env(env: Mapping[str, str], scratch: str) -> dict[str, str]:
    """`env` with the server pointed at a scratch database instead of the team's file."""
    return {**env, "ROUNDTABLE_DB": scratch}
