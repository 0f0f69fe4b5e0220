"""Task logic through the store: lifecycle, dependencies, schedules, repeats, leases, presence, permissions."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from shared.actor import Actor
from shared.config import Limits, Settings
from shared.db.connection import Database
from shared.errors import Conflict, Forbidden, InvalidArgument, NotFound
from shared.models.tasks import TaskLine
from shared.rules.clock import iso
from shared.store.mail import inbox
from shared.store.mail.inbox import InboxFilter
from shared.store.tasks import changes as task_changes
from shared.store.tasks import queries as task_queries
from shared.store.tasks import queue as store
from shared.store.tasks.queries import TaskFilter
from shared.store.team import agents
from shared.store.team import dialect as team_dialect
from tests.agents import join
from tests.conftest import FakeClock

pytestmark = [pytest.mark.anyio, pytest.mark.engines("sqlite", "postgresql")]

TIMEOUT = 30.0


def view(me: Actor, clock: FakeClock) -> Actor:
    """`me` acting now, its presence judged with TIMEOUT."""
    return replace(me, now=clock(), presence_timeout=TIMEOUT)


async def beat(db: Database, clock: FakeClock, *who: Actor) -> None:
    for me in who:
        await agents.heartbeat(db, me, server="coordination", pid=1, host="h", now=clock())


async def new(db: Database, clock: FakeClock, me: Actor, title: str = "t", **kw: object) -> int:
    return await store.create(db, view(me, clock), store.NewTask(title=title, **kw))  # type: ignore[arg-type]


async def events_of(db: Database, task_id: int) -> list[str]:
    rows = await db.fetchall(
        "SELECT kind FROM events WHERE object_type = 'task' AND object_id = ? ORDER BY id", (str(task_id),)
    )
    return [r["kind"] for r in rows]


async def test_the_whole_lifecycle_is_recorded_in_the_audit_trail(db: Database, clock: FakeClock) -> None:
    ana = await join(db, clock, "ana")
    task_id = await new(db, clock, ana, "write the docs")
    assert await store.claim(db, view(ana, clock), None, None) == task_id
    await task_changes.update(db, view(ana, clock), task_id, store.TaskChange(progress=50, note="half"))
    done = await task_changes.complete(db, view(ana, clock), task_id, success=True, result="written")
    assert done.status == "done"
    task = await db.read(task_queries.get, view(ana, clock), task_id)
    assert (task.status, task.progress, task.result, task.holder) == ("done", 100, "written", None)
    assert await events_of(db, task_id) == ["task.created", "task.claimed", "task.updated", "task.completed"]


async def test_claim_takes_the_highest_priority_then_the_oldest(db: Database, clock: FakeClock) -> None:
    ana = await join(db, clock, "ana")
    low = await new(db, clock, ana, "low", priority=0)
    first_high = await new(db, clock, ana, "high 1", priority=2)
    await new(db, clock, ana, "high 2", priority=2)
    assert await store.claim(db, view(ana, clock), None, None) == first_high
    assert low != first_high


async def test_a_claimed_task_cannot_be_claimed_again_and_says_by_whom(db: Database, clock: FakeClock) -> None:
    ana, bo = await join(db, clock, "ana"), await join(db, clock, "bo")
    task_id = await new(db, clock, ana)
    await store.claim(db, view(ana, clock), task_id, None)
    with pytest.raises(Conflict, match="claimed by ana until"):
        await store.claim(db, view(bo, clock), task_id, None)
    assert await store.claim(db, view(bo, clock), None, None) is None
    assert await store.claim(db, view(ana, clock), task_id, None) == task_id  # already mine: no error


async def test_dependencies_hold_a_task_back_until_they_are_done(db: Database, clock: FakeClock) -> None:
    ana = await join(db, clock, "ana")
    first = await new(db, clock, ana, "first")
    second = await new(db, clock, ana, "second", depends_on=[first])
    assert not (await db.read(task_queries.get, view(ana, clock), second)).ready
    with pytest.raises(Conflict, match=rf"waits on tasks \[{first}\]"):
        await store.claim(db, view(ana, clock), second, None)
    await store.claim(db, view(ana, clock), first, None)
    done = await task_changes.complete(db, view(ana, clock), first, success=True, result="")
    assert done.unblocked == [second]
    assert (await db.read(task_queries.get, view(ana, clock), second)).ready


async def test_a_dependency_ended_undone_strands_its_dependents_until_it_is_dropped(
    db: Database, clock: FakeClock
) -> None:
    ana, bo = await join(db, clock, "ana"), await join(db, clock, "bo")
    base = await new(db, clock, ana, "base")
    other = await new(db, clock, ana, "other")
    built = await new(db, clock, bo, "built on it", depends_on=[base, other])
    said = await task_changes.update(db, view(ana, clock), base, store.TaskChange(status="cancelled"))
    assert any(f"tasks [{built}] depend on task {base} and can never be ready" in s for s in said), said
    [(subject, body)] = await notices_to(db, clock, bo)
    assert subject == f"Task {base} cancelled: 1 of your tasks depend on it"
    assert f"{built} (built on it)" in body and f"remove_depends_on=[{base}]" in body
    assert await notices_to(db, clock, ana) == []  # ana did it and was told in the answer
    stuck = await db.read(task_queries.get, view(bo, clock), built)
    assert (stuck.stuck_on, stuck.waiting_on, stuck.ready) == ([base], [base, other], False)
    with pytest.raises(Conflict, match=rf"depends on tasks \[{base}\], which were cancelled or failed"):
        await store.claim(db, view(bo, clock), built, None)

    with pytest.raises(Forbidden, match="creator or an admin"):
        await task_changes.update(db, view(ana, clock), built, store.TaskChange(remove_depends_on=[base]))
    with pytest.raises(InvalidArgument, match=rf"does not depend on \[{built}\]; it depends on \[{base}, {other}\]"):
        await task_changes.update(db, view(bo, clock), built, store.TaskChange(remove_depends_on=[built]))
    with pytest.raises(InvalidArgument, match="in both add_depends_on and remove_depends_on"):
        await task_changes.update(
            db, view(bo, clock), built, store.TaskChange(add_depends_on=[other], remove_depends_on=[other])
        )
    said = await task_changes.update(db, view(bo, clock), built, store.TaskChange(remove_depends_on=[base, base]))
    assert said == [f"no longer depends on [{base}]"]
    still = await db.read(task_queries.get, view(bo, clock), built)
    assert (still.depends_on, still.stuck_on, still.ready) == ([other], [], False)
    await store.claim(db, view(ana, clock), other, None)
    done = await task_changes.complete(db, view(ana, clock), other, success=True, result="")
    assert done.unblocked == [built]
    assert await store.claim(db, view(bo, clock), None, None) == built  # the queue's own count let go of base


async def test_removing_the_last_unmet_dependency_puts_the_task_in_the_queue_at_once(
    db: Database, clock: FakeClock
) -> None:
    ana = await join(db, clock, "ana")
    first = await new(db, clock, ana, "first")
    second = await new(db, clock, ana, "second", depends_on=[first])
    await task_changes.update(db, view(ana, clock), second, store.TaskChange(remove_depends_on=[first]))
    assert (await db.read(task_queries.get, view(ana, clock), second)).ready
    await store.claim(db, view(ana, clock), first, None)
    assert await store.claim(db, view(ana, clock), None, None) == second
    # a done dependency removed leaves the count alone (it was never counted)
    third = await new(db, clock, ana, "third", depends_on=[first])
    await task_changes.complete(db, view(ana, clock), first, success=True, result="")
    await task_changes.update(db, view(ana, clock), third, store.TaskChange(remove_depends_on=[first]))
    unmet = await db.scalar(f"SELECT unmet_deps FROM tasks WHERE id = {third}")
    assert unmet == 0 and await store.claim(db, view(ana, clock), None, None) == third


async def test_a_dependency_that_fails_for_good_tells_the_dependents_creators(db: Database, clock: FakeClock) -> None:
    ana, bo, cy = await join(db, clock, "ana"), await join(db, clock, "bo"), await join(db, clock, "cy")
    flaky = await new(db, clock, ana, "flaky", max_attempts=1)
    lapses = await new(db, clock, ana, "lapses", max_attempts=1)
    after_flaky = await new(db, clock, cy, "after flaky", depends_on=[flaky])
    after_lapse = await new(db, clock, cy, "after lapse", depends_on=[lapses])
    await store.claim(db, view(bo, clock), flaky, None)
    done = await task_changes.complete(db, view(bo, clock), flaky, success=False, result="broken")
    assert (done.status, done.stranded) == ("failed", [after_flaky])
    await store.claim(db, view(bo, clock), lapses, 10.0)
    clock.advance(11)
    await beat(db, clock, ana, bo, cy)
    assert await store.sweep_lapsed(db, view(cy, clock)) == [lapses]  # cy's own sweep: still news to cy
    told = await notices_to(db, clock, cy)
    assert [s for s, _ in told] == [
        f"Task {flaky} failed: 1 of your tasks depend on it",
        f"Task {lapses} failed: 1 of your tasks depend on it",
    ]
    assert f"{after_lapse} (after lapse)" in told[1][1]
    assert (await db.read(task_queries.get, view(cy, clock), after_lapse)).stuck_on == [lapses]


async def test_unknown_dependencies_and_cycles_are_refused(db: Database, clock: FakeClock) -> None:
    ana = await join(db, clock, "ana")
    with pytest.raises(NotFound, match=r"\[404\]"):
        await new(db, clock, ana, depends_on=[404])
    a = await new(db, clock, ana, "a")
    b = await new(db, clock, ana, "b", depends_on=[a])
    c = await new(db, clock, ana, "c", depends_on=[b])
    with pytest.raises(InvalidArgument, match="cycle"):
        await task_changes.update(db, view(ana, clock), a, store.TaskChange(add_depends_on=(c,)))
    with pytest.raises(InvalidArgument, match="itself"):
        await task_changes.update(db, view(ana, clock), a, store.TaskChange(add_depends_on=(a,)))
    assert await db.scalar("SELECT count(*) FROM task_deps") == 2  # nothing half-written


async def test_a_scheduled_task_becomes_ready_at_its_time(db: Database, clock: FakeClock) -> None:
    ana = await join(db, clock, "ana")
    task_id = await new(db, clock, ana, not_before=clock() + 600)
    assert await store.claim(db, view(ana, clock), None, None) is None
    assert "scheduled" in await store.why_nothing_ready(db, view(ana, clock))
    clock.advance(601)
    await beat(db, clock, ana)
    assert await store.claim(db, view(ana, clock), None, None) == task_id


async def test_a_repeating_task_queues_its_next_occurrence_at_the_next_slot(db: Database, clock: FakeClock) -> None:
    ana = await join(db, clock, "ana")
    start = clock()
    task_id = await new(db, clock, ana, "sync", repeat_every=3600.0)
    await store.claim(db, view(ana, clock), task_id, 4 * 3600.0)
    clock.advance(2.5 * 3600)  # two slots were missed while it ran
    await beat(db, clock, ana)
    done = await task_changes.complete(db, view(ana, clock), task_id, success=True, result="")
    assert done.next_occurrence is not None
    following = await db.read(task_queries.get, view(ana, clock), done.next_occurrence)
    nb = await db.scalar("SELECT not_before FROM tasks WHERE id = ?", (done.next_occurrence,))
    assert nb == start + 3 * 3600
    assert following.title == "sync" and following.repeat_every_seconds == 3600.0 and not following.ready


async def test_an_expired_lease_returns_the_task_and_tells_the_old_holder(db: Database, clock: FakeClock) -> None:
    ana, bo = await join(db, clock, "ana"), await join(db, clock, "bo")
    task_id = await new(db, clock, ana)
    await store.claim(db, view(ana, clock), task_id, 60.0)
    clock.advance(20)
    await beat(db, clock, ana, bo)
    clock.advance(45)  # lease over, ana still present
    await beat(db, clock, ana, bo)
    listed = await db.read(task_queries.get, view(bo, clock), task_id)
    assert (listed.status, listed.holder, listed.attempts) == ("open", None, 1)
    assert await store.claim(db, view(bo, clock), None, None) == task_id
    with pytest.raises(Conflict, match="lapsed"):
        await task_changes.update(db, view(ana, clock), task_id, store.TaskChange(progress=10))
    assert "task.lease_lapsed" in await events_of(db, task_id)


async def test_a_holder_that_goes_away_loses_its_claims_after_the_presence_timeout(
    db: Database, clock: FakeClock
) -> None:
    ana, bo = await join(db, clock, "ana"), await join(db, clock, "bo")
    task_id = await new(db, clock, ana)
    await store.claim(db, view(ana, clock), task_id, None)
    clock.advance(TIMEOUT - 1)
    await beat(db, clock, bo)
    assert await store.claim(db, view(bo, clock), None, None) is None  # ana may just be slow
    clock.advance(2)
    await beat(db, clock, bo)
    assert await store.claim(db, view(bo, clock), None, None) == task_id


async def test_among_many_live_claims_the_best_lapsed_ones_are_found_and_swept(db: Database, clock: FakeClock) -> None:
    ana, bo, cy = await join(db, clock, "ana"), await join(db, clock, "bo"), await join(db, clock, "cy")
    held = [await new(db, clock, ana, f"live {i}") for i in range(30)]
    gone_low = await new(db, clock, bo, "bo's, low", priority=0)
    gone_high = await new(db, clock, bo, "bo's, high", priority=3)
    expiring = await new(db, clock, ana, "ana's, short lease", priority=2)
    for task_id in held:
        await store.claim(db, view(ana, clock), task_id, None)
    await store.claim(db, view(ana, clock), expiring, 10.0)
    await store.claim(db, view(bo, clock), gone_low, None)
    await store.claim(db, view(bo, clock), gone_high, None)
    clock.advance(TIMEOUT + 1)  # bo went away; ana is still here, but one lease of hers ran out
    await beat(db, clock, ana, cy)
    assert await store.claim(db, view(cy, clock), None, None) == gone_high
    assert await store.claim(db, view(cy, clock), None, None) == expiring
    assert sorted(await store.sweep_lapsed(db, view(cy, clock))) == [gone_low]
    assert await store.claim(db, view(cy, clock), None, None) == gone_low
    assert await store.claim(db, view(cy, clock), None, None) is None  # ana's live claims stay hers


async def test_failures_retry_until_max_attempts_then_fail_and_tell_the_creator(db: Database, clock: FakeClock) -> None:
    ana, bo = await join(db, clock, "ana"), await join(db, clock, "bo")
    task_id = await new(db, clock, ana, "flaky", max_attempts=2)
    await store.claim(db, view(bo, clock), task_id, None)
    first = await task_changes.complete(db, view(bo, clock), task_id, success=False, result="timeout")
    assert first.status == "open"
    await store.claim(db, view(bo, clock), task_id, None)
    second = await task_changes.complete(db, view(bo, clock), task_id, success=False, result="timeout again")
    assert second.status == "failed"
    notice = await db.fetchone(
        "SELECT m.subject FROM messages m JOIN message_recipients r ON r.message_id = m.id WHERE r.agent_id = ?",
        (ana.id,),
    )
    assert notice is not None and "failed" in notice["subject"]


async def test_only_the_holder_or_an_admin_changes_a_claimed_task(db: Database, clock: FakeClock) -> None:
    ana, bo = await join(db, clock, "ana"), await join(db, clock, "bo")
    boss = await join(db, clock, "boss", role="admin")
    task_id = await new(db, clock, ana)
    await store.claim(db, view(ana, clock), task_id, None)
    with pytest.raises(Forbidden, match="claimed by ana"):
        await task_changes.update(db, view(bo, clock), task_id, store.TaskChange(progress=5))
    with pytest.raises(Forbidden, match="claimed by ana"):
        await task_changes.complete(db, view(bo, clock), task_id, success=True, result="")
    said = await task_changes.update(db, view(boss, clock), task_id, store.TaskChange(status="open"))
    assert said == ["released back to the queue"]


async def test_cancel_is_for_the_creator_or_an_admin(db: Database, clock: FakeClock) -> None:
    ana, bo = await join(db, clock, "ana"), await join(db, clock, "bo")
    task_id = await new(db, clock, ana)
    with pytest.raises(Forbidden, match="creator or an admin"):
        await task_changes.update(db, view(bo, clock), task_id, store.TaskChange(status="cancelled"))
    await task_changes.update(db, view(ana, clock), task_id, store.TaskChange(status="cancelled"))
    with pytest.raises(Conflict, match="cancelled and cannot change"):
        await task_changes.update(db, view(ana, clock), task_id, store.TaskChange(progress=1))


async def test_block_needs_a_reason_and_unblock_returns_it_to_the_queue(db: Database, clock: FakeClock) -> None:
    ana = await join(db, clock, "ana")
    task_id = await new(db, clock, ana)
    await store.claim(db, view(ana, clock), task_id, None)
    with pytest.raises(InvalidArgument, match="reason"):
        await task_changes.update(db, view(ana, clock), task_id, store.TaskChange(status="blocked"))
    await task_changes.update(
        db, view(ana, clock), task_id, store.TaskChange(status="blocked", reason="needs a human OK")
    )
    blocked = await db.read(task_queries.get, view(ana, clock), task_id)
    assert (blocked.status, blocked.blocked_reason, blocked.holder) == ("blocked", "needs a human OK", None)
    await task_changes.update(db, view(ana, clock), task_id, store.TaskChange(status="open"))
    assert (await db.read(task_queries.get, view(ana, clock), task_id)).ready


async def test_assigned_tasks_go_only_to_their_assignee_who_is_told(db: Database, clock: FakeClock) -> None:
    ana, bo, cy = await join(db, clock, "ana"), await join(db, clock, "bo"), await join(db, clock, "cy")
    task_id = await new(db, clock, ana, "for bo", assignee_id=bo.id)
    with pytest.raises(Forbidden, match="assigned to bo"):
        await store.claim(db, view(cy, clock), task_id, None)
    assert await store.claim(db, view(cy, clock), None, None) is None
    assert await store.claim(db, view(bo, clock), None, None) == task_id
    subject = await db.scalar(
        "SELECT m.subject FROM messages m JOIN message_recipients r ON r.message_id = m.id WHERE r.agent_id = ?",
        (bo.id,),
    )
    assert "assigned to you" in subject


async def test_required_capabilities_decide_who_may_claim(db: Database, clock: FakeClock) -> None:
    ana, bo = await join(db, clock, "ana"), await join(db, clock, "bo")
    await db.write_one('UPDATE agents SET capabilities = \'["python", "sql"]\' WHERE id = ?', (bo.id,))
    task_id = await new(db, clock, ana, requires=["python"])
    with pytest.raises(Forbidden, match="agent_register"):
        await store.claim(db, view(ana, clock), task_id, None)
    assert await store.claim(db, view(bo, clock), None, None) == task_id


async def test_paging_visits_every_task_once_and_reports_the_total(db: Database, clock: FakeClock) -> None:
    ana = await join(db, clock, "ana")
    ids = {await new(db, clock, ana, f"t{i}", priority=i % 4) for i in range(45)}
    seen: list[int] = []
    cursor = None
    while True:
        page, total, cursor = await db.read(task_queries.page, view(ana, clock), TaskFilter(), limit=20, cursor=cursor)
        assert total == 45
        seen += [t.id for t in page]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids)
    with pytest.raises(InvalidArgument, match="next_cursor"):
        await db.read(task_queries.page, view(ana, clock), TaskFilter(), limit=20, cursor="nonsense")


async def test_the_short_form_of_a_page_is_the_short_form_of_each_full_task(db: Database, clock: FakeClock) -> None:
    ana, bo = await join(db, clock, "ana"), await join(db, clock, "bo")
    first = await new(db, clock, ana, "plan", tags=["docs"], priority=3)
    await new(db, clock, ana, "build", depends_on=[first], assignee_id=bo.id)
    lapsing = await new(db, clock, ana, "lapses")
    await store.claim(db, view(bo, clock), first, None)
    await store.claim(db, view(ana, clock), lapsing, 60.0)
    clock.advance(90)  # ana's lease is over: the task shows as open, with no holder
    await beat(db, clock, ana, bo)
    for f in (TaskFilter(), TaskFilter(ready_only=True), TaskFilter(statuses=["open", "claimed"])):
        full, total, cursor = await db.read(task_queries.page, view(bo, clock), f, limit=2, cursor=None)
        short = await db.read(task_queries.lines, view(bo, clock), f, limit=2, cursor=None)
        assert short == ([TaskLine.of(t) for t in full], total, cursor)
    lines, _, _ = await db.read(task_queries.lines, view(bo, clock), TaskFilter(), limit=20, cursor=None)
    assert [(t.title, t.status, t.holder) for t in lines] == [
        ("plan", "claimed", "bo"),
        ("build", "open", None),
        ("lapses", "open", None),
    ]


async def test_filters_by_status_tag_text_and_mine(db: Database, clock: FakeClock) -> None:
    ana, bo = await join(db, clock, "ana"), await join(db, clock, "bo")
    docs = await new(db, clock, ana, "Write 100% of the docs", tags=["docs"])
    await new(db, clock, ana, "fix the build", tags=["ci"])
    await store.claim(db, view(bo, clock), docs, None)

    async def ids(**f: object) -> list[int]:
        page, _, _ = await db.read(task_queries.page, view(bo, clock), TaskFilter(**f), limit=50, cursor=None)  # type: ignore[arg-type]
        return [t.id for t in page]

    assert await ids(tag="DOCS") == [docs]
    assert await ids(text="100%") == [docs]
    assert await ids(text="50%") == []
    assert await ids(mine=True) == [docs]
    assert await ids(statuses=["claimed"]) == [docs]


async def lapse_events(db: Database, task_id: int) -> list[tuple[str, str]]:
    rows = await db.fetchall(
        f"SELECT agent_id AS holder, {team_dialect.of(db).json_field('data', 'now')} AS now FROM events"
        " WHERE kind = 'task.lease_lapsed' AND object_id = ? ORDER BY id",
        (str(task_id),),
    )
    return [(r["holder"], r["now"]) for r in rows]


async def test_each_lapse_is_recorded_once_whether_a_claim_or_the_sweep_finds_it(
    db: Database, clock: FakeClock
) -> None:
    ana, bo = await join(db, clock, "ana"), await join(db, clock, "bo")
    taken_over, swept = await new(db, clock, ana, "taken over"), await new(db, clock, ana, "swept", priority=0)
    await store.claim(db, view(ana, clock), taken_over, 10.0)
    await store.claim(db, view(ana, clock), swept, 10.0)
    clock.advance(11)
    await beat(db, clock, ana, bo)
    assert await store.claim(db, view(bo, clock), taken_over, None) == taken_over
    assert await store.sweep_lapsed(db, view(bo, clock)) == [swept]
    assert await store.sweep_lapsed(db, view(bo, clock)) == []
    assert await lapse_events(db, taken_over) == [(ana.id, "open")]
    assert await lapse_events(db, swept) == [(ana.id, "open")]
    assert await events_of(db, taken_over) == ["task.created", "task.claimed", "task.lease_lapsed", "task.claimed"]


async def test_taking_back_ones_own_lapsed_claim_records_the_lapse_and_the_claim(
    db: Database, clock: FakeClock
) -> None:
    ana = await join(db, clock, "ana")
    task_id = await new(db, clock, ana)
    await store.claim(db, view(ana, clock), task_id, 10.0)
    clock.advance(11)
    await beat(db, clock, ana)
    assert await store.claim(db, view(ana, clock), task_id, None) == task_id
    assert await lapse_events(db, task_id) == [(ana.id, "open")]
    assert await events_of(db, task_id) == ["task.created", "task.claimed", "task.lease_lapsed", "task.claimed"]
    assert (await db.read(task_queries.get, view(ana, clock), task_id)).attempts == 1


async def test_releasing_a_claim_that_lapsed_says_it_lapsed_not_that_the_task_is_open(
    db: Database, clock: FakeClock
) -> None:
    ana, bo, cy = await join(db, clock, "ana"), await join(db, clock, "bo"), await join(db, clock, "cy")
    task_id = await new(db, clock, ana)
    await store.claim(db, view(bo, clock), task_id, 10.0)
    clock.advance(11)
    await beat(db, clock, ana, bo, cy)
    assert await store.sweep_lapsed(db, view(ana, clock)) == [task_id]
    release = store.TaskChange(status="open")
    with pytest.raises(Conflict, match=f"your claim on task {task_id} lapsed .* it is open now"):
        await task_changes.update(db, view(bo, clock), task_id, release)
    with pytest.raises(Conflict, match=f"you do not hold task {task_id} \\(it is open\\)"):
        await task_changes.update(db, view(cy, clock), task_id, release)
    with pytest.raises(Conflict, match=f"task {task_id} is already open"):  # its creator, reopening it
        await task_changes.update(db, view(ana, clock), task_id, release)


async def test_the_claim_event_says_until_when_and_which_attempt(db: Database, clock: FakeClock) -> None:
    ana = await join(db, clock, "ana")
    task_id = await new(db, clock, ana)
    await store.claim(db, view(ana, clock), task_id, 60.0)
    row = await db.fetchone(
        "SELECT ts, agent_id, data FROM events WHERE kind = 'task.claimed' AND object_id = ?", (str(task_id),)
    )
    assert row is not None and (row["ts"], row["agent_id"]) == (clock(), ana.id)
    assert json.loads(row["data"]) == {"lease_until": iso(clock() + 60), "attempt": 1}


async def test_every_system_notice_of_the_queue_verifies_when_the_team_has_a_secret(
    db: Database, clock: FakeClock, db_path: Path
) -> None:
    team = Settings(db=db_path, secret="team-secret", presence_timeout=TIMEOUT)
    ana, bo = (
        Actor.of(team, id=m.id, name=m.name) for m in (await join(db, clock, "ana"), await join(db, clock, "bo"))
    )
    assigned = await new(db, clock, ana, "for bo", assignee_id=bo.id)
    failed = await new(db, clock, ana, "fails", max_attempts=1)
    lapses = await new(db, clock, ana, "lapses", max_attempts=1)
    await store.claim(db, view(bo, clock), failed, None)
    await task_changes.complete(db, view(bo, clock), failed, success=False, result="no luck")
    await store.claim(db, view(bo, clock), lapses, 10.0)
    clock.advance(11)
    await beat(db, clock, ana, bo)
    assert await store.sweep_lapsed(db, view(bo, clock)) == [lapses]

    async def notices(me: Actor) -> list[tuple[str | None, bool | None]]:
        got, _ = await inbox.page(db, replace(me, now=clock(), secret=team.secret), InboxFilter(), limit=50, after=0)
        return [(m.about, m.verified) for m in got]

    # bo's own sweep found bo's lease run out: still news to bo (the holder) and ana (the creator)
    assert await notices(bo) == [(f"task {assigned}", True), (f"task {lapses}", True)]
    assert await notices(ana) == [(f"task {failed}", True), (f"task {lapses}", True)]


async def notices_to(db: Database, clock: FakeClock, me: Actor) -> list[tuple[str, str]]:
    found, _ = await inbox.page(db, view(me, clock), InboxFilter(unread_only=False), limit=50, after=0)
    return [(m.subject, m.body) for m in found if m.kind == "system" and m.about is not None]


async def test_a_lease_running_out_tells_holder_and_creator_why_with_the_last_note(
    db: Database, clock: FakeClock
) -> None:
    cy, ana, bo = await join(db, clock, "cy"), await join(db, clock, "ana"), await join(db, clock, "bo")
    task_id = await new(db, clock, cy, "port the parser")
    await store.claim(db, view(ana, clock), task_id, 60.0)
    await task_changes.update(db, view(ana, clock), task_id, store.TaskChange(progress=40, note="lexer done"))
    clock.advance(61)
    await beat(db, clock, ana, bo, cy)
    assert await store.sweep_lapsed(db, view(bo, clock)) == [task_id]
    for who in (ana, cy):
        [(subject, body)] = await notices_to(db, clock, who)
        assert f"task {task_id} lapsed" in subject
        assert "ana's lease ran out" in body and "40%" in body and '"lexer done"' in body
    assert await notices_to(db, clock, bo) == []  # the sweeper is nobody's news
    row = await db.fetchone("SELECT agent_id, agent_name, data FROM events WHERE kind = 'task.lease_lapsed'")
    assert row is not None and (row["agent_id"], row["agent_name"]) == (ana.id, "ana")
    data = json.loads(row["data"])
    assert (data["holder"], data["why"], data["noticed_by"]) == ("ana", "lease ran out", "bo")


async def test_a_takeover_names_the_new_holder_to_the_old_one_and_the_creator(db: Database, clock: FakeClock) -> None:
    cy, ana, bo = await join(db, clock, "cy"), await join(db, clock, "ana"), await join(db, clock, "bo")
    task_id = await new(db, clock, cy, "port the parser")
    await store.claim(db, view(ana, clock), task_id, None)
    clock.advance(TIMEOUT + 1)  # ana's window went away
    await beat(db, clock, bo, cy)
    assert await store.claim(db, view(bo, clock), task_id, None) == task_id
    for who in (ana, cy):
        [(subject, body)] = await notices_to(db, clock, who)
        assert "taken over by bo" in subject and "ana went offline" in body
    await beat(db, clock, ana)  # ana comes back and carries on, unaware
    for attempt in (
        task_changes.update(db, view(ana, clock), task_id, store.TaskChange(progress=90)),
        task_changes.complete(db, view(ana, clock), task_id, success=True, result="done"),
    ):
        with pytest.raises(Conflict, match="now held by bo"):
            await attempt


async def test_renewals_cannot_keep_a_claim_past_the_lease_age_cap(db: Database, clock: FakeClock) -> None:
    """Issue 15: a holder renewing its lease forever kept the task forever; ROUNDTABLE_MAX_LEASE_AGE caps a
    claim's total age, the renewal's answer says so, and past the cap the claim lapses as usual."""
    capped = Limits(lease_age=3600.0)
    ana, bo = await join(db, clock, "ana"), await join(db, clock, "bo")
    ana, bo = replace(ana, limits=capped), replace(bo, limits=capped)
    task_id = await new(db, clock, bo)
    claimed_at = clock()
    assert await store.claim(db, view(ana, clock), task_id, 7200.0) == task_id  # a lease longer than the cap
    assert await db.scalar("SELECT lease_expires_at FROM tasks WHERE id = ?", (task_id,)) == claimed_at + 3600
    for _ in range(5):  # renew every 10 minutes, always for another hour
        clock.advance(600)
        await beat(db, clock, ana, bo)
        said = await task_changes.update(db, view(ana, clock), task_id, store.TaskChange(extend_lease=3600.0))
    assert await db.scalar("SELECT lease_expires_at FROM tasks WHERE id = ?", (task_id,)) == claimed_at + 3600
    assert len(said) == 1 and "ROUNDTABLE_MAX_LEASE_AGE" in said[0] and "at most 1 h" in said[0], said
    assert iso(claimed_at + 3600) in said[0]
    clock.advance(601)  # past the cap: the claim lapses, and bo may take the task
    await beat(db, clock, ana, bo)
    listed = await db.read(task_queries.get, view(bo, clock), task_id)
    assert (listed.status, listed.holder) == ("open", None)
    with pytest.raises(Conflict, match="lapsed"):
        await task_changes.update(db, view(ana, clock), task_id, store.TaskChange(extend_lease=3600.0))
    assert await store.claim(db, view(bo, clock), None, None) == task_id


async def test_a_renewal_inside_the_lease_age_cap_is_granted_whole(db: Database, clock: FakeClock) -> None:
    ana = await join(db, clock, "ana")
    task_id = await new(db, clock, ana)
    await store.claim(db, view(ana, clock), task_id, 600.0)
    said = await task_changes.update(db, view(ana, clock), task_id, store.TaskChange(extend_lease=7200.0))
    assert said == [f"lease extended to {iso(clock() + 7200)}"]
