"""The one refusal for names nobody has: it names the unknown ones and lists those that exist."""

from __future__ import annotations

import re
from collections.abc import Sequence

from shared.errors import InvalidArgument, NotFound
from shared.rules import quoting

NAME_MAX = 64
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
RESERVED_NAMES = frozenset({"system", "everyone", "all", "*"})


def check_agent_name(name: str) -> str:
    """A name other agents can type: ASCII letters, digits, '.', '_' and '-', starting with a letter or digit
    (so no look-alike letters, direction overrides or invisible characters), and none of the reserved names."""
    name = name.strip()
    if not (0 < len(name) <= NAME_MAX) or not NAME_PATTERN.fullmatch(name):
        raise InvalidArgument(
            f"name {name!r} is not usable; use 1-{NAME_MAX} letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (e.g. 'reviewer-2')"
        )
    if name.lower() in RESERVED_NAMES:
        raise InvalidArgument(f"name {name!r} is reserved (system notices use it); pick another")
    return name


def unknown(what: str, missing: Sequence[str], known: Sequence[str]) -> NotFound:
    """E.g. "no agent is named 'bob'; known agents: ana, bo" (newest first, as `known` is given)."""
    listed = ", ".join(known) or "none yet"
    return NotFound(f"no {what} is named {quoting.few(missing, 5)}; known {what}s: {listed}")
