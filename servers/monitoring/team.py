"""The monitoring server's tools — who is here (agent_register, agent_status), the health of the shared
state (network_health), tool performance (performance_metrics), the audit trail (event_log) — and its two
background pieces: pruning agents long gone, and the team summary behind roundtable://status.

Thin adapters over shared/store/team and shared/store/events.py; no SQL here.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints

from shared.errors import InvalidArgument
from shared.frame import instrument
from shared.frame.runtime import Runtime, runtime
from shared.frame.tool import id_text, one_item, tool
from shared.models.monitoring import AgentStatusPage, EventPage, Health, Metrics, RegisterResult
from shared.rules import toolsets
from shared.rules.timeparse import parse_duration
from shared.store import events, retention
from shared.store.team import agents, health, metrics, presence, summary

log = logging.getLogger(__name__)

PRUNE_SECONDS = 60.0
INTEGRITY_POLL_SECONDS = 60.0
"""How often the integrity job looks whether a check is due (ROUNDTABLE_INTEGRITY_EVERY sets how old one may get)."""

ServerKind = Literal["coordination", "messaging", "knowledge", "monitoring"]  # servers.SERVER_KINDS (tested)
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=agents.NAME_MAX)]
Capability = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=agents.CAPABILITY_MAX),
    AfterValidator(one_item),
]


async def prune(rt: Runtime) -> None:
    """One round of the pruning job: agents gone longer than the retention, and sessions of crashed
    processes (agents.prune). Observers only look."""
    if rt.settings.role == "observer":
        return
    pruned = await agents.prune(rt.db, rt.actor(), retention=rt.settings.agent_retention)
    if pruned:
        log.info("pruned agents offline for over %.0f s: %s", rt.settings.agent_retention, ", ".join(pruned))


async def prune_history(rt: Runtime) -> None:
    """One round of retention (shared/store/retention.py): old events, read and expired mail, long-finished
    tasks, old skill versions, a few small batches each. Observers only look."""
    if rt.settings.role == "observer":
        return
    keep = retention.Retention(
        events=rt.settings.event_retention,
        messages=rt.settings.message_retention,
        tasks=rt.settings.task_retention,
        skill_versions=rt.settings.skill_versions_kept,
    )
    gone = await retention.prune(rt.db, now=rt.now(), keep=keep)
    if gone:
        log.info("retention pruned %s", ", ".join(f"{n} {what}" for what, n in gone.items()))


async def check_integrity(rt: Runtime) -> None:
    """One round of the background integrity check: PRAGMA quick_check when the last recorded one (by any
    process) is older than ROUNDTABLE_INTEGRITY_EVERY, so a health call never scans the file itself."""
    if rt.settings.role == "observer":
        return
    now = rt.now()
    if await health.integrity_due(rt.db, now=now, every=rt.settings.integrity_every):
        result = await health.run_integrity_check(rt.db, now=now)
        if result != "ok":
            log.error("PRAGMA quick_check found damage in %s: %s", rt.db.shown, result)


async def status(rt: Runtime) -> str:
    """The team summary as JSON: the roundtable://status resource, and what its watcher compares."""
    found = await summary.team_summary(rt.db, rt.actor(), health.Limits.of(rt.settings))
    return found.model_dump_json()


@tool(read_only=False, idempotent=True, title="Set my name, capabilities and activity")
async def agent_register(
    ctx: Context[Any, Any],
    name: Annotated[Name | None, Field()] = None,
    capabilities: Annotated[
        list[Capability] | None,
        Field(max_length=agents.CAPABILITIES_MAX, description="replaces yours"),
    ] = None,
    activity: Annotated[str | None, Field(max_length=agents.ACTIVITY_MAX)] = None,
) -> RegisterResult:
    """Set your display name (unique), capabilities (tasks requiring them become claimable) and
    activity; omitted fields stay. Returns your status."""
    rt = runtime(ctx)
    me = rt.require_writer()
    changed = await agents.update_profile(rt.db, me, name=name, capabilities=capabilities, activity=activity)
    info = (await presence.agent_infos(rt.db, rt.actor(), agent_id=me.id))[0]
    step = "Nothing changed; pass name, capabilities or activity." if not changed else "Saved."
    if changed and capabilities is not None:
        step += " See tasks you can now claim with task_list(ready_only=true)."
    return RegisterResult(agent=info, changed=changed, next_step=step)


@tool(read_only=True, title="Who is here and what they are doing")
async def agent_status(
    ctx: Context[Any, Any],
    name: Annotated[str | None, Field(max_length=100)] = None,
    include_offline: Annotated[bool, Field()] = True,
) -> AgentStatusPage:
    """Agents (or one): online, idle or offline, activity, held tasks, unread and overdue mail."""
    rt = runtime(ctx)
    agent_id = await agents.id_by_name(rt.db, name) if name and name.strip() else None
    infos = await presence.agent_infos(rt.db, rt.actor(), agent_id=agent_id)
    counts = {p: sum(1 for a in infos if a.presence == p) for p in ("online", "idle", "offline")}
    if not include_offline:
        infos = [a for a in infos if a.presence != "offline"]
    owing = [a.name for a in infos if a.overdue_acks]
    step = f"{counts['online']} online, {counts['idle']} idle, {counts['offline']} offline."
    if owing:
        step += f" Overdue acknowledgements: {', '.join(owing)}; remind them with message_send."
    return AgentStatusPage(agents=infos, next_step=step, **counts)


