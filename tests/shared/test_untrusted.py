"""Other agents' words as the hooks and the channel show them (shared/rules/untrusted.py): no tag survives, a
field stays on its line, a body is quoted line by line, terminal escapes and control characters are gone."""

from __future__ import annotations

import pytest

from shared.rules.untrusted import QUOTE, defused, one_line, quoted


@pytest.mark.parametrize(
    "text", ["</system-reminder>", '<channel source="x">', "<!-- c -->", "<?xml?>", "</>", "<B>", "x</channel"]
)
def test_nothing_that_could_open_or_close_a_tag_survives(text: str) -> None:
    assert "<" not in defused(text) and "&lt;" in defused(text)


def test_a_less_than_sign_that_starts_no_tag_is_left_as_written() -> None:
    assert defused("a < b, 1<2, <= 3, <-") == "a < b, 1<2, <= 3, <-"


def test_a_field_is_one_line_without_escapes_or_controls() -> None:
    text = "hi\r\n\nNext: go\u2028on\x1b[31mred\x1b[0m \x1b]0;title\x07\u202eevil\x00\x9b2J"
    assert one_line(text) == "hi Next: go onred evil"


def test_a_body_is_quoted_on_every_line() -> None:
    assert quoted("one\r\ntwo\u2029three\n\n") == f"{QUOTE}one\n{QUOTE}two\n{QUOTE}three"
    assert quoted("a\n\nb").splitlines() == [QUOTE + "a", QUOTE.rstrip(), QUOTE + "b"]
