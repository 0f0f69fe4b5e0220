"""The SQL of the knowledge store that differs between engines, named once per engine (`of(tx)`): full-text
search (matching, ranking, highlight and snippet), NULL-safe comparison, case-blind LIKE and JSON aggregation.

SQLite: `knowledge_fts` (shared/db/migrations/0009_search_stemming.sql), an external-content FTS5 table over
the title, body and tags of `knowledge` (Porter stemmer over unicode61), ranked by bm25 with title, body and
tags weighted 10 : 1 : 5. PostgreSQL: the generated `knowledge.search` tsvector (English stemming; title A,
tags B, body C) with a GIN index, ranked by ts_rank_cd with the weights {C: 0.1, B: 0.5, A: 1.0} — the same
proportions, but ts_rank_cd counts how close and how dense the matches are, where bm25 weighs how rare each
word is in the whole team's knowledge, so the two order some results differently. A query is the same quoted
words on both (shared/rules/quoting.py); PostgreSQL reads them with websearch_to_tsquery, which is also what
`raw` text means there (quoted phrases, OR, -word), and which never fails on hostile input: nothing matches.
"""

from __future__ import annotations

import sqlite3
from typing import Protocol

from shared.rules.quoting import LIKE_ESCAPE


class HasEngine(Protocol):
    engine: str


QueryError = sqlite3.OperationalError
"""What SQLite raises for a malformed full-text query (also for a file problem: errors.is_file_problem tells
them apart). PostgreSQL's websearch_to_tsquery raises nothing of the kind."""


class Sqlite:
    """SQLite's forms (FTS5)."""

    TEXT_INDEX = "knowledge_fts f JOIN knowledge k ON k.id = f.rowid"
    """Entries joined to their full-text rows, for a search with words."""
    RANK = "bm25(knowledge_fts, 10.0, 1.0, 5.0)"
    """An entry's relevance, smaller is better."""
    NEWEST_MATCH = "f.rowid DESC"
    """Matching entries, newest first (the index's own order, which it yields without sorting)."""
    RAW_SYNTAX = "FTS5"

    @staticmethod
    def matches(param: str) -> str:
        """The entries matching the query bound to `param` (quoting.quote_words, or raw)."""
        return f"knowledge_fts MATCH {param}"

    @staticmethod
    def marked(ids: str) -> str:
        """The statement giving, for the entries `ids` (integers joined by ',') that match the query bound to
        `?`, their `id`, `title` with the matched words between ** and **, and about 24 words of the body
        around the matches as `snippet`, marked the same way."""
        return (
            "SELECT rowid AS id, highlight(knowledge_fts, 0, '**', '**') AS title,"
            " snippet(knowledge_fts, 1, '**', '**', '…', 24) AS snippet"
            f" FROM knowledge_fts WHERE knowledge_fts MATCH ? AND rowid IN ({ids})"
        )

    @staticmethod
    def same(column: str, param: str = "?") -> str:
        """`column` equals the bound value, NULL equal to NULL."""
        return f"{column} IS {param}"

    @staticmethod
    def not_same(column: str, param: str = "?") -> str:
        """`column` differs from the bound value, NULL equal to NULL."""
        return f"{column} IS NOT {param}"

    @staticmethod
    def contains_any_case(column: str, param: str = "?") -> str:
        """`column` matches the LIKE pattern bound to `param` (quoting.like_contains), ignoring case."""
        return f"{column} LIKE {param} ESCAPE '{LIKE_ESCAPE}'"

    @staticmethod
    def json_array_of(expression: str) -> str:
        """An aggregate: the group's values of `expression` as one JSON array, in the order of the rows."""
        return f"json_group_array({expression})"


WORDS = "regexp_replace({}, '[^[:alnum:][:space:]\"-]+', ' ', 'g')"
"""Punctuation (but websearch's quotes and '-') as spaces, in the indexed text and the query alike: words
split as FTS5's unicode61 splits them (migrations_pg/0016_schema.sql makes the tsvectors the same way)."""
QUERY = "websearch_to_tsquery('english', " + WORDS.format("{}") + ")"
HEADLINE = "StartSel=**, StopSel=**"


class Postgres(Sqlite):
    """PostgreSQL's forms (tsvector, ts_rank_cd, ts_headline)."""

    TEXT_INDEX = "knowledge k"
    RANK = "-ts_rank_cd('{0.1, 0.1, 0.5, 1.0}', k.search, " + QUERY.format(":q") + ")"
    NEWEST_MATCH = "k.id DESC"
    RAW_SYNTAX = "websearch"

    @staticmethod
    def matches(param: str) -> str:
        return f"k.search @@ {QUERY.format(param)}"

    @staticmethod
    def marked(ids: str) -> str:
        return (
            f"SELECT k.id, ts_headline('english', k.title, q.q, '{HEADLINE}, HighlightAll=true') AS title,"
            f" ts_headline('english', k.body, q.q, '{HEADLINE}, MaxWords=24, MinWords=12, MaxFragments=1,"
            " FragmentDelimiter=…') AS snippet"
            f" FROM knowledge k, {QUERY.format('?')} AS q(q) WHERE k.search @@ q.q AND k.id IN ({ids})"
        )

    @staticmethod
    def same(column: str, param: str = "?") -> str:
        return f"{column} IS NOT DISTINCT FROM {param}"

    @staticmethod
    def not_same(column: str, param: str = "?") -> str:
        return f"{column} IS DISTINCT FROM {param}"

    @staticmethod
    def contains_any_case(column: str, param: str = "?") -> str:
        return f"{column} ILIKE {param} ESCAPE '{LIKE_ESCAPE}'"

    @staticmethod
    def json_array_of(expression: str) -> str:
        return f"COALESCE(CAST(json_agg({expression}) AS text), '[]')"


SQLITE = Sqlite()
POSTGRES = Postgres()


def of(where: HasEngine) -> Sqlite:
    """The dialect of the engine a Tx or a Database runs on."""
    return POSTGRES if where.engine == "postgresql" else SQLITE
