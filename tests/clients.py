"""The real clients tests drive: the Claude Code CLI, found on PATH or named by ROUNDTABLE_CLAUDE. Missing,
its tests skip with the reason, except under CI=true, where `.ci/run` installs it and they are required."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


def claude_cli() -> str:
    """The `claude` command, or skip (fail under CI) with how to get it."""
    found = os.environ.get("ROUNDTABLE_CLAUDE") or shutil.which("claude")
    if not found:
        if os.environ.get("CI") == "true":
            pytest.fail("the Claude Code CLI is required under CI=true: .ci/run installs it (ROUNDTABLE_CLAUDE)")
        pytest.skip("the Claude Code CLI is not installed (npm i @anthropic-ai/claude-code, or set ROUNDTABLE_CLAUDE)")
    return found


def claude_home(tmp: Path) -> dict[str, str]:
    """An environment whose HOME is a fresh folder under `tmp`: the CLI's config is written there only."""
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    return {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}


def run_claude(claude: str, args: list[str], env: dict[str, str], cwd: Path, timeout: float = 120) -> str:
    """`claude ARGS` as a user runs it; its output (stdout and stderr), or an assertion with both."""
    done = subprocess.run([claude, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"claude {' '.join(args)}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr
