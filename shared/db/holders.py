"""Who holds a SQLite file's write lock, read from Linux's /proc/locks: asked only when a write gave up busy
(connection.py) and by health and `roundtable doctor`, so the happy path pays nothing.

SQLite takes its locks with POSIX `fcntl` byte-range locks, which /proc/locks lists with the holding pid,
the file's device and inode, and the byte range. In WAL mode (every Roundtable file) the write lock is byte
120 of the `-shm` file (WAL_WRITE_LOCK); in rollback-journal mode it is the RESERVED/PENDING byte of the
database file itself (0x40000000-0x40000001). A pid is named with its agent through the `sessions` table
(each server process records its pid and host there), and with its state from /proc/PID/stat: a process
stopped (SIGSTOP, Ctrl-Z) keeps its lock for as long as it is stopped. Where there is no /proc/locks (macOS,
Windows) nothing is found and the callers say what they said before.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from shared.db.tx import Tx

PROC = Path("/proc")
WAL_WRITE_LOCK = 120  # byte of the -shm file (sqlite3.c: WALINDEX_LOCK_OFFSET + WAL_WRITE_LOCK)
PENDING_BYTE = 0x40000000  # of the database file; RESERVED is the byte after it
STATES = {
    "T": "stopped: SIGSTOP or Ctrl-Z",
    "t": "stopped by a debugger",
    "D": "waiting on the disk",
    "Z": "ended but not yet reaped by its parent",
}
STOPPED = ("T", "t")
"""The states of a process that keeps its locks until it is let go on (SIGCONT) or ended."""


@dataclass(frozen=True)
class Holder:
    """The process holding a file's write lock, as far as this machine can tell."""

    pid: int
    state: str  # /proc/PID/stat's state letter ("" when it could not be read)
    command: str  # /proc/PID/comm ("" when it could not be read)
    agents: tuple[tuple[str, str], ...] = ()  # (agent name, server) of its Roundtable sessions on this host

    @property
    def stopped(self) -> bool:
        return self.state in STOPPED

    def shown(self) -> str:
        """'process 4242 (agent 'bob', roundtable-coordination, stopped: SIGSTOP or Ctrl-Z)'."""
        if self.pid == os.getpid():
            who = ["this process"]
        elif self.agents:
            names = sorted({name for name, _ in self.agents})
            servers = sorted({server for _, server in self.agents})
            who = [", ".join(f"agent '{n}'" for n in names[:3]) + (" and others" if len(names) > 3 else "")]
            who.append(f"roundtable-{servers[0]}" if len(servers) == 1 else "roundtable serve")
        else:
            who = [f"{self.command or 'a program'}, not a Roundtable server"]
        who.append(STATES.get(self.state, "running"))
        return f"process {self.pid} ({', '.join(who)})"

    def fix(self) -> str:
        """What to do about it, in a few words."""
        if self.stopped:
            return f"`kill -CONT {self.pid}` to let it go on, or end it"
        if self.state == "Z":
            return f"end its parent (`ps -o ppid= -p {self.pid}`)"
        return f"retry in a moment; if it stays, end process {self.pid}"


def write_lock_pid(path: Path, locks: str | None = None) -> int | None:
    """The pid holding the write lock of the SQLite file `path` (None: nobody, or no /proc/locks here).
    `locks` is /proc/locks' text (read when None)."""
    if locks is None:
        try:
            locks = (PROC / "locks").read_text()
        except OSError:
            return None
    wanted = []  # (device, inode, first byte, last byte) of each lock that is the write lock
    for name, first, last in ((f"{path}-shm", WAL_WRITE_LOCK, WAL_WRITE_LOCK), (path, PENDING_BYTE, PENDING_BYTE + 1)):
        with contextlib.suppress(OSError):
            st = os.stat(name)
            wanted.append((f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}", st.st_ino, first, last))
    found = list(_write_locks(locks, wanted))
    # The device as the kernel names it can differ from stat's on stacked file systems (overlayfs): the
    # device and inode first; the inode alone (within that byte range) only for a process that has this very
    # file open (another file system's file may have the same inode number: small and sequential on tmpfs).
    for pid, device, inode in found:
        if any(device == d and inode == i for d, i, _, _ in wanted):
            return pid
    return next((pid for pid, _, _ in found if _has_open(pid, (f"{path}-shm", str(path)))), None)


def _has_open(pid: int, names: tuple[str, ...]) -> bool:
    """Whether process `pid` has one of the files `names` open (False where /proc/PID/fd cannot be read)."""
    wanted = {os.path.realpath(n) for n in names}
    try:
        return any(os.readlink(fd) in wanted for fd in (PROC / str(pid) / "fd").iterdir())
    except OSError:
        return False


def _write_locks(locks: str, wanted: list[tuple[str, int, int, int]]) -> Iterable[tuple[int, str, int]]:
    """(pid, device, inode) of each granted POSIX write lock in `locks` covering a wanted byte of a wanted inode."""
    for line in locks.splitlines():
        fields = line.split()
        if len(fields) < 8 or fields[1] == "->" or fields[1] != "POSIX" or fields[3] != "WRITE":
            continue  # a waiter ("->"), a flock, an OFD lock (no pid) or a shared lock
        try:
            pid = int(fields[4])
            device, inode_text = fields[5].rsplit(":", 1)
            inode, first = int(inode_text), int(fields[6])
            last = None if fields[7] == "EOF" else int(fields[7])
        except ValueError:
            continue
        for _, i, lo, hi in wanted:
            if inode == i and first <= hi and (last is None or last >= lo):
                yield pid, device, inode


def process(pid: int) -> tuple[str, str]:
    """(state letter, command name) of a process from /proc ("" for what cannot be read)."""
    state = command = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        raw = (PROC / str(pid) / "stat").read_bytes().decode(errors="replace")
        command = raw[raw.index("(") + 1 : raw.rindex(")")]
        state = raw[raw.rindex(")") + 2 :].split()[0]
    return state, command


def sessions_of(tx: Tx, pid: int) -> tuple[tuple[str, str], ...]:
    """(agent name, server) of the Roundtable sessions process `pid` of this host recorded."""
    rows = tx.execute(
        "SELECT a.name, s.server FROM sessions s JOIN agents a ON a.id = s.agent_id"
        " WHERE s.pid = ? AND s.host = ? ORDER BY s.heartbeat_at DESC LIMIT 20",
        (pid, socket.gethostname()),
    )
    return tuple((str(r[0]), str(r[1])) for r in rows)


def holder(tx: Tx | None, path: Path) -> Holder | None:
    """Who holds the write lock of `path` now, named through `tx`'s sessions when given (None: nobody, or
    this machine cannot tell)."""
    pid = write_lock_pid(path)
    if pid is None:
        return None
    state, command = process(pid)
    agents: tuple[tuple[str, str], ...] = ()
    if tx is not None:
        with contextlib.suppress(sqlite3.Error):  # a file without the sessions table: the pid alone
            agents = sessions_of(tx, pid)
    return Holder(pid=pid, state=state, command=command, agents=agents)
