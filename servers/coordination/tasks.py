"""Task tools: create, list, claim, update, complete; and the background sweep of lapsed claims.

Each tool validates its arguments, takes the caller's Actor (`rt.actor()` to read, `rt.require_writer()`
to change, which refuses observers) and calls the task store in shared/store/tasks; no SQL here.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from pydantic import AfterValidator, Field, StringConstraints

from shared.errors import InvalidArgument
from shared.frame.jobs import every
from shared.frame.runtime import Runtime, runtime
from shared.frame.tool import one_item, tool
from shared.models.tasks import (
    PRIORITIES,
    ClaimResult,
    Priority,
    Task,
    TaskPage,
    TaskResult,
    TaskStatus,
)
from shared.rules.timeparse import parse_duration, parse_when
from shared.store.tasks import changes as task_changes
from shared.store.tasks import queries as task_queries
from shared.store.tasks import queue as store
from shared.store.team import agents

Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50), AfterValidator(one_item)]
TaskId = Annotated[int, Field(ge=1)]
Duration = Annotated[str, Field(max_length=40)]


async def sweep_once(rt: Runtime) -> None:
    """One round of the sweep: return lapsed claims to the queue and record it, so the audit trail shows
    it promptly even while nobody claims or changes a task."""
    await store.sweep_lapsed(rt.db, rt.actor())


SWEEP = every(lambda rt: max(rt.settings.presence_timeout / 2, 0.5), sweep_once, what="sweeping lapsed claims")
"""The background sweep, twice per presence timeout."""


def _lease(rt: Runtime, value: str) -> float:
    """A lease's seconds: at most a week, and no longer than a claim may last (ROUNDTABLE_MAX_LEASE_AGE), which
    capped a longer one without a word."""
    longest = min(task_changes.MAX_LEASE, rt.settings.limits.lease_age)
    return parse_duration(value, field="lease", minimum=10, maximum=longest)


def _words(relative: str | None) -> str:
    return f" ({relative})" if relative else ""


def _next_for(task: Task) -> str:
    if task.status == "claimed":
        return (
            f"You hold task {task.id} until {task.lease_expires_at}{_words(task.lease_ends)}. Work on it, report with"
            " task_update "
            f"(progress, note; extend_lease for long work) and finish with task_complete(task_id={task.id})."
        )
    if task.ready:
        return f"Task {task.id} is ready; claim it with task_claim(task_id={task.id}) or let a worker pick it up."
    if task.stuck_on and task.status in ("open", "blocked"):
        return (
            f"Task {task.id} can never become ready: tasks {task.stuck_on} it depends on were cancelled or failed."
            f" Drop them with task_update(task_id={task.id}, remove_depends_on={task.stuck_on}), or cancel it"
            f" with task_update(task_id={task.id}, status='cancelled')."
        )
    if task.waiting_on:
        return f"Task {task.id} becomes ready when tasks {task.waiting_on} are done."
    if task.not_before:
        return f"Task {task.id} is scheduled and becomes ready at {task.not_before}."
    caps = ", ".join(task.requires)
    if task.status == "open" and task.assignee:  # not ready for the caller: someone else's, or capabilities lacking
        needs = f", with {caps} (declared with agent_register(capabilities=[...]))" if caps else ""
        return f"Task {task.id} is open for {task.assignee}, who alone may claim it{needs}."
    if task.status == "open" and caps:
        return f"Task {task.id} is open for an agent with {caps} (declared with agent_register(capabilities=[...]))."
    return f"Task {task.id} is {task.status}."


@tool(read_only=False, title="Create a task")
async def task_create(
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)],
    ctx: Context[Any, Any],
    description: Annotated[str, Field(max_length=10_000)] = "",
    priority: Priority = "normal",
    tags: Annotated[list[Label], Field(max_length=20)] = [],  # noqa: B006 - pydantic copies defaults
    requires: Annotated[list[Label], Field(max_length=20, description="capabilities a claimer needs")] = [],  # noqa: B006
    assignee: Annotated[str | None, Field(max_length=100, description="only this agent may claim it")] = None,
    depends_on: Annotated[list[Annotated[int, Field(ge=1)]], Field(max_length=50)] = [],  # noqa: B006
    not_before: Annotated[str | None, Field(max_length=40, description='ISO time or delay, e.g. "30m"')] = None,
    repeat_every: Annotated[Duration | None, Field(description='e.g. "1d": requeued when done')] = None,
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 3,
    lease: Annotated[Duration | None, Field()] = None,
) -> TaskResult:
    """Queue a task for any agent (or one assignee) to claim. depends_on orders work, not_before
    schedules it, repeat_every makes it recurring. Returns the task in full and the next step."""
    rt = runtime(ctx)
    me = rt.require_writer()
    spec = store.NewTask(
        title=title,
        description=description,
        priority=PRIORITIES.index(priority),
        tags=sorted(set(tags)),
        requires=sorted(set(requires)),
        assignee_id=await agents.id_by_name(rt.db, assignee) if assignee and assignee.strip() else None,
        depends_on=depends_on,
        not_before=parse_when(not_before, field="not_before", now=me.now) if not_before else None,
        repeat_every=parse_duration(repeat_every, field="repeat_every", minimum=60, maximum=366 * 86400)
        if repeat_every
        else None,
        max_attempts=max_attempts,
        lease_seconds=_lease(rt, lease) if lease else rt.settings.lease_seconds,
    )
    task = await rt.db.read(task_queries.get, me, await store.create(rt.db, me, spec))
    return TaskResult(task=task, next_step=_next_for(task))


@tool(read_only=True, idempotent=True, title="List tasks")
async def task_list(
    ctx: Context[Any, Any],
    task_id: Annotated[int | None, Field(ge=1, description="one task, in full")] = None,
    status: Annotated[list[TaskStatus] | None, Field()] = None,
    ready_only: Annotated[bool, Field()] = False,
    mine: Annotated[bool, Field()] = False,
    assignee: Annotated[str | None, Field(max_length=100)] = None,
    tag: Annotated[str | None, Field(max_length=50)] = None,
    text: Annotated[str | None, Field(max_length=200)] = None,
    limit: Annotated[int, Field(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Field(max_length=40)] = None,
) -> TaskPage:
    """List tasks in short form, highest priority then oldest (default: unfinished ones);
    ready_only: what you could claim now; task_id: one task in full. Returns tasks, total, next_cursor."""
    rt = runtime(ctx)
    if task_id is not None:  # with filters, refused by the argument check (MODES in shared/frame/tool.py)
        return TaskPage(
            tasks=[], task=await rt.db.read(task_queries.get, rt.actor(), task_id), total=1, next_cursor=None
        )
    _no_contradiction(status or [], ready_only=ready_only, mine=mine)
    statuses = status or ([] if ready_only or mine else ["open", "claimed", "blocked"])
    filters = task_queries.TaskFilter(
        statuses=sorted(set(statuses)),
        ready_only=ready_only,
        mine=mine,
        assignee_id=await agents.id_by_name(rt.db, assignee) if assignee and assignee.strip() else None,
        tag=tag,
        text=text,
    )
    found, total, next_cursor = await rt.db.read(task_queries.lines, rt.actor(), filters, limit=limit, cursor=cursor)
    return TaskPage(tasks=found, total=total, next_cursor=next_cursor)


def _no_contradiction(status: list[TaskStatus], *, ready_only: bool, mine: bool) -> None:
    """Refuse filters that together match no task ever (the list came back empty, as if none did)."""
    if mine and ready_only:
        raise InvalidArgument("mine lists the tasks you hold, none of them ready to claim; pass mine or ready_only")
    if ready_only and set(status) - {"open"}:
        raise InvalidArgument("ready_only lists open tasks you could claim now; leave out status, or drop ready_only")
    if mine and status and "claimed" not in status:
        raise InvalidArgument("mine lists the tasks you hold (claimed); leave out status, or drop mine")


@tool(read_only=False, title="Claim a task")
async def task_claim(
    ctx: Context[Any, Any],
    task_id: Annotated[int | None, Field(ge=1, description="omit: the best ready one")] = None,
    lease: Annotated[Duration | None, Field()] = None,
) -> ClaimResult:
    """Take a task atomically, so no one else holds it: the one named, or the best ready one for you. The
    claim lasts while you are present, up to its lease. Returns the task and until when it is yours."""
    rt = runtime(ctx)
    me = rt.require_writer()
    seconds = _lease(rt, lease) if lease else None
    task = await store.claim_task(rt.db, me, task_id, seconds)
    if task is None:
        return ClaimResult(claimed=False, task=None, next_step=await store.why_nothing_ready(rt.db, me))
    return ClaimResult(claimed=True, task=task, next_step=_next_for(task))


@tool(read_only=False, destructive=True, title="Update a task")
async def task_update(
    task_id: TaskId,
    ctx: Context[Any, Any],
    progress: Annotated[int | None, Field(ge=0, le=100)] = None,
    note: Annotated[str | None, Field(max_length=2000)] = None,
    status: Annotated[
        Literal["open", "blocked", "cancelled"] | None,
        Field(),
    ] = None,
    reason: Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=500)] = None,
    extend_lease: Annotated[Duration | None, Field(description='e.g. "30m" more from now')] = None,
    priority: Priority | None = None,
    add_depends_on: Annotated[list[Annotated[int, Field(ge=1)]], Field(max_length=50)] = [],  # noqa: B006
    remove_depends_on: Annotated[list[Annotated[int, Field(ge=1)]], Field(max_length=50)] = [],  # noqa: B006
) -> TaskResult:
    """Change a task you hold: progress, note, extend_lease; or one you created: priority,
    add_depends_on, remove_depends_on. status open releases it, blocked (with a reason) parks it,
    cancelled drops it. To finish, use task_complete."""
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
        remove_depends_on=tuple(remove_depends_on),
    )
    said = await task_changes.update(rt.db, me, task_id, change)
    task = await rt.db.read(task_queries.get, me, task_id)
    return TaskResult(task=task, next_step=f"Saved: {'; '.join(said)}. {_next_for(task)}")


@tool(read_only=False, title="Complete a task")
async def task_complete(
    task_id: TaskId,
    ctx: Context[Any, Any],
    success: Annotated[bool, Field()] = True,
    result: Annotated[str, Field(max_length=10_000)] = "",
) -> TaskResult:
    """Finish the task you hold. success=false reports a failure: it is retried until max_attempts,
    then failed. Returns the task and what became ready."""
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
    if done.stranded:
        words = store.stranded_words(task_id, done.stranded)
        step += f" {words[0].upper()}{words[1:]}."
    if done.next_occurrence:
        step += f" Its next occurrence is task {done.next_occurrence}."
    return TaskResult(task=task, next_step=step + " Claim more work with task_claim().")


TOOLS = (task_create, task_list, task_claim, task_update, task_complete)
