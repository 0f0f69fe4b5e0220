"""The post-commit wake-up: a commit in one process's connection wakes another's change watcher at once,
stale sockets of dead processes are removed, and without wake-ups the watcher still polls."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import anyio
import pytest

from shared.db.connection import Database
from shared.db.wakeup import Wakeup, folder_for
from shared.db.watch import POLL_SECONDS, ChangeWatcher

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(sys.platform == "win32", reason="Windows has no Unix datagram sockets: polling serves"),
]


async def test_a_commit_elsewhere_wakes_the_watcher_before_its_poll(db_path: Path) -> None:
    writer, reader = await Database.open(db_path), await Database.open(db_path)
    try:
        assert writer.wakeup is not None and reader.wakeup is not None
        assert reader.wakeup.listen()  # a process binds its socket when it first waits
        watcher = ChangeWatcher(reader.data_version, reader.wakeup.wait)
        woke: list[float] = []

        async def wait_once() -> None:
            changes = watcher.changes()
            await changes.__anext__()  # looks at once
            await changes.__anext__()  # then after the commit
            woke.append(time.perf_counter())
            await changes.aclose()

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait_once)
            await anyio.sleep(0.05)
            began = time.perf_counter()
            await writer.write_one("INSERT INTO events(ts, kind) VALUES (1, 'x.y')")
            for _ in range(100):
                await watcher.watch_round()
                if woke:
                    break
        assert woke and woke[0] - began < POLL_SECONDS, "woken by the datagram, not by the next poll"
    finally:
        await writer.close()
        await reader.close()


async def test_a_process_that_never_waits_binds_no_socket(db_path: Path) -> None:
    db = await Database.open(db_path)
    try:
        await db.write_one("INSERT INTO events(ts, kind) VALUES (1, 'x.y')")
        folder = folder_for(db_path)
        assert not folder.exists() or not any(p.name.startswith(f"{os.getpid()}-") for p in folder.iterdir())
    finally:
        await db.close()


async def test_a_dead_processes_socket_is_removed_by_the_next_sender(db_path: Path) -> None:
    folder = folder_for(db_path)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    stale = folder / "99999999-dead.sock"
    left = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    left.bind(str(stale))
    left.close()  # bound, then its process ended: the file stays, nobody listens
    sender = Wakeup.open(db_path)
    assert sender is not None
    try:
        sender.notify()
        assert not stale.exists()
    finally:
        sender.close()
    assert not any(p.name.startswith(f"{os.getpid()}-") for p in folder.iterdir())  # closing removes its own


async def test_the_last_process_to_leave_removes_the_folder(db_path: Path) -> None:
    first, second = Wakeup.open(db_path), Wakeup.open(db_path)
    assert first is not None and second is not None
    assert first.listen() and second.listen()
    first.close()
    assert folder_for(db_path).is_dir(), "another process still listens there"
    second.close()
    assert not folder_for(db_path).exists(), "no empty folder is left behind (they piled up in the temp folder)"
    again = Wakeup.open(db_path)
    assert again is not None
    try:
        assert again.listen(), "a process arriving later makes the folder again"
    finally:
        again.close()


async def test_without_wake_ups_the_watcher_polls() -> None:
    version = 0

    async def current() -> int:
        return version

    watcher = ChangeWatcher(current)
    changes = watcher.changes()
    await changes.__anext__()
    version = 1
    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:

            async def rounds() -> None:
                while True:
                    await watcher.watch_round()

            tg.start_soon(rounds)
            await changes.__anext__()
            tg.cancel_scope.cancel()
    await changes.aclose()


def test_long_paths_use_a_folder_in_the_temp_directory(tmp_path: Path) -> None:
    deep = tmp_path / ("x" * 120) / "roundtable.db"
    assert not str(folder_for(deep)).startswith(str(tmp_path))
    assert folder_for(Path("/srv/rt.db")) == Path("/srv/.rt.db.wake")
