"""A wake-up pushed after each commit to the other processes that share the file, so their change
watchers (shared/db/watch.py) look at once instead of at their next poll.

A process that waits for changes binds one Unix datagram socket in a folder beside the database
(`.<file>.wake/`, or a per-user folder in the temp directory when that path is too long for a socket
name) the first time it waits; after a commit every process sends one byte to every other socket there.
A process that never waits (a store-only worker, the `roundtable` command) binds nothing, so nobody
spends a send on it. A datagram carries no data: the receiver still asks `PRAGMA data_version`, so a
lost, late or stray datagram costs a look, never a wrong answer. Sockets of processes that died are removed
by the next sender, and the last process to leave removes the folder. Where Unix datagram sockets are
missing (Windows), or the folder cannot be used, `Wakeup.open` returns None and the watcher keeps polling
alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import socket
import sys
import tempfile
import time
from pathlib import Path

import anyio

SOCKET_NAME_MAX = 100
"""Unix socket paths are limited to about 104-108 bytes; past this the temp folder is used."""
RELIST_SECONDS = 1.0
"""How long a sender trusts its list of the other sockets before listing the folder again."""


def folder_for(db_path: Path) -> Path:
    """The folder holding the wake-up sockets of every process using `db_path`."""
    beside = db_path.parent / f".{db_path.name}.wake"
    if len(str(beside)) + 24 <= SOCKET_NAME_MAX:
        return beside
    key = hashlib.sha1(str(db_path.resolve()).encode()).hexdigest()[:16]
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"roundtable-wake-{uid}" / key


class Wakeup:
    """This process's socket: `notify()` the others after a commit, `wait()` to be notified."""

    def __init__(self, folder: Path, sock: socket.socket, name: str) -> None:
        self.folder = folder
        self._sock = sock
        self._name = name
        self._bound = False
        self._unusable = False
        self._peers: list[str] = []
        self._listed = -RELIST_SECONDS

    @classmethod
    def open(cls, db_path: Path) -> Wakeup | None:
        """Bind this process's socket, or None where wake-ups are not available (then polling serves)."""
        if sys.platform == "win32" or not hasattr(socket, "AF_UNIX"):
            return None
        folder = folder_for(db_path)
        name = f"{os.getpid()}-{secrets.token_hex(4)}.sock"
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        except OSError:
            return None
        sock.setblocking(False)
        return cls(folder, sock, name)

    def listen(self) -> bool:
        """Bind this process's socket (once, at the first wait); False where that is impossible."""
        if not self._bound and not self._unusable:
            for _ in range(3):  # the last process leaving may remove the folder between our mkdir and bind
                try:
                    self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
                    self._sock.bind(str(self.folder / self._name))
                    self._bound = True
                    break
                except FileNotFoundError:
                    continue
                except OSError:
                    break
            self._unusable = not self._bound
        return self._bound

    def notify(self) -> None:
        """Tell every other process a commit happened (non-blocking; never fails the caller)."""
        now = time.monotonic()
        if now - self._listed > RELIST_SECONDS:
            try:
                self._peers = [p for p in os.listdir(self.folder) if p.endswith(".sock") and p != self._name]
            except OSError:
                self._peers = []
            self._listed = now
        for peer in list(self._peers):
            path = str(self.folder / peer)
            try:
                self._sock.sendto(b"!", path)
            except (ConnectionRefusedError, FileNotFoundError):  # its process is gone
                self._peers.remove(peer)
                with contextlib.suppress(OSError):
                    os.unlink(path)
            except OSError:  # its buffer is full (a wake-up is already pending there), or anything else
                pass

    def _drain(self) -> bool:
        got = False
        while True:
            try:
                self._sock.recv(64)
            except (BlockingIOError, InterruptedError):
                return got
            except OSError:
                return got
            got = True

    async def wait(self, seconds: float) -> bool:
        """Return as soon as another process notifies (True), or after `seconds` (False)."""
        if not self.listen():
            await anyio.sleep(seconds)
            return False
        if self._drain():
            return True
        with anyio.move_on_after(seconds):
            await anyio.wait_readable(self._sock)
            self._drain()
            return True
        return False

    def close(self) -> None:
        """Remove this process's socket, and the folder when no other process has one there."""
        if self._bound:
            with contextlib.suppress(OSError):
                os.unlink(self.folder / self._name)
            with contextlib.suppress(OSError):  # not empty: another process still listens there
                self.folder.rmdir()
        self._sock.close()
