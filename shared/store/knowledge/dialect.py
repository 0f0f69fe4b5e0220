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

from shared.db.dialects import PostgresIds, SqliteIds, by_engine, id_list
from shared.db.tx import Tx
from shared.rules.quoting import LIKE_ESCAPE

QueryError = sqlite3.OperationalError
"""What SQLite raises for a malformed full-text query (also for a file problem: errors.is_file_problem tells
them apart). PostgreSQL's websearch_to_tsquery raises nothing of the kind."""


def page_ids(ids: list[int]) -> dict[str, object]:
    """The parameters `marked` and `common_rank` read: the page's (or the candidates') ids, bound as a list and as
    their span, so the statements' text never changes (each is prepared once)."""
    return {"ids": id_list(ids), "lo": min(ids), "hi": max(ids)}


class Sqlite(SqliteIds):
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

    @classmethod
    def marked(cls) -> str:
        """The statement giving, for the entries bound as `page_ids` that match the query bound to `:q`, their
        `id`, `title` with the matched words between ** and **, and about 24 words of the body around the matches
        as `snippet`, marked the same way.

        FTS5 answers `rowid IN (…)` beside MATCH by walking every match and testing each rowid, so its cost
        grew with how many entries match (5 ms for 10,000). The page's ids are among the newest RANK_CAP
        matches, so the statement reads the matches between the smallest and largest id (a rowid range FTS5
        seeks to: at most RANK_CAP of them) and `+rowid IN` (an expression, not handed to FTS5) keeps the
        page's, before highlight and snippet are computed."""
        return (
            "SELECT rowid AS id, highlight(knowledge_fts, 0, '**', '**') AS title,"
            " snippet(knowledge_fts, 1, '**', '**', '…', 24) AS snippet"
            " FROM knowledge_fts WHERE knowledge_fts MATCH :q AND rowid BETWEEN :lo AND :hi"
            f" AND +rowid IN ({cls.each_id(':ids')})"
        )

    WEIGHTS = (10.0, 1.0, 5.0)
    """The columns' weights in RANK (title, body, tags)."""

    SAMPLE = 64
    """The newest holders of a phrase that `holders` reads to estimate how many hold it."""

    @staticmethod
    def holders(tx: Tx, phrases: list[str]) -> list[float]:
        """About how many entries hold each phrase, read in bounded time: from the id span of its newest SAMPLE
        holders against the span of all entries (exact below SAMPLE). bm25 (RANK) instead counts them by
        reading every entry that holds the phrase: 4 ms for a word held by 100,000 entries."""
        if not phrases:
            return []
        # one min or max per SELECT: SQLite answers min(id), max(id) side by side by scanning the table
        ends = tx.fetchone("SELECT (SELECT min(id) FROM knowledge), (SELECT max(id) FROM knowledge)")
        if ends is None or ends[0] is None:
            return [0.0] * len(phrases)
        span = int(ends[1]) - int(ends[0]) + 1
        each = (
            "SELECT count(*), min(rowid) FROM (SELECT rowid FROM knowledge_fts WHERE knowledge_fts MATCH ?"
            " ORDER BY rowid DESC LIMIT ?) AS s"
        )
        found = []
        for phrase in phrases:
            n, oldest = tx.fetchone(each, (phrase, Sqlite.SAMPLE)) or (0, None)
            if n < Sqlite.SAMPLE or oldest is None:
                found.append(float(n))
            else:
                found.append(n * span / max(int(ends[1]) - int(oldest) + 1, 1))
        return found

    @classmethod
    def common_rank(cls) -> str:
        """The statement ranking the entries bound as `page_ids` that match the query bound to `:q` without bm25's
        weight of each phrase (search._page_of_common_words): bm25's formula (k1 = 1.2, b = 0.75) over each entry's
        matched phrases — counted in each column by highlight and weighted as RANK weighs the columns —
        and its length relative to the average of `ids`; best first, `:limit` from `:offset`, as `id` and
        `score` (larger is better). The rows are read as the rowid range of `marked`: at most RANK_CAP."""
        title, body, tags = (f"highlight(knowledge_fts, {c}, char(1), '')" for c in range(3))
        found = (f"(length({c}) - length(replace({c}, char(1), '')))" for c in ("t", "b", "g"))
        freq = " + ".join(f"{w} * {f}" for w, f in zip(Sqlite.WEIGHTS, found, strict=True))
        return (
            f"WITH h AS MATERIALIZED (SELECT rowid AS id, {title} AS t, {body} AS b, {tags} AS g FROM knowledge_fts"
            f" WHERE knowledge_fts MATCH :q AND rowid BETWEEN :lo AND :hi AND +rowid IN ({cls.each_id(':ids')})),"
            f" f AS (SELECT id, {freq} AS freq, length(t) + length(b) + length(g) AS size FROM h),"
            " s AS (SELECT id, freq * 2.2 / (freq + 1.2 * (0.25 + 0.75 * size / max(avg(size) OVER (), 1)))"
            " AS score FROM f)"
            " SELECT id, score FROM s ORDER BY score DESC, id DESC LIMIT :limit OFFSET :offset"
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


class Postgres(PostgresIds, Sqlite):
    """PostgreSQL's forms (tsvector, ts_rank_cd, ts_headline)."""

    TEXT_INDEX = "knowledge k"
    RANK = "-ts_rank_cd('{0.1, 0.1, 0.5, 1.0}', k.search, " + QUERY.format(":q") + ")"
    NEWEST_MATCH = "k.id DESC"
    RAW_SYNTAX = "websearch"

    @staticmethod
    def matches(param: str) -> str:
        return f"k.search @@ {QUERY.format(param)}"

    @classmethod
    def marked(cls) -> str:
        return (
            f"SELECT k.id, ts_headline('english', k.title, q.q, '{HEADLINE}, HighlightAll=true') AS title,"
            f" ts_headline('english', k.body, q.q, '{HEADLINE}, MaxWords=24, MinWords=12, MaxFragments=1,"
            " FragmentDelimiter=…') AS snippet"
            f" FROM knowledge k, {QUERY.format(':q')} AS q(q) WHERE k.search @@ q.q AND k.id IN ({cls.each_id(':ids')})"
        )

    @staticmethod
    def holders(tx: Tx, phrases: list[str]) -> list[float]:
        """Not needed: ts_rank_cd reads only the ranked rows (no collection-wide statistics)."""
        return [0.0] * len(phrases)

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


of = by_engine(SQLITE, POSTGRES)
