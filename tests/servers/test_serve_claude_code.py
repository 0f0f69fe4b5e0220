"""The lines `roundtable config claude-code --url` prints, run as a user runs them against a real `roundtable
serve`, with the real Claude Code CLI: `claude mcp list` shows all four servers connected with a valid token,
and none with a revoked one. HOME is a temporary folder, so the user's own Claude Code config is untouched."""

from __future__ import annotations

import subprocess
from pathlib import Path

import anyio

from servers import SERVER_KINDS
from servers.cli.clientconfig import claude_code_remote
from tests.clients import claude_cli, claude_home, run_claude
from tests.http import make_token_sync, revoke_token, serving


def register(base: str, token: str, env: dict[str, str], cwd: Path) -> None:
    """Run each printed `claude mcp add` line in a shell, with the token in ROUNDTABLE_TOKEN as it says."""
    lines = [line for line in claude_code_remote(base).splitlines() if line.startswith("claude mcp add")]
    assert len(lines) == len(SERVER_KINDS)
    for line in lines:
        done = subprocess.run(
            ["bash", "-c", line],
            env={**env, "ROUNDTABLE_TOKEN": token},
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"


def test_claude_code_connects_to_every_server_of_serve_and_not_with_a_revoked_token(tmp_path: Path) -> None:
    claude = claude_cli()
    db = tmp_path / "team.db"
    token = make_token_sync(db, "ana")
    env = claude_home(tmp_path)
    env["PATH"] = f"{Path(claude).parent}:{env['PATH']}"
    project = tmp_path / "project"
    project.mkdir()
    with serving(db) as served:
        register(f"http://127.0.0.1:{served.port}", token, env, project)
        listed = run_claude(claude, ["mcp", "list"], env, project)
        for kind in SERVER_KINDS:
            line = next(row for row in listed.splitlines() if row.startswith(f"roundtable-{kind}:"))
            assert "Connected" in line, listed
        anyio.run(revoke_token, db, "ana")
        listed = run_claude(claude, ["mcp", "list"], env, project)
        for kind in SERVER_KINDS:
            line = next(row for row in listed.splitlines() if row.startswith(f"roundtable-{kind}:"))
            assert "✔ Connected" not in line, listed
