"""Identity: explicit names, derivation from the launching client, launchers skipped, one agent per client."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
import psutil
import pytest
from mcp import Client

from shared.config import Settings
from shared.frame.identity import ProcfsProcess, client_process, resolve, slug
from tests.stdio import server_params

pytestmark = pytest.mark.anyio


class FakeProcess:
    def __init__(self, name: str, cmdline: list[str], parent: FakeProcess | None, pid: int = 1) -> None:
        self._name, self._cmdline, self._parent, self.pid = name, cmdline, parent, pid

    def name(self) -> str:
        return self._name

    def cmdline(self) -> list[str]:
        return self._cmdline

    def parent(self) -> FakeProcess | None:
        return self._parent

    def create_time(self) -> float:
        return 1000.0 + self.pid


def test_launchers_between_the_client_and_the_server_are_skipped() -> None:
    claude = FakeProcess("Claude", ["/Applications/Claude.app/Contents/MacOS/Claude"], None, pid=10)
    uvx = FakeProcess("uvx", ["uvx", "--from", ".", "roundtable-coordination"], claude, pid=11)
    uv = FakeProcess("uv", ["uv", "tool", "uvx"], uvx, pid=12)
    py_uv = FakeProcess("python3", ["python3", "-m", "uv", "run"], uv, pid=13)
    server = FakeProcess("python3", ["python3", "-m", "servers.coordination"], py_uv, pid=14)
    assert client_process(server) is claude  # type: ignore[arg-type]


def test_default_names_are_readable_slugs_of_the_client() -> None:
    assert slug("Claude Desktop") == "claude-desktop"
    assert slug("python3.11") == "python"
    assert slug("Code.exe") == "code"
    assert slug("!!!") == "agent"


def test_an_explicit_agent_name_wins(settings: Settings) -> None:
    ident = resolve(settings)
    assert (ident.key, ident.explicit_name) == ("named:ana", "ana")


def test_without_a_name_the_identity_is_this_process_parent_with_its_start_time(settings: Settings) -> None:
    from dataclasses import replace

    ident = resolve(replace(settings, agent=None))
    assert ident.explicit_name is None and ident.key.startswith("proc:")
    assert ident.key.count(":") == 3  # host, pid and start time


async def test_servers_launched_by_one_client_are_one_agent(db_path: Path) -> None:
    names: list[Any] = []

    async def whoami() -> None:
        async with Client(server_params("coordination", db_path)) as client:
            created = await client.call_tool("task_create", {"title": "who am I"})
            names.append(created.structured_content["task"]["created_by"])  # type: ignore[index]

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            tg.start_soon(whoami)
            tg.start_soon(whoami)
    assert len(set(names)) == 1
    assert names[0].startswith(slug(psutil.Process().name()) + "-")  # this test process is the client


def test_shell_wrappers_between_the_client_and_the_server_are_skipped() -> None:
    node = FakeProcess("node", ["node", "client.js"], None, pid=20)
    shell = FakeProcess("sh", ["/bin/sh", "-c", "uvx roundtable-coordination"], node, pid=21)
    uvx = FakeProcess("uvx", ["uvx", "roundtable-coordination"], shell, pid=22)
    server = FakeProcess("python3", ["python3", "-m", "servers.coordination"], uvx, pid=23)
    assert client_process(server) is node  # type: ignore[arg-type]
    interactive = FakeProcess("bash", ["bash"], node, pid=24)  # a terminal's shell is a client, not a wrapper
    assert client_process(FakeProcess("python3", ["python3"], interactive, pid=25)) is interactive  # type: ignore[arg-type]


async def test_the_client_name_comes_from_mcp_client_info(settings: Settings) -> None:
    from mcp.types import Implementation

    from servers.monitoring import build_server

    async with Client(build_server(settings), client_info=Implementation(name="Zed Editor", version="1")) as c:
        listed = await c.call_tool("agent_status", {})
    assert not listed.is_error
    rows = listed.structured_content["agents"]  # type: ignore[index]
    assert [a["client_name"] for a in rows if a["name"] == "ana"] == ["Zed Editor"]


@pytest.mark.skipif(not ProcfsProcess.available(), reason="no /proc here: identity reads the tree through psutil")
def test_reading_proc_gives_psutils_answers_so_the_key_never_changes_with_the_reader(tmp_path: Path) -> None:
    import subprocess
    import sys

    # a child with a long name (past the 15-character truncation) and spaces in its arguments
    program = tmp_path / "a-rather-long-program-name"
    program.symlink_to(sys.executable)
    child = subprocess.Popen([str(program), "-c", "import time; time.sleep(30)", "two words"])
    try:
        for pid in (os.getpid(), os.getppid(), child.pid, 1):
            ours, theirs = ProcfsProcess(pid), psutil.Process(pid)
            assert ours.name() == theirs.name()
            assert ours.cmdline() == theirs.cmdline()
            assert f"{ours.create_time():.3f}" == f"{theirs.create_time():.3f}"
            parent, their_parent = ours.parent(), theirs.parent()
            assert (parent.pid if parent else None) == (their_parent.pid if their_parent else None)
        assert ProcfsProcess(child.pid).name() == "a-rather-long-program-name"
    finally:
        child.kill()
        child.wait()


def test_psutil_is_not_imported_to_find_the_client(tmp_path: Path) -> None:
    import subprocess
    import sys

    if not ProcfsProcess.available():
        pytest.skip("no /proc here: identity reads the tree through psutil")
    probe = (
        "import sys; from dataclasses import replace; from shared.config import load_settings; "
        "from shared.frame.identity import resolve; "
        "print(resolve(replace(load_settings(), agent=None)).key, 'psutil' in sys.modules)"
    )
    env = {**os.environ, "ROUNDTABLE_DB": str(tmp_path / "t.db")}
    env.pop("ROUNDTABLE_AGENT", None)
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True).stdout
    key, imported = out.split()
    parent = psutil.Process(os.getpid())
    assert key.endswith(f":{parent.pid}:{parent.create_time():.3f}"), "this test process is the client"
    assert imported == "False"
