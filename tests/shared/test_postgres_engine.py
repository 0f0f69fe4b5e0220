"""The PostgreSQL engine under concurrency, on the session's real server (tests/postgres.py): claims raced by
16 workers, sweeps by 8, migrations by six processes, NOTIFY at commit only, and message_wait's wake-up across
two processes."""

from __future__ import annotations

import io
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import psycopg
import pytest

from shared.db import pgsql
from shared.db.connection import Database, load_migrations
from shared.db.place import PostgresUrl
from shared.db.postgres import POOL_SIZE, PostgresDatabase, latest_version
from shared.errors import Unavailable
from shared.store.tasks import queue as store
from tests import postgres
from tests.agents import join
from tests.conftest import FakeClock

pytestmark = pytest.mark.anyio


async def opened(url: str) -> PostgresDatabase:
    db = await Database.open(PostgresUrl(url))
    assert isinstance(db, PostgresDatabase)
    return db


async def woken_by_a_commit(waiter: Database, writer: Database, kind: str, *, after: float, within: float) -> float:
    """How long `waiter`'s wait for a change took while `writer` committed an event of `kind` `after` seconds
    into it; the wait must be woken (within `within` seconds)."""
    began = time.monotonic()
    async with anyio.create_task_group() as tg:

        async def commit() -> None:
            await anyio.sleep(after)
            await writer.write_one("INSERT INTO events(ts, kind) VALUES (1, ?)", (kind,))

        tg.start_soon(commit)
        assert await waiter.wait_for_change(within), f"the commit of {kind!r} did not wake the wait"
    return time.monotonic() - began


async def still_open_when_the_claims_then_in_flight_ended(db: Database) -> int:
    """After a claim found nothing: how many of the tasks open then are still open once every transaction in
    flight then has ended. A task open at that moment may be one another claimer had locked and was taking
    (SKIP LOCKED rightly passes it by); once that claimer commits it is claimed. One still open after that was
    not being taken by anyone: the claim that gave up could have had it."""
    began = await db.scalar("SELECT clock_timestamp()")
    open_then = [int(r[0]) for r in await db.fetchall("SELECT id FROM tasks WHERE status = 'open'")]
    if not open_then:
        return 0
    in_flight = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        " AND xact_start < :began"
    )
    with anyio.fail_after(10):
        while await db.scalar(in_flight, {"began": began}):
            await anyio.sleep(0.005)
    marks = ", ".join(str(i) for i in open_then)
    return int(await db.scalar(f"SELECT count(*) FROM tasks WHERE status = 'open' AND id IN ({marks})"))


async def test_sixteen_claimers_never_share_a_task_and_never_find_the_queue_falsely_empty(
    postgres_url: str, clock: FakeClock
) -> None:
    setup = await opened(postgres_url)
    workers = [await join(setup, clock, f"w{i}") for i in range(16)]
    total = 400
    for i in range(total):
        await store.create(setup, workers[0], store.NewTask(title=f"t{i}"))
    dbs = [await opened(postgres_url) for _ in workers]
    taken: list[tuple[str, int]] = []
    false_empties = 0

    async def work(db: Database, me: object) -> None:
        nonlocal false_empties
        while True:
            got = await store.claim(db, me, None, None)  # type: ignore[arg-type]
            if got is None:
                if await still_open_when_the_claims_then_in_flight_ended(db):
                    false_empties += 1
                return
            taken.append((me.id, got))  # type: ignore[attr-defined]

    async with anyio.create_task_group() as tg:
        for db, me in zip(dbs, workers, strict=True):
            tg.start_soon(work, db, me)
    ids = [t for _, t in taken]
    assert len(ids) == total and len(set(ids)) == total, "a task was claimed twice or lost"
    assert false_empties == 0
    holders = await setup.fetchall("SELECT id, holder FROM tasks")
    assert {int(r["id"]): r["holder"] for r in holders} == {t: w for w, t in taken}
    claimed = await setup.scalar("SELECT count(*) FROM events WHERE kind = 'task.claimed'")
    assert claimed == total
    for db in [setup, *dbs]:
        await db.close()


