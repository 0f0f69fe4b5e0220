"""Tool-call metrics: batches of samples, exact percentiles, errors by kind, rollups that keep the tables
bounded and still answer long windows from the histogram."""

from __future__ import annotations

import json

import pytest

from shared.db.connection import Database, Tx
from shared.store.team import metrics
from tests.agents import join
from tests.conftest import FakeClock

pytestmark = [pytest.mark.anyio, pytest.mark.engines("sqlite", "postgresql")]

DAY = 86400.0


def calls(clock: FakeClock, agent: str | None, tool: str, durations: list[float], error: str | None = None) -> list:  # type: ignore[type-arg]
    return [(clock() + i * 0.01, agent, "coordination", tool, d, error) for i, d in enumerate(durations)]


def window(clock: FakeClock, seconds: float = 3600, **filters: object) -> metrics.Query:
    return metrics.Query(since=clock() - seconds, until=clock() + 10, **filters)  # type: ignore[arg-type]


async def test_percentiles_are_nearest_rank_over_the_samples(db: Database, clock: FakeClock) -> None:
    ana = await join(db, clock, "ana")
    await metrics.record_calls(db, calls(clock, ana.id, "task_claim", [i / 1000 for i in range(1, 101)]))
    [stats] = await db.read(metrics.exact_stats, window(clock))
    assert (stats.tool, stats.calls, stats.errors) == ("task_claim", 100, {})
    assert (stats.p50_ms, stats.p95_ms, stats.p99_ms, stats.max_ms) == (50.0, 95.0, 99.0, 100.0)
    assert stats.mean_ms == pytest.approx(50.5)


async def test_errors_are_counted_by_kind_per_tool_and_agent(db: Database, clock: FakeClock) -> None:
    ana = await join(db, clock, "ana")
    bo = await join(db, clock, "bo")
    await metrics.record_calls(
        db,
        calls(clock, ana.id, "task_update", [0.001] * 3)
        + calls(clock, ana.id, "task_update", [0.002] * 2, "not_found")
        + calls(clock, bo.id, "task_update", [0.002], "validation"),
    )
    [total] = await db.read(metrics.exact_stats, window(clock))
    assert (total.calls, total.errors, total.error_rate) == (6, {"not_found": 2, "validation": 1}, 0.5)
    per_agent = {s.agent: s for s in await db.read(metrics.exact_stats, window(clock, by_agent=True))}
    assert per_agent["ana"].errors == {"not_found": 2} and per_agent["bo"].errors == {"validation": 1}
    only_bo = await db.read(metrics.exact_stats, window(clock, agent_id=bo.id))
    assert [s.calls for s in only_bo] == [1]
    slow = await db.read(metrics.slowest, window(clock), 2)
    assert [s.ms for s in slow] == [2.0, 2.0] and slow[0].agent in ("ana", "bo")


async def test_a_batch_moves_each_callers_last_activity_forward(db: Database, clock: FakeClock) -> None:
    ana = await join(db, clock, "ana")
    clock.advance(100)
    await metrics.record_calls(db, calls(clock, ana.id, "task_list", [0.001, 0.001]))
    assert await db.scalar("SELECT last_active FROM agents WHERE id = ?", (ana.id,)) == pytest.approx(clock() + 0.01)
    await metrics.record_calls(db, [(clock() - 50, ana.id, "coordination", "task_list", 0.001, None)])
    assert await db.scalar("SELECT last_active FROM agents WHERE id = ?", (ana.id,)) == pytest.approx(clock() + 0.01)


async def test_old_samples_are_rolled_up_and_long_windows_use_the_histogram(db: Database, clock: FakeClock) -> None:
    ana = await join(db, clock, "ana")
    durations = [i / 1000 for i in range(1, 101)]
    await metrics.record_calls(db, calls(clock, ana.id, "task_claim", durations))
    await metrics.record_calls(db, calls(clock, ana.id, "task_claim", [0.005], "conflict"))
    clock.advance(2 * DAY)
    await metrics.record_calls(db, calls(clock, ana.id, "task_claim", [0.010]))
    folded = await metrics.roll_up(db, now=clock(), raw_retention=DAY, retention=30 * DAY)
    assert folded == 101
    assert await db.scalar("SELECT count(*) FROM tool_calls") == 1
    assert await metrics.roll_up(db, now=clock(), raw_retention=DAY, retention=30 * DAY) == 0
    [stats] = await db.read(metrics.histogram_stats, window(clock, 3 * DAY))
    assert (stats.calls, stats.errors, stats.max_ms) == (102, {"conflict": 1}, 100.0)
    assert stats.p50_ms == pytest.approx(50, rel=0.15)
    assert stats.p99_ms == pytest.approx(99, rel=0.15)
    assert stats.mean_ms == pytest.approx((sum(durations) + 0.015) / 102 * 1000, abs=0.001)
    [recent] = await db.read(metrics.exact_stats, window(clock, 3600))
    assert recent.calls == 1
    clock.advance(31 * DAY)
    await metrics.roll_up(db, now=clock(), raw_retention=DAY, retention=30 * DAY)
    assert await db.scalar("SELECT count(*) FROM tool_call_hours") == 0
    assert await db.scalar("SELECT count(*) FROM tool_calls") == 0


async def test_histogram_buckets_are_a_quarter_wide() -> None:
    assert metrics.bucket(0) == 0 and metrics.bucket(0.0001) == 0
    for seconds in (0.0003, 0.004, 0.05, 1.7, 30.0):
        middle = metrics.bucket_middle(metrics.bucket(seconds))
        assert middle == pytest.approx(seconds, rel=0.13)
    assert metrics.bucket(1e9) == metrics.BUCKET_MAX


async def test_totals_count_messages_and_tasks_in_the_window(db: Database, clock: FakeClock) -> None:
    ana = await join(db, clock, "ana")

    def setup(tx: Tx) -> None:
        tx.execute(
            "INSERT INTO messages(id, sender_id, sender_name, kind, body, created_at) VALUES"
            " (1, ?, 'ana', 'direct', 'hi', ?), (2, NULL, 'system', 'system', 'task', ?)",
            (ana.id, clock(), clock()),
        )
        tx.execute("INSERT INTO message_recipients(agent_id, message_id, read_at) VALUES (?, 1, ?)", (ana.id, clock()))
        for kind in ("task.created", "task.created", "task.completed", "task.failed"):
            tx.execute("INSERT INTO events(ts, agent_id, kind) VALUES (?, ?, ?)", (clock(), ana.id, kind))
        for state in ("open", "failed"):  # a lapse on the last attempt fails the task
            tx.execute(
                "INSERT INTO events(ts, agent_id, kind, data) VALUES (?, ?, 'task.lease_lapsed', ?)",
                (clock(), ana.id, json.dumps({"now": state})),
            )

    await db.write(setup)
    await metrics.record_calls(db, calls(clock, ana.id, "message_send", [0.001], "rate_limited"))
    q = window(clock)
    tools = await db.read(metrics.exact_stats, q)
    t = await db.read(metrics.totals, q, tools)
    assert (t.messages_sent, t.notices_sent, t.messages_received, t.messages_failed) == (1, 1, 1, 1)
    assert (t.tasks_created, t.tasks_completed, t.tasks_failed, t.tool_calls, t.tool_errors) == (2, 1, 2, 1, 1)


async def test_samples_beyond_the_cap_are_folded_early_whatever_their_age(
    db: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metrics, "MAX_SAMPLES", 3)
    await metrics.record_calls(db, calls(clock, None, "task_list", [0.001] * 10))
    assert await metrics.roll_up(db, now=clock(), raw_retention=DAY, retention=30 * DAY) == 7
    assert await db.scalar("SELECT count(*) FROM tool_calls") == 3
    [stats] = await db.read(metrics.histogram_stats, window(clock))
    assert stats.calls == 10


async def test_each_batch_is_counted_into_its_hours_as_it_is_written(db: Database, clock: FakeClock) -> None:
    """The hours hold every call from the write on, so the roll-up only drops samples: nothing is counted twice
    and a dropped sample still counts in its hour."""
    ana = await join(db, clock, "ana")
    await metrics.record_calls(db, calls(clock, ana.id, "task_claim", [0.001, 0.002]))
    await metrics.record_calls(db, calls(clock, ana.id, "task_claim", [0.004], "conflict"))
    rows = await db.fetchall("SELECT error, sum(calls) AS n, max(max_seconds) AS most FROM tool_call_hours GROUP BY 1")
    assert {(r["error"], int(r["n"]), r["most"]) for r in rows} == {("", 2, 0.002), ("conflict", 1, 0.004)}
    [stats] = await db.read(metrics.histogram_stats, window(clock))
    assert (stats.calls, stats.errors, stats.max_ms) == (3, {"conflict": 1}, 4.0)


