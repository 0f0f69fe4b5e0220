"""Running a test command in isolation, for evidence on an improvement proposal.

What "isolation" means here, exactly:
- only programs on the allow-list (ROUNDTABLE_SANDBOX_ALLOW), given by bare name and resolved on a PATH of
  absolute directories; never a shell, nor a program that runs other programs (env, xargs, sudo, sh …);
- the command string is split like a shell would split words (shlex) but never interpreted: text that
  would mean something to a shell (; | & ` $( > <) is refused rather than passed on silently;
- it runs in a fresh temporary copy of ROUNDTABLE_SANDBOX_ROOT (or a directory inside it), without .git,
  virtual environments and caches, and without symlinks that lead out of the copied tree, so the working
  tree is never touched;
- its environment is PATH, HOME (an empty temporary folder) and LANG, nothing else, so no secret in the
  server's environment reaches it; stdin is empty;
- it is killed with its whole process group at the time limit; only the tail of its output is kept;
- no argument may name a path outside the copy (an absolute path, `~…`, or one climbing out with `..`,
  also as an option's value: `--basetemp=/x`, `-o/x`), so an allowed program is not pointed elsewhere.

On Linux with bubblewrap (`bwrap`) the command also runs confined: the whole filesystem read-only except
the copy and its empty HOME, a private /tmp, the team's database file replaced by an empty one, no network,
new PID/IPC/UTS/user namespaces with a fresh /proc (the server's process and its environment are not there),
`--die-with-parent` and `--new-session`, so nothing it starts outlives the run or the server. Where no such
sandbox works (macOS, no bwrap, user namespaces disabled) a run is refused with the fix, unless an admin set
ROUNDTABLE_SANDBOX_UNCONFINED=1: then only the rules above hold, and the project's own code (which a test
runner runs) acts with this user's rights.
"""

from __future__ import annotations

import functools
import logging
import os
import posixpath
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from anyio.abc import Process

from shared.config import Settings
from shared.errors import Forbidden, InvalidArgument, NotFound, Unavailable

log = logging.getLogger(__name__)

SHELL_SYNTAX = (";", "|", "&", "`", "$(", "${", ">", "<", "\n", "\r")
# Shells, and programs that run other programs: allowing one would bypass the allow-list.
SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "fish", "csh", "tcsh", "pwsh", "cmd"})
NEVER = SHELLS | {"env", "xargs", "sudo", "su", "doas", "nohup", "setsid", "timeout", "nice", "find", "watch", "ssh"}
# Left out of the copy: version control, virtual environments, caches.
IGNORED = frozenset({".git", ".hg", ".svn", ".venv", "venv", "__pycache__", "node_modules", ".tox", ".nox"})
IGNORED |= {".mypy_cache", ".pytest_cache", ".ruff_cache"}
OUTPUT_TAIL_BYTES = 8 * 1024
MAX_COPY_BYTES = 256 * 1024 * 1024
MAX_COPY_FILES = 50_000
DRAIN_SECONDS = 2.0

HOW_TO_TURN_ON = (
    "set ROUNDTABLE_SANDBOX_ROOT to the project directory to copy for each run and ROUNDTABLE_SANDBOX_ALLOW "
    "to the programs it may run (comma-separated bare names, e.g. pytest,ruff), optionally "
    "ROUNDTABLE_SANDBOX_TIMEOUT (seconds, default 120), in the env of this server's entry in the MCP client "
    "config, then restart the client"
)


UNCONFINED_FIX = (
    "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; it needs unprivileged user namespaces) and "
    "restart the client; or, if an admin accepts that the command runs unconfined with this user's rights, set "
    "ROUNDTABLE_SANDBOX_UNCONFINED=1 in this server's env"
)