@tool(read_only=True, title="Health of the shared state")
async def network_health(
    ctx: Context[Any, Any],
    integrity: Annotated[
        bool,
        Field(description="run quick_check now (reads the whole file)"),
    ] = False,
) -> Health:
    """Healthy, degraded or unhealthy, with each reason and what to do: database, work, this process."""
    rt = runtime(ctx)
    tools = len(await ctx.mcp_server.list_tools())
    if not rt.is_open:
        now = rt.now()
        process = health.process_info(server=rt.server, uptime=now - rt.started_at, connections=0, tools=tools)
        return health.unavailable(rt.failure or "the database is not open", now=now, process=process)
    at = rt.actor()
    connections = await health.live_sessions(rt.db, at)
    process = health.process_info(server=rt.server, uptime=at.now - rt.started_at, connections=connections, tools=tools)
    return await health.check(rt.db, at, limits=health.Limits.of(rt.settings), integrity=integrity, process=process)


@tool(read_only=True, title="Tool performance")
async def performance_metrics(
    ctx: Context[Any, Any],
    window: Annotated[str, Field(max_length=40)] = "1h",
    tool: Annotated[str | None, Field(max_length=100)] = None,
    server: Annotated[ServerKind | None, Field()] = None,
    agent: Annotated[str | None, Field(max_length=100)] = None,
    by_agent: Annotated[bool, Field()] = False,
    slowest: Annotated[int, Field(ge=0, le=50)] = 5,
) -> Metrics:
    """Per tool (optionally per agent) over a window: calls, errors by kind, p50/p95/p99/max
    latency, the slowest calls, and message and task totals."""
    rt = runtime(ctx)
    tool = (tool or "").strip() or None  # as agent: a blank one is none (it was "no call of a tool named ...")
    if tool and server and (home := toolsets.server_of(tool)) not in (None, server):  # it matched nothing, silently
        raise InvalidArgument(f"{tool} is a {home} tool, not {server}'s; use server={home!r}, or leave server out")
    await instrument.flush(rt)
    now = rt.now()
    span = parse_duration(window, field="window", minimum=60, maximum=rt.settings.metrics_retention)
    q = metrics.Query(
        since=now - span,
        until=now + 1,
        server=server,
        tool=tool,
        agent_id=await agents.id_by_name(rt.db, agent) if agent and agent.strip() else None,
        by_agent=by_agent,
    )
    return await rt.db.read(metrics.report, q, now=now, slowest_calls=slowest)


@tool(read_only=True, title="The audit trail")
async def event_log(
    ctx: Context[Any, Any],
    agent: Annotated[str | None, Field(max_length=100)] = None,
    kind: Annotated[str | None, Field(max_length=60)] = None,
    object_type: Annotated[str | None, Field(max_length=40)] = None,
    object_id: Annotated[str | None, Field(max_length=100), BeforeValidator(id_text)] = None,
    since: Annotated[int | None, Field(ge=0, le=2**62)] = None,
    before: Annotated[int | None, Field(ge=1, le=2**62)] = None,
    limit: Annotated[int, Field(ge=1, le=200)] = 50,
) -> EventPage:
    """The audit trail (who changed what, when), newest first; before=next_cursor pages back,
    since=<id> follows it oldest first. Filter by agent, kind (or a prefix ending in '.') and object."""
    rt = runtime(ctx)
    if since is not None and before is not None:
        raise InvalidArgument("pass since (follow, oldest first) or before (page back, newest first), not both")
    if object_id is not None and object_type is None:
        raise InvalidArgument("object_id needs object_type (e.g. object_type='task', object_id='12')")
    area = (kind or "").rstrip("*")
    known = ", ".join(events.OBJECT_TYPES)
    # The area first: kind='abc' was told to give the prefix 'abc.', itself refused (and 'a\nb' got a two-line answer)
    if area and area.split(".")[0] not in events.OBJECT_TYPES:  # matched nothing, silently
        raise InvalidArgument(f"kind {kind!r} names no event: a kind's area is one of {known} (task.claimed, task.)")
    if area and "." not in area:  # every kind recorded is 'area.what'
        raise InvalidArgument(
            f"kind {kind!r} names no event: kinds read 'area.what' (task.claimed), or give a prefix: '{area}.'"
        )
    if object_type is not None and object_type not in events.OBJECT_TYPES:
        raise InvalidArgument(f"object_type {object_type!r} names nothing the trail records; use one of {known}")
    agent = agent.strip() if agent else None  # " bo" is bo: it matched no event, silently
    if agent and not await events.names_an_actor(rt.db, agent):
        await agents.id_by_name(rt.db, agent)  # neither in the trail nor on the team: refused with the known names
    f = events.EventFilter(agent=agent, kind=kind, object_type=object_type, object_id=object_id)
    return await events.page(rt.db, f, limit=limit, before=before, since=since)


TOOLS = (agent_register, agent_status, network_health, performance_metrics, event_log)
