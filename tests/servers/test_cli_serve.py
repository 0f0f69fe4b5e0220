"""`roundtable token`, `roundtable serve`'s refusals and `roundtable config --url`, as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import anyio

from servers.cli import clientconfig
from servers.cli.launch import free_port
from tests.http import make_token, serving
from tests.stdio import ROOT


def roundtable(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "servers.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
        env={**os.environ, **env},
    )


def test_token_create_prints_the_token_once_and_list_and_revoke_never_show_it(tmp_path: Path) -> None:
    db = str(tmp_path / "team.db")
    made = roundtable("token", "create", "ana", "--db", db)
    assert made.returncode == 0, made.stderr
    intro, token = made.stdout.splitlines()
    assert "new agent ana (worker)" in intro and token.startswith("rt_")
    token_id = token.split("_")[1]
    observer = roundtable("token", "create", "olga", "--role", "observer", "--db", db)
    assert "(observer)" in observer.stdout
    listed = roundtable("token", "list", "--db", db)
    assert token_id in listed.stdout and "olga" in listed.stdout and token not in listed.stdout
    assert roundtable("token", "revoke", token_id, "--db", db).returncode == 0
    assert token_id not in roundtable("token", "list", "--db", db).stdout
    assert token_id in roundtable("token", "list", "--all", "--db", db).stdout
    again = roundtable("token", "revoke", token_id, "--db", db)
    assert again.returncode == 1 and "token list" in again.stderr
    bad = roundtable("token", "create", "two words", "--db", db)
    assert bad.returncode == 2 and "not usable" in bad.stderr


def test_token_list_and_revoke_on_a_wrong_path_create_no_file_and_a_folder_is_named(tmp_path: Path) -> None:
    # A mistyped --db made a new, empty team file there ("no tokens"); a folder ended in a traceback.
    typo = tmp_path / "tema.db"
    for action in (("list",), ("revoke", "ana")):
        refused = roundtable("token", *action, "--db", str(typo))
        assert refused.returncode in (1, 2) and f"there is no Roundtable database at {typo}" in refused.stderr
        assert not typo.exists()
    for action in (("list",), ("create", "ana")):
        refused = roundtable("token", *action, "--db", str(tmp_path))
        assert f"{tmp_path} is a folder, not a database file" in refused.stderr
        assert "Traceback" not in refused.stderr


def test_serve_refuses_to_listen_beyond_loopback_without_a_token(tmp_path: Path) -> None:
    refused = roundtable("serve", "--host", "0.0.0.0", "--port", str(free_port()), "--db", str(tmp_path / "t.db"))
    assert refused.returncode == 2
    assert "refusing to listen on 0.0.0.0" in refused.stderr and "roundtable token create" in refused.stderr


def test_a_port_out_of_range_is_refused_in_one_line_without_a_traceback(tmp_path: Path) -> None:
    # --port 99999 got past argparse's int and ended in bind()'s OverflowError traceback.
    for port in ("99999", "-5", "http"):
        refused = roundtable("serve", "--port", port, "--db", str(tmp_path / "t.db"))
        assert refused.returncode == 2, refused.stderr
        assert "is not a port: give a number from 0 to 65535" in refused.stderr
        assert "Traceback" not in refused.stderr
    assert not (tmp_path / "t.db").exists()


def test_a_port_in_use_is_one_line_naming_the_fix_and_no_urls(tmp_path: Path) -> None:
    # serve printed its four URLs as if it were serving, then uvicorn's "ERROR: [Errno 98] …", exit 3.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        refused = roundtable("serve", "--port", str(port), "--db", str(tmp_path / "t.db"))
    assert refused.returncode == 2, refused.stderr
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use; pick another --port" in refused.stderr
    assert "/mcp" not in refused.stderr and "ERROR" not in refused.stderr


def test_ctrl_c_stops_serve_quietly_with_exit_0(tmp_path: Path) -> None:
    # Ctrl-C, the way the README's `roundtable serve` is stopped, ended in two KeyboardInterrupt tracebacks.
    argv = [sys.executable, "-m", "servers.cli", "serve", "--port", "0", "--db", str(tmp_path / "t.db")]
    proc = subprocess.Popen(argv, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        port = 0
        for line in proc.stderr:
            if "/coordination/mcp" in line:
                port = int(line.rsplit(":", 1)[1].split("/")[0])
            if "every request needs" in line:
                break
        deadline = time.monotonic() + 30
        while True:  # serving (uvicorn's signal handlers in place) once a request is answered
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/coordination/mcp", timeout=2)
            except urllib.error.HTTPError as refused:  # 401: no token, but answered
                assert refused.code == 401
                break
            except OSError:
                assert time.monotonic() < deadline, "serve never answered on its port"
                time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def test_config_url_prints_the_bridge_for_desktop_and_the_http_lines_for_claude_code(tmp_path: Path) -> None:
    no_install = str(tmp_path / "no-tools")  # no persistent install here: the entries run uvx
    desktop = json.loads(
        roundtable("config", "claude-desktop", "--url", "https://team.example.com/", UV_TOOL_DIR=no_install).stdout
    )
    entry = desktop["mcpServers"]["roundtable-messaging"]
    assert entry["args"][-3:] == ["roundtable", "connect", "https://team.example.com/messaging/mcp"]
    assert entry["env"] == {"ROUNDTABLE_TOKEN": clientconfig.TOKEN_HERE}
    code = roundtable("config", "claude-code", "--url", "https://team.example.com/coordination/mcp").stdout
    assert (
        "claude mcp add --transport http roundtable-knowledge https://team.example.com/knowledge/mcp"
        ' --header "Authorization: Bearer $ROUNDTABLE_TOKEN"'
    ) in code
    assert code.count("claude mcp add") == 4
    assert clientconfig.CHANNEL_LAUNCH in code  # serve's messaging server is a channel too


def test_serve_that_cannot_open_the_database_says_why_in_one_line_and_exits(tmp_path: Path) -> None:
    # serve gives up at once, yet its line ended "The server keeps retrying." (the MCP servers' words), and
    # aiosqlite's worker thread printed "Event loop is closed" tracebacks under it
    (tmp_path / "a-file").write_text("")
    for db, why in (
        (tmp_path / "a-file" / "sub" / "team.db", "Not a directory"),
        (tmp_path / "a-file" / "team.db", "cannot be opened"),
    ):
        refused = roundtable("serve", "--port", str(free_port()), "--db", str(db))
        assert refused.returncode == 1, refused.stderr
        [line] = refused.stderr.strip().splitlines()
        assert line.startswith("roundtable serve: ") and why in line, line
        assert "retrying" not in line


def test_connect_that_cannot_get_through_says_why_with_the_fix(tmp_path: Path) -> None:
    """`roundtable connect`, Claude Desktop's bridge, said "unhandled errors in a TaskGroup (1 sub-exception)"
    for a revoked token, a wrong path and a server that is not running alike."""
    db = tmp_path / "team.db"
    hello = '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18",'
    hello += '"capabilities":{},"clientInfo":{"name":"desktop","version":"1"}}}\n'

    def connect(url: str, token: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "servers.cli", "connect", url],
            input=hello, capture_output=True, text=True, cwd=ROOT, timeout=60,
            env={**os.environ, "ROUNDTABLE_TOKEN": token},
        )  # fmt: skip
        assert done.returncode == 1 and done.stdout == "", done.stdout + done.stderr
        [line] = done.stderr.splitlines()
        assert line.startswith(f"roundtable connect: {url}: ") and "TaskGroup" not in line, line
        return line

    token = anyio.run(make_token, db, "ana")
    with serving(db) as served:
        assert "the token was refused (mistyped, or revoked)" in connect(served.url("coordination"), "rt_wrong")
        base = served.url("coordination").removesuffix("/coordination/mcp")
        wrong = connect(f"{base}/coordinaton/mcp", token)
        assert "no Roundtable endpoint at that path" in wrong and "config claude-desktop --url BASE" in wrong
    gone = connect(served.url("coordination"), token)  # serve stopped
    assert "cannot reach it" in gone and "is roundtable serve running there" in gone
