"""`roundtable install` and `uninstall` as a user runs them, against a temporary HOME: the real `uv tool install`
of this checkout, the real Claude Code CLI (`claude mcp add`, then `claude mcp list` health-checks every server
from cold, with its 30 s limit), and a Desktop config file that already has other servers in it. uv's package
cache is the user's own (the install builds a fresh environment from it; nothing else of the user's is read or
written)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from servers import SERVER_KINDS
from servers.cli import build_parser, clients
from tests.clients import claude_cli
from tests.stdio import ROOT

NAMES = [f"roundtable-{kind}" for kind in SERVER_KINDS]
DROPPED = ("HOME", "ROUNDTABLE_DB", "CLAUDE_CONFIG_DIR", "UV_TOOL_DIR", "UV_TOOL_BIN_DIR", "APPDATA")


def uv_cache() -> str:
    done = subprocess.run(["uv", "cache", "dir"], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def user_env(tmp: Path, claude: str | None) -> dict[str, str]:
    """The environment of a new user whose HOME is under `tmp`, with uv's cache shared and `claude` named."""
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in DROPPED and not k.startswith("XDG_")}
    env |= {"HOME": str(home), "UV_CACHE_DIR": uv_cache(), "NO_COLOR": "1"}
    env.pop("ROUNDTABLE_CLAUDE", None)
    if claude is not None:
        env["ROUNDTABLE_CLAUDE"] = claude
    return env


def roundtable(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "servers.cli", *args],
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )


