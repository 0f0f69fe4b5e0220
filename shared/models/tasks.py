"""What task tools return."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Priority = Literal["low", "normal", "high", "urgent"]
PRIORITIES: tuple[Priority, ...] = ("low", "normal", "high", "urgent")
TaskStatus = Literal["open", "claimed", "blocked", "done", "failed", "cancelled"]
FINAL_STATUSES = ("done", "failed", "cancelled")


class Task(BaseModel):
    id: int
    title: str
    description: str
    status: TaskStatus = Field(description="open tasks are in the queue; a lapsed claim shows as open")
    ready: bool = Field(description="open, dependencies done, not_before passed, and claimable by you")
    priority: Priority
    tags: list[str]
    requires: list[str] = Field(description="capabilities an agent must have (agent_register) to claim it")
    created_by: str
    assignee: str | None = Field(description="only this agent may claim it")
    holder: str | None
    lease_expires_at: str | None
    lease_ends: str | None = Field(default=None, description='the lease end from now, e.g. "in 14 min"')
    progress: int
    note: str | None
    blocked_reason: str | None
    depends_on: list[int]
    waiting_on: list[int] = Field(description="dependencies not done yet")
    stuck_on: list[int] = Field(
        default=[], description="dependencies that were cancelled or failed: it can never be ready while they stay"
    )
    not_before: str | None
    repeat_every_seconds: float | None
    attempts: int = Field(description="claims that ended in failure or a lapsed lease")
    max_attempts: int
    result: str | None
    created_at: str
    updated_at: str
    updated: str | None = Field(default=None, description='e.g. "3 min ago"')
    completed_at: str | None


class TaskLine(BaseModel):
    """The short form of a task in a list: what to pick by. The full form comes from task_list(task_id=N)
    and from the create, claim, update and complete answers."""

    id: int
    title: str
    status: TaskStatus
    priority: Priority
    ready: bool
    holder: str | None = None
    assignee: str | None = None
    lease_expires_at: str | None = None
    lease_ends: str | None = None
    tags: list[str] = []
    depends_on: list[int] = []
    waiting_on: list[int] = []
    stuck_on: list[int] = []

    @classmethod
    def of(cls, task: Task) -> TaskLine:
        return cls(**{name: getattr(task, name) for name in cls.model_fields})


class TaskResult(BaseModel):
    task: Task
    next_step: str


class ClaimResult(BaseModel):
    claimed: bool
    task: Task | None
    next_step: str


class TaskPage(BaseModel):
    tasks: list[TaskLine]
    task: Task | None = Field(default=None, description="the one task asked for with task_id, in full")
    total: int = Field(
        description="how many tasks match the filters in all, counted up to 1,001 (1001 means 1,000 or more)"
    )
    next_cursor: str | None = Field(description="pass as cursor to get the next page; null when this is the last")
