"""Retention: what grows with the team's history is deleted once it is old, in small batches.

- events older than the event retention (default 90 days);
- messages that expired, and messages older than the message retention (default 30 days) that nobody still
  has unread and that owe no acknowledgement — with their recipient rows (ON DELETE CASCADE) and their
  search rows (the messages_fts_delete trigger); a reply to a deleted message keeps its thread id;
- finished tasks (done, failed, cancelled) whose completion is older than the task retention (default 30
  days), unless an unfinished task still depends on them;
- skill versions beyond the newest ROUNDTABLE_SKILL_VERSIONS_KEPT (default 20) of each skill.

Each table's newest row (the highest id) is kept whatever its age, so SQLite never hands its id out again (it
numbers a new row one past the highest id still there): a cursor that saw that id (a channel's, `message_query`'s
`after`, `event_log`'s `since`, a model holding a task id) never meets a different row under it. A kept
expired message is shown to nobody and owed no acknowledgement (every read of mail skips expired messages); a
kept old event or finished task stays listed until a newer one lets it go.

Each batch is one short write transaction of at most BATCH rows, found over an index on time (events_by_time,
messages_expiring, messages_by_time, tasks_finished; skills by their (name, version) key), so pruning never
holds the write lock long and its cost does not grow with the history it has not reached yet. Tool-call
samples have their own roll-up (shared/store/team/metrics.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import anyio.lowlevel

from shared.db.connection import Database, Tx

BATCH = 200
"""Rows per write transaction: at 1,000,000 rows of history a batch of 200 events holds the write lock for
about 15 ms (500: about 70 ms, with every index entry and search row it removes)."""
ROUNDS = 10
"""Batches per kind per call of prune (once a minute in the monitoring server): up to 2,000 rows a minute each."""
FINISHED = "('done', 'failed', 'cancelled')"


@dataclass(frozen=True)
class Retention:
    events: float
    messages: float
    tasks: float
    skill_versions: int = 20
    """How many versions of each skill are kept (the newest)."""


def _ids(tx: Tx, sql: str, params: dict[str, object]) -> list[int]:
    return [int(r[0]) for r in tx.execute(sql, params)]


def _not_newest(table: str, alias: str = "") -> str:
    """The condition that keeps `table`'s newest row (see the module's docstring): one index probe."""
    return f"{alias or table}.id < (SELECT max(id) FROM {table})"


def _delete_messages(tx: Tx, ids: list[int]) -> int:
    if not ids:
        return 0
    marks = ",".join(map(str, ids))
    tx.execute(f"UPDATE messages SET reply_to = NULL WHERE reply_to IN ({marks})")
    tx.execute(f"DELETE FROM messages WHERE id IN ({marks})")
    return len(ids)


def _events(tx: Tx, now: float, keep: Retention) -> int:
    ids = _ids(
        tx,
        f"SELECT id FROM events INDEXED BY events_by_time WHERE ts < :cutoff AND {_not_newest('events')}"
        " ORDER BY ts LIMIT :batch",
        {"cutoff": now - keep.events, "batch": BATCH},
    )
    if ids:
        tx.execute(f"DELETE FROM events WHERE id IN ({','.join(map(str, ids))})")
    return len(ids)


def _expired_messages(tx: Tx, now: float, keep: Retention) -> int:
    ids = _ids(
        tx,
        "SELECT id FROM messages INDEXED BY messages_expiring WHERE expires_at IS NOT NULL AND expires_at <= :now"
        f" AND {_not_newest('messages')} ORDER BY expires_at LIMIT :batch",
        {"now": now, "batch": BATCH},
    )
    return _delete_messages(tx, ids)


def _old_messages(tx: Tx, now: float, keep: Retention) -> int:
    ids = _ids(
        tx,
        "SELECT m.id FROM messages m INDEXED BY messages_by_time WHERE m.created_at < :cutoff"
        f" AND {_not_newest('messages', 'm')}"
        " AND NOT EXISTS (SELECT 1 FROM message_recipients r WHERE r.message_id = m.id"
        "  AND (r.read_at IS NULL OR (m.ack_required = 1 AND r.acked_at IS NULL)))"
        " ORDER BY m.created_at LIMIT :batch",
        {"cutoff": now - keep.messages, "batch": BATCH},
    )
    return _delete_messages(tx, ids)


def _finished_tasks(tx: Tx, now: float, keep: Retention) -> int:
    ids = _ids(
        tx,
        f"SELECT t.id FROM tasks t INDEXED BY tasks_finished WHERE t.status IN {FINISHED}"
        f" AND t.completed_at < :cutoff AND {_not_newest('tasks', 't')}"
        " AND NOT EXISTS (SELECT 1 FROM task_deps d JOIN tasks o ON o.id = d.task_id"
        f"  WHERE d.depends_on = t.id AND o.status NOT IN {FINISHED})"
        " ORDER BY t.completed_at LIMIT :batch",
        {"cutoff": now - keep.tasks, "batch": BATCH},
    )
    if ids:
        tx.execute(f"DELETE FROM tasks WHERE id IN ({','.join(map(str, ids))})")
    return len(ids)


def _old_skill_versions(tx: Tx, now: float, keep: Retention) -> int:
    ids = _ids(
        tx,
        "SELECT s.id FROM skills s JOIN (SELECT name, MAX(version) AS newest FROM skills GROUP BY name"
        "  HAVING count(*) > :keep) n ON s.name = n.name AND s.version <= n.newest - :keep"
        " ORDER BY s.name, s.version LIMIT :batch",
        {"keep": keep.skill_versions, "batch": BATCH},
    )
    if ids:
        tx.execute(f"DELETE FROM skills WHERE id IN ({','.join(map(str, ids))})")
    return len(ids)


STEPS = {
    "events": _events,
    "expired_messages": _expired_messages,
    "old_messages": _old_messages,
    "finished_tasks": _finished_tasks,
    "skill_versions": _old_skill_versions,
}


async def prune(db: Database, *, now: float, keep: Retention, rounds: int = ROUNDS) -> dict[str, int]:
    """Delete what is past its retention: per kind, up to `rounds` batches of BATCH rows, each its own write
    transaction. Returns how many rows of each kind went. Safe from every process at once."""
    gone: dict[str, int] = {}
    for name, step in STEPS.items():
        for _ in range(rounds):
            n = await db.write(step, now, keep)
            gone[name] = gone.get(name, 0) + n
            if n < BATCH:
                break
            await (
                anyio.lowlevel.checkpoint()
            )  # a write that finds the lock free never yields: let calls run between batches
    return {k: v for k, v in gone.items() if v}