async def test_a_window_is_exact_while_its_calls_are_samples_and_estimated_once_some_are_gone(
    db: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    ana = await join(db, clock, "ana")
    await metrics.record_calls(db, calls(clock, ana.id, "task_list", [i / 1000 for i in range(1, 11)]))
    q = window(clock)
    shown = await db.read(metrics.report, q, now=clock(), slowest_calls=3)
    assert shown.percentiles_from == "samples" and shown.tools[0].p50_ms == 5.0
    monkeypatch.setattr(metrics, "EXACT_MAX", 5)  # a busy window: read from the hours, never sample by sample
    busy = await db.read(metrics.report, q, now=clock(), slowest_calls=3)
    assert busy.percentiles_from == "histogram" and busy.tools[0].calls == 10
    monkeypatch.setattr(metrics, "EXACT_MAX", 10_000)
    monkeypatch.setattr(metrics, "MAX_SAMPLES", 4)
    assert await metrics.roll_up(db, now=clock(), raw_retention=DAY, retention=30 * DAY) == 6
    after = await db.read(metrics.report, q, now=clock(), slowest_calls=3)
    assert after.percentiles_from == "histogram" and after.tools[0].calls == 10
    assert [s.ms for s in after.slowest] == [10.0, 9.0, 8.0]


async def test_samples_recorded_before_migration_0018_are_counted_into_their_hours_once(
    db: Database, clock: FakeClock
) -> None:
    from shared.db.connection import load_migrations

    folder = "migrations_pg" if db.engine == "postgresql" else "migrations"
    [sql] = [text for version, _, text in load_migrations(folder) if version == 18]
    await metrics.record_calls(db, calls(clock, None, "task_list", [0.001, 0.003]))

    def as_before(tx: Tx) -> None:  # a file of 0017: samples, and hours only for what was rolled up
        tx.execute("DELETE FROM tool_call_hours")
        tx.execute(
            "INSERT INTO tool_call_hours(hour, server, tool, agent_id, error, bucket, calls, seconds, max_seconds)"
            " SELECT hour, server, tool, agent_id, error, bucket, 5, 0.05, 0.01 FROM (SELECT"
            f" {'floor(ts / 3600)' if db.engine == 'postgresql' else 'CAST(ts / 3600 AS INTEGER)'} * 3600.0 AS hour,"
            " server, tool, '' AS agent_id, '' AS error, bucket FROM tool_calls WHERE seconds = 0.001) AS s"
        )
        tx.execute(sql)

    await db.write(as_before)
    [stats] = await db.read(metrics.histogram_stats, window(clock))
    assert (stats.calls, stats.max_ms) == (7, 10.0)


async def test_hours_are_kept_while_their_samples_are(db: Database, clock: FakeClock) -> None:
    """A raw retention longer than the hours' keeps the hours too: a window the samples still cover is never
    answered from hours already deleted."""
    await metrics.record_calls(db, calls(clock, None, "task_list", [0.001, 0.002]))
    clock.advance(3 * DAY)
    assert await metrics.roll_up(db, now=clock(), raw_retention=5 * DAY, retention=2 * DAY) == 0
    [stats] = await db.read(metrics.histogram_stats, window(clock, 4 * DAY))
    assert stats.calls == 2


async def test_a_busy_windows_slowest_calls_are_found_from_the_slowest_down_and_match_a_full_sort(
    db: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    ana = await join(db, clock, "ana")
    earlier = [(clock() - 7200 + i, ana.id, "coordination", "task_list", 0.5 + i / 1000, None) for i in range(30)]
    await metrics.record_calls(db, earlier)  # two hours ago, slower than anything since
    now = [0.001 * (i % 17) for i in range(60)]
    await metrics.record_calls(db, calls(clock, ana.id, "task_claim", now))
    monkeypatch.setattr(metrics, "SLOWEST_SCAN", 40)  # the walk reaches 10 of the window's calls
    q = window(clock)
    sorted_ms = [round(d * 1000, 3) for d in sorted(now, reverse=True)]
    for busy in (False, True):
        assert [s.ms for s in await db.read(metrics.slowest, q, 5, busy=busy)] == sorted_ms[:5]
        # More than the walk finds in the window: the window's own samples are sorted instead.
        assert [s.ms for s in await db.read(metrics.slowest, q, 20, busy=busy)] == sorted_ms[:20]
    filtered = await db.read(metrics.slowest, window(clock, tool="task_list", seconds=3 * 3600), 3, busy=True)
    assert [s.ms for s in filtered] == [529.0, 528.0, 527.0] and filtered[0].agent == "ana"
    assert await db.read(metrics.slowest, q, 0, busy=True) == []


@pytest.mark.engines("sqlite")
async def test_a_busy_windows_slowest_calls_walk_the_duration_index(db: Database) -> None:
    where, params = metrics.Query(since=0, until=1).where("c.ts")
    plan = await db.fetchall(
        "EXPLAIN QUERY PLAN SELECT c.id FROM (SELECT id, ts, seconds FROM tool_calls INDEXED BY tool_calls_by_seconds"
        f" ORDER BY seconds DESC LIMIT 10) AS c WHERE {where} ORDER BY c.seconds DESC LIMIT 5",
        params,
    )
    assert any("COVERING INDEX tool_calls_by_seconds" in str(r[3]) for r in plan), [tuple(r) for r in plan]


async def test_a_tool_filter_naming_no_called_tool_names_the_nearest_and_a_short_list(
    db: Database, clock: FakeClock
) -> None:
    ana = await join(db, clock, "ana")
    for i in range(20):
        await metrics.record_calls(db, calls(clock, ana.id, f"tool_{i:02}", [0.001]))
    await metrics.record_calls(db, calls(clock, ana.id, "task_claim", [0.001]))
    with pytest.raises(metrics.NotFound) as refused:
        await db.read(metrics.report, window(clock, tool="task_clam"), now=clock(), slowest_calls=5)
    text = str(refused.value)
    assert "did you mean 'task_claim'?" in text and text.endswith(f"and {21 - metrics.SEEN_SHOWN} more"), text
    assert "\n" not in text and len(text) < 300
