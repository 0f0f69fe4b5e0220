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


def doctor(db: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    tmp.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "servers.cli", "doctor", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
        env={**os.environ, "NO_COLOR": "1", "TMPDIR": str(tmp)},
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
