"""What the dashboard's page shows, read through the same store functions the tools and `roundtable status`
use, as `Actor.looking` (a person, no agent): one JSON-ready dict per panel, each list one bounded page."""

from __future__ import annotations

import time
from typing import Any

from shared.actor import Actor
from shared.config import Settings
from shared.db.connection import Database, Tx
from shared.models.tasks import Task
from shared.rules import counts
from shared.store import events
from shared.store.knowledge import search as knowledge_search
from shared.store.knowledge import skills
from shared.store.mail import overview
from shared.store.proposals import queries as proposals
from shared.store.tasks import queries as tasks
from shared.store.team import health, metrics, presence, summary, timeline

COLUMNS = ("open", "claimed", "blocked", "done", "failed", "cancelled")
"""The board's columns, by the status readers see (a lapsed claim is open again)."""
COLUMN_PAGE = 25
MAIL_PAGE = 30
FEED_PAGE = 50
FEED_RESUME_MAX = 500
"""After a reconnect, at most this many missed events are sent; past that the feed starts over (gap)."""
PROPOSALS_OPEN = 10
PROPOSALS_CLOSED = 5
METRICS_WINDOW = 3600.0


def dump(model: Any) -> Any:
    return model.model_dump(mode="json")


def _task(t: Task) -> dict[str, Any]:
    """The short form a card needs (the full task comes with its history on click)."""
    return {
        "id": t.id,
        "title": t.title,
        "status": t.status,
        "priority": t.priority,
        "ready": t.ready,
        "assignee": t.assignee,
        "holder": t.holder,
        "lease_expires_at": t.lease_expires_at,
        "depends_on": t.depends_on,
        "waiting_on": t.waiting_on,
        "stuck_on": t.stuck_on,
        "tags": t.tags,
        "attempts": t.attempts,
        "max_attempts": t.max_attempts,
        "progress": t.progress,
        "blocked_reason": t.blocked_reason,
    }


def _board(tx: Tx, at: Actor, cursors: dict[str, str | None]) -> dict[str, Any]:
    columns = []
    for status in COLUMNS:
        found, total, cursor = tasks.page(
            tx, at, tasks.TaskFilter(statuses=(status,)), limit=COLUMN_PAGE, cursor=cursors.get(status)
        )
        columns.append(
            {
                "status": status,
                "total": total,
                "total_shown": counts.shown(total),
                "tasks": [_task(t) for t in found],
                "next_cursor": cursor,
            }
        )
    return {"columns": columns}


def column(tx: Tx, at: Actor, status: str, cursor: str | None) -> dict[str, Any]:
    """One more page of one column (the board's "more")."""
    found, total, next_cursor = tasks.page(
        tx, at, tasks.TaskFilter(statuses=(status,)), limit=COLUMN_PAGE, cursor=cursor
    )
    return {"status": status, "total": total, "tasks": [_task(t) for t in found], "next_cursor": next_cursor}


def _rest(tx: Tx, at: Actor, now: float) -> dict[str, Any]:
    board = _board(tx, at, {})
    mail = overview.page(tx, at, limit=MAIL_PAGE)
    report = metrics.report(tx, metrics.Query(since=now - METRICS_WINDOW, until=now), now=now, slowest_calls=5)
    chart = timeline.series(tx, since=now - METRICS_WINDOW, until=now)
    found_skills, skill_count = skills.page(tx, limit=20)
    counted = summary.task_counts(tx, at)
    return {
        "board": board,
        "mail": dump(mail),
        "metrics": dump(report),
        "timeline": dump(chart),
        "skills": {"total": skill_count, "skills": [dump(s) for s in found_skills]},
        "task_counts": counted,
    }


async def state(db: Database, settings: Settings) -> dict[str, Any]:
    """Every panel's first page, as of now."""
    now = time.time()
    at = Actor.looking(settings, now)
    agents = await presence.agent_infos(db, at)
    checked = await health.check(db, at, limits=health.Limits.of(settings), integrity=False)
    rest = await db.read(_rest, at, now)
    open_ones = await proposals.summaries(db, at, "open", PROPOSALS_OPEN)
    closed = await proposals.summaries(db, at, "closed", PROPOSALS_CLOSED)
    full = [dump(await proposals.get(db, p.id, at)) for p in [*open_ones, *closed]]
    unread = sum(a.unread for a in agents)
    return {
        "now": now,
        "db": str(settings.db),
        "agents": [dump(a) for a in agents],
        "health": dump(checked),
        "proposals": full,
        "unread": unread,
        **rest,
    }


async def feed(db: Database, since: int | None) -> tuple[list[dict[str, Any]], int, bool]:
    """The events to send: the newest FEED_PAGE at the first connection (`since` None), else every event
    after `since`, oldest first, up to FEED_RESUME_MAX. Returns them, the id to resume from, and whether
    events were skipped (more were missed than are resent; the page then starts its feed over)."""
    if since is None:
        newest = await events.page(db, events.EventFilter(), limit=FEED_PAGE)
        found = list(reversed(newest.events))
        return [dump(e) for e in found], (found[-1].id if found else await events.latest_id(db)), False
    got: list[dict[str, Any]] = []
    cursor = since
    while len(got) < FEED_RESUME_MAX:
        page = await events.page(db, events.EventFilter(), limit=min(200, FEED_RESUME_MAX - len(got)), since=cursor)
        got += [dump(e) for e in page.events]
        cursor = page.next_cursor if page.next_cursor is not None else cursor
        if not page.events:
            return got, cursor, False
    latest = await events.latest_id(db)
    if latest > cursor:  # more were missed than are resent: resend the newest page instead
        fresh, cursor, _ = await feed(db, None)
        return fresh, cursor, True
    return got, cursor, False


async def task_detail(db: Database, settings: Settings, task_id: int) -> dict[str, Any]:
    """One task in full with its history (its events, newest first)."""
    at = Actor.looking(settings, time.time())
    task = await db.read(tasks.get, at, task_id)
    history = await events.page(db, events.EventFilter(object_type="task", object_id=str(task_id)), limit=100)
    return {"task": dump(task), "history": [dump(e) for e in history.events]}


async def knowledge(db: Database, text: str) -> dict[str, Any]:
    """The same search as knowledge_query (words, all must match; empty lists the newest)."""
    found = await knowledge_search.search(db, knowledge_search.Search(text=text, limit=15), now=time.time())
    return dump(found)  # type: ignore[no-any-return]


def looking(settings: Settings) -> Actor:
    return Actor.looking(settings, time.time())


def mail(tx: Tx, at: Actor, before: int | None) -> dict[str, Any]:
    """An older page of the team's mail."""
    return dump(overview.page(tx, at, limit=MAIL_PAGE, before=before))  # type: ignore[no-any-return]
