"""The one definition of a live session, as SQL, and the agent id of a configured identity — with no imports,
so the Claude Code hook (servers/cli/hook.py) uses them without the store's models. shared/store/team/agents.py
re-exports both; every presence query is built from `live_sessions_sql`."""

from __future__ import annotations


def live_sessions_sql(agent_column: str | None = None) -> str:
    """`FROM sessions s WHERE …` the live sessions — heartbeated at or after `:live_after` — of the agent in
    `agent_column`, or of every agent. The one definition of a live session; select from it what you need."""
    mine = f"s.agent_id = {agent_column} AND " if agent_column is not None else ""
    return f"FROM sessions s WHERE {mine}s.heartbeat_at >= :live_after"


def live_session_sql(agent_column: str) -> str:
    """SQL true when the agent in `agent_column` has a live session (see live_sessions_sql)."""
    return f"EXISTS (SELECT 1 {live_sessions_sql(agent_column)})"


def configured_id(name: str) -> str:
    """The agent id of the identity started with ROUNDTABLE_AGENT=name: bound to that name, never to
    whoever holds the display name."""
    return f"named:{name}"


DEPARTED = "a departed agent"
"""What is shown for an agent whose row is gone (pruned) and whose id names no one: never the internal key."""


def shown_name(agent_id: str) -> str:
    """A readable stand-in for an agent id no row names any more: a configured agent's own name, else DEPARTED.
    Ids such as `named:ana` or `proc:host:pid:start` are keys, never words a model or a person reads."""
    prefix = configured_id("")
    return agent_id[len(prefix) :] if agent_id.startswith(prefix) and len(agent_id) > len(prefix) else DEPARTED
