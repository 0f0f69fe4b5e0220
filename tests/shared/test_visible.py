"""What does not show as itself (shared/rules/visible.py), one table by class, and its three uses: required text
of whitespace and such characters alone is nothing (among visible ones they are kept as text), other agents'
words shown to a model drop them (rules/untrusted.py), and the terminal writes them out (servers/cli/render.py)
— each edge character checked in each."""

from __future__ import annotations

import re
import sys
import unicodedata

import pytest

from servers.cli.render import plain
from shared.errors import InvalidArgument
from shared.rules import visible
from shared.rules.untrusted import QUOTE, one_line, quoted


@pytest.mark.parametrize("text", ["", " \t\n", "\u200b", "\u200c\u200d", "\u2060 \ufeff", "\u00ad\u200e\x07"])
def test_whitespace_and_invisible_characters_alone_show_nothing(text: str) -> None:
    assert visible.shows_nothing(text)


@pytest.mark.parametrize("text", ["a", "\u200ba", "\U0001f469\u200d\U0001f4bb", "\u2800x", "e\u0301"])
def test_text_with_a_visible_character_shows_something(text: str) -> None:
    assert not visible.shows_nothing(text)


def test_the_refusal_says_empty_or_invisible_and_names_the_fix() -> None:
    with pytest.raises(InvalidArgument, match=r"^title is empty; give it words$"):
        visible.require("title", "  ", "give it words")
    with pytest.raises(InvalidArgument, match=r"^title has no visible characters; give it words$"):
        visible.require("title", " \u200b ", "give it words")
    visible.require("title", "\u200bok", "give it words")


def test_a_number_sign_that_prints_a_glyph_is_something() -> None:
    # U+0600 and its kin are format characters (Cf) that print a sign spanning the digits after them; visible.py
    # counted the whole of Cf as nothing, while the hooks and the terminal showed them as text.
    assert not visible.shows_nothing("\u0600")
    assert not visible.shows_nothing("\U000110bd")


def test_every_control_and_format_character_is_in_one_class_or_named_as_shown() -> None:
    shown = re.compile(f"[{visible.SHOWN_FORMAT}]")
    unsorted = [
        f"U+{i:04X}"
        for i in range(sys.maxunicode + 1)
        if unicodedata.category(chr(i)) in ("Cc", "Cf", "Zl", "Zp")
        and not visible.UNSHOWN.match(chr(i))
        and not shown.match(chr(i))
    ]
    assert unsorted == [], "add these to a class in visible.CLASSES, or to SHOWN_FORMAT"


def test_keeping_a_class_that_is_not_there_is_refused_naming_the_classes() -> None:
    with pytest.raises(ValueError, match=r"^no class lay-out in visible.CLASSES; name one of layout, control, "):
        visible.pattern(keep={"lay-out"})


EDGES = {
    "\u061c": "direction",
    "\u200e": "direction",
    "\u200f": "direction",
    "\u202e": "direction",
    "\u2066": "direction",
    "\u200b": "zero width",
    "\u200c": "zero width",
    "\u200d": "zero width",
    "\u2060": "zero width",
    "\u2061": "zero width",
    "\u2062": "zero width",
    "\u2063": "zero width",
    "\u2064": "zero width",
    "\ufeff": "zero width",
    "\u180e": "zero width",
    "\u00ad": "soft hyphen",
    "\U000e0041": "tag",
    "\U000e0001": "tag",
    "\u206a": "format",
    "\ufff9": "format",
    "\x0d": "control",
    "\x1b": "control",
    "\x7f": "control",
    "\x85": "control",
    "\x9b": "control",
    "\u2028": "layout",
    "\u2029": "layout",
    "\t": "layout",
    "\n": "layout",
}
"""The edges the three uses once drew apart: each character and its class."""
LINE_BREAKS = {"\n", "\u2028", "\u2029"}
ALONE = [c for c in EDGES if c not in "\x1b\x9b"]
"""ESC and CSI begin escape sequences, which the hooks and the channel drop whole (tests/shared/test_untrusted.py)."""


def _named(c: str) -> str:
    return f"U+{ord(c):04X}"


@pytest.mark.parametrize("c", EDGES, ids=_named)
def test_each_edge_character_is_in_its_class(c: str) -> None:
    assert visible.pattern(keep=set(visible.CLASSES) - {EDGES[c]}).match(c)
    assert not visible.pattern(keep={EDGES[c]}).match(c)


@pytest.mark.parametrize("c", EDGES, ids=_named)
def test_required_text_of_an_edge_character_alone_is_refused(c: str) -> None:
    assert visible.shows_nothing(c) and visible.shows_nothing(f" {c}{c} ")
    assert not visible.shows_nothing(f"a{c}b")


@pytest.mark.parametrize("c", ALONE, ids=_named)
def test_a_field_shown_to_a_model_drops_an_edge_character_or_makes_a_layout_one_a_space(c: str) -> None:
    assert one_line(f"a{c}b") == ("a b" if EDGES[c] == "layout" else "ab")


@pytest.mark.parametrize("c", ALONE, ids=_named)
def test_a_body_shown_to_a_model_drops_an_edge_character_or_breaks_its_line_at_a_separator(c: str) -> None:
    expected = {"\t": f"{QUOTE}a\tb"}.get(c, f"{QUOTE}a\n{QUOTE}b" if c in LINE_BREAKS else f"{QUOTE}ab")
    assert quoted(f"a{c}b") == expected


@pytest.mark.parametrize("c", EDGES, ids=_named)
def test_the_terminal_writes_an_edge_character_out_as_its_escape(c: str) -> None:
    escape = ascii(c)[1:-1]
    assert escape.startswith("\\") and plain(f"a{c}b") == f"a{escape}b"
