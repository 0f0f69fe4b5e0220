"""A throwaway PostgreSQL server for the tests and the benchmarks: `initdb` in a temporary folder (as the
`postgres` user when we are root: initdb refuses root), started on a free loopback port with fsync off,
databases made from a template in ≈ 150 ms, stopped and removed at the end.

`find_bindir()` names the server's binaries (ROUNDTABLE_PG_BIN, Debian's /usr/lib/postgresql/<n>/bin, PATH,
`pg_config --bindir`) or says why there are none; `running()` is the one way to start one."""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

USER = "roundtable"  # the superuser initdb creates; trust auth on loopback only
INSTALL = "apt-get install postgresql (Debian), or set ROUNDTABLE_PG_BIN to the folder holding initdb and pg_ctl"


class Unavailable(RuntimeError):
    """No PostgreSQL server can be started here; the message says why and how to get one."""


def find_bindir() -> Path:
    """The folder holding initdb, pg_ctl and psql, preferring the newest Debian install; Unavailable if none."""
    candidates: list[Path] = []
    if named := os.environ.get("ROUNDTABLE_PG_BIN"):
        candidates.append(Path(named))
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        versions = [p for p in debian.iterdir() if re.fullmatch(r"\d+(\.\d+)?", p.name)]
        candidates += [p / "bin" for p in sorted(versions, key=lambda p: float(p.name), reverse=True)]
    if on_path := shutil.which("initdb"):
        candidates.append(Path(on_path).resolve().parent)
    if pg_config := shutil.which("pg_config"):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True)
            candidates.append(Path(out.stdout.strip()))
    for folder in candidates:
        if all((folder / tool).is_file() for tool in ("initdb", "pg_ctl", "psql")):
            return folder
    raise Unavailable(f"no PostgreSQL server binaries (initdb, pg_ctl, psql) found: {INSTALL}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Postgres:
    """One running server: `url(name)` for a database on it, `create(name, template=…)`, `drop(name)`."""

    bindir: Path
    folder: Path
    port: int = 0
    _names: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def sql(self, statement: str, database: str = "postgres") -> str:
        """Run one statement through psql as the superuser; its output, or CalledProcessError with stderr."""
        out = subprocess.run(
            [str(self.bindir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", self.url(database)],
            input=statement,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if out.returncode != 0:
            raise subprocess.CalledProcessError(out.returncode, out.args, out.stdout, out.stderr)
        return out.stdout.strip()

    def create(self, name: str | None = None, *, template: str | None = None) -> str:
        """A new database (a copy of `template` when given, else empty); its name."""
        name = name or f"t{os.getpid()}_{next(self._names)}"
        self.sql(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return name

    def drop(self, name: str) -> None:
        self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def restart(self) -> None:
        """`pg_ctl restart -m fast`: every session is ended, the server comes back on the same port."""
        data = self.folder / "data"
        _run(
            [
                str(self.bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(self.folder / "log"),
                "-m",
                "fast",
                "-w",
                "restart",
            ],
            self.folder,
        )

    def mark_template(self, name: str) -> None:
        """Let `name` be copied while nobody is connected to it (and refuse new connections to it)."""
        self.sql(f'ALTER DATABASE "{name}" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false')


def _as_owner(argv: list[str]) -> list[str]:
    """initdb and pg_ctl refuse to run as root: run them as `postgres` then."""
    if os.geteuid() != 0:
        return argv
    runuser = shutil.which("runuser")
    if runuser is None:
        raise Unavailable("running as root needs runuser (util-linux) to start PostgreSQL as the postgres user")
    return [runuser, "-u", "postgres", "--", *argv]


def _run(argv: list[str], folder: Path) -> None:
    out = subprocess.run(_as_owner(argv), cwd=folder, capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise Unavailable(
            f"{Path(argv[0]).name} failed ({out.returncode}): {(out.stderr or out.stdout).strip()[-800:]}"
        )


@contextlib.contextmanager
def running(settings: str = "") -> Iterator[Postgres]:
    """A fresh PostgreSQL cluster on a free loopback port for the duration of the block; Unavailable if it cannot be.
    `settings` are more `-c name=value` options for the server (after ours, so they win)."""
    bindir = find_bindir()
    folder = Path(tempfile.mkdtemp(prefix="rt-pg-"))
    try:
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise Unavailable("running as root needs a 'postgres' user to own the cluster: " + INSTALL) from None
            os.chown(folder, owner.pw_uid, owner.pw_gid)
        data = folder / "data"
        _run(
            [str(bindir / "initdb"), "-N", "-U", USER, "--auth=trust", "-E", "UTF8", "--locale=C", "-D", str(data)],
            folder,
        )
        server = Postgres(bindir, folder)
        for attempt in range(3):
            server.port = _free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {server.port} -k {folder} -c fsync=off "
                f"-c synchronous_commit=off -c full_page_writes=off -c max_connections=300 {settings}"
            )
            try:
                _run(
                    [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w", "-o", options, "start"],
                    folder,
                )
                break
            except Unavailable as failed:
                if attempt == 2:
                    log = folder / "log"
                    raise Unavailable(f"{failed}; log: {log.read_text()[-800:] if log.exists() else ''}") from None
        try:
            yield server
        finally:
            _run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
