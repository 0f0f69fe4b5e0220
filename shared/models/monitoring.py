"""What monitoring tools (and the `roundtable` CLI) return."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Presence = Literal["online", "idle", "offline"]
HealthStatus = Literal["healthy", "degraded", "unhealthy"]


class Claim(BaseModel):
    task_id: int
    title: str
    lease_expires_at: str | None


class AgentInfo(BaseModel):
    name: str
    presence: Presence = Field(description="online: live and called a tool lately; idle: live, quiet; offline: gone")
    role: str
    client_name: str
    host: str
    capabilities: list[str]
    activity: str = Field(description="what the agent said it is doing (agent_register)")
    servers: list[str] = Field(description="its server processes that are heartbeating now")
    last_seen: str | None = Field(description="its newest heartbeat")
    last_active: str | None = Field(description="its newest tool call")
    joined_at: str | None
    claims: list[Claim] = Field(
        description="tasks it holds, with their lease expiry (the first 10, soonest expiry first)"
    )
    more_claims: int = Field(default=0, description="how many more tasks it holds than `claims` lists")
    unread: int = Field(description="messages it has not read (1001 means 1,000 or more)")
    overdue_acks: int = Field(description="messages it was asked to acknowledge, past their deadline")


class AgentStatusPage(BaseModel):
    agents: list[AgentInfo]
    online: int
    idle: int
    offline: int
    next_step: str


class RegisterResult(BaseModel):
    agent: AgentInfo
    changed: list[str] = Field(description="what changed, in words")
    next_step: str


class HealthReason(BaseModel):
    code: str = Field(description="stable code, documented in the README (e.g. stuck_tasks, wal_large)")
    severity: Literal["degraded", "unhealthy"]
    message: str = Field(description="what is wrong and what to do about it")


class ProcessInfo(BaseModel):
    server: str
    version: str
    pid: int
    uptime_seconds: float
    connections: int = Field(description="live server sessions (all agents, all servers) on this database")
    tools: int = Field(description="tools this server offers")
    memory_rss_bytes: int
    cpu_seconds: float
    cpu_percent: float = Field(description="average CPU use since the process started")


class DatabaseInfo(BaseModel):
    path: str
    schema_version: int
    schema_expected: int
    quick_check: str = Field(
        description="'ok' or the damage PRAGMA quick_check found, from the last check (background or on request);"
        " 'skipped' before the first and on PostgreSQL"
    )
    quick_check_age_seconds: float | None = Field(
        default=None, description="how long ago that check ran (0: just now, on request); null before the first"
    )
    size_bytes: int
    wal_bytes: int
    free_disk_bytes: int | None = Field(description="null on PostgreSQL (the server's disk is not visible here)")
    stopped_writer: str | None = Field(
        default=None,
        description="the process holding the file's write lock while stopped (Linux), named with its agent; null"
        " when none is",
    )


class WorkInfo(BaseModel):
    agents_known: int
    agents_online: int
    tasks_ready: int = Field(description="ready tasks, counted up to 1,001 (1001 means 1,000 or more)")
    oldest_ready_seconds: float | None
    stuck_tasks: list[int] = Field(description="ready tasks unclaimed past the stuck threshold (up to 20)")
    lapsed_leases: list[int] = Field(description="claims past their lease or whose holder left, not yet returned")
    overdue_acks: int
    proposals_past_deadline: list[int]
    internal_errors_last_hour: int


class Health(BaseModel):
    status: HealthStatus
    reasons: list[HealthReason]
    checked_at: str
    database: DatabaseInfo | None = Field(description="absent when the database could not be opened")
    work: WorkInfo | None
    process: ProcessInfo | None = Field(default=None, description="the server that answered (absent from the CLI)")


class ToolStats(BaseModel):
    server: str
    tool: str
    agent: str | None = Field(default=None, description="set when grouped by agent")
    calls: int
    errors: dict[str, int] = Field(description="failed calls by kind (validation, not_found, internal …)")
    error_rate: float
    mean_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


class SlowCall(BaseModel):
    at: str
    server: str
    tool: str
    agent: str | None
    ms: float
    error: str | None


class Totals(BaseModel):
    tool_calls: int
    tool_errors: int
    messages_sent: int = Field(description="direct, topic and broadcast messages agents sent")
    messages_received: int = Field(description="messages agents read")
    messages_failed: int = Field(description="message_send / message_broadcast calls that failed")
    notices_sent: int = Field(description="system notices (task assigned, vote requested …)")
    tasks_created: int
    tasks_completed: int
    tasks_failed: int


class Metrics(BaseModel):
    since: str
    until: str
    percentiles_from: Literal["samples", "histogram"] = Field(
        description="samples: exact, from each call; histogram: estimated (±12 %) from hourly rollups"
    )
    tools: list[ToolStats]
    slowest: list[SlowCall]
    totals: Totals


class Event(BaseModel):
    id: int
    at: str
    agent: str | None
    kind: str
    object_type: str | None
    object_id: str | None
    data: dict[str, Any]


class EventPage(BaseModel):
    events: list[Event]
    next_cursor: int | None = Field(
        description="newest first: pass as before= for older events; with since=: pass as since= to follow"
    )


class AgentBrief(BaseModel):
    name: str
    presence: Presence
    activity: str
    claims: int


class TeamSummary(BaseModel):
    agents: list[AgentBrief]
    tasks: dict[str, int] = Field(description="tasks by status (a lapsed claim counts as open)")
    ready_tasks: int
    open_proposals: int
    unread_messages: int
    overdue_acks: int
    health: HealthStatus
    reasons: list[str] = Field(description="health reason codes")
