"""Settings: read once from command-line flags with environment fallbacks, then passed down frozen."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from shared.db.place import Place, parse_place
from shared.errors import InvalidArgument
from shared.rules import toolsets
from shared.rules.names import check_agent_name

Role = Literal["admin", "worker", "observer"]
ROLES: tuple[Role, ...] = get_args(Role)


class ConfigError(ValueError):
    """A setting has a value we cannot use; the message names the variable and the fix."""


def default_db_path(env: Mapping[str, str]) -> Path:
    """`$XDG_DATA_HOME/roundtable/roundtable.db`, else `~/.local/share/roundtable/roundtable.db`."""
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "roundtable" / "roundtable.db"


@dataclass(frozen=True)
class Limits:
    """Per-agent quotas and the cap on a claim's age (shared/store/quotas.py). Past a quota the call is
    refused whole, with one line naming the limit, its setting and the fix."""

    open_tasks: int = 500
    """ROUNDTABLE_MAX_OPEN_TASKS: tasks an agent created that are not finished (open, claimed, blocked)."""
    knowledge_entries: int = 2000
    """ROUNDTABLE_MAX_KNOWLEDGE: knowledge entries an agent wrote (superseded ones included)."""
    knowledge_bytes: int = 16 * 1024 * 1024
    """ROUNDTABLE_MAX_KNOWLEDGE_BYTES: the total size of those entries (title, body, source, links, data)."""
    skill_versions: int = 200
    """ROUNDTABLE_MAX_SKILL_VERSIONS: skill versions an agent wrote that are still kept."""
    open_proposals: int = 20
    """ROUNDTABLE_MAX_OPEN_PROPOSALS: proposals (decisions and improvements) of an agent still open."""
    lease_age: float = 86400.0
    """ROUNDTABLE_MAX_LEASE_AGE: seconds a claim may last from when it was taken, renewals included."""


@dataclass(frozen=True)
class Settings:
    db: Place
    """Where the team lives: the SQLite file (a Path) or the PostgreSQL database (shared/db/place.py)."""
    agent: str | None = None
    role: Role = "worker"
    presence_timeout: float = 30.0
    lease_seconds: float = 900.0
    secret: str | None = field(default=None, repr=False)
    send_rate_per_minute: int = 60
    sandbox_allow: tuple[str, ...] = ()
    sandbox_root: Path | None = None
    sandbox_timeout: float = 120.0
    sandbox_unconfined: bool = False
    max_waits: int = 16
    idle_after: float = 300.0
    agent_retention: float = 7 * 86400.0
    stuck_after: float = 3600.0
    metrics_raw_retention: float = 86400.0
    metrics_retention: float = 30 * 86400.0
    integrity_every: float = 3600.0
    event_retention: float = 90 * 86400.0
    message_retention: float = 30 * 86400.0
    task_retention: float = 30 * 86400.0
    skill_versions_kept: int = 20
    limits: Limits = field(default_factory=Limits)
    tools: frozenset[str] | None = None
    """The tools the servers list (ROUNDTABLE_TOOLS, shared/rules/toolsets.py); None: every tool."""

    @property
    def heartbeat_interval(self) -> float:
        """Heartbeats come three times per presence timeout, so one lost beat never looks like a departure."""
        return max(self.presence_timeout / 3, 0.05)

    def ensure_db_folder(self) -> None:
        """Create the database folder with user-only permissions when it does not exist yet (SQLite only)."""
        if not isinstance(self.db, Path):
            return
        folder = self.db.parent
        if not folder.exists():
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number; set it to a number of seconds or unset it") from None
    if value < minimum:
        raise ConfigError(f"{name}={raw!r} is below the minimum {minimum}; raise it or unset it")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise ConfigError(f"{name}={raw!r} is not a yes/no value; set it to 1 or 0, or unset it")


SERVER_EPILOG = (
    "This is a stdio MCP server: an MCP client (Claude Code, Claude Desktop, the MCP Inspector) starts it and "
    "speaks to it on its stdin and stdout; started by hand, it waits for a client. To set it up in a client, "
    "run: roundtable install claude-code (or claude-desktop); to paste a config yourself: roundtable config "
    "claude-code. Every flag has its ROUNDTABLE_* environment variable, which is how clients pass them."
)


def parser(prog: str, description: str, version: str) -> argparse.ArgumentParser:
    """The flags every Roundtable server accepts; each falls back to its environment variable."""
    p = argparse.ArgumentParser(prog=prog, description=description, epilog=SERVER_EPILOG)
    p.add_argument(
        "--db",
        help="the team's SQLite file or postgresql:// URL (env ROUNDTABLE_DB; default: a file in the user's data dir)",
    )
    p.add_argument("--agent", help="name this process speaks for (env ROUNDTABLE_AGENT; default: derived)")
    p.add_argument("--role", choices=ROLES, help="admin | worker | observer (env ROUNDTABLE_ROLE; default worker)")
    p.add_argument(
        "--tools", help="all | core | a comma list of groups and tools to list (env ROUNDTABLE_TOOLS; default all)"
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {version}")
    return p


def load_settings(args: argparse.Namespace | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from parsed flags (which win) and the environment."""
    env = os.environ if env is None else env
    db = getattr(args, "db", None) or env.get("ROUNDTABLE_DB") or ""
    try:
        place = parse_place(db) if db else default_db_path(env).absolute()
    except ValueError as exc:
        raise ConfigError(f"ROUNDTABLE_DB: {exc}") from None
    role = getattr(args, "role", None) or env.get("ROUNDTABLE_ROLE") or "worker"
    if role not in ROLES:
        raise ConfigError(f"ROUNDTABLE_ROLE={role!r} is not a role; use one of {', '.join(ROLES)}")
    agent = (getattr(args, "agent", None) or env.get("ROUNDTABLE_AGENT") or "").strip() or None
    if agent is not None:
        try:
            agent = check_agent_name(agent)
        except InvalidArgument as exc:
            raise ConfigError(f"ROUNDTABLE_AGENT={agent!r}: {exc}; set a usable name or unset it") from None
    allow = tuple(p.strip() for p in env.get("ROUNDTABLE_SANDBOX_ALLOW", "").split(",") if p.strip())
    root = env.get("ROUNDTABLE_SANDBOX_ROOT")
    selection = getattr(args, "tools", None) or env.get("ROUNDTABLE_TOOLS") or "all"
    try:
        tools = toolsets.select(selection)
    except toolsets.UnknownTools as exc:
        raise ConfigError(f"ROUNDTABLE_TOOLS={selection!r}: {exc}") from None
    return Settings(
        db=place,
        agent=agent,
        role=role,  # checked against ROLES above
        presence_timeout=_number(env, "ROUNDTABLE_PRESENCE_TIMEOUT", 30.0, minimum=0.2),
        lease_seconds=_number(env, "ROUNDTABLE_LEASE_SECONDS", 900.0, minimum=1.0),
        secret=env.get("ROUNDTABLE_SECRET") or None,
        send_rate_per_minute=int(_number(env, "ROUNDTABLE_SEND_RATE", 60, minimum=1)),
        sandbox_allow=allow,
        sandbox_root=Path(root).expanduser().absolute() if root else None,
        sandbox_timeout=_number(env, "ROUNDTABLE_SANDBOX_TIMEOUT", 120.0, minimum=1.0),
        sandbox_unconfined=_flag(env, "ROUNDTABLE_SANDBOX_UNCONFINED"),
        max_waits=int(_number(env, "ROUNDTABLE_MAX_WAITS", 16, minimum=1)),
        idle_after=_number(env, "ROUNDTABLE_IDLE_AFTER", 300.0, minimum=1.0),
        agent_retention=_number(env, "ROUNDTABLE_AGENT_RETENTION", 7 * 86400.0, minimum=60.0),
        stuck_after=_number(env, "ROUNDTABLE_STUCK_AFTER", 3600.0, minimum=1.0),
        metrics_raw_retention=_number(env, "ROUNDTABLE_METRICS_RAW_RETENTION", 86400.0, minimum=3600.0),
        metrics_retention=_number(env, "ROUNDTABLE_METRICS_RETENTION", 30 * 86400.0, minimum=3600.0),
        integrity_every=_number(env, "ROUNDTABLE_INTEGRITY_EVERY", 3600.0, minimum=60.0),
        event_retention=_number(env, "ROUNDTABLE_EVENT_RETENTION", 90 * 86400.0, minimum=3600.0),
        message_retention=_number(env, "ROUNDTABLE_MESSAGE_RETENTION", 30 * 86400.0, minimum=3600.0),
        task_retention=_number(env, "ROUNDTABLE_TASK_RETENTION", 30 * 86400.0, minimum=3600.0),
        skill_versions_kept=int(_number(env, "ROUNDTABLE_SKILL_VERSIONS_KEPT", 20, minimum=1)),
        limits=Limits(
            open_tasks=int(_number(env, "ROUNDTABLE_MAX_OPEN_TASKS", 500, minimum=1)),
            knowledge_entries=int(_number(env, "ROUNDTABLE_MAX_KNOWLEDGE", 2000, minimum=1)),
            knowledge_bytes=int(_number(env, "ROUNDTABLE_MAX_KNOWLEDGE_BYTES", 16 * 1024 * 1024, minimum=65536)),
            skill_versions=int(_number(env, "ROUNDTABLE_MAX_SKILL_VERSIONS", 200, minimum=1)),
            open_proposals=int(_number(env, "ROUNDTABLE_MAX_OPEN_PROPOSALS", 20, minimum=1)),
            lease_age=_number(env, "ROUNDTABLE_MAX_LEASE_AGE", 86400.0, minimum=60.0),
        ),
        tools=tools,
    )


def settings_from_argv(argv: Sequence[str] | None, prog: str, description: str, version: str) -> Settings:
    """Parse argv (sys.argv[1:] when None) and the environment into Settings; exit 2 on a bad value."""
    p = parser(prog, description, version)
    args = p.parse_args(argv)
    try:
        return load_settings(args)
    except ConfigError as exc:
        p.error(str(exc))
