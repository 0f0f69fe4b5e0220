"""Toolsets: which tools the servers list (ROUNDTABLE_TOOLS / --tools). A pure rule over names.

`all` (the default) is every tool; `core` is the loop a worker needs (orient, take and finish work, talk,
recall and record what was learnt); otherwise a comma list of groups and tool names. `start_here` is
always included: it is how an agent finds out what to do.
"""

from __future__ import annotations

import difflib

GROUPS: dict[str, tuple[str, ...]] = {
    "tasks": ("task_create", "task_list", "task_claim", "task_update", "task_complete"),
    "consensus": ("consensus_propose", "consensus_vote", "consensus_list", "sandbox_test"),
    "messages": (
        "message_send",
        "message_broadcast",
        "message_subscribe",
        "message_query",
        "message_acknowledge",
        "message_wait",
    ),
    "knowledge": ("knowledge_add", "knowledge_query", "knowledge_get", "experience_share"),
    "skills": ("skill_define", "skill_compose", "skill_list", "skill_execute"),
    "team": ("agent_register", "agent_status", "network_health", "performance_metrics", "event_log"),
}
"""Each group's tools, named as the servers register them (tests/servers/test_surface.py checks this)."""

SERVER_GROUPS: dict[str, tuple[str, ...]] = {
    "coordination": ("tasks", "consensus"),
    "messaging": ("messages",),
    "knowledge": ("knowledge", "skills"),
    "monitoring": ("team",),
}
"""The groups each server registers (tests/servers/test_surface.py checks this)."""


def server_of(tool: str) -> str | None:
    """The one server that has `tool` (an alias: the tool it stands for's), or None (start_here: every one)."""
    name = ALIASES.get(tool, tool)
    return next((server for server, groups in SERVER_GROUPS.items() for g in groups if name in GROUPS[g]), None)


ALWAYS = ("start_here",)

ALIASES = {"improvement_propose": "consensus_propose"}
"""Tools kept callable but never listed, registered with the tool they stand for (bench/RESULTS.md, issue 14:
improvement_propose became consensus_propose(kind="improvement"))."""

CORE: tuple[str, ...] = (
    *ALWAYS,
    *GROUPS["tasks"],
    "message_send",
    "message_query",
    "message_wait",
    "message_acknowledge",
    "knowledge_query",
    "knowledge_add",
)
"""The worker's loop: start_here; create, list, claim, update, complete tasks; send, read, wait for and
acknowledge mail; search and add knowledge."""

SETS = {"all": None, "core": CORE}


class UnknownTools(ValueError):
    """The selection names something that is neither a toolset, a group nor a tool; the message lists them."""


def every_tool() -> tuple[str, ...]:
    return (*ALWAYS, *(name for names in GROUPS.values() for name in names))


def select(spec: str) -> frozenset[str] | None:
    """The tool names `spec` selects ("all" or "" → None, meaning every tool), or UnknownTools naming the
    valid names."""
    words = [w.strip().lower() for w in spec.split(",") if w.strip()]
    if not words or "all" in words:
        return None
    tools = set(every_tool())
    chosen: set[str] = set(ALWAYS)
    unknown = []
    for word in words:
        if word == "core":
            chosen.update(CORE)
        elif word in GROUPS:
            chosen.update(GROUPS[word])
        elif word in tools:
            chosen.add(word)
        else:
            unknown.append(word)
    if unknown:
        valid = [*SETS, *GROUPS, *sorted(tools)]
        near = difflib.get_close_matches(unknown[0], valid, n=1, cutoff=0.6)
        hint = f" (did you mean {near[0]}?)" if near else ""
        raise UnknownTools(
            f"unknown tool or toolset {', '.join(repr(u) for u in unknown)}{hint}; use all, core, groups "
            f"({', '.join(GROUPS)}) or tool names ({', '.join(sorted(tools))}), comma-separated"
        )
    return frozenset(chosen)
