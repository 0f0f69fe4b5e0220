"""What the orientation call (`start_here`, the `roundtable://me` resource, the Claude Code hooks) returns:
who you are, what you hold and owe, what waits for you, and one next action. Every time is given twice:
as ISO (`*_at`) and as words from now ("in 14 min", "3 min ago")."""

from __future__ import annotations

from pydantic import BaseModel, Field


class HeldTask(BaseModel):
    id: int
    title: str
    progress: int
    lease_ends_at: str
    lease_ends: str = Field(description='e.g. "in 14 min"; extend with task_update(extend_lease=...)')


class WaitingTask(BaseModel):
    id: int
    title: str
    ready: bool = Field(description="you may claim it now")


class MailLine(BaseModel):
    id: int
    sender: str = Field(description="agent name, or 'system' for a notice")
    subject: str
    about: str | None = Field(description="what a notice is about, e.g. 'task 12'")
    sent_at: str
    sent: str = Field(description='e.g. "3 min ago"')
    ack_required: bool


class Ballot(BaseModel):
    id: int
    title: str
    options: list[str]
    closes_at: str
    closes: str = Field(description='e.g. "in 2 h"')


class Brief(BaseModel):
    you: str = Field(description='who this session speaks for, e.g. "ana, a worker"')
    name: str
    role: str
    capabilities: list[str]
    holding: list[HeldTask] = Field(description="tasks you have claimed, the first 5 by lease end")
    holding_count: int = Field(description="all the tasks you have claimed (1001 means more than 1,000)")
    assigned: list[WaitingTask] = Field(description="tasks assigned to you, not yet claimed")
    ready_tasks: int = Field(description="tasks in the queue you could claim now")
    unread: int = Field(description="unread messages for you in all")
    mail: list[MailLine] = Field(description="the first unread direct messages and system notices, oldest first")
    owe_acks: int = Field(description="messages asking you to acknowledge them (message_acknowledge)")
    votes: list[Ballot] = Field(description="open proposals awaiting your vote")
    next_action: str
