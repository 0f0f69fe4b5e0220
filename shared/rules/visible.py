"""What does not show as itself, in one table by class, and the one rule built on it here: required text must
show something (a title of zero-width spaces is as empty as one of blanks).

`UNSHOWN` is every character of Unicode's controls and format characters (categories Cc and Cf) but the few
format characters that print a glyph of their own (`SHOWN_FORMAT`), with the line and paragraph separators:
by class, below. Each user chooses what to do with them:

- `require` (required text) counts them all as nothing, beside whitespace;
- `shared/rules/untrusted.py` (other agents' words in the hooks' context and the channel's pushes) drops every
  class but `layout` (tab, newline and the separators, which it turns into its own spaces and lines);
- `servers/cli/render.py` (what agents wrote, on the operator's terminal) writes every class out as its escape
  (`\\x1b`, `\\u202e`), so what the operator reads is what was written.

Text that holds such characters among visible ones (an emoji sequence joined by U+200D) is text like any other.
Model-free (the hook imports it).
"""

from __future__ import annotations

import re
from collections.abc import Collection

from shared.errors import InvalidArgument

CLASSES: dict[str, str] = {
    "layout": "\t\n\u2028\u2029",
    "control": "\x00-\x08\x0b-\x1f\x7f-\x9f",
    "direction": "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069",
    "zero width": "\u180e\u200b-\u200d\u2060-\u2064\ufeff",
    "soft hyphen": "\u00ad",
    "tag": "\U000e0001\U000e0020-\U000e007f",
    "format": "\u206a-\u206f\ufff9-\ufffb\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a",
}
"""Each class of characters that do not show as themselves, as the inside of a regex character class:
- layout: tab, newline, U+2028 line and U+2029 paragraph separators (most terminals print the last two as
  nothing; a model reads them as line breaks);
- control: the rest of C0 (CR, ESC …), DEL and C1 (CSI U+009B …);
- direction: U+061C Arabic letter mark, U+200E/U+200F direction marks, U+202A-U+202E embeddings and overrides,
  U+2066-U+2069 isolates — they reorder what a reader sees;
- zero width: U+180E Mongolian vowel separator, U+200B space, U+200C/U+200D non-joiner and joiner, U+2060 word
  joiner, U+2061-U+2064 invisible operators, U+FEFF (the BOM);
- soft hyphen: U+00AD, shown only where a line breaks;
- tag: U+E0001 and U+E0020-U+E007F, an invisible copy of ASCII that a model reads and a person does not;
- format: the other format characters that show nothing (U+206A-U+206F, interlinear annotation, Egyptian
  hieroglyph, shorthand and musical format controls)."""

SHOWN_FORMAT = "\u0600-\u0605\u06dd\u070f\u0890\u0891\u08e2\U000110bd\U000110cd"
"""Format characters (Cf) that are not in CLASSES: the number signs and end-of-ayah marks print a glyph that
spans the digits after them, so a title of one shows something."""


def pattern(*, keep: Collection[str] = ()) -> re.Pattern[str]:
    """One character of any class in CLASSES but those named in `keep`."""
    if unknown := set(keep) - set(CLASSES):
        raise ValueError(f"no class {', '.join(sorted(unknown))} in visible.CLASSES; name one of {', '.join(CLASSES)}")
    return re.compile("[" + "".join(chars for name, chars in CLASSES.items() if name not in keep) + "]")


UNSHOWN = pattern()


def dropped(text: str, unshown: re.Pattern[str] = UNSHOWN) -> str:
    """`text` without the characters `unshown` matches."""
    return unshown.sub("", text)


def written_out(text: str, unshown: re.Pattern[str] = UNSHOWN) -> str:
    """`text` with each character `unshown` matches written as its escape: \\x1b, \\u202e, \\U000e0041."""
    return unshown.sub(lambda m: ascii(m.group())[1:-1], text)


def shows_nothing(text: str) -> bool:
    """Whether a reader would see nothing of `text`: it is empty, or only whitespace and UNSHOWN characters."""
    return all(c.isspace() or UNSHOWN.match(c) for c in text)


def require(name: str, text: str, fix: str) -> None:
    """Refuse required text that shows nothing, in one line ending with `fix`: "title is empty; give it words",
    or "title has no visible characters; give it words" when only invisible characters are left."""
    if not text.strip():
        raise InvalidArgument(f"{name} is empty; {fix}")
    if shows_nothing(text):
        raise InvalidArgument(f"{name} has no visible characters; {fix}")
