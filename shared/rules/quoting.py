"""User text as FTS5 queries: the one place that turns words into query syntax (mail and knowledge search)."""

from __future__ import annotations


def quote_words(text: str, *, limit: int = 20) -> str:
    """The whitespace-separated words of `text` as an FTS5 query that cannot be a syntax error: each word
    quoted (inner quotes doubled), all must match; at most `limit` words; "" when there are none.

    A word of punctuation alone is an empty phrase, which FTS5 ignores beside other words."""
    return " ".join('"' + word.replace('"', '""') + '"' for word in text.split()[:limit])
