"""Required text must show something: a title of zero-width spaces is as empty as one of blanks.

Invisible here is whitespace and Unicode's control and format characters (categories Cc and Cf: U+200B
zero-width space, U+200C/U+200D joiners, U+2060 word joiner, U+FEFF, direction marks …). Text that holds
such characters among visible ones (an emoji sequence joined by U+200D) is text like any other.
"""

from __future__ import annotations

import unicodedata

from shared.errors import InvalidArgument

INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf"})


def shows_nothing(text: str) -> bool:
    """Whether a reader would see nothing of `text`: it is empty, or only whitespace and invisible characters."""
    return all(c.isspace() or unicodedata.category(c) in INVISIBLE_CATEGORIES for c in text)


def require(name: str, text: str, fix: str) -> None:
    """Refuse required text that shows nothing, in one line ending with `fix`: "title is empty; give it words",
    or "title has no visible characters; give it words" when only invisible characters are left."""
    if not text.strip():
        raise InvalidArgument(f"{name} is empty; {fix}")
    if shows_nothing(text):
        raise InvalidArgument(f"{name} has no visible characters; {fix}")