@functools.cache
def _probe() -> tuple[str | None, str]:
    """(the bwrap that works here, or None; why not). Runs `bwrap … true` once per process."""
    if not sys.platform.startswith("linux"):
        return None, f"bubblewrap is Linux-only and this is {sys.platform}"
    found = shutil.which("bwrap")
    if found is None:
        return None, "bwrap is not installed"
    true = shutil.which("true") or "/bin/true"
    probe = [found, "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--unshare-all"]
    try:
        done = subprocess.run(
            [*probe, "--die-with-parent", "--new-session", true], capture_output=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"{found} could not run: {exc}"
    if done.returncode != 0:
        return None, f"{found} fails here: {done.stderr.decode(errors='replace').strip()[:200]}"
    return found, ""


def find_confinement() -> str | None:
    """The path of a bubblewrap that works on this machine, or None."""
    return _probe()[0]


def confinement_problem() -> str:
    """Why find_confinement() is None ("" when it is not)."""
    return _probe()[1]


@dataclass(frozen=True)
class Sandbox:
    allow: tuple[str, ...]
    root: Path | None
    timeout: float
    search_path: str
    confinement: str | None = None  # the bwrap to run commands in; None: no sandbox on this machine
    unconfined: bool = False  # an admin allowed runs without one (ROUNDTABLE_SANDBOX_UNCONFINED=1)
    hidden: tuple[Path, ...] = ()  # files the command must not read (the team's database and its -wal/-shm)

    @classmethod
    def from_settings(cls, settings: Settings, environ: Mapping[str, str] = os.environ) -> Sandbox:
        db = settings.db
        # the team's file and its -wal/-shm; a PostgreSQL team has no file here to hide
        hidden = (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")) if isinstance(db, Path) else ()
        return cls(
            settings.sandbox_allow,
            settings.sandbox_root,
            settings.sandbox_timeout,
            scrubbed_path(environ),
            confinement=find_confinement() if settings.sandbox_root and settings.sandbox_allow else None,
            unconfined=settings.sandbox_unconfined,
            hidden=hidden,
        )

    def check_on(self) -> Path:
        """The root, or Forbidden naming exactly what to set."""
        missing = [
            name
            for name, value in (("ROUNDTABLE_SANDBOX_ROOT", self.root), ("ROUNDTABLE_SANDBOX_ALLOW", self.allow))
            if not value
        ]
        if missing or self.root is None:
            raise Forbidden(
                f"sandbox_test is off on this server ({' and '.join(missing)} not set). "
                f"To turn it on, {HOW_TO_TURN_ON}."
            )
        if self.confinement is None and not self.unconfined:
            raise Forbidden(
                f"sandbox_test has no sandbox to run commands in on this server ({confinement_problem() or 'none'}"
                f"). To fix it, {UNCONFINED_FIX}"
            )
        return self.root


@dataclass(frozen=True)
class Run:
    command: str
    program: str
    directory: str
    exit_code: int | None
    timed_out: bool
    duration: float
    output_tail: str
    output_bytes: int
    skipped: tuple[str, ...]  # symlinks left out of the copy because they lead outside it


def scrubbed_path(environ: Mapping[str, str]) -> str:
    """The server's PATH without empty or relative entries, plus this interpreter's folder at the end."""
    entries = [p for p in environ.get("PATH", "").split(os.pathsep) if p and os.path.isabs(p)]
    here = os.path.dirname(sys.executable)
    if here not in entries:
        entries.append(here)
    return os.pathsep.join(dict.fromkeys(entries))


def parse_command(command: str, allow: tuple[str, ...]) -> list[str]:
    """The argv of a command string, refused unless it is one allowed program with plain arguments."""
    syntax = sorted({s for s in SHELL_SYNTAX if s in command}, key=SHELL_SYNTAX.index)
    if syntax:
        shown = ", ".join(repr(s) for s in syntax)
        raise InvalidArgument(
            f"the command contains shell syntax ({shown}); sandbox_test runs one program directly, never through a "
            "shell, so pipes, redirections, chaining and substitutions cannot work. Give a single command such as "
            "'pytest -q tests/' and run others as separate sandbox_test calls"
        )
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise InvalidArgument(f"the command cannot be split into words ({exc}); check its quotes") from None
    if not argv:
        raise InvalidArgument("the command is empty; give a program and its arguments, e.g. 'pytest -q'")
    program = argv[0]
    allowed = ", ".join(allow) or "none"
    if "/" in program or "\\" in program:
        raise Forbidden(f"the program must be a bare name from the allow-list ({allowed}), not a path like {program!r}")
    if program in NEVER:
        raise Forbidden(f"{program} runs other programs or a shell, so sandbox_test never runs it; allowed: {allowed}")
    if program not in allow:
        raise Forbidden(
            f"{program!r} is not on this server's sandbox allow-list ({allowed}); an admin can add it to "
            "ROUNDTABLE_SANDBOX_ALLOW and restart the client"
        )
    return argv


def _outside(candidate: str) -> bool:
    if candidate.startswith(("/", "~", "\\")) or (len(candidate) > 1 and candidate[1] == ":"):
        return True
    normal = posixpath.normpath(candidate.replace("\\", "/"))
    return normal == ".." or normal.startswith("../")


def check_paths(argv: list[str]) -> None:
    """Refuse arguments naming a path outside the copy: absolute, home-relative or climbing out with `..`."""
    for arg in argv[1:]:
        candidates = [arg]
        if "=" in arg:
            candidates.append(arg.split("=", 1)[1])
        if arg.startswith("-") and not arg.startswith("--") and len(arg) > 2:
            candidates.append(arg[2:])  # a short option with its value glued on: -o/tmp/x
        if any(_outside(c) for c in candidates):
            raise Forbidden(
                f"the argument {arg!r} names a path outside the copy the command runs in; give paths relative to "
                "the copied directory (e.g. 'tests/' or '--junitxml=out/report.xml'), never absolute, '~' or '..'"
            )


def resolve_program(name: str, search_path: str) -> str:
    found = shutil.which(name, path=search_path)
    if found is None:
        raise NotFound(f"{name} is allowed but not installed on the server's PATH ({search_path}); install it there")
    return found


def source_dir(root: Path, directory: str) -> Path:
    """The directory to copy: `directory` relative to the root, which it must stay inside (symlinks followed)."""
    if "\x00" in directory:
        raise InvalidArgument("directory contains a NUL character")
    given = Path(directory)
    if given.is_absolute() or directory.startswith("~"):
        raise InvalidArgument(
            f"directory={directory!r} must be relative to the sandbox root {root}, e.g. '.' or 'packages/api'"
        )
    base = root.resolve()
    if not base.is_dir():
        raise NotFound(f"ROUNDTABLE_SANDBOX_ROOT={root} is not a directory; an admin must fix the setting")
    target = (base / given).resolve()
    if target != base and base not in target.parents:
        raise Forbidden(
            f"directory={directory!r} leads to {target}, outside the sandbox root {base}; give a directory inside it"
        )
    if not target.is_dir():
        raise NotFound(f"directory={directory!r} is not a directory inside the sandbox root {base}")
    return target


def copy_tree(src: Path, dst: Path) -> tuple[str, ...]:
    """Copy src to dst for a run; returns the symlinks left out. Blocking: run it in a worker thread."""
    skipped: list[str] = []
    copied = {"bytes": 0, "files": 0}

    def ignore(folder: str, names: list[str]) -> set[str]:
        left_out = set(names) & IGNORED
        for name in names:
            path = Path(folder, name)
            if name not in left_out and path.is_symlink():
                link = os.readlink(path)
                inside = not os.path.isabs(link) and (path.resolve() == src or src in path.resolve().parents)
                if not inside:
                    left_out.add(name)
                    skipped.append(str(path.relative_to(src)))
        return left_out

    def copy(source: str, target: str) -> Any:
        copied["files"] += 1
        copied["bytes"] += os.path.getsize(source)
        if copied["bytes"] > MAX_COPY_BYTES or copied["files"] > MAX_COPY_FILES:
            raise InvalidArgument(
                f"{src} holds more than {MAX_COPY_FILES} files or {MAX_COPY_BYTES // 2**20} MiB to copy; point "
                "directory at a smaller part of the project"
            )
        return shutil.copy2(source, target)

    shutil.copytree(src, dst, symlinks=True, ignore=ignore, copy_function=copy)
    return tuple(skipped)


def _kill_group(process: Process) -> None:
    """Kill the command and everything it started (it leads its own process group)."""
    try:
        if os.name == "posix":
            os.killpg(process.pid, signal.SIGKILL)
        elif process.returncode is None:
            process.kill()
    except ProcessLookupError:
        pass  # the whole group has already exited: nothing left to stop


def _remove(folder: str) -> None:
    def report(_: Any, path: str, exc: Any) -> None:
        log.warning("could not remove sandbox file %s: %s", path, exc)

    if sys.version_info >= (3, 12):
        shutil.rmtree(folder, onexc=report)
    else:
        shutil.rmtree(folder, onerror=report)


def confine(sandbox: Sandbox, scratch: Path, work: Path, program: str) -> list[str]:
    """The bwrap prefix: everything read-only but the scratch folder, fresh /proc /dev /tmp, no network."""
    assert sandbox.confinement is not None
    argv = [sandbox.confinement, "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    # /tmp is private to the run; programs installed under it (a test's folder) stay reachable, read-only
    tmp = Path(tempfile.gettempdir()).resolve()
    shown = {str(Path(p)) for p in sandbox.search_path.split(os.pathsep) if p} | {os.path.dirname(program)}
    for folder in sorted(shown):
        if folder.startswith("/tmp/") or Path(folder).is_relative_to(tmp):
            # a virtual environment's bin/ needs the environment beside it (its site-packages, pyvenv.cfg)
            venv = Path(folder).parent
            shared = str(venv) if (venv / "pyvenv.cfg").exists() else folder
            argv += ["--ro-bind-try", shared, shared]
    for path in sandbox.hidden:
        if path.exists():
            argv += ["--ro-bind", "/dev/null", str(path)]
    argv += ["--bind", str(scratch), str(scratch), "--chdir", str(work)]
    argv += ["--unshare-all", "--die-with-parent", "--new-session", "--"]
    return argv


async def run(sandbox: Sandbox, command: str, directory: str = ".", *, time_limit: float | None = None) -> Run:
    """Run `command` in a temporary copy of `directory`; refused (domain errors) before anything runs."""
    root = sandbox.check_on()
    argv = parse_command(command, sandbox.allow)
    check_paths(argv)
    program = resolve_program(argv[0], sandbox.search_path)
    limit = sandbox.timeout if time_limit is None else min(time_limit, sandbox.timeout)
    src = await anyio.to_thread.run_sync(source_dir, root, directory)
    scratch = await anyio.to_thread.run_sync(lambda: tempfile.mkdtemp(prefix="roundtable-sandbox-"))
    try:
        work, home = Path(scratch, "work"), Path(scratch, "home")
        skipped = await anyio.to_thread.run_sync(copy_tree, src, work)
        await anyio.to_thread.run_sync(home.mkdir)
        env = {"PATH": sandbox.search_path, "HOME": str(home), "LANG": os.environ.get("LANG") or "C.UTF-8"}
        launch = [program, *argv[1:]]
        if sandbox.confinement is not None:
            launch = confine(sandbox, Path(scratch), work, program) + launch
        tail, total, timed_out = bytearray(), 0, False
        started = time.monotonic()
        try:
            process = await anyio.open_process(
                launch,
                cwd=work,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise Unavailable(f"could not start {program}: {exc}; check that it is an executable program") from exc
        async with process:
            assert process.stdout is not None
            stdout = process.stdout

            async def pump() -> None:
                nonlocal total
                async for chunk in stdout:
                    total += len(chunk)
                    tail.extend(chunk)
                    del tail[:-OUTPUT_TAIL_BYTES]

            async with anyio.create_task_group() as tg:
                tg.start_soon(pump)
                with anyio.move_on_after(limit) as scope:
                    await process.wait()
                timed_out = scope.cancelled_caught
                _kill_group(process)  # a timed-out command, or whatever it left running
                await process.wait()
                tg.cancel_scope.deadline = anyio.current_time() + DRAIN_SECONDS  # a daemon may hold the pipe
        duration = time.monotonic() - started
        if sandbox.confinement is not None and process.returncode == 1 and tail.startswith(b"bwrap: execvp"):
            raise Unavailable(f"could not start {program}: {tail.decode(errors='replace').strip()[:300]}")
    finally:
        await anyio.to_thread.run_sync(_remove, scratch)
    return Run(
        command=shlex.join(argv),
        program=argv[0],
        directory=str(src.relative_to(root.resolve())) or ".",
        exit_code=None if timed_out else process.returncode,
        timed_out=timed_out,
        duration=duration,
        output_tail=tail.decode("utf-8", errors="replace"),
        output_bytes=total,
        skipped=skipped,
    )
