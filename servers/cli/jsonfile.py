"""Editing a client's JSON config safely: read it whole or refuse, back it up first, write it atomically.

Used by `roundtable install`/`uninstall` for claude_desktop_config.json, .claude/settings*.json and .mcp.json.
A file that is not a JSON object is never rewritten: the command stops with one line naming the file.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any


class Unreadable(Exception):
    """The file exists but is not a JSON object: it is left as it is."""


def load(path: Path) -> dict[str, Any]:
    """The file's object; {} when there is no file (or it is empty)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise Unreadable(f"cannot read {path}: {exc.strerror or exc}") from exc
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise Unreadable(f"{path} is not valid JSON ({exc}); fix it or move it away, then run this again") from exc
    if not isinstance(data, dict):
        raise Unreadable(f"{path} holds a JSON {type(data).__name__}, not an object; fix it or move it away")
    return data


def backup(path: Path) -> Path | None:
    """A copy of `path` beside it, named with the time (None when there is no file to keep)."""
    if not path.exists():
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.roundtable-backup-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.roundtable-backup-{stamp}-{n}")
    shutil.copy2(path, target)
    return target


def save(path: Path, data: dict[str, Any]) -> None:
    """Write `data` as indented JSON: to a temporary file beside it, then renamed over it (keeping its mode)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2, ensure_ascii=False)
            out.write("\n")
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