async def test_eight_sweepers_sweep_each_lapsed_claim_once(postgres_url: str, clock: FakeClock) -> None:
    setup = await opened(postgres_url)
    ana = await join(setup, clock, "ana")
    ids = [await store.create(setup, ana, store.NewTask(title=f"t{i}", lease_seconds=5)) for i in range(40)]
    for _ in ids:
        assert await store.claim(setup, ana, None, None) is not None
    clock.advance(60)  # every lease ran out
    later = ana.at(clock())
    dbs = [await opened(postgres_url) for _ in range(8)]
    swept: list[int] = []

    async def sweeper(db: Database) -> None:
        swept.extend(await store.sweep_lapsed(db, later))

    async with anyio.create_task_group() as tg:
        for db in dbs:
            tg.start_soon(sweeper, db)
    assert sorted(swept) == sorted(ids)
    lapses = await setup.scalar("SELECT count(*) FROM events WHERE kind = 'task.lease_lapsed'")
    assert lapses == len(ids)
    assert await setup.scalar("SELECT count(*) FROM tasks WHERE status = 'open' AND attempts = 1") == len(ids)
    for db in [setup, *dbs]:
        await db.close()


MIGRATE = """
import anyio, sys
from shared.db.connection import Database
from shared.db.place import PostgresUrl
async def main():
    db = await Database.open(PostgresUrl(sys.argv[1]))
    print(await db.schema_version())
    await db.close()
anyio.run(main)
"""


