"""Page cursors: the one encoding of "where the next page starts" that every paged tool hands out.

A cursor is opaque to the model: a few non-negative integers joined by ':' ("17", "2:481"). `parse`
refuses anything it did not hand out with one line naming the tool that did, so a made-up cursor is
never silently read as "start over".
"""

from __future__ import annotations

from shared.errors import InvalidArgument


def encode(*parts: int) -> str:
    return ":".join(str(int(p)) for p in parts)


def parse(value: str | None, *, parts: int, tool: str) -> tuple[int, ...] | None:
    """The integers of a cursor `tool` returned (None for no cursor, i.e. the first page)."""
    if value is None or value == "":
        return None
    pieces = value.split(":")
    # ASCII digits: str.isdigit also takes '²', which int() refuses (an unexpected error, not this refusal)
    if len(pieces) != parts or not all(p.isascii() and p.isdigit() and len(p) <= 19 for p in pieces):
        raise InvalidArgument(
            f"cursor {value!r} is not one {tool} returned; pass next_cursor from the previous page, or omit it"
        )
    return tuple(int(p) for p in pieces)


def offset(value: str | None, *, tool: str) -> int:
    """A one-number cursor (an offset or a last id); 0 for the first page."""
    found = parse(value, parts=1, tool=tool)
    return found[0] if found else 0
