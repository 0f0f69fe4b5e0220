"""Task tools: create, list, claim, update, complete; and the background sweep of lapsed claims.

Each tool validates its arguments, takes the caller's Actor (`rt.actor()` to read, `rt.require_writer()`
to change, which refuses observers) and calls the task store in shared/store/tasks; no SQL here.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from pydantic import Field, StringConstraints

from shared.frame.jobs import every
from shared.frame.runtime import Runtime, runtime
from shared.frame.tool import tool
from shared.models.tasks import (
    PRIORITIES,
    ClaimResult,
    Priority,
    Task,
    TaskLine,
    TaskPage,
    TaskResult,
    TaskStatus,
)
from shared.rules.timeparse import parse_duration, parse_when
from shared.store.tasks import changes as task_changes
from shared.store.tasks import queries as task_queries
from shared.store.tasks import queue as store
from shared.store.team import agents

Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
TaskId = Annotated[int, Field(ge=1, description="the task's id, as task_list or task_create returned it")]
Duration = Annotated[str, Field(max_length=40, description='e.g. "90s", "15m", "2h", "1d"')]


async def sweep_once(rt: Runtime) -> None:
    """One round of the sweep: return lapsed claims to the queue and record it, so the audit trail shows
    it promptly even while nobody claims or changes a task."""
    await store.sweep_lapsed(rt.db, rt.actor())


SWEEP = every(lambda rt: max(rt.settings.presence_timeout / 2, 0.5), sweep_once, what="sweeping lapsed claims")
"""The background sweep, twice per presence timeout."""


def _next_for(task: Task) -> str:
    if task.status == "claimed":
        return (
            f"You hold task {task.id} until {task.lease_expires_at}. Work on it, report with task_update "
            f"(progress, note; extend_lease for long work) and finish with task_complete(task_id={task.id})."
        )
    if task.ready:
        return f"Task {task.id} is ready; claim it with task_claim(task_id={task.id}) or let a worker pick it up."
    if task.waiting_on:
        return f"Task {task.id} becomes ready when tasks {task.waiting_on} are done."
    if task.not_before:
        return f"Task {task.id} is scheduled and becomes ready at {task.not_before}."
    return f"Task {task.id} is {task.status}."


@tool(read_only=False, title="Create a task")
async def task_create(
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)],
    ctx: Context[Any, Any],
    description: Annotated[str, Field(max_length=10_000, description="what done looks like")] = "",
    priority: Priority = "normal",
    tags: Annotated[list[Label], Field(max_length=20)] = [],  # noqa: B006 - pydantic copies defaults
    requires: Annotated[
        list[Label], Field(max_length=20, description="capabilities a claimer must have (agent_register)")
    ] = [],  # noqa: B006
    assignee: Annotated[str | None, Field(max_length=100, description="agent name; only it may claim")] = None,
    depends_on: Annotated[
        list[Annotated[int, Field(ge=1)]], Field(max_length=50, description="ids that must be done first")
    ] = [],  # noqa: B006
    not_before: Annotated[
        str | None, Field(max_length=40, description='ISO time or a delay such as "30m": not ready before it')
    ] = None,
    repeat_every: Annotated[
        Duration | None, Field(description="repeat on this rhythm: when it finishes, the next occurrence is queued")
    ] = None,
    max_attempts: Annotated[int, Field(ge=1, le=20, description="failures/lapses before it fails")] = 3,
    lease: Annotated[Duration | None, Field(description="how long a claim lasts; default from settings")] = None,
) -> TaskResult:
    """Put a task in the shared queue for any agent (or one assignee) to claim.

    Use depends_on to order work, not_before to schedule it, repeat_every for recurring work
    (monitoring, research, sync). Returns the task and what to do next.
    """
    rt = runtime(ctx)
    me = rt.require_writer()
    spec = store.NewTask(
        title=title,
        description=description,
        priority=PRIORITIES.index(priority),
        tags=sorted(set(tags)),
        requires=sorted(set(requires)),
        assignee_id=await agents.id_by_name(rt.db, assignee.strip()) if assignee else None,
        depends_on=depends_on,
        not_before=parse_when(not_before, field="not_before", now=me.now) if not_before else None,
        repeat_every=parse_duration(repeat_every, field="repeat_every", minimum=60, maximum=366 * 86400)
        if repeat_every
        else None,
        max_attempts=max_attempts,
        lease_seconds=parse_duration(lease, field="lease", minimum=10, maximum=task_changes.MAX_LEASE)
        if lease
        else rt.settings.lease_seconds,
    )
    task = await rt.db.read(task_queries.get, me, await store.create(rt.db, me, spec))
    return TaskResult(task=task, next_step=_next_for(task))


@tool(read_only=True, idempotent=True, title="List tasks")
async def task_list(
    ctx: Context[Any, Any],
    task_id: Annotated[int | None, Field(ge=1, description="one task in full (the other filters are ignored)")] = None,
    status: Annotated[
        list[TaskStatus] | None, Field(description="default: open, claimed and blocked (unfinished work)")
    ] = None,
    ready_only: Annotated[bool, Field(description="only tasks you could claim right now")] = False,
    mine: Annotated[bool, Field(description="only tasks you hold")] = False,
    assignee: Annotated[str | None, Field(max_length=100, description="only tasks assigned to this agent")] = None,
    tag: Annotated[str | None, Field(max_length=50)] = None,
    text: Annotated[str | None, Field(max_length=200, description="words in the title or description")] = None,
    limit: Annotated[int, Field(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Field(max_length=40, description="next_cursor from the previous page")] = None,
) -> TaskPage:
    """List tasks, highest priority first then oldest, with paging.

    A task is ready when it is open, its dependencies are done, its not_before has passed and you may
    claim it (assignee, required capabilities). Claims whose lease lapsed show as open again.
    """
    rt = runtime(ctx)
    if task_id is not None:
        return TaskPage(
            tasks=[], task=await rt.db.read(task_queries.get, rt.actor(), task_id), total=1, next_cursor=None
        )
    statuses = status or ([] if ready_only or mine else ["open", "claimed", "blocked"])
    filters = task_queries.TaskFilter(
        statuses=sorted(set(statuses)),
        ready_only=ready_only,
        mine=mine,
        assignee_id=await agents.id_by_name(rt.db, assignee.strip()) if assignee else None,
        tag=tag,
        text=text,
    )
    found, total, next_cursor = await rt.db.read(task_queries.page, rt.actor(), filters, limit=limit, cursor=cursor)
    return TaskPage(tasks=[TaskLine.of(t) for t in found], total=total, next_cursor=next_cursor)


@tool(read_only=False, title="Claim a task")
async def task_claim(
    ctx: Context[Any, Any],
    task_id: Annotated[int | None, Field(ge=1, description="a specific task; omit to take the best ready")] = None,
    lease: Annotated[Duration | None, Field(description="claim length; default the task's lease")] = None,
) -> ClaimResult:
    """Take a task to work on, atomically: no other agent can hold it while your claim lasts.

    Without task_id, takes the best ready task for you (highest priority, then oldest). The claim
    lasts while you are present, up to its lease; the result says until when and what to do next.
    """
    rt = runtime(ctx)
    me = rt.require_writer()
    seconds = parse_duration(lease, field="lease", minimum=10, maximum=task_changes.MAX_LEASE) if lease else None
    claimed = await store.claim(rt.db, me, task_id, seconds)
    if claimed is None:
        return ClaimResult(claimed=False, task=None, next_step=await store.why_nothing_ready(rt.db, me))
    task = await rt.db.read(task_queries.get, me, claimed)
    return ClaimResult(claimed=True, task=task, next_step=_next_for(task))


@tool(read_only=False, destructive=True, title="Update a task")
async def task_update(
    task_id: TaskId,
    ctx: Context[Any, Any],
    progress: Annotated[int | None, Field(ge=0, le=100, description="percent done")] = None,
    note: Annotated[str | None, Field(max_length=2000, description="what you did or found")] = None,
    status: Annotated[
        Literal["open", "blocked", "cancelled"] | None,
        Field(description="open = release to the queue (or unblock); blocked (give a reason); cancelled"),
    ] = None,
    reason: Annotated[str | None, Field(max_length=500, description="why it is blocked or cancelled")] = None,
    extend_lease: Annotated[Duration | None, Field(description="keep your claim this much longer from now")] = None,
    priority: Priority | None = None,
    add_depends_on: Annotated[list[Annotated[int, Field(ge=1)]], Field(max_length=50)] = [],  # noqa: B006
) -> TaskResult:
    """Report on or change a task: progress and notes while you hold it, release it, block it with a
    reason (a person or another task must act first), cancel it, or extend your lease.

    Only the holder (or an admin) may change a claimed task; if your claim lapsed you are told so and
    should stop working on it.
    """
    rt = runtime(ctx)
    me = rt.require_writer()
    change = store.TaskChange(
        progress=progress,
        note=note,
        status=status,
        reason=reason,
        extend_lease=parse_duration(extend_lease, field="extend_lease", minimum=10) if extend_lease else None,
        priority=PRIORITIES.index(priority) if priority else None,
        add_depends_on=tuple(add_depends_on),
    )
    said = await task_changes.update(rt.db, me, task_id, change)
    task = await rt.db.read(task_queries.get, me, task_id)
    return TaskResult(task=task, next_step=f"Saved: {'; '.join(said)}. {_next_for(task)}")


@tool(read_only=False, title="Complete a task")
async def task_complete(
    task_id: TaskId,
    ctx: Context[Any, Any],
    success: Annotated[bool, Field(description="false reports a failure; it is retried until max_attempts")] = True,
    result: Annotated[str, Field(max_length=10_000, description="what was done, or why it failed")] = "",
) -> TaskResult:
    """Finish the task you hold, with a result. Success unblocks tasks that depend on it; failure
    returns it to the queue for another attempt until max_attempts, then marks it failed."""
    rt = runtime(ctx)
    me = rt.require_writer()
    done = await task_changes.complete(rt.db, me, task_id, success=success, result=result)
    task = await rt.db.read(task_queries.get, me, task_id)
    steps = {
        "done": f"Task {task_id} is done.",
        "failed": f"Task {task_id} failed for good after {task.attempts} attempts; its creator was told.",
        "open": f"Task {task_id} is back in the queue for attempt {task.attempts + 1} of {task.max_attempts}.",
    }
    step = steps[done.status]
    if done.unblocked:
        step += f" Now ready: tasks {done.unblocked}."
    if done.next_occurrence:
        step += f" Its next occurrence is task {done.next_occurrence}."
    return TaskResult(task=task, next_step=step + " Claim more work with task_claim().")


TOOLS = (task_create, task_list, task_claim, task_update, task_complete)
