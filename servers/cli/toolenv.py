"""The persistent install the clients launch: `uv tool install` of this Roundtable into its own environment.

A client then runs `<tool env>/bin/roundtable-<kind>` directly: no resolver, no index, no network at launch,
and a start of about a second, well inside Claude Code's 30 s connect limit (uvx, by contrast, resolves the
source again at every launch and builds its environment on a cold cache). From a checkout with a uv.lock,
the lock's versions are the install's constraints, so clients run the tested set.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from servers.cli.clientconfig import DISTRIBUTION

INSTALL_TIMEOUT = 600


class ToolFailed(Exception):
    """uv is missing, or `uv tool install` failed; the message names the fix."""


@dataclass(frozen=True)
class ToolEnv:
    """Where the persistent install lives."""

    folder: Path

    @property
    def bin(self) -> Path:
        return self.folder / ("Scripts" if os.name == "nt" else "bin")

    def script(self, name: str) -> Path:
        return self.bin / (f"{name}.exe" if os.name == "nt" else name)

    def exists(self) -> bool:
        return self.script("roundtable").is_file()


def uv_command() -> str:
    found = shutil.which("uv")
    if not found:
        raise ToolFailed("uv is not installed: install it (https://docs.astral.sh/uv/, or `pip install uv`) and retry")
    return found


def _uv(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([uv_command(), *args], capture_output=True, text=True, timeout=timeout, check=False)


def location() -> ToolEnv:
    """The folder `uv tool install` puts this distribution in (UV_TOOL_DIR, else uv's data dir)."""
    done = _uv("tool", "dir")
    if done.returncode != 0:
        raise ToolFailed(f"`uv tool dir` failed: {_last(done.stderr)}")
    return ToolEnv(Path(done.stdout.strip()) / DISTRIBUTION)


def links() -> Path | None:
    """The folder `uv tool install` links the commands into (`uv tool dir --bin`: ~/.local/bin), if uv says."""
    done = _uv("tool", "dir", "--bin")
    return Path(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip() else None


def on_path(folder: Path, path: str | None = None) -> bool:
    """Whether a shell with this PATH finds the commands in `folder`."""
    entries = (os.environ.get("PATH", "") if path is None else path).split(os.pathsep)
    return any(entry and Path(entry).expanduser().absolute() == folder.absolute() for entry in entries)


def _last(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _constraints(source: str, folder: Path) -> list[str]:
    """`-c FILE` pinning every dependency to uv.lock's version, when `source` is a checkout with a lock."""
    checkout = Path(source)
    if not ((checkout / "uv.lock").is_file() and (checkout / "pyproject.toml").is_file()):
        return []
    target = folder / "constraints.txt"
    done = _uv(
        "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project", "-q",
        "--project", str(checkout), "-o", str(target),
    )  # fmt: skip
    if done.returncode != 0:
        raise ToolFailed(f"`uv export` of {checkout}/uv.lock failed: {_last(done.stderr)}")
    return ["-c", str(target)]


def install(source: str) -> ToolEnv:
    """Install (or reinstall) `source` as a uv tool and return where it is. A checkout is rebuilt each time,
    so the install matches the code as it is now."""
    with tempfile.TemporaryDirectory(prefix="roundtable-install-") as folder:
        args = ["tool", "install", "--force", "--compile-bytecode", "--reinstall-package", DISTRIBUTION]
        args += [*_constraints(source, Path(folder)), source]
        done = _uv(*args, timeout=INSTALL_TIMEOUT)
    if done.returncode != 0:
        hint = _last(done.stderr)
        if "certificate" in done.stderr.lower():
            hint += " (behind a proxy with its own CA: set SSL_CERT_FILE, or UV_SYSTEM_CERTS=1, and retry)"
        raise ToolFailed(f"`uv tool install {source}` failed: {hint}")
    env = location()
    if not env.exists():
        raise ToolFailed(f"`uv tool install` finished but {env.script('roundtable')} is missing; retry with --source")
    return env


def uninstall() -> None:
    done = _uv("tool", "uninstall", DISTRIBUTION)
    if done.returncode != 0 and "not installed" not in done.stderr:
        raise ToolFailed(f"`uv tool uninstall {DISTRIBUTION}` failed: {_last(done.stderr)}")
