"""Who this process speaks for.

With ROUNDTABLE_AGENT set, that name. Otherwise the client process that launched this server (Claude
Desktop, Claude Code, the Inspector …), found by walking up the process tree past launchers such as
uv/uvx and `sh -c` wrappers; the client's own name (MCP clientInfo) replaces the process name at the
first call (shared/frame/runtime.py). The key includes the client's start time, so a reused PID is a
new agent, and the four servers one client launches share the key, so they are one agent.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.config import Settings

if TYPE_CHECKING:  # psutil is imported where the process tree is read: a named agent starts without it
    import psutil

LAUNCHERS = frozenset({"uv", "uvx", "uv.exe", "uvx.exe", "uv-trampoline", "uv-trampoline.exe"})
# A client that starts its servers through `sh -c "…"` puts a shell between: a wrapper, not the client.
SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "fish", "cmd.exe", "pwsh", "powershell.exe"})


@dataclass(frozen=True)
class Identity:
    key: str
    explicit_name: str | None
    default_base: str
    client_name: str
    host: str


def _is_launcher(proc: psutil.Process) -> bool:
    import psutil

    try:
        name = proc.name().lower()
        if name in LAUNCHERS:
            return True
        # `python -m uv …` and uv's own python shims count as launchers too.
        args = proc.cmdline()[:3]
    except (psutil.Error, OSError):
        return False
    if name in SHELLS or os.path.basename(args[0] if args else "").lower() in SHELLS:
        return any(a in ("-c", "-lc", "/c", "-Command") for a in args[1:3])  # a one-command wrapper
    return any(os.path.basename(a).lower() in LAUNCHERS for a in args[1:2]) or (
        len(args) >= 3 and args[1] == "-m" and args[2] == "uv"
    )


def client_process(start: psutil.Process | None = None) -> psutil.Process | None:
    """The nearest ancestor of this process that is not a launcher (None if the tree cannot be read)."""
    import psutil

    try:
        proc = (start or psutil.Process()).parent()
        while proc is not None and _is_launcher(proc):
            proc = proc.parent()
        return proc
    except (psutil.Error, OSError):
        return None


def slug(text: str) -> str:
    """A readable name fragment: lower-case letters, digits and dashes ('Claude Desktop' → 'claude-desktop')."""
    text = re.sub(r"\.(exe|app)$", "", text.strip().lower())
    text = re.sub(r"(python)[0-9.]*$", r"\1", text)
    text = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    return text[:24] or "agent"


def resolve(settings: Settings) -> Identity:
    """Decide this process's identity from settings and the process tree."""
    host = socket.gethostname()
    if settings.agent:
        return Identity(
            key=f"named:{settings.agent}",
            explicit_name=settings.agent,
            default_base=slug(settings.agent),
            client_name="",
            host=host,
        )
    import psutil

    proc = client_process()
    if proc is None:
        # No readable parent: this process is its own client.
        pid, started, client = os.getpid(), psutil.Process().create_time(), "roundtable"
    else:
        try:
            pid, started, client = proc.pid, proc.create_time(), proc.name()
        except (psutil.Error, OSError):
            pid, started, client = proc.pid, 0.0, "client"
    return Identity(
        key=f"proc:{host}:{pid}:{started:.3f}",
        explicit_name=None,
        default_base=slug(client),
        client_name=client,
        host=host,
    )
