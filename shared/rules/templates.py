"""A small, safe template language for skill steps: `{name}` is replaced by an argument, `{{` and `}}` are
literal braces. Nothing else: no attribute or index access, no format specs, no conversions — so
`{x.__class__}` or `{x:>999999}` are refused when a skill is defined, never evaluated.
"""

from __future__ import annotations

import re

from shared.errors import InvalidArgument

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")
Piece = tuple[bool, str]  # (is a placeholder, text or name)


def parse(template: str) -> list[Piece]:
    """The literal text and placeholders of `template`; InvalidArgument names the first problem."""
    pieces: list[Piece] = []
    text: list[str] = []
    i, n = 0, len(template)
    while i < n:
        ch = template[i]
        if ch == "{" and template.startswith("{{", i):
            text.append("{")
            i += 2
        elif ch == "}" and template.startswith("}}", i):
            text.append("}")
            i += 2
        elif ch == "{":
            end = template.find("}", i + 1)
            inner = template[i + 1 : end] if end != -1 else ""
            if end == -1 or not NAME.fullmatch(inner):
                shown = template[i : (end + 1 if end != -1 else i + 20)]
                raise InvalidArgument(
                    f"step text {shown!r} is not a placeholder: write {{name}} with a parameter name (letters, digits, "
                    "'_'), or {{ and }} for literal braces"
                )
            if text:
                pieces.append((False, "".join(text)))
                text = []
            pieces.append((True, inner))
            i = end + 1
        elif ch == "}":
            raise InvalidArgument("a lone '}' in a step; write }} for a literal brace")
        else:
            text.append(ch)
            i += 1
    if text:
        pieces.append((False, "".join(text)))
    return pieces


def placeholders(template: str) -> list[str]:
    return [value for is_name, value in parse(template) if is_name]


def render(template: str, values: dict[str, str]) -> str:
    """Substitute `values` (every placeholder must have one; values are inserted verbatim, never parsed)."""
    return "".join(values[value] if is_name else value for is_name, value in parse(template))