def test_six_processes_migrating_a_new_database_apply_each_migration_once(postgres_server: object) -> None:
    server = postgres_server
    name = server.create()  # type: ignore[attr-defined]
    url = server.url(name)  # type: ignore[attr-defined]
    try:
        procs = [
            subprocess.Popen([sys.executable, "-c", MIGRATE, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(6)
        ]
        outs = [p.communicate(timeout=120) for p in procs]
        assert all(p.returncode == 0 for p in procs), [e.decode()[-500:] for _, e in outs]
        assert {o.decode().strip() for o, _ in outs} == {str(latest_version())}
        applied = server.sql("SELECT count(*) FROM schema_migrations", name)  # type: ignore[attr-defined]
        assert applied == str(len(load_migrations("migrations_pg")))  # each once
    finally:
        server.drop(name)  # type: ignore[attr-defined]


async def test_a_newer_schema_is_refused_untouched(postgres_url: str) -> None:
    db = await opened(postgres_url)
    await db.write_one("INSERT INTO schema_migrations(version, name, applied_at) VALUES (9999, 'future', 0)")
    await db.close()
    with pytest.raises(Exception, match="schema version 9999"):
        await opened(postgres_url)


async def test_a_commit_notifies_other_processes_and_a_rollback_notifies_nothing(postgres_url: str) -> None:
    writer, watcher = await opened(postgres_url), await opened(postgres_url)
    assert not await watcher.wait_for_change(0.2) or True  # the first wait listens (and may look once)
    assert not await watcher.wait_for_change(0.3)

    def fails(tx: object) -> None:
        tx.execute("INSERT INTO events(ts, kind) VALUES (1, 'x')")  # type: ignore[attr-defined]
        raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        await writer.write(fails)
    assert not await watcher.wait_for_change(0.5), "a rolled-back write notified"
    assert await watcher.scalar("SELECT count(*) FROM events") == 0

    before = await watcher.data_version()
    assert await woken_by_a_commit(watcher, writer, "y", after=0.1, within=5.0) < 2.0
    assert await watcher.data_version() == before + 1
    # its own commits do not wake a process (as SQLite's data_version does not move for them)
    await watcher.write_one("INSERT INTO events(ts, kind) VALUES (1, 'z')")
    assert not await watcher.wait_for_change(0.3)
    await writer.close()
    await watcher.close()


HOLD_THE_TEAM_LOCK = """
import anyio, sys, time
from shared.db.connection import Database
from shared.db.place import PostgresUrl
def hold(tx):
    tx.execute("INSERT INTO events(ts, kind) VALUES (1, 'stopped')")  # the team lock is held from here
    print("holding", flush=True)
    sys.stdin.readline()  # the test stops this process here, in the middle of its write, and lets it go on
async def main():
    db = await Database.open(PostgresUrl(sys.argv[1]))
    try:
        await db.write(hold)
    except Exception as exc:
        print(type(exc).__name__, str(exc), flush=True)
    print("next", await db.scalar("SELECT count(*) FROM events WHERE kind = 'after'"), flush=True)
anyio.run(main)
"""


async def test_a_process_stopped_in_the_middle_of_a_write_costs_others_a_one_line_refusal_then_lets_go(
    postgres_url: str,
) -> None:
    """A server SIGSTOPped (or hung) while its write held the team lock made every other write of the team wait
    for it, for ever: no lock_timeout, no end to its transaction. A write now waits at most the lock timeout and
    is refused in one line naming the cause, and the server ends the stopped session's transaction (idle in
    transaction), so the team writes again while the process is still stopped. Let go on, the stopped process was
    told psycopg's raw IdleInTransactionSessionTimeout (an internal error); it is told in one line, and its next
    call works."""
    proc = await anyio.open_process([sys.executable, "-c", HOLD_THE_TEAM_LOCK, postgres_url])
    db = await opened(postgres_url)
    try:
        assert proc.stdout is not None
        with anyio.fail_after(60):
            assert (await proc.stdout.receive()).strip() == b"holding"
        proc.send_signal(signal.SIGSTOP)
        began = time.monotonic()
        with anyio.fail_after(pgsql.LOCK_TIMEOUT_S + 15), pytest.raises(Unavailable) as refused:
            await db.write(lambda tx: tx.execute("INSERT INTO events(ts, kind) VALUES (2, 'waiting')"))
        assert time.monotonic() - began >= pgsql.LOCK_TIMEOUT_S - 1
        assert "\n" not in str(refused.value)
        assert "another session has held a lock" in str(refused.value)
        with anyio.fail_after(pgsql.IDLE_IN_TRANSACTION_S + pgsql.LOCK_TIMEOUT_S + 20):
            while True:  # the stopped session's transaction is ended by the server: writes go through again
                try:
                    await db.write(lambda tx: tx.execute("INSERT INTO events(ts, kind) VALUES (3, 'after')"))
                    break
                except Unavailable:
                    pass
        assert await db.scalar("SELECT count(*) FROM events WHERE kind = 'stopped'") == 0  # rolled back whole
        proc.send_signal(signal.SIGCONT)  # the stopped process goes on: its write is refused in one line
        assert proc.stdin is not None
        await proc.stdin.send(b"\n")
        with anyio.fail_after(30):
            told = b""
            while len([line for line in told.split(b"\n")[:-1] if line]) < 2:  # two whole lines
                told += await proc.stdout.receive()
        refusal, after = [line for line in told.decode().splitlines() if line][:2]  # "holding"'s \n may lead
        assert refusal.startswith("Unavailable ") and "idle" in refusal, told
        assert after == "next 1"  # and its next call works
    finally:
        proc.send_signal(signal.SIGCONT)
        proc.kill()
        with anyio.fail_after(30):
            await proc.wait()
        await proc.aclose()
        await db.close()


async def test_a_commit_made_before_the_first_listen_wakes_the_first_wait_at_once(postgres_url: str) -> None:
    """The first wait makes the LISTEN connection; a commit before it is announced to nobody, so the waiters are
    told to look at once (before, they learned of it a round, LISTEN_ROUND = 5 s, later: a channel push of mail
    committed as the messaging server began to watch was that late)."""
    writer, watcher = await opened(postgres_url), await opened(postgres_url)
    try:
        await writer.write_one("INSERT INTO events(ts, kind) VALUES (1, 'unannounced')")
        with anyio.fail_after(2):  # far less than the round it asks for
            assert await watcher.wait_for_change(60.0)
        assert not await watcher.wait_for_change(0.3)  # listening now: nothing more to look at
        assert await woken_by_a_commit(watcher, writer, "announced", after=0.1, within=60.0) < 5.0
    finally:
        await writer.close()
        await watcher.close()


async def test_after_the_server_restarts_the_next_calls_work_and_a_waiter_still_wakes(
    postgres_server: postgres.Postgres, postgres_url: str
) -> None:
    """After `pg_ctl restart` every pooled connection was lost, and each answered its next call with "the
    PostgreSQL server cannot be reached" though the server was back: up to POOL_SIZE failed calls per process.
    A connection found lost at BEGIN is now dropped and the call runs on another; the LISTEN connection is made
    again, so a waiter wakes on the next commit of another process."""
    db, writer = await opened(postgres_url), await opened(postgres_url)
    try:
        async with anyio.create_task_group() as tg:  # several pooled connections, each to be lost
            for _ in range(POOL_SIZE):
                tg.start_soon(db.read, lambda tx: tx.execute("SELECT pg_sleep(0.2)"))
        await db.wait_for_change(0.1)  # listening
        await anyio.to_thread.run_sync(postgres_server.restart)
        for i in range(POOL_SIZE + 2):
            await db.write(lambda tx, i=i: tx.execute("INSERT INTO events(ts, kind) VALUES (?, 'after')", (i,)))
            assert await db.read(lambda tx: tx.execute("SELECT count(*) FROM events WHERE kind = 'after'")) == [
                (i + 1,)
            ]
        with anyio.fail_after(10):  # the lost LISTEN connection: waiters look once, nothing raised
            assert await db.wait_for_change(5.0)
            assert await db.wait_for_change(5.0)  # the LISTEN made again: waiters look once more, at once
        # listening again: woken by the commit, not by the round
        assert await woken_by_a_commit(db, writer, "wake", after=0.3, within=10.0) < 5.0
    finally:
        await db.close()
        await writer.close()


async def test_a_task_row_locked_by_a_psql_session_refuses_its_claim_in_one_line_and_others_still_claim(
    postgres_url: str, clock: FakeClock
) -> None:
    """A psql session left in `BEGIN; SELECT … FROM tasks … FOR UPDATE` held an agent's claim of that task for as
    long as it stayed open. It is now refused after the lock timeout in one line naming the cause, and a claim
    of whatever is ready meanwhile skips the locked row and takes another task."""
    db = await opened(postgres_url)
    try:
        ana, bo = await join(db, clock, "ana"), await join(db, clock, "bo")
        first = await store.create(db, ana, store.NewTask(title="locked by psql"))
        await store.create(db, ana, store.NewTask(title="free"))
        holder = await psycopg.AsyncConnection.connect(postgres_url, autocommit=True)
        try:
            await holder.execute("BEGIN")
            await holder.execute("SELECT id FROM tasks WHERE id = %s FOR UPDATE", (first,))
            with anyio.fail_after(pgsql.LOCK_TIMEOUT_S + 15):
                assert await store.claim(db, bo, None, None) not in (None, first)  # skips the locked row
                with pytest.raises(Unavailable) as refused:
                    await store.claim(db, ana, first, None)
            assert "\n" not in str(refused.value)
            assert "another session has held a lock" in str(refused.value)
            await holder.execute("ROLLBACK")
            assert await store.claim(db, ana, first, None) == first
        finally:
            await holder.close()
    finally:
        await db.close()


async def test_a_statement_cancelled_by_an_administrator_is_a_one_line_refusal(
    postgres_server: postgres.Postgres, postgres_url: str
) -> None:
    """pg_cancel_backend on a session waiting for the team lock raised psycopg's QueryCanceled out of the store:
    an internal error with a traceback. It is now a one-line refusal that says what happened, and the
    connection serves the next call."""
    db = await opened(postgres_url)
    holder = await psycopg.AsyncConnection.connect(postgres_url, autocommit=True)
    try:
        await holder.execute("BEGIN")
        await holder.execute(pgsql.TEAM_LOCK)
        async with anyio.create_task_group() as tg:

            async def cancel_the_waiter() -> None:
                with anyio.fail_after(pgsql.LOCK_TIMEOUT_S - 2):
                    while not postgres_server.sql(
                        "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                        f" AND datname = current_database() AND pid <> {holder.info.backend_pid}",
                        postgres_url.rsplit("/", 1)[1],
                    ):
                        await anyio.sleep(0.05)

            tg.start_soon(cancel_the_waiter)
            with pytest.raises(Unavailable) as refused:
                await db.write(lambda tx: tx.execute("INSERT INTO events(ts, kind) VALUES (1, 'x')"))
        assert "\n" not in str(refused.value)
        assert "cancelled this call's statement" in str(refused.value)
        await holder.execute("ROLLBACK")
        await db.write(lambda tx: tx.execute("INSERT INTO events(ts, kind) VALUES (2, 'after')"))
        assert await db.scalar("SELECT count(*) FROM events") == 1
    finally:
        await holder.close()
        await db.close()


def test_connecting_to_a_server_that_never_answers_gives_up_in_one_line() -> None:
    """The hook's connection (pgsql.connect) had no connect timeout: to a server that accepts and never answers
    (a stopped or hung PostgreSQL) it waited psycopg's 130 s, past Claude Code's hook timeout. It now gives up
    after CONNECT_TIMEOUT_S with the one-line Unavailable."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        began = time.monotonic()
        with pytest.raises(Unavailable) as refused:
            pgsql.connect(f"postgresql://nobody@127.0.0.1:{silent.getsockname()[1]}/team")
        assert time.monotonic() - began < pgsql.CONNECT_TIMEOUT_S + 10
        assert "\n" not in str(refused.value)
        assert "cannot be reached" in str(refused.value)


def _fill(url: str) -> list[psycopg.Connection[Any]]:
    """Connections to `url` until the server refuses one: every slot it has is taken."""
    held: list[psycopg.Connection[Any]] = []
    while True:
        try:
            held.append(psycopg.connect(url, autocommit=True, connect_timeout=10))
        except psycopg.OperationalError as full:
            assert "too many clients" in str(full), full
            return held


def test_a_server_out_of_connection_slots_is_named_with_the_fix_not_called_unreachable(
    postgres_server: postgres.Postgres, tmp_path: Path
) -> None:
    """A PostgreSQL server at max_connections ("sorry, too many clients already") was reported as "cannot be
    reached … check that it runs and the URL, user and password": at start (servers, serve, `roundtable status`,
    the doctor) and, through psycopg_pool's PoolTimeout, to a running process whose pool needed one more
    connection. Each now says the server refused for want of slots, with the fix (fewer processes, or raise
    max_connections); a pool whose own connections are all busy says that instead."""
    from servers.cli import serve
    from servers.cli.doctor_postgres import check_postgres
    from shared.config import Settings

    tiny = "-c max_connections=6 -c superuser_reserved_connections=2 -c max_wal_senders=0"
    with postgres.running(tiny) as server:
        url = server.url(server.create("team"))
        server.sql("CREATE ROLE plain LOGIN; GRANT ALL ON SCHEMA public TO plain", "team")
        db = anyio.run(opened, url)  # migrated; its pool holds one connection
        held = _fill(url)
        try:
            holding, released = threading.Event(), threading.Event()

            def hold(tx: Any) -> None:
                holding.set()
                released.wait(20)

            async def while_the_pool_needs_another() -> str:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(db.write, hold)  # the pool's one connection, held
                    try:
                        assert await anyio.to_thread.run_sync(holding.wait, 30)
                        with pytest.raises(Unavailable) as refused:
                            await db.fetchall("SELECT 1")  # needs a second: the server has no slot left
                    finally:
                        released.set()
                return str(refused.value)

            said = anyio.run(while_the_pool_needs_another)
            assert "too many clients already" in said and "max_connections" in said and "fewer" in said, said
            assert "cannot be reached" not in said and "\n" not in said, said

            with pytest.raises(Unavailable) as at_start:
                anyio.run(opened, url)
            said = str(at_start.value)
            assert "too many clients already" in said and "max_connections" in said, said
            assert "cannot be reached" not in said and "\n" not in said, said

            status = subprocess.run(
                [sys.executable, "-m", "servers.cli", "status", "--db", url], capture_output=True, text=True, timeout=60
            )
            assert status.returncode == 2, status
            assert status.stderr.count("\n") == 1 and "too many clients already" in status.stderr, status.stderr
            assert "max_connections" in status.stderr, status.stderr

            out = io.StringIO()
            assert serve.serve(Settings(db=PostgresUrl(url)), "127.0.0.1", 0, out=out) == 1
            assert "too many clients already" in out.getvalue() and "max_connections" in out.getvalue(), out.getvalue()

            doctor = check_postgres(PostgresUrl(url))
            assert not doctor[0].ok and "max_connections" in doctor[0].fix, doctor

            held.pop().close()  # one slot free, but it is kept for superusers
            plain = url.replace(f"{postgres.USER}@", "plain@")
            with pytest.raises(Unavailable) as reserved:
                anyio.run(opened, plain)
            said = str(reserved.value)
            assert "remaining connection slots are reserved" in said and "max_connections" in said, said
        finally:
            for conn in held:
                conn.close()
            anyio.run(db.close)


async def test_a_row_held_from_outside_keeps_only_the_write_that_needs_it_waiting_not_the_team(
    postgres_url: str, clock: FakeClock
) -> None:
    """A psql session left in `BEGIN; SELECT … FROM tasks WHERE id = 1 FOR UPDATE` made a write needing that row
    wait up to the lock timeout while it held the team's writer lock, so every other write of the team (any agent,
    any process) waited behind it and was refused with it. Under the team lock a row is now waited for only
    ROW_WAIT_MS, then the write lets the team lock go and tries again: another agent's unrelated write goes
    through while the blocked one still waits, and the blocked one is refused in one line after the lock timeout;
    once the session ends it goes through."""
    from shared.store.tasks import changes

    ana_db, bo_db = await opened(postgres_url), await opened(postgres_url)  # two processes' pools
    holder = await psycopg.AsyncConnection.connect(postgres_url, autocommit=True)
    try:
        ana, bo = await join(ana_db, clock, "ana"), await join(bo_db, clock, "bo")
        task = await store.create(ana_db, ana, store.NewTask(title="held by psql"))
        assert await store.claim(ana_db, ana, task, None) == task
        await holder.execute("BEGIN")
        await holder.execute("SELECT * FROM tasks WHERE id = %s FOR UPDATE", (task,))
        ended = anyio.Event()
        refusal = ""

        async def ana_completes() -> None:
            nonlocal refusal
            try:
                await changes.complete(ana_db, ana, task, success=True, result="done")
            except Unavailable as exc:
                refusal = str(exc)
            ended.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(ana_completes)
            with anyio.fail_after(pgsql.LOCK_TIMEOUT_S - 2):  # ana's write is waiting for the row
                while not await bo_db.scalar(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    f" AND wait_event_type = 'Lock' AND pid <> {holder.info.backend_pid}"
                ):
                    await anyio.sleep(0.005)
            unrelated = await store.create(bo_db, bo, store.NewTask(title="unrelated"))
            assert not ended.is_set()  # bo's write went through while ana's still waited, not after it was refused
            with anyio.fail_after(pgsql.LOCK_TIMEOUT_S + 15):
                await ended.wait()
        assert "another session has held a row or a table this write needs" in refusal and "\n" not in refusal, refusal
        assert await bo_db.scalar("SELECT status FROM tasks WHERE id = ?", (unrelated,)) == "open"
        await holder.execute("ROLLBACK")
        await changes.complete(ana_db, ana, task, success=True, result="done")
        assert await bo_db.scalar("SELECT status FROM tasks WHERE id = ?", (task,)) == "done"
    finally:
        await holder.close()
        await ana_db.close()
        await bo_db.close()


async def test_a_write_that_waited_for_a_row_and_ran_again_commits_once_when_the_row_is_let_go(
    postgres_url: str, clock: FakeClock
) -> None:
    """The row wait's other end, which the refusal test above does not reach: a write that let the team lock go
    and ran again while a psql session held its row goes through once that session ends, with what it wrote
    there once: one task.failed event and one notice to the creator, though its function ran more than once."""
    from shared.store.tasks import changes

    bo_db, ana_db = await opened(postgres_url), await opened(postgres_url)
    holder = await psycopg.AsyncConnection.connect(postgres_url, autocommit=True)
    try:
        bo, ana = await join(bo_db, clock, "bo"), await join(ana_db, clock, "ana")
        task = await store.create(bo_db, bo, store.NewTask(title="held, then let go", max_attempts=1))
        assert await store.claim(ana_db, ana, task, None) == task
        await holder.execute("BEGIN")
        await holder.execute("SELECT * FROM tasks WHERE id = %s FOR UPDATE", (task,))
        waiting = (
            "SELECT pid, xact_start FROM pg_stat_activity WHERE datname = current_database()"
            f" AND wait_event_type = 'Lock' AND pid <> {holder.info.backend_pid}"
        )
        async with anyio.create_task_group() as tg:
            done: list[changes.Completion] = []

            async def ana_gives_up() -> None:
                done.append(await changes.complete(ana_db, ana, task, success=False, result="no luck"))

            tg.start_soon(ana_gives_up)
            with anyio.fail_after(pgsql.LOCK_TIMEOUT_S - 2):  # waiting, then waiting again in a later attempt
                seen: set[tuple[int, Any]] = set()
                while len(seen) < 2:
                    seen.update((int(r[0]), r[1]) for r in await bo_db.fetchall(waiting))
                    await anyio.sleep(0.005)
            assert len({pid for pid, _ in seen}) == 1, seen  # one connection, two transactions: it ran again
            assert not done
            await holder.execute("ROLLBACK")
        assert done[0].status == "failed"
        assert await bo_db.scalar("SELECT status FROM tasks WHERE id = ?", (task,)) == "failed"
        events = await bo_db.scalar(
            "SELECT count(*) FROM events WHERE kind = 'task.failed' AND object_id = ?", (str(task),)
        )
        notices = await bo_db.scalar(
            "SELECT count(*) FROM messages WHERE ref_type = 'task' AND ref_id = ? AND subject LIKE 'Task % failed: %'",
            (str(task),),
        )
        assert (events, notices) == (1, 1)
    finally:
        await holder.close()
        await ana_db.close()
        await bo_db.close()


async def test_a_write_kept_out_of_a_table_by_another_session_is_told_so_not_of_a_row(
    postgres_url: str, clock: FakeClock
) -> None:
    """The short wait under the team lock is for any lock, and a table is locked from outside too: a CREATE
    INDEX (SHARE), VACUUM FULL, ALTER TABLE or roundtable copy --replace's TRUNCATE (ACCESS EXCLUSIVE) under way,
    or a psql LOCK TABLE. The write that ran again for the lock timeout was then refused as waiting for a row a
    psql session left in an open transaction held; it is told of a row or a table, and of those holders too."""
    db = await opened(postgres_url)
    holder = await psycopg.AsyncConnection.connect(postgres_url, autocommit=True)
    try:
        ana = await join(db, clock, "ana")
        await holder.execute("BEGIN")
        await holder.execute("LOCK TABLE tasks IN SHARE MODE")  # what CREATE INDEX takes: reads go on, writes wait
        with pytest.raises(Unavailable) as refused:
            await store.create(db, ana, store.NewTask(title="while an index is built"))
        said = str(refused.value)
        assert "a row or a table this write needs" in said and "CREATE INDEX" in said and "\n" not in said, said
        await holder.execute("ROLLBACK")
        assert await store.create(db, ana, store.NewTask(title="after")) > 0
    finally:
        await holder.close()
        await db.close()


async def test_a_process_whose_pooled_connections_are_all_busy_says_so_not_unreachable(postgres_url: str) -> None:
    """A call that waited 10 s for one of its process's pooled connections while all of them served other calls
    was told "the PostgreSQL server cannot be reached" (psycopg_pool's PoolTimeout); it is told they were busy."""
    db = await opened(postgres_url)
    holding, released = threading.Semaphore(0), threading.Event()

    def hold(tx: Any) -> None:
        holding.release()
        released.wait(25)

    try:
        async with anyio.create_task_group() as tg:
            for _ in range(POOL_SIZE):
                tg.start_soon(db.read, hold)
            try:
                for _ in range(POOL_SIZE):
                    assert await anyio.to_thread.run_sync(holding.acquire, True, 30)
                with pytest.raises(Unavailable) as refused:
                    await db.fetchall("SELECT 1")
            finally:
                released.set()
        said = str(refused.value)
        assert f"all {POOL_SIZE} of this process's connections" in said and "cannot be reached" not in said, said
        assert "\n" not in said
        assert await db.scalar("SELECT 1") == 1
    finally:
        await db.close()
