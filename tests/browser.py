"""Real parts for the dashboard's tests: Debian's chromium driven by Playwright (no browser download), the
`roundtable dashboard` command as its own process, and a team of real stdio servers kept running in a
background event loop so a sync (Playwright) test can make them act."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from mcp import Client
from mcp.client.stdio import stdio_client

from servers.cli.launch import PASSED_ON, server_params

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
]


def chromium_path() -> str:
    """Debian's chromium; skipped locally when absent, a failure in CI (.ci/run installs it)."""
    found = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    if found is None:
        reason = "no chromium on this machine (Debian: apt-get install chromium); the dashboard's browser tests need it"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " — required in CI")
        pytest.skip(reason)
    return found


class Dashboard:
    """`python -m servers.cli dashboard` on a database, as a person starts it; `url` is where it listens."""

    def __init__(self, db: Path | str, *args: str, port: int = 0) -> None:
        self.db = db
        self.args = args
        self.port = port
        self.url = ""
        self.banner = ""
        """What it printed up to its URL."""
        self.proc: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 20.0) -> Dashboard:
        env = {k: v for k, v in os.environ.items() if k in PASSED_ON}
        argv = [sys.executable, "-m", "servers.cli", "dashboard", "--db", str(self.db), "--port", str(self.port)]
        self.proc = subprocess.Popen(
            [*argv, *self.args], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env
        )
        assert self.proc.stderr is not None
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            seen.append(line)
            found = re.search(r"open (http://\S+?/)", line)
            if found:
                self.banner = "".join(seen)
                self.url = found.group(1)
                self.port = int(self.url.rsplit(":", 1)[1].strip("/"))
                return self
        self.stop()
        raise AssertionError("the dashboard did not start:\n" + "".join(seen))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()
        self.proc = None

    def __enter__(self) -> Dashboard:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Team:
    """Real stdio servers for some agents, kept open in a background event loop: `team.call(agent, tool, …)`."""

    KINDS: ClassVar[dict[str, str]] = {
        "task_": "coordination",
        "consensus_": "coordination",
        "message_": "messaging",
        "knowledge_": "knowledge",
        "skill_": "knowledge",
    }

    def __init__(self, db: Path) -> None:
        self.db = db
        self.clients: dict[tuple[str, str], Client] = {}
        self._stack = contextlib.ExitStack()
        self._portal: BlockingPortal | None = None
        self.errlog = self._stack.enter_context(tempfile.TemporaryFile("w+"))  # noqa: SIM115 - closed with the team

    def __enter__(self) -> Team:
        self._portal = self._stack.enter_context(start_blocking_portal("asyncio"))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def join(self, agent: str, *kinds: str) -> None:
        assert self._portal is not None
        for kind in kinds:
            params = server_params(kind, self.db, agent)
            client = Client(stdio_client(params, errlog=self.errlog))
            self.clients[(agent, kind)] = self._stack.enter_context(self._portal.wrap_async_context_manager(client))

    def call(self, agent: str, tool: str, **arguments: Any) -> Any:
        assert self._portal is not None
        kind = next((k for prefix, k in self.KINDS.items() if tool.startswith(prefix)), "monitoring")
        result = self._portal.call(self.clients[(agent, kind)].call_tool, tool, arguments)
        assert not result.is_error, f"{tool} failed: {result.content}"
        return result.structured_content


@contextlib.contextmanager
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
