"""What the dashboard shows that no tool does: the team's mail as a whole, and tool latency over time."""

from __future__ import annotations

from pydantic import BaseModel, Field


class MailRecipient(BaseModel):
    name: str
    read: bool
    acked: bool
    overdue: bool = Field(description="an acknowledgement was asked for and its deadline passed")


class MailItem(BaseModel):
    id: int
    thread_id: int = Field(description="the thread's first message (the message itself when it starts one)")
    reply_to: int | None
    kind: str
    topic: str | None
    sender: str
    subject: str
    body: str = Field(description="the first BODY_MAX characters")
    priority: str
    at: str
    ack_required: bool
    ack_deadline: str | None
    recipients: list[MailRecipient] = Field(description="the first RECIPIENTS_SHOWN recipients")
    recipient_count: int
    read_count: int
    acked_count: int
    overdue_count: int


class MailPage(BaseModel):
    messages: list[MailItem] = Field(description="newest first")
    next_before: int | None = Field(description="pass as `before` for older messages; null when this is the last")


class SeriesPoint(BaseModel):
    at: str = Field(description="the start of the slot")
    calls: int
    p50_ms: float | None
    p95_ms: float | None


class ToolSeries(BaseModel):
    tool: str
    calls: int
    points: list[SeriesPoint]


class Timeline(BaseModel):
    since: str
    until: str
    slot_seconds: float
    tools: list[ToolSeries] = Field(description="the busiest tools first")
