"""User text inside queries and answers: the one place that turns words into FTS5 syntax (mail and knowledge
search) and into LIKE patterns (task and skill filters), and cuts a value echoed in a refusal (`cut`)."""

from __future__ import annotations

from collections.abc import Sequence

from shared.errors import InvalidArgument


def cut(text: str, limit: int = 40) -> str:
    """`text` as a refusal shows it: a long one cut to `limit` characters, so an answer to a 100 KB name or key
    stays one short line instead of echoing it back."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def few(values: Sequence[object], limit: int = 10) -> str:
    """Values a refusal names, as the model wrote them (repr), at most `limit` of them, each cut: "1, 2 and 498
    more". 500 unknown ids were a 10 KB answer, 50 unknown names of 100 characters 5 KB."""
    shown = ", ".join(cut(repr(v)) for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def quote_words(text: str, *, limit: int = 20) -> str:
    """The whitespace-separated words of `text` as an FTS5 query that cannot be a syntax error: each word
    quoted (inner quotes doubled), all must match; at most `limit` words; "" when there are none.

    A word of punctuation alone is an empty phrase, which FTS5 ignores beside other words. A NUL character
    cannot be part of an FTS5 string: it is refused with the fix."""
    if "\x00" in text:
        raise InvalidArgument("the search text contains a NUL character (\\x00); remove it and search again")
    return " ".join('"' + word.replace('"', '""') + '"' for word in text.split()[:limit])


_STOP = (
    "a an and are as at be but by can could did do does for from has have how i if in into is it its me my "
    "no not of on or our should so than that the their them then there these they this to was we were what "
    "when where which who why will with would you your"
)
STOP_WORDS = frozenset(_STOP.split())
"""Words too common to find anything by themselves, left out of an any-word query (never of an all-words one)."""


def quote_any_words(text: str, *, limit: int = 20) -> str:
    """The words of `text` as an FTS5 query where any may match (`"a" OR "b"`), each quoted, without the
    STOP_WORDS and words of punctuation alone; "" when none is left."""
    if "\x00" in text:
        raise InvalidArgument("the search text contains a NUL character (\\x00); remove it and search again")
    words = []
    for word in text.split()[:limit]:
        bare = "".join(ch for ch in word if ch.isalnum()).lower()
        if bare and bare not in STOP_WORDS and word not in words:
            words.append(word)
    return " OR ".join('"' + word.replace('"', '""') + '"' for word in words)


LIKE_ESCAPE = "\\"
"""The escape character every `LIKE :pattern ESCAPE '\\'` in the stores declares."""


def like_contains(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, its own `%`, `_` and `\\` taken literally (with ESCAPE '\\')."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
