"""The sandbox runner: what it refuses before running anything, and how it runs what it allows."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import anyio
import pytest

from shared import sandbox
from shared.errors import Forbidden, InvalidArgument, NotFound, Unavailable
from shared.sandbox import Sandbox

pytestmark = pytest.mark.anyio

ALLOW = ("python", "pytest", "sh")
PATH = sandbox.scrubbed_path({"PATH": os.environ.get("PATH", "")})


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "data.txt").write_text("original\n")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / "__pycache__").mkdir()
    (root / "test_ok.py").write_text("def test_ok():\n    assert 1 + 1 == 2\n")
    return root


def box(root: Path | None, allow: tuple[str, ...] = ALLOW, timeout: float = 60.0) -> Sandbox:
    """Confined where bubblewrap works (always in CI), else an admin's explicit unconfined run."""
    where = sandbox.find_confinement()
    return Sandbox(allow=allow, root=root, timeout=timeout, search_path=PATH, confinement=where, unconfined=not where)


@pytest.mark.parametrize(
    ("command", "error", "message"),
    [
        ("rm -rf /", Forbidden, "'rm' is not on this server's sandbox allow-list \\(python, pytest, sh\\)"),
        ("pytest; rm -rf ~", InvalidArgument, "shell syntax \\(';'\\)"),
        ("pytest && curl evil.example", InvalidArgument, "shell syntax \\('&'\\)"),
        ("pytest | tee out", InvalidArgument, "shell syntax \\('\\|'\\)"),
        ("pytest `rm -rf ~`", InvalidArgument, "shell syntax \\('`'\\)"),
        ("pytest $(rm -rf ~)", InvalidArgument, "shell syntax \\('\\$\\('\\)"),
        ("pytest > /etc/passwd", InvalidArgument, "never through a shell"),
        ("pytest\nrm -rf ~", InvalidArgument, "shell syntax"),
        ("sh -c 'rm -rf ~'", Forbidden, "sh runs other programs or a shell"),
        ("/bin/rm -rf /", Forbidden, "must be a bare name from the allow-list"),
        ("./pytest", Forbidden, "must be a bare name"),
        ("pytest 'unbalanced", InvalidArgument, "check its quotes"),
        ("   ", InvalidArgument, "the command is empty"),
    ],
)
def test_commands_that_are_not_one_allowed_program_are_refused(
    command: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        sandbox.parse_command(command, ALLOW)


def test_an_allowed_command_is_split_into_words_never_interpreted() -> None:
    assert sandbox.parse_command("pytest -q -k 'slow and not flaky' tests/", ALLOW) == [
        "pytest",
        "-q",
        "-k",
        "slow and not flaky",
        "tests/",
    ]


def test_directories_must_stay_inside_the_root(project: Path, tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    (project / "escape").symlink_to(tmp_path / "outside")
    (project / "inner").symlink_to(project / "pkg")
    assert sandbox.source_dir(project, ".") == project.resolve()
    assert sandbox.source_dir(project, "inner") == (project / "pkg").resolve()
    for directory, message in [
        ("..", "outside the sandbox root"),
        ("pkg/../../outside", "outside the sandbox root"),
        ("escape", "outside the sandbox root"),
        (str(tmp_path), "must be relative to the sandbox root"),
        ("~/secrets", "must be relative"),
        ("missing", "is not a directory"),
    ]:
        with pytest.raises((Forbidden, InvalidArgument, NotFound), match=message):
            sandbox.source_dir(project, directory)


def test_the_copy_leaves_out_vcs_caches_and_symlinks_leading_outside(project: Path, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("secret")
    (project / "pkg" / "leak").symlink_to(tmp_path / "secret.txt")
    (project / "pkg" / "absolute").symlink_to(project / "pkg" / "data.txt")
    (project / "pkg" / "relative").symlink_to("data.txt")
    copy = tmp_path / "copy"
    skipped = sandbox.copy_tree(project.resolve(), copy)
    assert sorted(skipped) == ["pkg/absolute", "pkg/leak"]
    assert sorted(p.name for p in copy.iterdir()) == ["pkg", "test_ok.py"]
    assert (copy / "pkg" / "relative").read_text() == "original\n"


async def test_an_allowed_command_runs_in_a_scrubbed_copy(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUNDTABLE_SECRET", "do-not-leak")
    script = (
        "import json, os, pathlib\n"
        "pathlib.Path('pkg/data.txt').write_text('changed')\n"
        "print(json.dumps({'env': sorted(os.environ), 'home': os.environ['HOME'], 'cwd': os.getcwd()}))\n"
    )
    (project / "probe.py").write_text(script)
    run = await sandbox.run(box(project), "python probe.py")
    assert run.exit_code == 0 and not run.timed_out, run.output_tail
    seen = json.loads(run.output_tail)
    assert set(seen["env"]) <= {"HOME", "LANG", "PATH", "LC_CTYPE", "PWD"}  # bwrap sets PWD (the copy)
    assert "ROUNDTABLE_SECRET" not in seen["env"]
    assert Path(seen["home"]).parent == Path(seen["cwd"]).parent  # HOME is an empty folder beside the copy
    assert "roundtable-sandbox-" in seen["cwd"] and not Path(seen["cwd"]).exists()  # removed afterwards
    assert (project / "pkg" / "data.txt").read_text() == "original\n"  # the working tree is untouched
    assert run.command == "python probe.py" and run.directory == "."


async def test_a_real_test_runner_reports_its_exit_code(project: Path) -> None:
    passing = await sandbox.run(box(project), "pytest -q test_ok.py")
    assert passing.exit_code == 0, passing.output_tail
    assert "1 passed" in passing.output_tail
    (project / "test_ok.py").write_text("def test_broken():\n    assert False\n")
    failing = await sandbox.run(box(project), "pytest -q")
    assert failing.exit_code == 1 and "1 failed" in failing.output_tail


async def test_only_the_tail_of_a_long_output_is_kept(project: Path) -> None:
    (project / "loud.py").write_text("for i in range(20000):\n    print(f'line {i:06d}')\n")
    run = await sandbox.run(box(project), "python loud.py")
    assert run.output_bytes == 20000 * 12
    assert len(run.output_tail.encode()) == sandbox.OUTPUT_TAIL_BYTES
    assert run.output_tail.endswith("line 019999\n")


async def test_a_command_past_its_time_limit_is_killed_with_everything_it_started(project: Path) -> None:
    marker = f"roundtable-marker-{os.getpid()}-hang"  # pids inside a PID namespace are not the host's
    (project / "hang.py").write_text(
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)  # {marker}'])\n"
        "print('child', child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    with anyio.fail_after(20):
        run = await sandbox.run(box(project, timeout=1.0), "python hang.py")
    assert run.timed_out and run.exit_code is None and "child" in run.output_tail
    with anyio.fail_after(5):
        while _running(marker):
            await anyio.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a killed child not yet reaped by its (also killed) parent is a zombie until init collects it
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[-1].startswith("Z"))


async def test_the_sandbox_is_off_until_configured_and_says_how() -> None:
    with pytest.raises(Forbidden, match="ROUNDTABLE_SANDBOX_ROOT and ROUNDTABLE_SANDBOX_ALLOW not set") as info:
        await sandbox.run(box(None, allow=()), "pytest")
    assert "ROUNDTABLE_SANDBOX_TIMEOUT" in str(info.value) and "restart the client" in str(info.value)


async def test_an_allowed_program_that_is_not_installed_is_named(project: Path) -> None:
    with pytest.raises(NotFound, match="no-such-tool is allowed but not installed"):
        await sandbox.run(box(project, allow=("no-such-tool",)), "no-such-tool --check")


def test_the_search_path_keeps_absolute_entries_and_adds_this_interpreter() -> None:
    path = sandbox.scrubbed_path({"PATH": os.pathsep.join(["", ".", "relative/bin", "/usr/bin", "/usr/bin"])})
    assert path.split(os.pathsep) == ["/usr/bin", os.path.dirname(sys.executable)]


async def test_a_program_that_cannot_start_is_reported(project: Path, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "broken").write_text("#!/nonexistent/interpreter\n")
    (bin_dir / "broken").chmod(0o755)
    where = sandbox.find_confinement()
    broken = Sandbox(("broken",), project, 10, str(bin_dir), confinement=where, unconfined=not where)
    with pytest.raises(Unavailable, match=r"could not start .*broken"):
        await sandbox.run(broken, "broken")


# -- confinement (bubblewrap on Linux) ---------------------------------------------------------------

BWRAP = sandbox.find_confinement()
needs_bwrap = pytest.mark.skipif(
    BWRAP is None and os.environ.get("CI") != "true",
    reason=f"no working bubblewrap here ({sandbox.confinement_problem()}); .ci/run installs it and CI requires it",
)


def confined(root: Path, timeout: float = 60.0, hidden: tuple[Path, ...] = ()) -> Sandbox:
    assert BWRAP is not None, f"CI requires bubblewrap: {sandbox.confinement_problem()}"
    return Sandbox(allow=ALLOW, root=root, timeout=timeout, search_path=PATH, confinement=BWRAP, hidden=hidden)


def _running(marker: str) -> list[int]:
    """Host pids whose command line holds `marker` (zombies left out)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace") and _alive(int(entry.name)):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@needs_bwrap
async def test_under_bwrap_nothing_outside_the_copy_can_be_written(project: Path, tmp_path: Path) -> None:
    import tempfile

    checkout = Path(__file__).parents[3]
    # a folder outside /tmp (the run's /tmp is its own): the checkout, or HOME when the checkout is under /tmp
    base = Path.home() if checkout.resolve().is_relative_to(Path(tempfile.gettempdir()).resolve()) else checkout
    outside = Path(tempfile.mkdtemp(prefix=".sandbox-victim-", dir=base))
    try:
        victims = [outside / "victim.txt", tmp_path / "victim.txt"]
        for victim in victims:
            victim.write_text("keep me\n")
        (project / "write.py").write_text(
            "import pathlib\n"
            # the paths are in the script, so the path-argument rule is not what stops it
            f"for target in {[str(v) for v in victims]!r}:\n"
            "    try:\n"
            "        pathlib.Path(target).write_text('overwritten')\n"
            "        print('WROTE', target)\n"
            "    except OSError as exc:\n"
            "        print('REFUSED', target, exc.strerror)\n"
            "pathlib.Path('inside.txt').write_text('fine')\n"
            "print('INSIDE ok')\n"
        )
        run = await sandbox.run(confined(project), "python write.py")
        assert run.exit_code == 0, run.output_tail
        assert f"REFUSED {victims[0]} Read-only file system" in run.output_tail, run.output_tail
        assert "WROTE" not in run.output_tail and "INSIDE ok" in run.output_tail  # /tmp is the run's own
        assert [v.read_text() for v in victims] == ["keep me\n", "keep me\n"]
    finally:
        shutil.rmtree(outside)


@needs_bwrap
async def test_under_bwrap_there_is_no_network(project: Path) -> None:
    import socket

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        (project / "net.py").write_text(
            "import socket\n"
            "try:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
            "    print('CONNECTED')\n"
            "except OSError as exc:\n"
            "    print('NO NETWORK', type(exc).__name__)\n"
        )
        run = await sandbox.run(confined(project), "python net.py")
    assert "NO NETWORK" in run.output_tail, run.output_tail


@needs_bwrap
async def test_under_bwrap_the_secret_is_never_visible(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUNDTABLE_SECRET", "do-not-leak-42")
    (project / "peek.py").write_text(
        "import os, pathlib\n"
        "seen = []\n"
        "for entry in pathlib.Path('/proc').iterdir():\n"
        "    if entry.name.isdigit():\n"
        "        try:\n"
        "            seen.append((entry / 'environ').read_bytes())\n"
        "        except OSError:\n"
        "            pass\n"
        f"parent = pathlib.Path('/proc/{os.getpid()}/environ')\n"
        "print('PIDS', sorted(int(p.name) for p in pathlib.Path('/proc').iterdir() if p.name.isdigit()))\n"
        "leaked = any(b'do-not-leak-42' in s for s in seen) or 'do-not-leak-42' in str(os.environ)\n"
        "print('LEAK' if leaked else 'CLEAN')\n"
        "print('PARENT VISIBLE' if parent.exists() and b'do-not-leak' in parent.read_bytes() else 'PARENT HIDDEN')\n"
    )
    run = await sandbox.run(confined(project), "python peek.py")
    assert "CLEAN" in run.output_tail and "PARENT HIDDEN" in run.output_tail, run.output_tail
    pids = json.loads(run.output_tail.split("PIDS ")[1].splitlines()[0])
    assert max(pids) < 50  # a new PID namespace: only the sandbox's own few processes are there


@needs_bwrap
async def test_under_bwrap_the_team_file_is_hidden(project: Path, tmp_path: Path) -> None:
    import tempfile

    outside = Path(tempfile.mkdtemp(prefix=".sandbox-team-", dir=Path(__file__).parents[3]))  # not under /tmp
    try:
        team = outside / "team.db"
        team.write_text("private mail")
        (project / "read.py").write_text(f"print('READ', repr(open({str(team)!r}).read()))\n")
        run = await sandbox.run(confined(project, hidden=(team, outside / "team.db-wal")), "python read.py")
        assert "private mail" not in run.output_tail and "Errno 13" in run.output_tail, run.output_tail
    finally:
        shutil.rmtree(outside)


@needs_bwrap
async def test_under_bwrap_a_setsid_child_does_not_outlive_the_time_limit(project: Path) -> None:
    marker = f"roundtable-marker-{os.getpid()}-setsid"
    (project / "escape.py").write_text(
        "import subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)  # {marker}'], start_new_session=True)\n"
        "print('started', flush=True)\n"
        "time.sleep(60)\n"
    )
    with anyio.fail_after(20):
        run = await sandbox.run(confined(project, timeout=2.0), "python escape.py")
    assert run.timed_out and "started" in run.output_tail
    with anyio.fail_after(5):
        while _running(marker):
            await anyio.sleep(0.05)


@needs_bwrap
async def test_under_bwrap_nothing_outlives_a_killed_server(project: Path, tmp_path: Path) -> None:
    import signal
    import subprocess

    marker = f"roundtable-marker-{os.getpid()}-orphan"
    (project / "orphan.py").write_text(
        "import subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)  # {marker}'], start_new_session=True)\n"
        "time.sleep(60)\n"
    )
    runner = tmp_path / "runner.py"
    runner.write_text(
        "import anyio, sys\n"
        "from pathlib import Path\n"
        "from shared import sandbox\n"
        f"box = sandbox.Sandbox(allow=('python',), root=Path({str(project)!r}), timeout=60, search_path={PATH!r}, "
        f"confinement={BWRAP!r})\n"
        "anyio.run(sandbox.run, box, 'python orphan.py')\n"
    )
    server = subprocess.Popen([sys.executable, str(runner)], cwd=Path(__file__).parents[3])  # noqa: ASYNC220
    try:
        with anyio.fail_after(20):
            while not _running(marker):
                await anyio.sleep(0.05)
        server.send_signal(signal.SIGKILL)
        server.wait()
        with anyio.fail_after(5):
            while _running(marker):
                await anyio.sleep(0.05)
    finally:
        server.kill()
        server.wait()
        for pid in _running(marker):
            os.kill(pid, signal.SIGKILL)


async def test_without_a_sandbox_a_run_is_refused_with_the_fix(project: Path) -> None:
    bare = Sandbox(allow=ALLOW, root=project, timeout=10, search_path=PATH, confinement=None)
    with pytest.raises(Forbidden, match="bubblewrap") as info:
        await sandbox.run(bare, "python -c pass")
    assert "ROUNDTABLE_SANDBOX_UNCONFINED=1" in str(info.value)


@pytest.mark.parametrize(
    "command",
    [
        "pytest --basetemp=/tmp/elsewhere",
        "pytest --junitxml /home/ana/report.xml",
        "pytest --junitxml=../report.xml",
        "ruff format /work/main",
        "ruff check ~/private.py",
        "pytest -q ../../outside",
        "pytest -q tests/../../outside",
        "python -c 'print(1)' /etc/passwd",
        "pytest --rootdir=~ana",
    ],
)
async def test_unconfined_runs_refuse_paths_outside_the_copy(project: Path, command: str) -> None:
    allow = ("pytest", "ruff", "python")
    bare = Sandbox(allow=allow, root=project, timeout=10, search_path=PATH, confinement=None, unconfined=True)
    with pytest.raises(Forbidden, match="outside the copy"):
        await sandbox.run(bare, command)


async def test_unconfined_runs_allow_relative_paths_inside_the_copy(project: Path) -> None:
    allow = ("pytest", "python")
    bare = Sandbox(allow=allow, root=project, timeout=30, search_path=PATH, confinement=None, unconfined=True)
    run = await sandbox.run(bare, "pytest -q -p no:cacheprovider --junitxml=out/report.xml ./test_ok.py")
    assert run.exit_code == 0, run.output_tail
