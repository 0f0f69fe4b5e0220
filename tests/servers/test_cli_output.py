"""What the `roundtable` command prints, as people see it: tables aligned on a terminal with colour (and none
without one, or under NO_COLOR), errors as JSON under --json, a quiet end when the reader of a pipe goes away,
help screens in plain words, server commands that say they are stdio servers a client starts, and the stdio
bridge (`roundtable connect`) ending cleanly when its client goes away."""

from __future__ import annotations

import argparse
import json
import os
import pty
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from servers import SERVER_KINDS
from servers.cli import build_parser, main
from servers.cli.render import ANSI
from shared import config
from tests.http import make_token_sync, serving
from tests.servers.test_cli_team import roundtable, seed
from tests.stdio import ROOT

COMMANDS = ["demo", "install", "uninstall", "status", "tail", "doctor", "config", "dashboard", "serve", "token"]


def on_a_terminal(*args: str, **env: str) -> str:
    """`roundtable ARGS` with its stdout on a pseudo-terminal, as in a person's shell; what it printed."""
    main, child = pty.openpty()
    clean = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM")}
    done = subprocess.run(
        [sys.executable, "-m", "servers.cli", *args],
        stdout=child,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env={**clean, "TERM": "xterm", **env},
        timeout=60,
    )
    os.close(child)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    assert done.returncode in (0, 1), done.stderr
    return b"".join(chunks).decode().replace("\r\n", "\n")


def test_status_on_a_terminal_is_coloured_and_its_columns_line_up(tmp_path: Path) -> None:
    db = tmp_path / "team.db"
    seed(db)
    shown = on_a_terminal("status", "--db", str(db))
    assert "\033[" in shown
    lines = ANSI.sub("", shown).splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("agent "))
    rows = lines[header : header + 3]
    starts = [[m.start() for m in re.finditer(r"(?<=  )\S", row)] for row in rows]
    assert starts[0] == starts[1] == starts[2], rows  # colour codes take no width
    assert "\033[" not in on_a_terminal("status", "--db", str(db), NO_COLOR="1")
    assert "\033[" in on_a_terminal("status", "--db", str(db), NO_COLOR="")  # set but empty: colour (no-color.org)


def test_status_json_says_its_errors_as_json(tmp_path: Path) -> None:
    missing = roundtable("status", "--db", str(tmp_path / "none.db"), "--json")
    assert missing.returncode == 2 and "no Roundtable database" in json.loads(missing.stdout)["error"]
    bad = roundtable("status", "--db", str(tmp_path / "none.db"), "--json", ROUNDTABLE_PRESENCE_TIMEOUT="soon")
    assert bad.returncode == 2 and "ROUNDTABLE_PRESENCE_TIMEOUT" in json.loads(bad.stdout)["error"]


