"""Editing a client's JSON config safely: read it whole or refuse, back it up first, write it atomically.

Used by `roundtable install`/`uninstall` for claude_desktop_config.json, .claude/settings*.json and .mcp.json.
A file that is not a JSON object is never rewritten: the command stops with one line naming the file. So is
a file that cannot be written (read-only, or on a read-only file system): `writable` says so before anything
is changed. A UTF-8 byte-order mark (Windows Notepad writes one) is read past, and not written back.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import tempfile
import time
from pathlib import Path
from typing import Any


class Unreadable(Exception):
    """The file exists but is not a JSON object, or cannot be written: it is left as it is."""


_COMMENT = re.compile(r"^\s*(//|/\*)|[,{\[]\s*(//|/\*)", re.MULTILINE)


def load(path: Path) -> dict[str, Any]:
    """The file's object; {} when there is no file (or it is empty)."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark first is no part of the JSON
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise Unreadable(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        if _COMMENT.search(text):
            raise Unreadable(
                f"{path} has comments (// or /* */), which JSON does not allow: remove them (or move the file away),"
                " then run this again"
            ) from exc
        raise Unreadable(f"{path} is not valid JSON ({exc}); fix it or move it away, then run this again") from exc
    if not isinstance(data, dict):
        raise Unreadable(f"{path} holds a JSON {type(data).__name__}, not an object; fix it or move it away")
    return data


def writable(path: Path) -> None:
    """Refuse, before anything is changed, a file that `save` could not replace: a read-only file (its owner may
    not write it: someone meant it to stay as it is) or a folder where no file can be made."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise Unreadable(f"cannot read {path}: {exc.strerror or exc}") from exc
    folder = next((p for p in (path.parent, *path.parent.parents) if p.exists()), Path(path.anchor))
    if not folder.is_dir():
        raise Unreadable(f"cannot write {path}: {folder} is not a folder")
    if hasattr(os, "statvfs") and os.statvfs(folder).f_flag & os.ST_RDONLY:
        raise Unreadable(f"cannot write {path}: {folder} is on a read-only file system")
    if mode is not None and (not mode & stat.S_IWUSR or not os.access(path, os.W_OK)):
        raise Unreadable(f"{path} is read-only: make it writable (chmod u+w {path}), then run this again")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise Unreadable(f"cannot write in {folder}: make it writable (chmod u+w {folder}), then run this again")


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
    try:
        shutil.copy2(path, target)
    except OSError as exc:
        Path(target).unlink(missing_ok=True)
        raise Unreadable(f"cannot back up {path} to {target}: {exc.strerror or exc}; nothing was changed") from exc
    return target


def save(path: Path, data: dict[str, Any]) -> None:
    """Write `data` as indented JSON: to a temporary file beside it, then renamed over it (keeping its mode)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise Unreadable(f"cannot write {path}: {exc.strerror or exc}; it was left as it was") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2, ensure_ascii=False)
            out.write("\n")
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except OSError as exc:  # a full disk, say: the file is as it was
        Path(temporary).unlink(missing_ok=True)
        raise Unreadable(f"cannot write {path}: {exc.strerror or exc}; it was left as it was") from exc
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
