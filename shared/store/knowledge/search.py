"""Searching knowledge: full-text search over title, body and tags with relevance ranking, filters and
paging — bounded.

The cost of a full-text query grows with the number of matching rows, so neither ranking nor counting
looks at more than a fixed number of them:
- ranking: the newest RANK_CAP matching entries (after the filters) are ranked and paged; when more match,
  the result says how many were ranked (`ranked_over`) so nobody mistakes it for all of them;
- counting: up to COUNT_CAP matches are counted; beyond, the total is reported as a lower bound.
User words are quoted term by term (quoting.quote_words), so no input can be a query syntax error; the
index stems words (Porter over unicode61, migration 0009), so "lock" finds "locked". When no entry has all
the words, the search is relaxed: entries with any of them (common words left out) are ranked instead, and
the result says so (`relaxed`);
`raw=True` passes FTS5 syntax through and turns its syntax errors into a message that names the fix.
The engine-specific pieces (MATCH, bm25, highlight, snippet) are named in shared/store/knowledge/dialect.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from shared.db.connection import Database, Tx
from shared.errors import InvalidArgument, is_file_problem
from shared.models.knowledge import Hit, QueryResult
from shared.rules import counts, quoting
from shared.store.knowledge import dialect
from shared.store.knowledge.entries import FROM, check_kind, check_tags, summary

RANK_CAP = 200
"""The newest this many matching entries are ranked: enough for every page a model reads (paging stops
there), and ranking them costs about 1 ms even when most of 100,000 entries match (bench.knowledge)."""
COUNT_CAP = counts.CAP
"""Matches counted before the total becomes a lower bound (the 1,000 of every capped count)."""
COMMON = 20_000
"""A phrase held by about this many entries is common: bm25 would read them all to weigh it (1 ms for 20,000),
so the query is ranked without that weight (_page_of_common_words)."""
PHRASE = re.compile(r'"(?:[^"]|"")*"')
"""A quoted phrase of a query: every word of quoting.quote_words; of a raw query, only its quoted phrases are
checked for being common."""
TERMS_MAX = 20
TEXT_MAX = 500


@dataclass(frozen=True)
class Search:
    text: str = ""
    raw: bool = False
    kind: str | None = None
    tags: tuple[str, ...] = ()
    author_id: str | None = None
    since: float | None = None
    include_superseded: bool = False
    limit: int = 10
    offset: int = 0


def fts_query(text: str) -> str:
    """The words of `text` as an FTS5 query that cannot be a syntax error: each quoted, all must match."""
    words = len(text.split())
    if words > TERMS_MAX:
        raise InvalidArgument(f"{words} words; search with at most {TERMS_MAX}")
    return quoting.quote_words(text, limit=TERMS_MAX)


def _filters(s: Search, params: dict[str, Any]) -> str:
    where = []
    if not s.include_superseded:
        where.append("k.superseded_by IS NULL")
    if s.kind:
        where.append("k.kind = :kind")
        params["kind"] = check_kind(s.kind)
    for i, tag in enumerate(check_tags(s.tags)):
        where.append(f"EXISTS (SELECT 1 FROM knowledge_tags t WHERE t.tag = :tag{i} AND t.entry_id = k.id)")
        params[f"tag{i}"] = tag
    if s.author_id is not None:
        where.append("k.author_id = :author")
        params["author"] = s.author_id
    if s.since is not None:
        where.append("k.created_at >= :since")
        params["since"] = s.since
    return " AND ".join(where) or "1 = 1"


async def search(db: Database, s: Search, *, now: float) -> QueryResult:
    """The page of entries matching `s`, best first (newest first without words), with the total, in one
    read snapshot."""
    if len(s.text) > TEXT_MAX:
        raise InvalidArgument(f"text is {len(s.text)} characters; the limit is {TEXT_MAX}")
    if s.offset >= RANK_CAP:
        raise InvalidArgument(f"paging stops after the best {RANK_CAP} results; narrow the search with more words")
    query = s.text.strip() if s.raw else fts_query(s.text)
    params: dict[str, Any] = {"limit": s.limit, "offset": s.offset, "cap": RANK_CAP, "count_cap": COUNT_CAP}
    where = _filters(s, params)
    try:
        hits, total, lower_bound, candidates = await db.read(_page, query, where, params, s.offset, now)
    except dialect.QueryError as exc:
        if not s.raw or is_file_problem(exc):
            raise
        raise InvalidArgument(
            f"raw {dialect.of(db).RAW_SYNTAX} query {query!r} is not valid ({exc}); fix the syntax"
            ' (quote phrases with "…") or search without raw=true'
        ) from exc
    relaxed = False
    if total == 0 and not s.raw and len(s.text.split()) > 1:
        anywords = quoting.quote_any_words(s.text, limit=TERMS_MAX)
        if anywords and anywords != query:
            hits, total, lower_bound, candidates = await db.read(_page, anywords, where, dict(params), s.offset, now)
            query, relaxed = anywords, total > 0
    shown = s.offset + len(hits)
    more = shown < min(total, RANK_CAP)
    return QueryResult(
        hits=hits,
        total=total,
        total_is_lower_bound=lower_bound,
        ranked_over=min(candidates, RANK_CAP),
        query=query,
        relaxed=relaxed,
        next_cursor=str(shown) if more else None,
        next_step=_next_step(hits, total, more, relaxed),
    )


def _page(
    tx: Tx, query: str, where: str, params: dict[str, Any], offset: int, now: float
) -> tuple[list[Hit], int, bool, int]:
    """The ranked page, the total (and whether it is a lower bound) and the number of ranked candidates."""
    d = dialect.of(tx)
    if query:
        params["q"] = query
        source = f"{d.TEXT_INDEX} WHERE {d.matches(':q')} AND {where}"
        score, newest = d.RANK, d.NEWEST_MATCH
        phrases = PHRASE.findall(query)
        if any(n >= COMMON for n in d.holders(tx, phrases)):
            return _page_of_common_words(tx, query, source, newest, params, offset, now)
    else:
        source = f"knowledge k WHERE {where}"
        score, newest = "NULL", "k.id DESC"
    ranked = tx.execute(
        f"WITH c AS MATERIALIZED (SELECT k.id AS id, {score} AS score FROM {source} ORDER BY {newest} LIMIT :cap)"
        " SELECT id, score, (SELECT count(*) FROM c) AS candidates FROM c"
        " ORDER BY score, id DESC LIMIT :limit OFFSET :offset",
        params,
    )
    candidates = int(ranked[0]["candidates"]) if ranked else _candidates(tx, source, params, offset)
    total, lower_bound = _total(tx, source, params, candidates)
    scores = {int(r["id"]): None if r["score"] is None else round(-float(r["score"]), 6) for r in ranked}
    return _hits(tx, scores, query, now), total, lower_bound, candidates


def _total(tx: Tx, source: str, params: dict[str, Any], candidates: int) -> tuple[int, bool]:
    """The number of matches, counted up to COUNT_CAP once the candidates fill RANK_CAP, and whether it is a
    lower bound."""
    if candidates < RANK_CAP:
        return candidates, False
    total = int(tx.scalar(f"SELECT count(*) FROM (SELECT 1 FROM {source} LIMIT :count_cap) AS s", params))
    return total, total >= COUNT_CAP


def _page_of_common_words(
    tx: Tx, query: str, source: str, newest: str, params: dict[str, Any], offset: int, now: float
) -> tuple[list[Hit], int, bool, int]:
    """`_page` for a query with a phrase held by about COMMON entries or more: bm25 would read every entry
    holding it to weigh it (4 ms per word held by 100,000 entries, and growing with them), so the newest
    RANK_CAP candidates are ranked by bm25's formula without that weight (dialect.common_rank: 1 to 2 ms for
    200 candidates, whatever the number of entries)."""
    ids = [int(r[0]) for r in tx.execute(f"SELECT k.id FROM {source} ORDER BY {newest} LIMIT :cap", params)]
    total, lower_bound = _total(tx, source, params, len(ids))
    if not ids:
        return [], total, lower_bound, 0
    ranked = tx.execute(dialect.of(tx).common_rank(), {**params, **dialect.page_ids(ids)})
    scores: dict[int, float | None] = {int(r["id"]): round(float(r["score"]), 6) for r in ranked}
    return _hits(tx, scores, query, now), total, lower_bound, len(ids)


def _candidates(tx: Tx, source: str, params: dict[str, Any], offset: int) -> int:
    """How many candidates there are when the page came back empty (an offset past the end, or none)."""
    if offset == 0:
        return 0
    return int(tx.scalar(f"SELECT count(*) FROM (SELECT 1 FROM {source} LIMIT :cap) AS s", params))


def _hits(tx: Tx, scores: dict[int, float | None], query: str, now: float) -> list[Hit]:
    """The page's entries, in rank order, with highlighted titles and body snippets (for the page only)."""
    ids = list(scores)
    if not ids:
        return []
    d = dialect.of(tx)
    page = dialect.page_ids(ids)
    rows = tx.execute(
        "SELECT k.id, k.kind, k.title, k.tags, k.created_at, k.superseded_by,"
        " COALESCE(a.name, k.author_name) AS author, substr(k.body, 1, 240) AS opening FROM "
        f"{FROM} WHERE k.id IN ({d.each_id(':ids')})",
        page,
    )
    marked: dict[int, tuple[str, str]] = {}
    if query:
        for r in tx.execute(d.marked(), {**page, "q": query}):
            marked[int(r["id"])] = (r["title"], r["snippet"])
    by_id = {int(r["id"]): r for r in rows}
    hits = []
    for i in ids:
        row = by_id[i]
        title, snippet = marked.get(i, (row["title"], row["opening"]))
        hits.append(Hit(**summary(row, now).model_dump(), title_highlighted=title, snippet=snippet, score=scores[i]))
    return hits


def _next_step(hits: list[Hit], total: int, more: bool, relaxed: bool = False) -> str:
    if not hits:
        return "Nothing matched. Try fewer or other words, drop filters, or add what you learn with knowledge_add."
    step = f"Read an entry in full with knowledge_get(entry_id={hits[0].id})."
    if relaxed:
        step = "No entry has all of your words: these have some of them, best first. " + step
    if total > RANK_CAP:
        step += (
            f" The words are very common: only the newest {RANK_CAP} matching entries were ranked;"
            " add words or filters (kind, tags, author, max_age) to find older ones."
        )
    if more:
        step += " More results: pass next_cursor."
    return step
