"""`roundtable demo` end to end: real server processes over stdio, a real database, the exit status."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from servers import SERVER_KINDS
from servers.cli.demo import play
from servers.cli.scene import Part, Scene, plan
from tests.stdio import ROOT

pytestmark = pytest.mark.anyio

TOOLS_BY_KIND = {
    "coordination": ["task_create", "task_claim", "task_complete", "consensus_propose", "consensus_vote"],
    "messaging": ["message_wait", "message_send", "message_acknowledge", "message_query"],
    "knowledge": ["experience_share", "skill_execute"],
    "monitoring": ["agent_register", "agent_status"],
}


def test_the_demo_plays_every_step_and_exits_zero(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "servers.cli", "demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TMPDIR": str(tmp_path)},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for kind in SERVER_KINDS:
        for tool in TOOLS_BY_KIND[kind]:
            assert f"[{tool}]" in out, f"no step calls {tool}"
    steps = int(out.split("✓ all ")[1].split()[0])
    assert all(f"{n:>2}. " in out for n in range(1, steps + 1))
    assert "✗" not in out and "\033[" not in out  # no failure, no colour off a terminal
    assert "nothing is ready for bo" in out and "passed (approve)" in out
    assert "ana's client got notifications/claude/channel after" in out and "is still unread" in out
    assert "[roundtable hook SessionStart]" in out and 'the brief: "Roundtable: you are ana, a worker' in out
    assert done.stderr == ""  # the servers' own output never reaches the terminal
    # run from this checkout with nothing installed yet, `roundtable` is uv run's: the next step says so
    assert "tip: uv run --no-dev roundtable demo --dashboard plays it" in out
    assert "next: uv run --no-dev roundtable install claude-code --project <your project folder> sets" in out
    elsewhere = subprocess.run(
        [sys.executable, "-m", "servers.cli", "demo", "--db", str(tmp_path / "team.db")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TMPDIR": str(tmp_path), "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert elsewhere.returncode == 0, elsewhere.stdout + elsewhere.stderr
    assert f"next: uv run --no-dev --project {ROOT} roundtable install claude-code" in elsewhere.stdout  # as run
    assert list(tmp_path.glob("roundtable-demo-*")) == []  # the temporary database is gone


async def test_on_a_given_database_the_demo_claims_by_id_and_plays_again_on_the_same_file(tmp_path: Path) -> None:
    """`roundtable demo --db FILE` twice: the second run finds the first one's team, unread notices and skills
    in the file, and its agents still read only their own scene."""
    db = tmp_path / "team.db"
    for run, (first, second) in enumerate([(1, 2), (4, 5)], start=1):
        out = io.StringIO()
        outcome = await play(db, out, shared_db=True)
        assert outcome.code == 0, f"run {run}:\n{out.getvalue()}"
        assert f"refused: task {second} waits on tasks [{first}]" in out.getvalue()
        assert "ana's wait ended after" in out.getvalue()
    assert db.exists()


async def test_a_step_whose_result_differs_from_its_narration_fails_the_demo(tmp_path: Path) -> None:
    async def miscount(s: Scene) -> None:
        s.step("planner", "counts the tasks", "task_list")
        listed = await s.call("planner", "task_list")
        s.check(listed["total"] == 99, "99 tasks", expected="99 tasks", got=f"{listed['total']} tasks")

    async def never_reached(s: Scene) -> None:
        raise AssertionError("the scene went on after a failed step")

    out = io.StringIO()
    outcome = await play(
        tmp_path / "t.db", out, acts=[Part(plan), Part(miscount), Part(never_reached)], kinds=("coordination",)
    )
    assert outcome.code == 1
    assert "✗ step 4: expected 99 tasks, got 3 tasks" in out.getvalue()
    assert "The board" not in out.getvalue()


async def test_a_refused_tool_call_fails_the_step_with_the_servers_reason(tmp_path: Path) -> None:
    async def finish_unclaimed(s: Scene) -> None:
        s.step("bo", "finishes a task it does not hold", "task_complete")
        await s.call("bo", "task_complete", task_id=s.tasks["schema"])

    out = io.StringIO()
    outcome = await play(tmp_path / "t.db", out, acts=[Part(plan), Part(finish_unclaimed)], kinds=("coordination",))
    assert outcome.code == 1
    assert "✗ step 4: expected task_complete by bo to succeed, got an error: " in out.getvalue()


async def test_a_server_that_does_not_start_is_named_with_its_last_words(tmp_path: Path) -> None:
    out = io.StringIO()
    outcome = await play(tmp_path / "t.db", out, kinds=("coordination", "nosuchkind"))
    assert outcome.code == 1
    text = out.getvalue()
    assert "roundtable-nosuchkind for planner did not start" in text
    assert "No module named servers.nosuchkind" in text
    assert " 1. " not in text  # the scene never began


async def test_a_server_that_dies_mid_scene_fails_the_step_instead_of_crashing_the_demo(tmp_path: Path) -> None:
    async def lose_a_server(s: Scene) -> None:
        for child in psutil.Process().children(recursive=True):
            if child.environ().get("ROUNDTABLE_AGENT") == "bo" and "servers.coordination" in child.cmdline():
                child.kill()
        s.step("bo", "asks for work", "task_claim")
        await s.call("bo", "task_claim")

    out = io.StringIO()
    outcome = await play(tmp_path / "t.db", out, acts=[Part(plan), Part(lose_a_server)], kinds=("coordination",))
    assert outcome.code == 1
    assert "✗ step 4: expected an answer to task_claim, got " in out.getvalue()


def test_the_demo_refuses_a_db_it_cannot_play_on_in_one_line_before_any_server_starts(tmp_path: Path) -> None:
    other = tmp_path / "notes.txt"
    other.write_text("not a database\n" * 100)
    cases = {str(tmp_path): "is a folder, not a database file", str(other): "is not a SQLite database"}
    for db, said in cases.items():
        done = subprocess.run(
            [sys.executable, "-m", "servers.cli", "demo", "--db", db],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 2 and done.stdout == "", done.stdout  # no "servers up", no step
        assert len(done.stderr.splitlines()) == 1 and said in done.stderr, done.stderr
    assert other.read_text() == "not a database\n" * 100
