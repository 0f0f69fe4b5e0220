"""Who this process speaks for.

With ROUNDTABLE_AGENT set, that name. Otherwise the client process that launched this server (Claude
Desktop, Claude Code, the Inspector …), found by walking up the process tree past launchers such as
uv/uvx and `sh -c` wrappers; the client's own name (MCP clientInfo) replaces the process name at the
first call (shared/frame/runtime.py). The key includes the client's start time, so a reused PID is a
new agent, and the four servers one client launches share the key, so they are one agent.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from shared.config import Settings

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


class Proc(Protocol):
    """What identity reads of a process: a psutil.Process, or a ProcfsProcess where /proc is (psutil is then
    never imported: it costs 30-90 ms before `initialize` can answer)."""

    @property
    def pid(self) -> int: ...

    def name(self) -> str: ...
    def cmdline(self) -> list[str]: ...
    def parent(self) -> Proc | None: ...
    def create_time(self) -> float: ...


class ProcfsProcess:
    """A process read straight from Linux's /proc, with the few answers of psutil.Process identity needs, each
    the same as psutil's (name, cmdline, parent, create_time: the agent's key must not change with the
    reader), without importing psutil before `initialize` answers. OSError when the process is gone."""

    ROOT = Path("/proc")

    def __init__(self, pid: int | None = None) -> None:
        self.pid = os.getpid() if pid is None else pid
        self._dir = self.ROOT / str(self.pid)

    @classmethod
    def available(cls) -> bool:
        return sys.platform.startswith("linux") and (cls.ROOT / "self" / "stat").exists()

    def _stat(self) -> tuple[str, list[str]]:
        """The command name (in parentheses, which may itself hold ')') and the fields after it."""
        raw = (self._dir / "stat").read_bytes().decode(errors="surrogateescape")
        name, rest = raw[raw.index("(") + 1 : raw.rindex(")")], raw[raw.rindex(")") + 2 :]
        return name, rest.split()

    def cmdline(self) -> list[str]:
        raw = (self._dir / "cmdline").read_bytes().decode(sys.getfilesystemencoding(), errors="surrogateescape")
        if raw.endswith("\x00"):
            raw = raw[:-1]
        parts = raw.split("\x00")
        if len(parts) == 1 and " " in raw:  # a process that rewrote its title with spaces (psutil does the same)
            parts = raw.split(" ")
        return parts if raw else []

    def name(self) -> str:
        """The command name; past its 15-character truncation, the program of the command line it begins."""
        name = self._stat()[0]
        if len(name) >= 15:
            with contextlib.suppress(OSError):
                args = self.cmdline()
                if args and os.path.basename(args[0]).startswith(name):
                    return os.path.basename(args[0])
        return name

    def parent(self) -> ProcfsProcess | None:
        ppid = int(self._stat()[1][1])
        return ProcfsProcess(ppid) if ppid > 0 and (self.ROOT / str(ppid)).exists() else None

    def create_time(self) -> float:
        """Seconds since the epoch: the start in clock ticks after boot, plus the boot time, as psutil has it."""
        ticks = float(self._stat()[1][19])
        return ticks / os.sysconf("SC_CLK_TCK") + _boot_time()


def _boot_time() -> float:
    for line in (ProcfsProcess.ROOT / "stat").read_text().splitlines():
        if line.startswith("btime"):
            return float(line.split()[1])
    raise OSError("no btime in /proc/stat")


def this_process() -> Proc:
    """This process, read through /proc where there is one, else through psutil."""
    if ProcfsProcess.available():
        return ProcfsProcess()
    import psutil

    found: Proc = psutil.Process()
    return found


def _errors() -> tuple[type[BaseException], ...]:
    """What reading a process may raise: OSError from /proc, and psutil's own errors once it is imported."""
    psutil = sys.modules.get("psutil")
    return (OSError, ValueError, IndexError, psutil.Error) if psutil is not None else (OSError, ValueError, IndexError)


def _is_launcher(proc: Proc) -> bool:
    try:
        name = proc.name().lower()
        if name in LAUNCHERS:
            return True
        # `python -m uv …` and uv's own python shims count as launchers too.
        args = proc.cmdline()[:3]
    except _errors():
        return False
    if name in SHELLS or os.path.basename(args[0] if args else "").lower() in SHELLS:
        return any(a in ("-c", "-lc", "/c", "-Command") for a in args[1:3])  # a one-command wrapper
    return any(os.path.basename(a).lower() in LAUNCHERS for a in args[1:2]) or (
        len(args) >= 3 and args[1] == "-m" and args[2] == "uv"
    )


def client_process(start: Proc | None = None) -> Proc | None:
    """The nearest ancestor of this process that is not a launcher (None if the tree cannot be read)."""
    try:
        proc = (start or this_process()).parent()
        while proc is not None and _is_launcher(proc):
            proc = proc.parent()
        return proc
    except _errors():
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
    proc = client_process()
    if proc is None:
        # No readable parent: this process is its own client.
        pid, started, client = os.getpid(), this_process().create_time(), "roundtable"
    else:
        try:
            pid, started, client = proc.pid, proc.create_time(), proc.name()
        except _errors():
            pid, started, client = proc.pid, 0.0, "client"
    return Identity(
        key=f"proc:{host}:{pid}:{started:.3f}",
        explicit_name=None,
        default_base=slug(client),
        client_name=client,
        host=host,
    )
