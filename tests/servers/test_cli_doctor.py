"""`roundtable doctor` against a real team file: every server is started and answers, on a temporary copy,
so the team's file gains no agent, session or event and the next `roundtable status` is not changed. On a
real PostgreSQL team: the connection, schema version and privileges, each failure with its one-line fix."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

from servers import SERVER_KINDS
from servers.cli.doctor import Check
from servers.cli.doctor_postgres import check_postgres
from shared.db.connection import read_only_uri
from shared.db.place import PostgresUrl
from tests.direct import direct
from tests.postgres import Postgres
from tests.servers.test_cli_team import fingerprint, roundtable, seed
from tests.stdio import ROOT


def doctor(db: Path, tmp: Path, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    """`roundtable doctor` for a user whose HOME is a fresh folder (no client configured unless a test writes it)."""
    return doctor_on(str(db), tmp, cwd, **env)


def doctor_on(db: str, tmp: Path, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    """`roundtable doctor --db <a file or a URL>`, as `doctor` runs it."""
    tmp.mkdir(exist_ok=True)
    home = tmp.parent / "home"
    home.mkdir(exist_ok=True)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "CLAUDE_CONFIG_DIR", "MCP_TIMEOUT"))}
    return subprocess.run(
        [sys.executable, "-m", "servers.cli", "doctor", "--db", db],
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


def test_a_uvx_entry_failing_on_a_certificate_is_told_the_settings_todays_uv_reads(tmp_path: Path) -> None:
    """uv behind a company CA: the doctor names SSL_CERT_FILE and UV_SYSTEM_CERTS, what uv's own hint and the
    README's Troubleshooting say (UV_NATIVE_TLS only for older uv)."""
    uvx = tmp_path / "bin" / "uvx"
    uvx.parent.mkdir()
    uvx.write_text(
        "#!/bin/sh\necho 'error: Request failed after 3 retries' >&2\n"
        "echo '  Caused by: invalid peer certificate: UnknownIssuer' >&2\n"
        "echo '  hint: Consider enabling use of system TLS certificates with the `--system-certs` flag' >&2\nexit 2\n"
    )
    uvx.chmod(0o755)
    desktop = tmp_path / "home" / ".config" / "Claude" / "claude_desktop_config.json"
    desktop.parent.mkdir(parents=True)
    entry = {"command": str(uvx), "args": ["--from", "/src", "roundtable-coordination"]}
    desktop.write_text(json.dumps({"mcpServers": {"roundtable-coordination": entry}}))
    db = tmp_path / "team.db"
    seed(db)
    done = doctor(db, tmp_path / "tmp")
    lines = done.stdout.splitlines()
    [row] = [i for i, line in enumerate(lines) if line.startswith("✗ desktop roundtable-coordination")]
    assert "certificate error while fetching packages" in lines[row], done.stdout
    assert (
        lines[row + 1]
        .split("fix: ", 1)[1]
        .startswith("set SSL_CERT_FILE (or UV_SYSTEM_CERTS=1; UV_NATIVE_TLS=1 in older uv) in the entry's env")
    ), done.stdout


def test_the_doctor_checks_the_db_it_is_given_beside_the_clients_and_says_none_uses_it(tmp_path: Path) -> None:
    db = tmp_path / "team.db"
    seed(db)
    project = tmp_path / "project"
    project.mkdir()
    pending = {"mcpServers": {"roundtable-coordination": {"command": "roundtable-coordination"}}}
    (project / ".mcp.json").write_text(json.dumps(pending))  # not approved: not started, on the default file
    done = doctor(db, tmp_path / "tmp", cwd=project)
    out = done.stdout
    assert f"{tmp_path} (mode" in out and "integrity" in out and "schema version" in out, out  # the file asked for
    [line] = [row for row in out.splitlines() if row.startswith("✓ --db")]
    assert f"no client here is configured with {db} (they use {tmp_path / 'home'}/.local/share" in line, line
    fix = out.splitlines()[out.splitlines().index(line) + 1].strip()
    assert fix == f"fix: to put a client on that team: roundtable install CLIENT --db {db}", fix  # the very command


def test_the_doctor_on_a_postgresql_team_checks_it_and_leaves_it_alone(postgres_url: str, tmp_path: Path) -> None:
    with direct(postgres_url) as conn:
        conn.execute("INSERT INTO agents(id, name, created_at, last_seen) VALUES ('named:ana', 'ana', 1, 1)")
        before = [conn.execute(f"SELECT count(*) FROM {t}").fetchone() for t in ("agents", "sessions", "events")]
    done = doctor_on(postgres_url, tmp_path / "tmp")
    assert done.returncode == 0, done.stdout
    lines = done.stdout.splitlines()
    assert any(line.startswith("✓ PostgreSQL") and "connected as roundtable, PostgreSQL 15" in line for line in lines)
    assert any(line.startswith("✓ schema version") and "(up to date)" in line for line in lines), done.stdout
    assert any(line.startswith("✓ privileges") and "may read and write all" in line for line in lines), done.stdout
    assert any(line.startswith("✓ connections") for line in lines), done.stdout
    for kind in SERVER_KINDS:
        assert f"✓ roundtable-{kind}" in done.stdout and "new temporary SQLite file" in done.stdout, done.stdout
    with direct(postgres_url) as conn:
        after = [conn.execute(f"SELECT count(*) FROM {t}").fetchone() for t in ("agents", "sessions", "events")]
    assert after == before


