"""Required text must show something (shared/rules/visible.py): whitespace and control or format characters
alone are nothing, and such characters among visible ones are kept as text."""

from __future__ import annotations

import pytest

from shared.errors import InvalidArgument
from shared.rules import visible


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
