"""User text inside queries: the one place that turns words into FTS5 syntax (mail and knowledge search) and
into LIKE patterns (task and skill filters)."""

from __future__ import annotations

from shared.errors import InvalidArgument


def quote_words(text: str, *, limit: int = 20) -> str:
    """The whitespace-separated words of `text` as an FTS5 query that cannot be a syntax error: each word
    quoted (inner quotes doubled), all must match; at most `limit` words; "" when there are none.

    A word of punctuation alone is an empty phrase, which FTS5 ignores beside other words. A NUL character
    cannot be part of an FTS5 string: it is refused with the fix."""
    if "\x00" in text:
        raise InvalidArgument("the search text contains a NUL character (\\x00); remove it and search again")
    return " ".join('"' + word.replace('"', '""') + '"' for word in text.split()[:limit])


LIKE_ESCAPE = "\\"
"""The escape character every `LIKE :pattern ESCAPE '\\'` in the stores declares."""


def like_contains(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, its own `%`, `_` and `\\` taken literally (with ESCAPE '\\')."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
