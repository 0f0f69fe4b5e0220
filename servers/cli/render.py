"""Terminal output: aligned tables, and colour only when writing to a terminal (and NO_COLOR is unset or empty,
as no-color.org defines it)."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from typing import TextIO

from shared.rules import visible

STYLES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "blue": "34", "cyan": "36"}


def use_colour(stream: TextIO = sys.stdout) -> bool:
    return stream.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def paint(text: str, style: str, stream: TextIO = sys.stdout) -> str:
    if not use_colour(stream):
        return text
    return f"\033[{STYLES[style]}m{text}\033[0m"


ANSI = re.compile(r"\033\[[0-9;]*m")


def plain(text: str) -> str:
    """Text the team wrote (an activity, an event's data) as it may reach a terminal: each character that does
    not show as itself (shared/rules/visible.py, every class: controls, direction marks, zero-width characters,
    the soft hyphen, separators, tag characters) written out (\\x1b, \\u202e), so an agent's words cannot clear
    the screen, retitle the window, reorder what the operator reads or hide words in it."""
    return visible.written_out(text)


def width(text: str) -> int:
    """The columns `text` takes on a terminal: colour codes take none."""
    return len(ANSI.sub("", text))


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], stream: TextIO = sys.stdout) -> str:
    """Rows aligned under their headers; empty tables say so."""
    if not rows:
        return paint("  (none)", "dim", stream)
    cells = [[str(c) for c in headers], *[["" if c is None else str(c) for c in row] for row in rows]]
    widths = [max(width(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(cell + " " * (widths[i] - width(cell)) for i, cell in enumerate(row)).rstrip() for row in cells]
    lines[0] = paint(lines[0], "bold", stream)
    return "\n".join(lines)


def mark(ok: bool, stream: TextIO = sys.stdout) -> str:
    return paint("✓", "green", stream) if ok else paint("✗", "red", stream)
