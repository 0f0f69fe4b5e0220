"""Naming the process that holds a SQLite file's write lock from /proc/locks (Linux): never another file's."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from shared.db.holders import WAL_WRITE_LOCK, write_lock_pid

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux's /proc")


def test_a_lock_on_the_same_inode_number_elsewhere_names_only_a_process_that_has_this_file_open(
    tmp_path: Path,
) -> None:
    """/proc/locks names a file by device and inode. When no lock matches both (stacked file systems name the
    device otherwise), the inode alone may be another file system's file (tmpfs numbers are small and
    sequential): its locker is named only if it has this very file open."""
    db = tmp_path / "team.db"
    with closing(sqlite3.connect(db)) as conn:  # this process has the file and its -shm open
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("CREATE TABLE t (x)")
        inode = os.stat(f"{db}-shm").st_ino
        other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        try:

            def locked_by(pid: int) -> str:
                return f"1: POSIX  ADVISORY  WRITE {pid} 99:99:{inode} {WAL_WRITE_LOCK} {WAL_WRITE_LOCK}\n"

            assert write_lock_pid(db, locked_by(other.pid)) is None  # same inode number, not this file
            assert write_lock_pid(db, locked_by(os.getpid())) == os.getpid()
            device = os.stat(f"{db}-shm").st_dev
            exact = f"{os.major(device):02x}:{os.minor(device):02x}:{inode}"
            line = f"1: POSIX  ADVISORY  WRITE {other.pid} {exact} {WAL_WRITE_LOCK} {WAL_WRITE_LOCK}\n"
            assert write_lock_pid(db, line) == other.pid  # device and inode both: this file, whoever holds it
        finally:
            other.kill()
            other.wait()
