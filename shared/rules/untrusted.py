"""Other agents' words where the model reads them unframed: the Claude Code hooks' context and the channel's
pushes. There Claude Code wraps our text in its own tags (`<system-reminder>` around a hook's context, with no
escaping; `<channel …>` around a push, escaping only `</channel`), and our own lines frame the agents' text.
A subject, title or body must not be able to end that framing, open a tag of its own, print lines that read as
ours, or hide anything from the terminal:

- `defused` turns every `<` that could start a tag (`<x`, `</`, `<!`, `<?`) into `&lt;`; our own text has no
  tags, so it is applied to the whole of what is handed to Claude Code.
- `one_line` is a field shown inside one of our lines (subject, title): whitespace runs, newlines and the
  line and paragraph separators included, become one space; terminal escapes are dropped, and so is every
  character that does not show as itself but tab and newline (shared/rules/visible.py: controls, direction
  marks and overrides, zero-width characters, the soft hyphen, tag characters a model reads and a person does
  not).
- `quoted` is a body shown as a block: each of its lines (split at newlines and the separators) begins with
  "│ ", so none of them reads as ours; escapes and those characters are dropped as in `one_line`.

The tools (message_query, task_list …) return the text as it was written; only these renderings change it.
Model-free (the hook imports it).
"""

from __future__ import annotations

import re

from shared.rules import visible

TAG_START = re.compile(r"<(?=[/!?A-Za-z])")
ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|.)?|\x9b[0-?]*[ -/]*[@-~]")
"""ANSI/VT escape sequences (CSI, OSC, two-character) and a lone ESC."""
CONTROLS = visible.pattern(keep={"layout"})
"""What is dropped: every character that does not show as itself (visible.CLASSES) but tab, newline and the
separators."""
QUOTE = "│ "


def defused(text: str) -> str:
    """`text` with no tag in it: each `<` that would open or close one is `&lt;`."""
    return TAG_START.sub("&lt;", text)


def _clean(text: str) -> str:
    return visible.dropped(ESCAPES.sub("", text), CONTROLS)


def one_line(text: str) -> str:
    """`text` as part of one line: whitespace runs as one space, no escapes or characters that do not show."""
    return " ".join(_clean(text).split())


def quoted(text: str) -> str:
    """`text` as a quoted block: every line begins with QUOTE; no escapes or characters that do not show."""
    lines = re.split(r"[\n\u2028\u2029]", _clean(text).strip("\n"))
    return "\n".join((QUOTE + line).rstrip() for line in lines)
