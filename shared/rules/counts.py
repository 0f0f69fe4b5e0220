"""Counts that stop at a cap: a query counts at most CAP + 1 rows, so its cost never grows with history,
and a count past the cap is shown as "1,000+"."""

from __future__ import annotations

CAP = 1000


def shown(n: int) -> str:
    """A capped count as people read it: '1,000+' past CAP, else the number."""
    return f"{CAP:,}+" if n > CAP else str(n)
