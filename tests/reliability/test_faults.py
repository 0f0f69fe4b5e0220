"""Faults under a running server: a deleted database file, a full disk, a read-only file system, a file
that is not a database. Each gives the model a clear error (or is repaired), the server keeps answering,
and nothing already committed is lost."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import closing
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from shared.db import connection
from shared.db.connection import Database
from tests.results import text
from tests.stdio import server_params

pytestmark = pytest.mark.anyio

FAST = {"ROUNDTABLE_PRESENCE_TIMEOUT": "0.6"}  # heartbeats (and file checks) every 0.2 s


def count_tasks(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return int(conn.execute("SELECT count(*) FROM tasks").fetchone()[0])


def reconnected(db: Path, since: float) -> int:
    """How many agents opened a session in the file at `db` after `since` (0 while there is no file)."""
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            row = conn.execute("SELECT count(DISTINCT agent_id) FROM sessions WHERE started_at > ?", (since,))
            return int(row.fetchone()[0])
    except sqlite3.Error:
        return 0


async def test_a_database_deleted_under_running_servers_is_restored_with_everything_committed(
    db_path: Path,
) -> None:
    with anyio.fail_after(60):
        async with (
            Client(server_params("coordination", db_path, "ana", **FAST)) as ana,
            Client(server_params("coordination", db_path, "bo", **FAST)) as bo,
        ):
            for i in range(3):
                assert not (await ana.call_tool("task_create", {"title": f"before {i}"})).is_error
            deleted_at = time.time()
            db_path.unlink()
            with anyio.fail_after(20):  # refused until the server follows the file, so nothing goes into the old one
                while (made := await ana.call_tool("task_create", {"title": "while deleted"})).is_error:
                    assert "retry in a moment" in text(made), text(made)
                    await anyio.sleep(0.05)
            with anyio.fail_after(20):  # both servers reconnected: each registered a new session in the new file
                while reconnected(db_path, deleted_at) < 2:
                    await anyio.sleep(0.05)
            assert not (await bo.call_tool("task_create", {"title": "after restore"})).is_error
            for client in (ana, bo):
                listed = await client.call_tool("task_list", {})
                assert listed.structured_content["total"] == 5  # type: ignore[index]
        assert count_tasks(db_path) == 5


async def test_a_full_disk_is_reported_and_reads_keep_working(db_path: Path) -> None:
    with anyio.fail_after(60):
        base = server_params("coordination", db_path, "ana")
        limited = StdioServerParameters(  # a 200 KiB file size limit stands in for a full disk
            command="bash",
            args=["-c", 'ulimit -f 400 && exec "$0" "$@"', sys.executable, *base.args],
            env=base.env,
            cwd=base.cwd,
        )
        created = 0
        async with Client(limited) as client:
            for i in range(100):
                result = await client.call_tool("task_create", {"title": f"t{i}", "description": "x" * 9000})
                if result.is_error:
                    assert "free space" in text(result) and "Nothing was changed" in text(result)
                    break
                created += 1
            else:
                pytest.fail("the file size limit was never reached")
            listed = await client.call_tool("task_list", {"limit": 1})
            assert not listed.is_error and listed.structured_content["total"] == created  # type: ignore[index]
        assert count_tasks(db_path) == created


@pytest.fixture
def tiny_mount(tmp_path: Path) -> Iterator[Path]:
    """A small tmpfs we can remount read-only (needs root and mount rights; skipped elsewhere)."""
    point = tmp_path / "mnt"
    point.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(point)]).returncode:
        pytest.skip("needs root and permission to mount a tmpfs")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False)


async def test_a_read_only_file_system_is_reported_and_the_server_recovers_when_it_is_writable(
    tiny_mount: Path,
) -> None:
    with anyio.fail_after(60):
        db = tiny_mount / "roundtable.db"
        async with Client(server_params("coordination", db, "ana")) as client:
            assert not (await client.call_tool("task_create", {"title": "kept"})).is_error
        subprocess.run(["mount", "-o", "remount,ro", str(tiny_mount)], check=True)
        try:
            async with Client(server_params("coordination", db, "ana", **FAST)) as client:
                refused = await client.call_tool("task_create", {"title": "refused"})
                assert refused.is_error and "read-only" in text(refused), text(refused)
                assert (await client.list_tools()).tools
                subprocess.run(["mount", "-o", "remount,rw", str(tiny_mount)], check=True)
                with anyio.fail_after(10):  # the server retries opening the file on its heartbeat
                    while (await client.call_tool("task_create", {"title": "after"})).is_error:
                        await anyio.sleep(0.1)
        finally:
            subprocess.run(["mount", "-o", "remount,rw", str(tiny_mount)], check=False)
        assert count_tasks(db) == 2


async def test_a_full_file_system_is_reported_and_writes_resume_when_space_is_freed(tiny_mount: Path) -> None:
    with anyio.fail_after(60):
        db, filler = tiny_mount / "roundtable.db", tiny_mount / "filler"
        created = 0
        async with Client(server_params("coordination", db, "ana")) as client:
            assert not (await client.call_tool("task_create", {"title": "kept"})).is_error
            created += 1
            filler.write_bytes(b"\0" * max(shutil.disk_usage(tiny_mount).free - 256 * 1024, 0))
            for i in range(200):
                result = await client.call_tool("task_create", {"title": f"t{i}", "description": "x" * 9000})
                if result.is_error:
                    assert "free space" in text(result) and "Nothing was changed" in text(result), text(result)
                    break
                created += 1
            else:
                pytest.fail("the file system never filled up")
            listed = await client.call_tool("task_list", {"limit": 1})
            assert not listed.is_error and listed.structured_content["total"] == created  # type: ignore[index]
            filler.unlink()
            assert not (await client.call_tool("task_create", {"title": "after"})).is_error
        assert count_tasks(db) == created + 1


async def test_a_file_that_is_not_a_database_is_reported_and_the_server_answers(db_path: Path) -> None:
    with anyio.fail_after(60):
        db_path.write_bytes(b"definitely not sqlite\n" * 200)
        async with Client(server_params("coordination", db_path, "ana")) as client:
            result = await client.call_tool("task_list", {})
            assert result.is_error and "not a SQLite database" in text(result)
            assert (await client.list_tools()).tools
        assert db_path.read_bytes().startswith(b"definitely not sqlite")


async def _migrate(db: Path) -> None:
    await (await Database.open(db)).close()


@pytest.fixture
def read_only_file(db_path: Path) -> Iterator[Path]:
    """A database file this user cannot write. Root ignores 0444, so under root the file is bind-mounted
    read-only onto itself (the kernel then refuses every write, root's included); skipped without mount rights."""
    with closing(sqlite3.connect(db_path, isolation_level=None)) as conn:  # a Roundtable file, up to date
        conn.execute("PRAGMA journal_mode = WAL")
        anyio.run(_migrate, db_path)
    if os.geteuid() != 0:
        db_path.chmod(0o444)
        yield db_path
        db_path.chmod(0o600)
        return
    mounted = subprocess.run(["mount", "--bind", str(db_path), str(db_path)]).returncode == 0 and (
        subprocess.run(["mount", "-o", "remount,bind,ro", str(db_path)]).returncode == 0
    )
    if not mounted:
        subprocess.run(["umount", "-l", str(db_path)], check=False)
        pytest.skip("needs permission to bind-mount a file read-only (root without mount rights)")
    try:
        yield db_path
    finally:
        subprocess.run(["umount", "-l", str(db_path)], check=False)


def refused_with_the_fix(result: object, *words: str) -> None:
    assert getattr(result, "is_error", False), result
    said = text(result)  # type: ignore[arg-type]
    assert "\n" not in said.strip() and "Traceback" not in said, said
    for word in words:
        assert word in said, said


async def test_a_read_only_database_file_at_start_is_reported_by_every_tool_and_by_health(
    read_only_file: Path,
) -> None:
    with anyio.fail_after(60):
        async with (
            Client(server_params("coordination", read_only_file, "ana", **FAST)) as coordination,
            Client(server_params("monitoring", read_only_file, "ana", **FAST)) as monitoring,
        ):
            for client, tool, args in (
                (coordination, "task_list", {}),
                (coordination, "task_create", {"title": "refused"}),
                (coordination, "task_claim", {}),
                (monitoring, "agent_status", {}),
            ):
                refused_with_the_fix(await client.call_tool(tool, args), "read-only", str(read_only_file))
            health = await monitoring.call_tool("network_health", {})
            assert not health.is_error
            reasons = health.structured_content["reasons"]  # type: ignore[index]
            assert any(r["code"] == "database_unavailable" and "read-only" in r["message"] for r in reasons), reasons
            assert (await coordination.list_tools()).tools  # still serving after its heartbeats retried


def damage_table(db: Path, table: str) -> None:
    """Overwrite `table`'s root page with garbage: the header and the schema still read, the table does not."""
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        root = int(conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0])
        conn.execute("PRAGMA journal_mode = DELETE")
    with db.open("r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(b"\x5a" * page_size)


async def test_a_damaged_database_file_at_start_is_reported_by_every_tool_and_by_health(db_path: Path) -> None:
    with anyio.fail_after(60):
        async with Client(server_params("coordination", db_path, "ana")) as client:
            assert not (await client.call_tool("task_create", {"title": "kept"})).is_error
        damage_table(db_path, "agents")  # the schema reads; registering the session does not
        async with (
            Client(server_params("coordination", db_path, "ana", **FAST)) as coordination,
            Client(server_params("monitoring", db_path, "ana", **FAST)) as monitoring,
        ):
            for client, tool, args in (
                (coordination, "task_list", {}),
                (coordination, "task_create", {"title": "refused"}),
                (monitoring, "agent_status", {}),
            ):
                refused_with_the_fix(await client.call_tool(tool, args), "damaged", "backup")
            health = await monitoring.call_tool("network_health", {})
            assert not health.is_error
            reasons = health.structured_content["reasons"]  # type: ignore[index]
            assert any(r["code"] == "database_unavailable" and "damaged" in r["message"] for r in reasons), reasons


def sidecars(db: Path) -> list[Path]:
    return [db.with_name(db.name + suffix) for suffix in ("-wal", "-shm")]


async def test_deleting_the_wal_and_shm_under_running_servers_loses_no_acknowledged_write(db_path: Path) -> None:
    """Issue 15: with -wal/-shm deleted, servers kept committing into the deleted -wal while a server started
    after saw none of it: the team split and acknowledged writes were lost. Each server now notices before its
    next write (and on its heartbeat), saves the deleted -wal's commits into the file and reconnects."""
    acknowledged: list[str] = []

    async def create(client: Client, title: str) -> None:
        result = await client.call_tool("task_create", {"title": title})
        assert not result.is_error, text(result)
        acknowledged.append(title)

    with anyio.fail_after(90):
        async with (
            Client(server_params("coordination", db_path, "ana")) as ana,
            Client(server_params("coordination", db_path, "bo")) as bo,
        ):
            for i in range(5):
                await create(ana, f"ana before {i}")
                await create(bo, f"bo before {i}")
            for path in sidecars(db_path):
                path.unlink()
            for i in range(5):
                await create(ana, f"ana after {i}")
                await create(bo, f"bo after {i}")
            async with Client(server_params("coordination", db_path, "cy")) as cy:  # started after the deletion
                for client in (ana, bo, cy):
                    listed = await client.call_tool("task_list", {"limit": 1})
                    assert listed.structured_content["total"] == len(acknowledged), text(listed)  # type: ignore[index]
                for i in range(5):
                    await create(cy, f"cy {i}")
                    await create(ana, f"ana with cy {i}")
                listed = await bo.call_tool("task_list", {"limit": 1})
                assert listed.structured_content["total"] == len(acknowledged), text(listed)  # type: ignore[index]
    with closing(sqlite3.connect(db_path)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        titles = {r[0] for r in conn.execute("SELECT title FROM tasks")}
    assert titles == set(acknowledged)


async def _writing_through(
    db_path: Path, writers: int, fault: Callable[[], Awaitable[None]], **env: str
) -> tuple[list[str], list[str]]:
    """`writers` coordination servers creating tasks as fast as they can while `fault()` runs (once all are up);
    the titles they were told were created, and the refusals they were given."""
    acknowledged: list[str] = []
    refused: list[str] = []
    ready = 0
    stop = anyio.Event()

    async def writer(name: str) -> None:
        nonlocal ready
        async with Client(server_params("coordination", db_path, name, ROUNDTABLE_MAX_OPEN_TASKS="100000", **env)) as c:
            ready += 1
            i = 0
            while not stop.is_set():
                result = await c.call_tool("task_create", {"title": f"{name} {i}"})
                (refused if result.is_error else acknowledged).append(
                    text(result) if result.is_error else f"{name} {i}"
                )
                i += 1

    with anyio.fail_after(90):
        async with anyio.create_task_group() as tg:
            for k in range(writers):
                tg.start_soon(writer, f"w{k}")
            while ready < writers:
                await anyio.sleep(0.05)
            await fault()
            stop.set()
    return acknowledged, refused


def _titles_of_an_intact_file(db_path: Path) -> set[str]:
    with closing(sqlite3.connect(db_path)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        return {r[0] for r in conn.execute("SELECT title FROM tasks")}


async def test_deleting_the_wal_and_shm_under_servers_writing_at_once_loses_nothing_and_damages_nothing(
    db_path: Path,
) -> None:
    """Six servers creating tasks as fast as they can while the -wal/-shm are deleted, three times: every process
    rejoined at about the same time, and a checkpoint that met another's was answered busy at once and left frames
    of the deleted -wal behind; the process connected to the new files anyway and wrote on, and the frames
    folded in later went over its commits. Acknowledged tasks went missing, integrity_check failed ("row … missing
    from index"), and a server whose reconnect failed answered every later call with an internal error. A rejoin
    now saves the whole deleted -wal first (shared/db/connection.py `_rejoin`)."""

    async def delete_the_sidecars() -> None:
        for _ in range(3):
            await anyio.sleep(1)
            for path in sidecars(db_path):
                path.unlink(missing_ok=True)
        await anyio.sleep(1)

    acknowledged, refused = await _writing_through(db_path, 6, delete_the_sidecars)
    assert not refused, refused[:3]
    titles = _titles_of_an_intact_file(db_path)
    assert len(acknowledged) > 100 and titles == set(acknowledged), set(acknowledged) - titles


async def test_deleting_the_database_under_servers_writing_at_once_loses_nothing_and_damages_nothing(
    db_path: Path,
) -> None:
    """Four servers creating tasks as fast as they can while the database file is deleted, three times: the servers kept
    writing into the deleted file until their heartbeat noticed, after another had restored its copy to the path,
    which shares the -wal/-shm beside it with the deleted file's connections; those commits were lost, and frames
    written against two files damaged the restored one. A write now refuses, with "retry", once the path names
    another file or none, until its server has followed the file."""

    async def delete_the_file() -> None:
        for _ in range(3):
            await anyio.sleep(1.5)
            db_path.unlink()
        await anyio.sleep(2)

    # noticed on heartbeats every 0.5 s: writes go on in between
    acknowledged, _ = await _writing_through(db_path, 4, delete_the_file, ROUNDTABLE_PRESENCE_TIMEOUT="1.5")
    titles = _titles_of_an_intact_file(db_path)
    assert len(acknowledged) > 100 and set(acknowledged) <= titles, set(acknowledged) - titles


async def test_a_heartbeat_rejoins_after_the_wal_and_shm_are_deleted_even_without_writes(db_path: Path) -> None:
    with anyio.fail_after(60):
        async with Client(server_params("coordination", db_path, "ana", **FAST)) as ana:
            assert not (await ana.call_tool("task_create", {"title": "kept"})).is_error
            for path in sidecars(db_path):
                path.unlink()
            with anyio.fail_after(10):  # the heartbeat (every 0.2 s here) saved the commit into the file
                while not all(p.exists() for p in sidecars(db_path)):
                    await anyio.sleep(0.05)
            with closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as conn:
                assert conn.execute("SELECT title FROM tasks").fetchall() == [("kept",)]


HOLD_THE_WRITE_LOCK = """
import asyncio, os, socket, sqlite3, sys, time
from pathlib import Path
from shared.db.connection import Database
from shared.store.team import agents

async def register() -> None:
    db = await Database.open(Path(sys.argv[1]))
    await agents.register_session(
        db, key="named:bob", explicit_name="bob", default_base="bob", client_name="test", host=socket.gethostname(),
        role="worker", server="coordination", pid=os.getpid(), now=time.time(),
    )
    await db.close()

asyncio.run(register())
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT INTO events(ts, kind) VALUES (1, 'held')")
print("holding", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
print("committed", flush=True)
"""


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="names the holder from Linux's /proc/locks")
async def test_a_process_stopped_holding_the_write_lock_is_named_with_its_agent_and_the_fix(db_path: Path) -> None:
    """A process SIGSTOPped while it held the file's write lock locked every write out while it stayed stopped;
    each write was refused after the 10 s busy timeout with "another process held the write lock … retry", and
    neither that line nor network_health nor `roundtable doctor` said who. Now the refusal, health (an unhealthy
    write_lock_stopped reason) and the doctor name the process, its agent and that it is stopped, with
    `kill -CONT`, and a write is refused after the first slice of its wait, not the whole timeout; let go on,
    it commits and the team writes again."""
    from servers.cli import doctor

    with anyio.fail_after(90):
        async with (
            Client(server_params("coordination", db_path, "ana")) as ana,
            Client(server_params("monitoring", db_path, "ana")) as monitoring,
        ):
            assert not (await ana.call_tool("task_create", {"title": "before"})).is_error
            holder = await anyio.open_process([sys.executable, "-c", HOLD_THE_WRITE_LOCK, str(db_path)])
            try:
                assert holder.stdout is not None and holder.stdin is not None
                assert (await holder.stdout.receive()).strip() == b"holding"
                holder.send_signal(signal.SIGSTOP)
                pid = holder.pid
                named = [f"process {pid} (agent 'bob', roundtable-coordination, stopped", f"kill -CONT {pid}"]
                health = await monitoring.call_tool("network_health", {})
                reasons = health.structured_content["reasons"]  # type: ignore[index]
                stopped = [r for r in reasons if r["code"] == "write_lock_stopped"]
                assert stopped and stopped[0]["severity"] == "unhealthy", reasons
                assert all(word in stopped[0]["message"] for word in named), stopped
                # refused once the first slice of the wait (1 s) sees the holder stopped, not after the whole
                # busy timeout (10 s): a stopped process will not let go
                with anyio.fail_after(connection.BUSY_TIMEOUT_MS / 1000 - 2):
                    refused = await ana.call_tool("task_create", {"title": "while stopped"})
                refused_with_the_fix(refused, "write lock is held by", *named)
                lock = next(c for c in doctor.check_database(db_path) if c.name == "write lock")
                assert not lock.ok and named[0] in lock.detail and named[1] in lock.fix, lock
                holder.send_signal(signal.SIGCONT)
                await holder.stdin.send(b"\n")
                said = b""
                while b"committed" not in said:
                    said += await holder.stdout.receive()
                assert not (await ana.call_tool("task_create", {"title": "after"})).is_error
                health = await monitoring.call_tool("network_health", {})
                reasons = health.structured_content["reasons"]  # type: ignore[index]
                assert not [r for r in reasons if r["code"] == "write_lock_stopped"], reasons
            finally:
                with contextlib.suppress(ProcessLookupError):  # (gone already when it committed)
                    holder.send_signal(signal.SIGCONT)
                    holder.kill()
                await holder.wait()
                await holder.aclose()
    assert count_tasks(db_path) == 2


async def test_a_team_stopped_past_the_presence_timeout_keeps_its_claims_when_it_goes_on(db_path: Path) -> None:
    """The machine asleep (every server process stopped) longer than the presence timeout: whichever process ran
    first when it woke saw every other agent's last heartbeat older than the timeout, and its sweep or its next
    claim took their claims (an attempt counted against each task), while those agents went on working. The
    process's own heartbeats were stopped too, so it now judges presence as of its last one (shared/rules/pulse.py)
    until the others have had a presence timeout to heartbeat again."""
    from tests.stdio import server_pid

    slow = {"ROUNDTABLE_PRESENCE_TIMEOUT": "3"}  # heartbeats every second
    with anyio.fail_after(60):
        async with (
            Client(server_params("coordination", db_path, "ana", **slow)) as ana,
            Client(server_params("coordination", db_path, "bo", **slow)) as bo,
        ):
            held = (await ana.call_tool("task_create", {"title": "ana's"})).structured_content["task"]["id"]  # type: ignore[index]
            free = (await ana.call_tool("task_create", {"title": "free"})).structured_content["task"]["id"]  # type: ignore[index]
            assert not (await ana.call_tool("task_claim", {"task_id": held})).is_error
            pids = [server_pid("coordination", name) for name in ("ana", "bo")]
            assert all(pids), pids
            for pid in pids:
                os.kill(pid, signal.SIGSTOP)  # type: ignore[arg-type]
            try:
                await anyio.sleep(7)  # asleep: more than the presence timeout and a heartbeat
                os.kill(pids[1], signal.SIGCONT)  # type: ignore[arg-type]  # bo runs first when it wakes
                taken = await bo.call_tool("task_claim", {})
                assert not taken.is_error and taken.structured_content["task"]["id"] == free, text(taken)  # type: ignore[index]
            finally:
                for pid in pids:
                    os.kill(pid, signal.SIGCONT)  # type: ignore[arg-type]
            done = await ana.call_tool("task_complete", {"task_id": held, "result": "finished"})
            assert not done.is_error, text(done)
    with closing(sqlite3.connect(db_path)) as conn:
        lapsed = conn.execute("SELECT count(*) FROM events WHERE kind = 'task.lease_lapsed'").fetchone()
    assert lapsed == (0,)
