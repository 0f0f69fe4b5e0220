"""The sandbox runner: what it refuses before running anything, and how it runs what it allows."""

from __future__ import annotations

import json
import os
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
    return Sandbox(allow=allow, root=root, timeout=timeout, search_path=PATH)


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
    assert set(seen["env"]) <= {"HOME", "LANG", "PATH", "LC_CTYPE"} and "ROUNDTABLE_SECRET" not in seen["env"]
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
    (project / "hang.py").write_text(
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print('child', child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    with anyio.fail_after(20):
        run = await sandbox.run(box(project, timeout=1.0), "python hang.py")
    assert run.timed_out and run.exit_code is None
    child = int(run.output_tail.split()[1])
    with anyio.fail_after(5):
        while _alive(child):
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
    broken = Sandbox(allow=("broken",), root=project, timeout=10, search_path=str(bin_dir))
    with pytest.raises(Unavailable, match=r"could not start .*broken"):
        await sandbox.run(broken, "broken")
