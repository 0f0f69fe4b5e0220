"""The SQL of the knowledge store that only SQLite speaks, named here so the rest of the area is built from
these names: full-text search (FTS5: MATCH, bm25 ranking, highlight and snippet), NULL-safe comparison,
case-blind LIKE and JSON aggregation. Another engine would give its own versions of exactly these.

The full-text index is `knowledge_fts` (shared/db/migrations/0005_knowledge.sql), an external-content FTS5
table over the title, body and tags of `knowledge`, whose rowid is the entry id.
"""

from __future__ import annotations

import sqlite3

from shared.rules.quoting import LIKE_ESCAPE

TEXT_INDEX = "knowledge_fts f JOIN knowledge k ON k.id = f.rowid"
"""Entries joined to their full-text rows (alias `f`), for a search with words."""

RANK = "bm25(knowledge_fts, 10.0, 1.0, 5.0)"
"""An entry's relevance, smaller is better; title, body and tags weighted 10 : 1 : 5, so a title hit outweighs
a passing mention in the body."""

NEWEST_MATCH = "f.rowid DESC"
"""Matching entries, newest first: the full-text index's own rowid order, which it yields without sorting."""

TITLE_HIGHLIGHTED = "highlight(knowledge_fts, 0, '**', '**')"
"""The title with the matched words between ** and **."""

BODY_SNIPPET = "snippet(knowledge_fts, 1, '**', '**', '…', 24)"
"""About 24 words of the body around the matches, marked the same way."""

QueryError = sqlite3.OperationalError
"""What the engine raises for a malformed full-text query (also for a file problem: errors.is_file_problem
tells them apart)."""


def matches(param: str) -> str:
    """The full-text rows matching the query bound to `param` (an FTS5 query: quoting.quote_words, or raw)."""
    return f"knowledge_fts MATCH {param}"


def same(column: str, param: str = "?") -> str:
    """`column` equals the bound value, NULL equal to NULL."""
    return f"{column} IS {param}"


def not_same(column: str, param: str = "?") -> str:
    """`column` differs from the bound value, NULL equal to NULL."""
    return f"{column} IS NOT {param}"


def contains_any_case(column: str, param: str = "?") -> str:
    """`column` matches the LIKE pattern bound to `param` (quoting.like_contains), ignoring ASCII case."""
    return f"{column} LIKE {param} ESCAPE '{LIKE_ESCAPE}'"


def json_array_of(expression: str) -> str:
    """An aggregate: the group's values of `expression` as one JSON array, in the order of the rows."""
    return f"json_group_array({expression})"


def marked(ids: str) -> str:
    """The statement giving, for the entries `ids` (integers joined by ',') that match the query bound to
    `?`, their `id`, highlighted `title` and body `snippet`."""
    return (
        f"SELECT rowid AS id, {TITLE_HIGHLIGHTED} AS title, {BODY_SNIPPET} AS snippet"
        f" FROM knowledge_fts WHERE {matches('?')} AND rowid IN ({ids})"
    )