def limited_user(server: Postgres, database: str, *grants: str) -> str:
    """A user of its own for this test's database, with only CONNECT and `grants`; its URL."""
    user = f"u_{database}"
    server.sql(f"CREATE USER {user}; GRANT CONNECT ON DATABASE {database} TO {user}", database)
    for grant in grants:
        server.sql(grant.format(user=user), database)
    return server.url(database).replace("roundtable@", f"{user}@")


def lines_of(url: str) -> dict[str, Check]:
    return {c.name: c for c in check_postgres(PostgresUrl(url))}


def test_the_doctor_names_the_grant_a_postgresql_user_lacks(postgres_server: Postgres, postgres_url: str) -> None:
    database = postgres_url.rsplit("/", 1)[1]
    reader = limited_user(postgres_server, database, "GRANT SELECT ON ALL TABLES IN SCHEMA public TO {user}")
    found = lines_of(reader)
    assert found["PostgreSQL"].ok and found["schema version"].ok
    assert not found["privileges"].ok and f"u_{database} lacks INSERT on agents" in found["privileges"].detail
    assert found["privileges"].fix == (
        f"as their owner: GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO u_{database}"
    )


def test_the_doctor_on_an_empty_postgresql_database_says_who_may_create_the_schema(
    postgres_server: Postgres, postgres_url: str
) -> None:
    empty = postgres_server.create()
    try:
        owner = lines_of(postgres_server.url(empty))
        schema = owner["schema version"]
        assert schema.ok and "empty; the first server creates version" in schema.detail
        stranger = lines_of(limited_user(postgres_server, empty))  # PostgreSQL 15: no CREATE on public for others
        assert not stranger["schema version"].ok
        assert stranger["schema version"].fix.startswith(
            f"as the database's owner: GRANT CREATE ON SCHEMA public TO u_{empty} (or ALTER DATABASE"
        )
    finally:
        postgres_server.drop(empty)
        postgres_server.sql(f"DROP USER IF EXISTS u_{empty}")


def test_the_doctor_says_how_to_fix_a_postgresql_url_that_leads_nowhere(postgres_server: Postgres) -> None:
    cases = {
        postgres_server.url("no_such_team"): "CREATE DATABASE no_such_team OWNER roundtable",
        postgres_server.url("x").replace("roundtable@", "ghost@"): "CREATE USER ghost",
        "postgresql://ana@127.0.0.1:1/team": "start PostgreSQL there, or correct the host and port",
    }
    for url, fix in cases.items():
        [check] = check_postgres(PostgresUrl(url))
        assert not check.ok and fix in check.fix, (url, check)


def test_the_doctor_reads_a_shared_mcp_json_as_claude_code_does_with_its_variables_expanded(tmp_path: Path) -> None:
    db = tmp_path / "team.db"
    seed(db)
    home = tmp_path / "home"
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "roundtable-coordination").symlink_to(Path(sys.executable).parent / "roundtable-coordination")
    project = tmp_path / "project"
    (project / ".claude").mkdir(parents=True)
    entry = {"command": "${HOME}/bin/roundtable-coordination", "env": {"ROUNDTABLE_DB": "${TEAM_FILE:-./none.db}"}}
    (project / ".mcp.json").write_text(json.dumps({"mcpServers": {"roundtable-coordination": entry}}))
    approved = {"enabledMcpjsonServers": ["roundtable-coordination"]}
    (project / ".claude" / "settings.local.json").write_text(json.dumps(approved))
    done = doctor(db, tmp_path / "tmp", cwd=project, TEAM_FILE=str(db))
    [row] = [r for r in done.stdout.splitlines() if "code/project roundtable-coordination" in r]
    assert row.startswith("✓") and "temporary copy of team.db" in row, done.stdout


def test_shared_config_names_the_install_from_the_home_folder_the_way_each_reader_expands_it() -> None:
    from servers.cli import clientconfig, clients

    script = Path.home() / ".local" / "share" / "uv" / "tools" / "mcp-roundtable" / "bin" / "roundtable"
    assert clientconfig.from_home(script) == "${HOME}/.local/share/uv/tools/mcp-roundtable/bin/roundtable"
    assert clients.expanded(clientconfig.from_home(script)) == str(script)
    shell = subprocess.run(["sh", "-c", f"echo {clientconfig.from_home(script, shell=True)}"], capture_output=True)
    assert shell.stdout.decode().strip() == str(script)  # a hook's command runs in a shell
    assert clientconfig.from_home(Path("/opt/x y/roundtable"), shell=True) == "'/opt/x y/roundtable'"
    home = Path.home()
    try:  # a home folder of / holds every path: nothing is named from it
        os.environ["HOME"] = "/"
        assert clientconfig.from_home(Path("/opt/uv/tools/roundtable")) == "/opt/uv/tools/roundtable"
    finally:
        os.environ["HOME"] = str(home)
    env = {"A": "1", "EMPTY": ""}
    assert clients.expanded("${A}-${B:-two}-${EMPTY:-three}-${UNSET}-$A", env) == "1-two-three-${UNSET}-$A"


def test_hooks_already_in_a_settings_file_are_never_added_twice(tmp_path: Path) -> None:
    from servers.cli import install

    settings = tmp_path / "settings.json"
    groups = {"Stop": {"hooks": [{"type": "command", "command": '"$HOME"/bin/roundtable hook Stop', "timeout": 10}]}}
    assert install.add_hooks(settings, groups) == ['"$HOME"/bin/roundtable hook Stop']
    assert install.add_hooks(settings, groups) == []  # its quotes are not JSON's escaped ones
    assert len(json.loads(settings.read_text())["hooks"]["Stop"]) == 1
