"""Reading a tool call's result in tests: its text, or its structured content when it succeeded."""

from __future__ import annotations

from typing import Any


def text(result: Any) -> str:
    """The first content block's text (an error's message, or the JSON of a result)."""
    return str(result.content[0].text)


def data(result: Any) -> Any:
    """The structured result of a call that must have succeeded (else the assertion shows its error)."""
    assert not result.is_error, text(result)
    return result.structured_content
