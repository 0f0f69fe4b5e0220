"""Ready-to-paste client configurations: Claude Desktop's JSON, Claude Code's .mcp.json and `claude mcp add`.

The source given to `uvx --from` is where this copy of Roundtable came from: the local checkout or the
git URL it was installed from (read from the installation's PEP 610 `direct_url.json`).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from servers import SERVER_KINDS

DISTRIBUTION = "mcp-roundtable"
CHECKOUT = Path(__file__).resolve().parents[2]


def source_spec() -> str:
    """What to pass to `uvx --from` so a client runs this same Roundtable."""
    if (CHECKOUT / "pyproject.toml").is_file() and (CHECKOUT / "servers").is_dir():
        return str(CHECKOUT)
    try:
        raw = distribution(DISTRIBUTION).read_text("direct_url.json")
    except PackageNotFoundError:
        raw = None
    if raw:
        info = json.loads(raw)
        url = str(info.get("url", ""))
        vcs = info.get("vcs_info")
        if vcs:
            revision = vcs.get("requested_revision")
            return f"{vcs.get('vcs', 'git')}+{url}" + (f"@{revision}" if revision else "")
        if url.startswith("file://"):
            return unquote(urlparse(url).path)
    return DISTRIBUTION


def from_home(path: Path, *, shell: bool = False) -> str:
    """`path` as a file the project shares (.mcp.json, .claude/settings.json) names it: under the home folder it
    is written from the home folder, so each teammate's clone runs their own install at the same place
    (Claude Code expands `${HOME}` in .mcp.json's command; a hook runs in a shell, where `"$HOME"` does). Else
    (or on Windows) the absolute path."""
    home = Path.home()
    try:
        inside = path.relative_to(home) if home != Path(home.anchor) else None  # a home of / holds everything
    except ValueError:
        inside = None
    if inside is None or os.name == "nt" or str(inside) == ".":
        return shlex.quote(str(path)) if shell else str(path)
    return f'"$HOME"/{shlex.quote(inside.as_posix())}' if shell else f"${{HOME}}/{inside.as_posix()}"


def launch(source: str, kind: str, installed: Path | None = None, *, shared: bool = False) -> tuple[str, list[str]]:
    """The command and arguments that start server `kind`: the persistent install's script when there is one
    (`installed`: its bin folder; servers/cli/toolenv.py), else uvx from `source`. `shared`: for a project's
    .mcp.json, the script named from the home folder (`from_home`)."""
    if installed is not None:
        script = installed / (f"roundtable-{kind}.exe" if os.name == "nt" else f"roundtable-{kind}")
        return (from_home(script) if shared else str(script)), []
    return "uvx", ["--from", source, f"roundtable-{kind}"]


def server_entries(
    source: str, env: dict[str, str], installed: Path | None = None, *, shared: bool = False
) -> dict[str, dict[str, Any]]:
    """One `mcpServers` entry per server, each with the same whole `env` (one team: never a placeholder)."""
    entries: dict[str, dict[str, Any]] = {}
    for kind in SERVER_KINDS:
        command, args = launch(source, kind, installed, shared=shared)
        entries[f"roundtable-{kind}"] = {"command": command, "args": args, "env": dict(env)}
    return entries


def claude_desktop(source: str, db: str, installed: Path | None = None) -> str:
    """The block for claude_desktop_config.json: paste it whole; every server names the same database."""
    return json.dumps({"mcpServers": server_entries(source, {"ROUNDTABLE_DB": db}, installed)}, indent=2)


PROJECT_DB = "./.roundtable/roundtable.db"
UVX_NOTE = (
    "uvx resolves the packages again at every launch (network, and a cold start past Claude Code's 30 s limit); "
    "`roundtable install {client}` registers a persistent install instead"
)


def claude_code(source: str, db: str = PROJECT_DB, installed: Path | None = None) -> str:
    """`claude mcp add` lines (project scope) and the equivalent .mcp.json."""
    lines = ["# Run in your project folder (writes .mcp.json; omit -s project for just you):"]
    if installed is None:
        lines.insert(0, "# " + UVX_NOTE.format(client="claude-code"))
    for kind in SERVER_KINDS:
        command, args = launch(source, kind, installed, shared=True)
        argv = " ".join(shlex.quote(a) for a in [command, *args])
        lines.append(f"claude mcp add roundtable-{kind} -s project -e ROUNDTABLE_DB={shlex.quote(db)} -- {argv}")
    entries = server_entries(source, {"ROUNDTABLE_DB": db}, installed, shared=True)
    lines += ["", "# or put this in .mcp.json:", json.dumps({"mcpServers": entries}, indent=2)]
    lines += [
        "",
        '# Project servers show as "Pending approval" in `claude mcp list` until you approve them: run `claude` in',
        '# the folder and approve, or put {"enabledMcpjsonServers": ["roundtable-coordination", …all four]} in',
        "# .claude/settings.local.json (in a git work tree; elsewhere `claude` asks once to trust the folder).",
        "",
        "# Mail pushed into the session as it arrives (Claude Code channels, research preview, v2.1.80+):",
        "# start Claude Code with the messaging server as a channel:",
        CHANNEL_LAUNCH,
        "",
        "# Hooks (a brief at session start, news on each prompt, a reminder before stopping with claims held):",
        "# roundtable config claude-code --hooks prints the block for .claude/settings.json",
    ]
    return "\n".join(lines)


CHANNEL_LAUNCH = "claude --dangerously-load-development-channels server:roundtable-messaging"
"""How Claude Code is started with the messaging server as a channel (CLIENTS.md; the channels reference)."""
HOOK_EVENTS = ("SessionStart", "UserPromptSubmit", "Stop")
HOOK_TIMEOUT = 10


def hook_program(source: str, installed: Path | None = None, *, shared: bool = False) -> str:
    """The `roundtable` the hooks run: the persistent install's (`installed`: its bin folder), else this
    environment's own script when the environment lasts (a checkout's .venv): Claude Code runs a hook on every
    prompt, and `uvx --from <source>` resolves the source again at each start (about a second here). Else (run
    from uvx's throwaway cache) uvx itself. `shared`: for the project's .claude/settings.json, the persistent
    install named from the home folder (`from_home`)."""
    if installed is not None:
        script = installed / ("roundtable.exe" if os.name == "nt" else "roundtable")
        return from_home(script, shell=True) if shared else shlex.quote(str(script))
    script = Path(sys.executable).parent / ("roundtable.exe" if os.name == "nt" else "roundtable")
    if script.is_file() and "archive-v0" not in script.parts:
        return shlex.quote(str(script))
    return f"uvx --from {shlex.quote(source)} roundtable"


def hook_command(program: str, event: str, db: str | None = PROJECT_DB) -> str:
    """The command Claude Code runs for `event`: `program` (hook_program) on the same file as the servers (a
    relative path is the project's: `roundtable hook` takes it from $CLAUDE_PROJECT_DIR)."""
    flags = f" --db {shlex.quote(db)}" if db else ""
    return f"{program} hook {event}{flags}"


def claude_code_hooks(program: str, db: str | None = PROJECT_DB) -> str:
    """The `hooks` block for .claude/settings.json (or settings.local.json, or ~/.claude/settings.json)."""
    hooks = {
        event: [{"hooks": [{"type": "command", "command": hook_command(program, event, db), "timeout": HOOK_TIMEOUT}]}]
        for event in HOOK_EVENTS
    }
    return json.dumps({"hooks": hooks}, indent=2)


TOKEN_HERE = "<token from: roundtable token create NAME>"


def remote_urls(base: str) -> dict[str, str]:
    """Each server's endpoint under a `roundtable serve` base URL (a full endpoint URL is cut to its base)."""
    base = base.rstrip("/")
    for kind in SERVER_KINDS:
        base = base.removesuffix(f"/{kind}/mcp")
    return {kind: f"{base}/{kind}/mcp" for kind in SERVER_KINDS}


def claude_desktop_remote(source: str, base: str, installed: Path | None = None) -> str:
    """claude_desktop_config.json entries running `roundtable connect` (Desktop takes only stdio servers)."""
    program = str(installed / ("roundtable.exe" if os.name == "nt" else "roundtable")) if installed else None
    entries = {
        f"roundtable-{kind}": {
            "command": program or "uvx",
            "args": [*([] if program else ["--from", source, "roundtable"]), "connect", url],
            "env": {"ROUNDTABLE_TOKEN": TOKEN_HERE},
        }
        for kind, url in remote_urls(base).items()
    }
    return json.dumps({"mcpServers": entries}, indent=2)


def claude_code_remote(base: str) -> str:
    """`claude mcp add --transport http` lines for a `roundtable serve` endpoint."""
    lines = ["# With the token in ROUNDTABLE_TOKEN (roundtable token create NAME):"]
    for kind, url in remote_urls(base).items():
        lines.append(
            f"claude mcp add --transport http roundtable-{kind} {shlex.quote(url)}"
            ' --header "Authorization: Bearer $ROUNDTABLE_TOKEN"'
        )
    lines += [
        "",
        "# Mail pushed into the session as it arrives (Claude Code channels, research preview, v2.1.80+):",
        "# start Claude Code with the messaging server as a channel:",
        CHANNEL_LAUNCH,
    ]
    return "\n".join(lines)