def run_claude(env: dict[str, str], cwd: Path, *args: str) -> str:
    claude = env["ROUNDTABLE_CLAUDE"]
    done = subprocess.run([claude, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"claude {args}: {done.stdout}{done.stderr}"
    return done.stdout + done.stderr


def listed(env: dict[str, str], cwd: Path) -> dict[str, str]:
    """`claude mcp list`: each server's line by name."""
    rows = run_claude(env, cwd, "mcp", "list").splitlines()
    return {row.split(":", 1)[0]: row for row in rows if ":" in row and " - " in row}


def project(tmp: Path) -> Path:
    folder = tmp / "project"
    folder.mkdir()
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    return folder


def tool_folder(env: dict[str, str]) -> Path:
    return Path(env["HOME"]) / ".local" / "share" / "uv" / "tools" / "mcp-roundtable"


def read(path: Path) -> Any:
    return json.loads(path.read_text())


def test_install_claude_code_connects_all_four_from_cold_and_uninstall_undoes_exactly_that(tmp_path: Path) -> None:
    env = user_env(tmp_path, claude_cli())
    here = project(tmp_path)
    run_claude(env, here, "mcp", "add", "-s", "local", "other", "--", "/bin/true")
    settings = here / ".claude" / "settings.local.json"
    settings.parent.mkdir()
    theirs_stop = {"hooks": [{"type": "command", "command": "x"}]}
    mine = {"permissions": {"allow": ["Bash(ls:*)"]}, "hooks": {"Stop": [theirs_stop]}}
    settings.write_text(json.dumps(mine))

    done = roundtable(env, here, "install", "claude-code")
    assert done.returncode == 0, done.stdout + done.stderr
    for name in NAMES:
        assert f"✓ {name} answers in" in done.stdout
    links = Path(env["HOME"]) / ".local" / "bin"  # a new user's: not on the PATH yet, so install says how
    assert f"! the roundtable command is in {links}, which is not on your PATH:" in done.stdout
    assert "run `uv tool update-shell` and open a new terminal" in done.stdout
    assert f"! git would commit the team's file: add .roundtable/ to {here / '.gitignore'}" in done.stdout
    assert f"Watch the team: roundtable status --db {here / '.roundtable' / 'roundtable.db'} (or" in done.stdout
    assert "claude --dangerously-load-development-channels server:roundtable-messaging" in done.stdout
    # The "done when": a cold registration through install, every server connected in claude mcp list.
    rows = listed(env, here)
    for name in NAMES:
        assert "✔ Connected" in rows[name], rows
        assert str(tool_folder(env) / "bin" / name) in rows[name]  # the persistent install, never uvx
    hooks = read(settings)["hooks"]
    assert hooks["Stop"][0] == mine["hooks"]["Stop"][0] and len(hooks["Stop"]) == 2
    assert read(settings)["permissions"] == mine["permissions"]
    start = hooks["SessionStart"][0]["hooks"][0]["command"]
    assert start.startswith(str(tool_folder(env) / "bin" / "roundtable") + " hook SessionStart --db ")
    assert start.endswith(str(here / ".roundtable" / "roundtable.db"))

    undone = roundtable(env, here, "uninstall", "claude-code")
    assert undone.returncode == 0, undone.stdout + undone.stderr
    rows = listed(env, here)
    assert sorted(rows) == ["other"]
    assert read(settings) == mine
    assert not tool_folder(env).exists()
    assert not (Path(env["HOME"]) / ".local" / "share" / "roundtable" / "installs.json").exists()
    twice = roundtable(env, here, "uninstall", "claude-code")
    assert twice.returncode == 1 and len(twice.stderr.splitlines()) == 1 and "was not installed" in twice.stderr


def test_project_scope_is_approved_on_request_and_uninstall_removes_the_approval(tmp_path: Path) -> None:
    env = user_env(tmp_path, claude_cli())
    here = project(tmp_path)
    flags = ["--scope", "project", "--project", str(here)]  # run from elsewhere, as from a checkout
    (here / ".gitignore").write_text(".roundtable/\n")
    done = roundtable(env, tmp_path, "install", "claude-code", *flags, "--approve")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "git would commit" not in done.stdout  # ignored already: nothing to say
    assert "approved for you in" in done.stdout
    entries = read(here / ".mcp.json")["mcpServers"]
    assert sorted(entries) == sorted(NAMES)
    assert {e["env"]["ROUNDTABLE_DB"] for e in entries.values()} == {"./.roundtable/roundtable.db"}
    # Shared with the team: no one's home folder is written into it, each teammate's own install runs.
    shared = "${HOME}/.local/share/uv/tools/mcp-roundtable/bin/"
    assert {name: e["command"] for name, e in entries.items()} == {name: shared + name for name in NAMES}
    assert env["HOME"] not in (here / ".mcp.json").read_text()
    rows = listed(env, here)
    assert all("✔ Connected" in rows[name] for name in NAMES), rows  # Claude Code expanded ${HOME}
    assert (here / ".roundtable" / "roundtable.db").exists()  # relative to the project, where Claude Code runs them
    start = read(here / ".claude" / "settings.json")["hooks"]["SessionStart"][0]["hooks"][0]["command"]
    assert start.startswith('"$HOME"/.local/share/uv/tools/mcp-roundtable/bin/roundtable hook SessionStart --db ')
    assert env["HOME"] not in (here / ".claude" / "settings.json").read_text()
    brief = subprocess.run(  # as Claude Code runs a hook: in a shell, JSON on stdin, in the project
        ["sh", "-c", start], input=json.dumps({"hook_event_name": "SessionStart", "cwd": str(here)}),
        env={**env, "CLAUDE_PROJECT_DIR": str(here)}, cwd=here, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert brief.returncode == 0 and "Roundtable" in brief.stdout, brief.stdout + brief.stderr
    again = roundtable(env, tmp_path, "install", "claude-code", *flags, "--approve")  # an update, or a teammate
    assert again.returncode == 0, again.stdout + again.stderr
    assert "the team's file changed" not in again.stdout  # the same team
    hooks = read(here / ".claude" / "settings.json")["hooks"]
    assert {event: len(groups) for event, groups in hooks.items()} == {
        "SessionStart": 1,
        "UserPromptSubmit": 1,
        "Stop": 1,
    }
    undone = roundtable(env, tmp_path, "uninstall", "claude-code", *flags)
    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert clients.servers_of(read(here / ".mcp.json")) == {}
    assert not (here / ".claude" / "settings.local.json").exists()
    assert not (here / ".claude" / "settings.json").exists()  # install made it for the hooks: gone with them


def test_install_claude_desktop_merges_beside_other_servers_and_uninstall_puts_the_file_back(tmp_path: Path) -> None:
    env = user_env(tmp_path, None)
    config = Path(env["HOME"]) / ".config" / "Claude" / "claude_desktop_config.json"
    config.parent.mkdir(parents=True)
    theirs = {
        "globalShortcut": "Ctrl+Space",
        "mcpServers": {
            "filesystem": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"]},
            "roundtable-messaging": {
                "command": "uvx",
                "args": ["--from", "old", "roundtable-messaging"],
                "env": {"ROUNDTABLE_DB": "/old/team.db"},
            },
        },
    }
    config.write_text(json.dumps(theirs, indent=4), encoding="utf-8-sig")  # as Windows Notepad saves it
    original = config.read_text()

    done = roundtable(env, tmp_path, "install", "claude-desktop", "--db", str(tmp_path / "team.db"))
    assert done.returncode == 0, done.stdout + done.stderr
    replaced = next(line for line in done.stdout.splitlines() if "roundtable-messaging was already in" in line)
    assert "ROUNDTABLE_DB=/old/team.db): replaced; uninstall puts it back" in replaced, replaced
    assert replaced.endswith("to keep its team's file, run this again with --db /old/team.db")
    merged = read(config)
    assert merged["globalShortcut"] == "Ctrl+Space"
    assert merged["mcpServers"]["filesystem"] == theirs["mcpServers"]["filesystem"]
    for name in NAMES:
        entry = merged["mcpServers"][name]
        assert entry["command"] == str(tool_folder(env) / "bin" / name) and Path(entry["command"]).is_file()
        assert entry["env"] == {"ROUNDTABLE_DB": str(tmp_path / "team.db")}  # one team: the same file everywhere
    [backup] = list(config.parent.glob("claude_desktop_config.json.roundtable-backup-*"))
    assert backup.read_text() == original
    data_folder = Path(env["HOME"]) / ".local" / "share" / "roundtable"  # install made it: user-only, as servers do
    assert stat.S_IMODE(data_folder.stat().st_mode) == 0o700

    assert "other servers in the file were left as they are" in done.stdout
    assert "Claude Desktop has not run here yet" not in done.stdout

    undone = roundtable(env, tmp_path, "uninstall", "claude-desktop")
    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert read(config) == theirs  # the replaced uvx entry is back, the rest untouched
    assert "backup of claude_desktop_config.json as it was: " in undone.stdout
    assert not tool_folder(env).exists()

    shutil.rmtree(config.parent)  # no Claude Desktop on this machine (yet)
    done = roundtable(env, tmp_path, "install", "claude-desktop")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"! Claude Desktop has not run here yet (no {config.parent}): the config waits for it" in done.stdout
    assert "other servers" not in done.stdout
    again = roundtable(env, tmp_path, "install", "claude-desktop", "--db", str(tmp_path / "other.db"))
    assert again.returncode == 0, again.stdout + again.stderr
    default = Path(env["HOME"]) / ".local" / "share" / "roundtable" / "roundtable.db"
    assert (
        f"! the team's file changed from {default} to {tmp_path / 'other.db'}; --db {default} keeps it" in again.stdout
    )
    undone = roundtable(env, tmp_path, "uninstall", "claude-desktop")
    assert undone.returncode == 0 and not config.exists(), undone.stdout + undone.stderr


def test_an_install_stopped_half_way_is_taken_back_by_uninstall(tmp_path: Path) -> None:
    real = claude_cli()
    env = user_env(tmp_path, real)
    here = project(tmp_path)
    run_claude(env, here, "mcp", "add", "-s", "local", "roundtable-knowledge", "--", "/bin/true")  # theirs
    failing = tmp_path / "claude"  # the real CLI, whose third `mcp add` fails
    failing.write_text(
        '#!/bin/sh\ncase "$*" in *"mcp add -s local roundtable-knowledge"*)'
        f' echo "error: disk full" >&2; exit 1;; esac\nexec {real} "$@"\n'
    )
    failing.chmod(0o755)
    done = roundtable(env | {"ROUNDTABLE_CLAUDE": str(failing)}, here, "install", "claude-code")
    assert done.returncode == 1 and len(done.stderr.splitlines()) == 1, done.stderr
    assert "failed: error: disk full; `roundtable uninstall claude-code` takes back what was done" in done.stderr
    rows = listed(env, here)
    assert sorted(rows) == ["roundtable-coordination", "roundtable-messaging"], rows  # theirs was removed first
    undone = roundtable(env, here, "uninstall", "claude-code")
    assert undone.returncode == 0, undone.stdout + undone.stderr
    rows = listed(env, here)
    assert sorted(rows) == ["roundtable-knowledge"] and "/bin/true" in rows["roundtable-knowledge"], rows
    assert not tool_folder(env).exists()


def test_install_refuses_bad_input_with_one_line_and_changes_nothing(tmp_path: Path) -> None:
    env = user_env(tmp_path, None)
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not (Path(p) / "claude").exists())
    config = Path(env["HOME"]) / ".config" / "Claude" / "claude_desktop_config.json"
    config.parent.mkdir(parents=True)
    config.write_text('{"mcpServers": {"a": ')
    cases = {
        ("install", "claude-desktop"): "is not valid JSON",
        ("install", "claude-desktop", "--scope", "user"): "--scope is for claude-code",
        ("install", "claude-code"): "Claude Code CLI (`claude`) is not on PATH",
        ("install", "claude-code", "--scope", "local", "--approve"): "--approve is for --scope project",
        ("uninstall", "claude-desktop"): "was not installed in claude-desktop",
        ("uninstall", "claude-desktop", "--project", str(tmp_path)): "--project is for claude-code",
        ("uninstall", "claude-code", "--project", str(tmp_path / "nowhere")): "is not a folder",
    }
    for args, said in cases.items():
        done = roundtable(env, tmp_path, *args)
        assert done.returncode in (1, 2) and said in done.stderr, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    env["ROUNDTABLE_CLAUDE"] = "/bin/true"
    done = roundtable(env, tmp_path, "install", "claude-code", "--source", str(tmp_path / "nothing"))
    assert done.returncode == 1 and "no pyproject.toml there" in done.stderr
    # Every file install would write is checked before anything is installed or registered.
    here = project(tmp_path)
    settings = here / ".claude" / "settings.local.json"
    settings.parent.mkdir()
    files = {
        '{"permissions": {},\n  // mine\n}': "has comments (// or /* */), which JSON does not allow",
        '{"hooks": []}': '"hooks" is not an object',
        "{}": "is read-only: make it writable (chmod u+w",
    }
    for text, said in files.items():
        settings.write_text(text)
        settings.chmod(0o444 if text == "{}" else 0o644)
        done = roundtable(env, here, "install", "claude-code")
        assert done.returncode == 1 and said in done.stderr and len(done.stderr.splitlines()) == 1, done.stderr
        assert done.stdout == "" and settings.read_text() == text
    settings.chmod(0o644)
    state = Path(env["HOME"]) / ".claude.json"  # Claude Code's own file, where local scope's servers are
    state.write_text('{"projects": ')
    done = roundtable(env, here, "install", "claude-code")
    assert done.returncode == 1 and f"{state} is not valid JSON" in done.stderr and done.stdout == "", done.stderr
    state.unlink()
    assert config.read_text() == '{"mcpServers": {"a": '
    config.write_text('{"mcpServers": {}}')
    config.chmod(0o444)  # someone meant it to stay as it is: refused, not replaced behind their back
    done = roundtable(env, tmp_path, "install", "claude-desktop")
    assert done.returncode == 1 and "claude_desktop_config.json is read-only" in done.stderr, done.stderr
    assert config.read_text() == '{"mcpServers": {}}' and list(config.parent.iterdir()) == [config]
    assert not tool_folder(env).exists()
    records = Path(env["HOME"]) / ".local" / "share" / "roundtable" / "installs.json"
    records.parent.mkdir(parents=True)
    records.write_text('{"installs": [')  # install's own record, damaged
    done = roundtable(env, tmp_path, "uninstall", "claude-desktop")
    assert done.returncode == 1 and f"{records} is not valid JSON" in done.stderr, done.stderr
    assert records.read_text() == '{"installs": ['


def test_config_blocks_are_paste_safe_and_run_the_persistent_install_when_there_is_one(tmp_path: Path) -> None:
    env = user_env(tmp_path, None) | {"UV_TOOL_DIR": str(tmp_path / "tools")}
    block = json.loads(roundtable(env, tmp_path, "config", "claude-desktop").stdout)["mcpServers"]
    assert sorted(block) == sorted(NAMES)
    default = str(Path(env["HOME"]) / ".local" / "share" / "roundtable" / "roundtable.db")
    assert all(e["env"] == {"ROUNDTABLE_DB": default} for e in block.values())  # whole, the same for all four
    assert all(e["command"] == "uvx" for e in block.values())
    bin_folder = tmp_path / "tools" / "mcp-roundtable" / "bin"
    bin_folder.mkdir(parents=True)
    for name in ["roundtable", *NAMES]:
        (bin_folder / name).write_text("#!/bin/sh\n")
    block = json.loads(roundtable(env, tmp_path, "config", "claude-desktop").stdout)["mcpServers"]
    assert [e["command"] for e in block.values()] == [str(bin_folder / name) for name in NAMES]
    code = roundtable(env, tmp_path, "config", "claude-code").stdout
    assert f"-- {bin_folder / 'roundtable-knowledge'}" in code and "Pending approval" in code


def test_the_approval_question_takes_ctrl_d_as_no(monkeypatch: pytest.MonkeyPatch) -> None:
    from servers.cli import install

    def no_answer(_: str) -> str:
        raise EOFError

    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr("builtins.input", no_answer)
    assert install.want_approval(None) is False
    assert install.want_approval(True) is True  # --approve asks nothing


def test_ctrl_c_in_install_says_how_to_finish_or_take_it_back(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from servers.cli import install

    def interrupted(_: object) -> int:
        raise KeyboardInterrupt  # during the uv install, the warm-up or a `claude mcp add`

    monkeypatch.setattr(install, "install_claude_code", interrupted)
    args = build_parser().parse_args(["install", "claude-code"])
    assert install.install(args) == 130
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(
        "roundtable install: interrupted; run it again to finish, or `roundtable uninstall claude-code`"
    )


def test_install_on_a_postgresql_url_gives_the_servers_and_hooks_that_url_not_a_file_made_of_it(
    tmp_path: Path,
) -> None:
    env = user_env(tmp_path, claude_cli())
    here = project(tmp_path)
    nameless = roundtable(env, here, "install", "claude-code", "--db", "postgresql://team@db.example.com")
    assert nameless.returncode == 1 and len(nameless.stderr.splitlines()) == 1, nameless.stderr
    assert "--db postgresql://team@db.example.com names no database" in nameless.stderr
    assert not tool_folder(env).exists()  # refused before anything was installed

    url = "postgresql://team:s3cret@db.example.com/team?sslmode=require"
    done = roundtable(env, here, "install", "claude-code", "--db", url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "database postgresql://team:***@db.example.com/team?sslmode=require" in done.stdout
    assert "s3cret" not in done.stdout + done.stderr  # printed without its password
    assert "git would commit" not in done.stdout
    assert "Watch the team: roundtable status --db 'postgresql://team:***@db.example.com/team?sslmode=require'" in (
        done.stdout
    )
    assert sorted(p.name for p in here.iterdir()) == [".claude", ".git"]  # no folder named postgresql:
    servers = read(Path(env["HOME"]) / ".claude.json")["projects"][str(here)]["mcpServers"]
    assert {servers[name]["env"]["ROUNDTABLE_DB"] for name in NAMES} == {url}
    hooks = read(here / ".claude" / "settings.local.json")["hooks"]
    assert hooks["SessionStart"][0]["hooks"][0]["command"].endswith(f" hook SessionStart --db '{url}'")

    undone = roundtable(env, here, "uninstall", "claude-code")
    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert not tool_folder(env).exists()