def test_a_closed_pipe_ends_status_and_tail_quietly(tmp_path: Path) -> None:
    db = tmp_path / "team.db"
    seed(db)
    me = f"{sys.executable} -m servers.cli"
    for command in (f"{me} status --db {db}", f"{me} tail --db {db} --no-follow -n 50"):
        done = subprocess.run(
            ["bash", "-c", f"{command} | head -c 1"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
            env={**os.environ, "NO_COLOR": "1"},
        )
        assert done.stderr == "", f"{command}: {done.stderr}"


def test_help_screens_are_plain_words_and_the_servers_say_who_starts_them() -> None:
    parser = build_parser()
    top = parser.format_help()
    assert "`" not in top and all(f"    {c} " in top or f"    {c}\n" in top for c in COMMANDS), top
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for name in COMMANDS:
        shown = commands.choices[name].format_help()
        assert "`" not in shown and len(shown.split("\n\n")) > 2, (name, shown)  # usage, what it does, options
    for kind in SERVER_KINDS:
        text = " ".join(config.parser(f"roundtable-{kind}", "a server", "0").format_help().split())
        assert "This is a stdio MCP server: an MCP client" in text and "roundtable install claude-code" in text, text
    shown = subprocess.run(  # and as a person runs it
        [sys.executable, "-m", "servers.messaging", "--help"], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert "stdio MCP server" in shown.stdout


def test_connect_ends_cleanly_when_its_stdio_client_goes_away(tmp_path: Path) -> None:
    db = tmp_path / "team.db"
    token = make_token_sync(db, "ana")
    with (
        serving(db) as served,
        subprocess.Popen(
            [sys.executable, "-m", "servers.cli", "connect", served.url("coordination")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            env={**os.environ, "ROUNDTABLE_TOKEN": token},
        ) as bridge,
    ):
        assert bridge.stdin is not None and bridge.stdout is not None
        hello: dict[str, object] = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "0"},
            },
        }
        bridge.stdin.write((json.dumps(hello) + "\n").encode())
        bridge.stdin.flush()
        answer = json.loads(bridge.stdout.readline())
        assert answer["result"]["serverInfo"]["name"], answer
        began = time.monotonic()
        bridge.stdin.close()  # the client goes away
        code = bridge.wait(timeout=20)
        stderr = bridge.stderr.read().decode() if bridge.stderr else ""
    assert code == 0 and "Traceback" not in stderr, stderr
    assert time.monotonic() - began < 20


def test_ctrl_c_in_a_command_is_one_line_and_exit_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from servers.cli import doctor

    def interrupted(*_: object, **__: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(doctor, "run", interrupted)  # Ctrl-C while the doctor's servers start
    with pytest.raises(SystemExit) as ended:
        main(["doctor", "--db", "team.db"])
    assert ended.value.code == 130
    assert capsys.readouterr().err.strip() == "roundtable doctor: interrupted"


def test_a_mistyped_command_or_flag_is_one_line_with_the_nearest_and_help(tmp_path: Path) -> None:
    cases = {
        ("statsu",): "roundtable: argument COMMAND: invalid choice: 'statsu'",
        ("status", "--jsno"): "roundtable status: unrecognized arguments: --jsno; did you mean --json?",
        ("install", "claude"): "did you mean claude-code? roundtable install --help says how to use it",
        ("token", "create", "ana", "--rloe", "admin"): "roundtable token create: unrecognized arguments: --rloe admin",
        ("tail", "-n", "x"): "roundtable tail: argument -n/--lines: invalid int value: 'x'; roundtable tail --help",
    }
    for args, said in cases.items():
        done = roundtable(*args, "--db", str(tmp_path / "none.db")) if args[0] != "statsu" else roundtable(*args)
        assert done.returncode == 2 and done.stdout == "", (args, done.stdout)
        assert len(done.stderr.splitlines()) == 1 and said in done.stderr, (args, done.stderr)
    assert "did you mean status?" in roundtable("statsu").stderr
    before = roundtable("--db", "team.db", "status")  # a command's flag before the command
    assert (
        before.returncode == 2
        and "roundtable: --db goes after the command: roundtable status --db team.db;" in before.stderr
    )
    assert "did you mean --version?" in roundtable("--versoin").stderr


def test_help_on_a_narrow_terminal_never_cuts_a_command_or_a_flag_in_two() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "servers.cli", "config", "--help"],
        capture_output=True, text=True, cwd=ROOT, timeout=60, env={**os.environ, "COLUMNS": "40"},
    )  # fmt: skip
    assert "./.roundtable/roundtable.db" in done.stdout and ".claude/settings.json" in done.stdout, done.stdout
    top = subprocess.run(
        [sys.executable, "-m", "servers.cli", "--help"],
        capture_output=True, text=True, cwd=ROOT, timeout=60, env={**os.environ, "COLUMNS": "40"},
    )  # fmt: skip
    assert "claude-desktop" in top.stdout and "claude-\n" not in top.stdout, top.stdout
