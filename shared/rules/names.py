"""The one refusal for names nobody has: it names the unknown ones and lists those that exist."""

from __future__ import annotations

from collections.abc import Sequence

from shared.errors import NotFound


def unknown(what: str, missing: Sequence[str], known: Sequence[str]) -> NotFound:
    """E.g. "no agent is named 'bob'; known agents: ana, bo" (newest first, as `known` is given)."""
    listed = ", ".join(known) or "none yet"
    return NotFound(f"no {what} is named {', '.join(map(repr, missing))}; known {what}s: {listed}")
