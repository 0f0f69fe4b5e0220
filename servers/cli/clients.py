"""Where the clients keep their MCP config, and the `claude` command: read by `roundtable install`/`uninstall`
(before changing anything) and by `roundtable doctor` (to check what the client really runs).

- Claude Desktop: claude_desktop_config.json in the OS's place (below).
- Claude Code: user and local scope in ~/.claude.json (local under projects[<folder>]), project scope in the
  project's .mcp.json; settings (hooks, approvals) in ~/.claude/settings.json, .claude/settings.json and
  .claude/settings.local.json. Roundtable changes these only through `claude mcp` where there is a command for
  it, and through servers/cli/jsonfile.py's safe merge otherwise.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from servers import SERVER_KINDS
from servers.cli import jsonfile

SCOPES = ("local", "project", "user")
NAMES = tuple(f"roundtable-{kind}" for kind in SERVER_KINDS)


def desktop_config(env: dict[str, str] | None = None) -> Path:
    """claude_desktop_config.json: macOS ~/Library/Application Support/Claude, Windows %APPDATA%\\Claude,
    Linux $XDG_CONFIG_HOME/Claude (~/.config/Claude)."""
    env = dict(os.environ) if env is None else env
    home = Path(env.get("HOME") or Path.home())
    if sys.platform == "darwin":
        folder = home / "Library" / "Application Support" / "Claude"
    elif os.name == "nt":
        folder = Path(env.get("APPDATA") or home / "AppData" / "Roaming") / "Claude"
    else:
        folder = Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "Claude"
    return folder / "claude_desktop_config.json"


def claude_state() -> Path:
    """Claude Code's own state file (~/.claude.json, or in CLAUDE_CONFIG_DIR)."""
    folder = os.environ.get("CLAUDE_CONFIG_DIR")
    return Path(folder) / ".claude.json" if folder else Path.home() / ".claude.json"


def settings_file(scope: str, project: Path) -> Path:
    """The settings file of a scope: hooks go there (local: .claude/settings.local.json, just you)."""
    if scope == "user":
        folder = os.environ.get("CLAUDE_CONFIG_DIR")
        return (Path(folder) if folder else Path.home() / ".claude") / "settings.json"
    return project / ".claude" / ("settings.local.json" if scope == "local" else "settings.json")


def approvals_file(project: Path) -> Path:
    """Where one user approves a project's .mcp.json servers (enabledMcpjsonServers)."""
    return project / ".claude" / "settings.local.json"


def claude_command() -> str | None:
    """The Claude Code CLI: ROUNDTABLE_CLAUDE names it (the tests do), else `claude` on PATH."""
    return os.environ.get("ROUNDTABLE_CLAUDE") or shutil.which("claude")


def claude(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    command = claude_command()
    if command is None:
        raise FileNotFoundError("claude")
    return subprocess.run(
        [command, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def servers_of(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = data.get("mcpServers")
    return {k: v for k, v in found.items() if isinstance(v, dict)} if isinstance(found, dict) else {}


def claude_code_servers(scope: str, project: Path) -> dict[str, dict[str, Any]]:
    """The MCP servers Claude Code has in `scope` for `project` (read-only; {} when there are none)."""
    if scope == "project":
        return servers_of(jsonfile.load(project / ".mcp.json"))
    state = jsonfile.load(claude_state())
    if scope == "user":
        return servers_of(state)
    projects = state.get("projects")
    entry = projects.get(str(project)) if isinstance(projects, dict) else None
    return servers_of(entry) if isinstance(entry, dict) else {}


def in_git_work_tree(project: Path) -> bool:
    return any((folder / ".git").exists() for folder in (project, *project.parents))


def approved(project: Path, name: str) -> bool:
    """Whether a project-scope (.mcp.json) server is approved for this user in its settings."""
    for path in (approvals_file(project), project / ".claude" / "settings.json", settings_file("user", project)):
        try:
            data = jsonfile.load(path)
        except jsonfile.Unreadable:
            continue
        if data.get("enableAllProjectMcpServers") is True:
            return True
        if name in (data.get("enabledMcpjsonServers") or []):
            return True
    try:
        state = jsonfile.load(claude_state())
    except jsonfile.Unreadable:
        return False
    projects = state.get("projects")
    entry = projects.get(str(project)) if isinstance(projects, dict) else None
    return isinstance(entry, dict) and name in (entry.get("enabledMcpjsonServers") or [])


@dataclass(frozen=True)
class Entry:
    """One configured server as a client runs it."""

    client: str
    where: str
    """The scope or file it is configured in, for the report."""
    name: str
    command: str
    args: list[str]
    env: dict[str, str]
    pending_approval: bool = False


_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expanded(text: str, environ: Mapping[str, str] = os.environ) -> str:
    """`text` as Claude Code reads it from .mcp.json: `${VAR}` is VAR's value and `${VAR:-default}` the default
    when VAR is unset or empty; an unset `${VAR}` without a default stays as written (so does a bare `$VAR`)."""

    def value(match: re.Match[str]) -> str:
        found, default = environ.get(match.group(1)), match.group(2)
        if found:
            return found
        if default is not None:
            return default
        return match.group(0) if found is None else ""

    return _VARIABLE.sub(value, text)


def entry_of(
    client: str, where: str, name: str, raw: dict[str, Any], pending: bool = False, *, expand: bool = False
) -> Entry:
    """One configured server; `expand`: its command, args and env read as Claude Code reads them (`expanded`)."""
    args = raw.get("args") if isinstance(raw.get("args"), list) else []
    env = raw.get("env") if isinstance(raw.get("env"), dict) else {}
    read = expanded if expand else str
    return Entry(
        client, where, name, read(str(raw.get("command", ""))), [read(str(a)) for a in args or []],
        {str(k): read(str(v)) for k, v in (env or {}).items()}, pending,
    )  # fmt: skip


def configured(project: Path) -> tuple[list[Entry], list[str]]:
    """Every Roundtable server a client here is configured to run (Desktop; Claude Code's user, local and
    project scope for `project`), and the config files that could not be read."""
    found: list[Entry] = []
    unreadable: list[str] = []
    try:
        for name, raw in servers_of(jsonfile.load(desktop_config())).items():
            if name.startswith("roundtable"):
                found.append(entry_of("claude-desktop", str(desktop_config()), name, raw))
    except jsonfile.Unreadable as exc:
        unreadable.append(str(exc))
    for scope in ("local", "project", "user"):
        try:
            servers = claude_code_servers(scope, project)
        except jsonfile.Unreadable as exc:
            unreadable.append(str(exc))
            continue
        for name, raw in servers.items():
            if name.startswith("roundtable") and raw.get("type", "stdio") == "stdio":
                pending = scope == "project" and not approved(project, name)
                found.append(entry_of("claude-code", f"{scope} scope", name, raw, pending, expand=True))
    return found, unreadable
