"""Launching Roundtable the way users do: every entry of claude_desktop_config.example.json run exactly as a
client runs it (uvx --from this checkout), uvx from a git+file:// URL of a clone, every console script's
--help and --version, and the MCP Inspector CLI against every server (when npx is available)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from servers import SERVER_KINDS
from shared import __version__
from tests.stdio import ROOT

pytestmark = pytest.mark.anyio

EXAMPLE = ROOT / "claude_desktop_config.example.json"
PLACEHOLDER = "/absolute/path/to/mcp-roundtable"
UVX = shutil.which("uvx")
needs_uvx = pytest.mark.skipif(UVX is None, reason="uvx is not installed (pip install uv)")


def example_entries() -> dict[str, dict[str, Any]]:
    config = json.loads(EXAMPLE.read_text())
    entries: dict[str, dict[str, Any]] = config["mcpServers"]
    return entries


def network_settings() -> dict[str, str]:
    """What uv needs from this machine to reach the package index: a custom CA, proxies, uv's own settings.

    A client passes only a minimal environment; a user behind a custom CA adds these to the entry's env
    (see the README), so the test does too.
    """
    names = ("SSL_CERT_FILE", "SSL_CERT_DIR", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
    return {k: v for k, v in os.environ.items() if k.upper() in names or k.startswith("UV_")}


def as_client_would(entry: dict[str, Any], source: str, db: Path) -> StdioServerParameters:
    """The entry's command, args and env, with this checkout as the source and a throwaway database."""
    args = [source if a == PLACEHOLDER else a for a in entry["args"]]
    env = {**network_settings(), **entry.get("env", {}), "ROUNDTABLE_DB": str(db)}
    return StdioServerParameters(command=entry["command"], args=args, env=env)


def test_the_example_config_registers_the_four_servers_through_uvx() -> None:
    entries = example_entries()
    assert set(entries) == {f"roundtable-{kind}" for kind in SERVER_KINDS}
    for name, entry in entries.items():
        assert entry["command"] == "uvx"
        assert entry["args"] == ["--from", PLACEHOLDER, name]


@needs_uvx
async def test_every_example_config_entry_starts_and_lists_its_tools(tmp_path: Path) -> None:
    db = tmp_path / "team.db"
    listed: dict[str, set[str]] = {}

    async def launch(name: str, entry: dict[str, Any]) -> None:
        with tempfile.TemporaryFile("w+") as errors:
            try:
                async with Client(stdio_client(as_client_would(entry, str(ROOT), db), errlog=errors)) as client:
                    listed[name] = {t.name for t in (await client.list_tools()).tools}
            except Exception:
                errors.seek(0)
                raise AssertionError(f"{name} did not start:\n{errors.read()[-2000:]}") from None

    entries = example_entries()
    first, *rest = entries.items()
    with anyio.fail_after(240):
        await launch(*first)  # builds the package into uv's cache once
        async with anyio.create_task_group() as tg:
            for name, entry in rest:
                tg.start_soon(launch, name, entry)
    assert set(listed) == set(entries)
    assert all(listed.values()), listed


@needs_uvx
def test_uvx_runs_a_server_from_a_git_url_of_a_clone(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=60)
    assert UVX is not None
    done = subprocess.run(
        [UVX, "--from", f"git+file://{clone}", "roundtable-coordination", "--version"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == f"roundtable-coordination {__version__}"


@pytest.mark.parametrize("module", [*SERVER_KINDS, "cli"])
def test_every_entry_point_answers_help_and_version(module: str) -> None:
    prog = "roundtable" if module == "cli" else f"roundtable-{module}"
    run = [sys.executable, "-m", f"servers.{module}"]
    helped = subprocess.run([*run, "--help"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert helped.returncode == 0 and f"usage: {prog}" in helped.stdout, helped.stderr
    versioned = subprocess.run([*run, "--version"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert versioned.returncode == 0 and versioned.stdout.strip() == f"{prog} {__version__}"


def test_every_server_has_a_console_script() -> None:
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["roundtable"] == "servers.cli:main"
    for kind in SERVER_KINDS:
        assert scripts[f"roundtable-{kind}"] == f"servers.{kind}:main"


NPX = shutil.which("npx")
INSPECTOR = "@modelcontextprotocol/inspector@2.12.0"
INSPECTOR_CALLS: dict[str, dict[str, Any]] = {
    "coordination": {"tool": "task_list", "args": {}},
    "messaging": {"tool": "message_query", "args": {"mark_read": False}},
    "knowledge": {"tool": "skill_list", "args": {}},
    "monitoring": {"tool": "agent_status", "args": {}},
}


def inspector(db: Path, kind: str, *method: str) -> dict[str, Any]:
    """Run the Inspector CLI against one server (launched with `uv run` from this checkout)."""
    assert NPX is not None
    env = ["-e", f"ROUNDTABLE_DB={db}", "-e", "ROUNDTABLE_AGENT=inspector"]
    server = ["uv", "--directory", str(ROOT), "run", f"roundtable-{kind}"]
    done = subprocess.run(
        [NPX, "--yes", INSPECTOR, "--cli", *env, *server, *method],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert done.returncode == 0, (kind, method, done.stdout[-1500:], done.stderr[-1500:])
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.skipif(NPX is None, reason="npx (Node.js) is not installed")
@pytest.mark.skipif(
    bool(os.environ.get("CI")) and os.environ.get("ROUNDTABLE_INSPECTOR") != "1",
    reason="downloads the Inspector from npm; run locally, or in CI with ROUNDTABLE_INSPECTOR=1",
)
@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_the_mcp_inspector_lists_calls_and_reads_every_server(kind: str, tmp_path: Path) -> None:
    db = tmp_path / "inspector.db"
    tools = inspector(db, kind, "--method", "tools/list")["tools"]
    assert {t["name"] for t in tools} >= {INSPECTOR_CALLS[kind]["tool"]}
    call = INSPECTOR_CALLS[kind]
    result = inspector(
        db, kind, "--method", "tools/call", "--tool-name", call["tool"], "--tool-args-json", json.dumps(call["args"])
    )
    assert not result.get("isError"), result
    assert "resources" in inspector(db, kind, "--method", "resources/list")
