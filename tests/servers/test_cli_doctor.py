"""`roundtable doctor` against a real team file: every server is started and answers, on a temporary copy,
so the team's file gains no agent, session or event and the next `roundtable status` is not changed."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

from servers import SERVER_KINDS
from shared.db.connection import read_only_uri
from tests.servers.test_cli_team import fingerprint, roundtable, seed
from tests.stdio import ROOT


def doctor(db: Path, tmp: Path, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    """`roundtable doctor` for a user whose HOME is a fresh folder (no client configured unless a test writes it)."""
    tmp.mkdir(exist_ok=True)
    home = tmp.parent / "home"
    home.mkdir(exist_ok=True)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "CLAUDE_CONFIG_DIR", "MCP_TIMEOUT"))}
    return subprocess.run(
        [sys.executable, "-m", "servers.cli", "doctor", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=cwd,
        env={**clean, "NO_COLOR": "1", "TMPDIR": str(tmp), "HOME": str(home), "PYTHONPATH": str(ROOT), **env},
    )


def team_rows(db: Path) -> dict[str, list[tuple[object, ...]]]:
    with closing(sqlite3.connect(read_only_uri(db), uri=True)) as conn:
        return {
            table: [tuple(r) for r in conn.execute(f"SELECT * FROM {table} ORDER BY 1")]
            for table in ("agents", "sessions", "events")
        }


def test_the_doctor_starts_every_server_on_a_copy_and_leaves_the_team_file_alone(tmp_path: Path) -> None:
    db = tmp_path / "team.db"
    seed(db)
    rows, before = team_rows(db), fingerprint(db)
    done = doctor(db, tmp_path / "tmp")
    for kind in SERVER_KINDS:
        assert f"✓ roundtable-{kind}" in done.stdout and "temporary copy of team.db" in done.stdout, done.stdout
    assert "roundtable-doctor" not in {name for _, name, *_ in rows["agents"]}
    assert team_rows(db) == rows
    assert fingerprint(db) == before
    status = json.loads(roundtable("status", "--db", str(db), "--json").stdout)
    assert [a["name"] for a in status["agents"]] == ["ana", "bo"]
    assert list((tmp_path / "tmp").iterdir()) == []  # the copy is gone


def test_the_doctor_on_a_missing_database_creates_no_file(tmp_path: Path) -> None:
    db = tmp_path / "team" / "team.db"
    done = doctor(db, tmp_path / "tmp")
    assert "(will be created)" in done.stdout and "✓ roundtable-coordination" in done.stdout, done.stdout
    assert "new temporary database" in done.stdout
    assert not db.parent.exists()
    assert list((tmp_path / "tmp").iterdir()) == []


def test_the_doctor_starts_the_commands_the_clients_run_and_says_what_each_client_would_see(tmp_path: Path) -> None:
    db = tmp_path / "team.db"
    seed(db)
    rows, before = team_rows(db), fingerprint(db)
    home = tmp_path / "home"
    desktop = home / ".config" / "Claude" / "claude_desktop_config.json"
    desktop.parent.mkdir(parents=True)
    works = str(Path(sys.executable).parent / "roundtable-messaging")
    on_team = {"ROUNDTABLE_DB": str(db)}
    desktop.write_text(
        json.dumps(
            {
                "mcpServers": {
                    "roundtable-coordination": {"command": "/nowhere/roundtable-coordination", "env": on_team},
                    "roundtable-messaging": {"command": works, "args": [], "env": on_team},
                    "roundtable-knowledge": {"command": "uvx", "args": ["--from", ".", "roundtable-knowledge"]},
                    "roundtable-monitoring": {"command": "/bin/sleep", "args": ["60"], "env": on_team},
                    "other": {"command": "/nowhere/else"},
                }
            }
        )
    )
    project = tmp_path / "project"
    project.mkdir()
    (project / ".mcp.json").write_text(json.dumps({"mcpServers": {"roundtable-coordination": {"command": works}}}))
    done = doctor(db, tmp_path / "tmp", cwd=project, MCP_TIMEOUT="12000")
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    marked = [row.split() for row in out.splitlines() if row.startswith(("✓", "✗"))]
    line = {w[2]: " ".join(w) for w in marked if w[1] == "desktop"}
    assert line["roundtable-coordination"].startswith("✗") and "No such file or directory" in out
    assert "fix: register it again: roundtable install claude-desktop" in out
    assert line["roundtable-messaging"].startswith("✓") and "(the client waits 12 s)" in line["roundtable-messaging"]
    assert "temporary copy of team.db" in line["roundtable-messaging"]
    # Desktop passes a minimal PATH: a bare uvx found in the user's shell is not found there
    assert line["roundtable-knowledge"].startswith("✗") and "uvx is not on the PATH the client passes" in out
    assert line["roundtable-monitoring"].startswith("✗") and "no answer within 12 s (the client gives up there)" in out
    assert "other" not in line
    [pending] = [" ".join(w) for w in marked if w[1:3] == ["code/project", "roundtable-coordination"]]
    assert pending.startswith("✗") and "Pending approval" in pending and "--approve" in out
    assert team_rows(db) == rows and fingerprint(db) == before  # nothing left behind in the team's file
    assert list((tmp_path / "tmp").iterdir()) == []
