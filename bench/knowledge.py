"""Knowledge search at scale: 100,000 entries of ~100 words (Zipf-distributed vocabulary), query p50/p99 for
a rare, a mid-frequency and a very common word and for two common words, through the knowledge store
(knowledge_search.search: bounded ranking and counting, snippets, filters) beside the floor of a raw
sqlite3 FTS5 MATCH ranked by bm25 (top 10, no bound) on the same data in the same run.

    uv run python -m bench.knowledge [--entries 100000] [--repeats 60]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import tempfile
import time
from collections import Counter
from itertools import accumulate
from pathlib import Path

from bench.common import machine, ms, pct, table
from shared.db.connection import Database
from shared.store.knowledge import dialect
from shared.store.knowledge import search as knowledge_search
from shared.store.knowledge.search import Search

VOCABULARY = 30_000
WORDS_PER_ENTRY = 100
FLOOR = (
    f"SELECT rowid, {dialect.SQLITE.RANK} AS score FROM knowledge_fts WHERE {dialect.SQLITE.matches('?')}"
    " ORDER BY score LIMIT 10"
)
"""The same ranking as the store's, over every match (no bound, no filters, no snippets)."""


def build(path: Path, entries: int, seed: int = 7) -> tuple[Counter[str], float]:
    """A migrated database holding `entries` entries; returns each word's document frequency, build seconds."""

    async def migrate() -> None:
        db = await Database.open(path)
        await db.close()

    asyncio.run(migrate())
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(VOCABULARY)]
    cumulative = list(accumulate(1 / (rank + 1) for rank in range(VOCABULARY)))
    df: Counter[str] = Counter()
    started = time.perf_counter()
    with sqlite3.connect(path) as conn:
        batch = []
        for i in range(entries):
            body = rng.choices(words, cum_weights=cumulative, k=WORDS_PER_ENTRY)
            title = " ".join(rng.choices(words, cum_weights=cumulative, k=5))
            df.update(set(body) | set(title.split()))
            batch.append(("note", title, title, " ".join(body), "bench", "bench", float(i)))
            if len(batch) == 5000:
                conn.executemany(INSERT, batch)
                batch = []
        conn.executemany(INSERT, batch)
        conn.commit()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return df, time.perf_counter() - started


COLUMNS = "kind, title, title_key, body, author_id, author_name, created_at"
INSERT = f"INSERT INTO knowledge({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"


def pick(df: Counter[str], entries: int) -> list[tuple[str, str, int]]:
    """(label, query text, matching entries) for each frequency class."""
    by_df = sorted(df.items(), key=lambda kv: kv[1])

    def near(target: int) -> tuple[str, int]:
        return min(by_df, key=lambda kv: abs(kv[1] - target))

    rare, mid = near(10), near(max(entries // 100, 20))
    common = by_df[-1]
    second, third = by_df[-2], by_df[-3]
    return [
        ("rare", rare[0], rare[1]),
        ("mid", mid[0], mid[1]),
        ("very common", common[0], common[1]),
        ("two common", f"{second[0]} {third[0]}", -1),
    ]


def floor(path: Path, text: str, repeats: int) -> list[float]:
    conn = sqlite3.connect(path)
    query = knowledge_search.fts_query(text)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        conn.execute(FLOOR, (query,)).fetchall()
        samples.append(time.perf_counter() - start)
    conn.close()
    return samples


async def store(path: Path, text: str, repeats: int) -> tuple[list[float], knowledge_search.QueryResult]:
    db = await Database.open(path)
    samples = []
    try:
        for _ in range(repeats):
            start = time.perf_counter()
            result = await knowledge_search.search(db, Search(text=text, limit=10), now=1e9)
            samples.append(time.perf_counter() - start)
    finally:
        await db.close()
    return samples, result


def run(quick: bool, entries: int | None = None, repeats: int | None = None) -> str:
    entries = entries or (20_000 if quick else 100_000)
    repeats = repeats or (20 if quick else 60)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "knowledge.db"
        df, seconds = build(path, entries)
        size = path.stat().st_size / 2**20
        rows = []
        for label, text, matching in pick(df, entries):
            raw = floor(path, text, repeats)
            ours, result = asyncio.run(store(path, text, repeats))
            total = f"{result.total:,}" + ("+" if result.total_is_lower_bound else "")
            rows.append(
                [
                    label,
                    text,
                    f"{matching:,}" if matching >= 0 else total,
                    total,
                    f"{result.ranked_over:,}",
                    ms(pct(raw, 50)),
                    ms(pct(raw, 99)),
                    ms(pct(ours, 50)),
                    ms(pct(ours, 99)),
                    f"{pct(ours, 99) / pct(raw, 99):.2f}",
                ]
            )
    note = " (quick: fewer entries than the 100,000 of a full run)" if entries < 100_000 else ""
    out = table(
        f"Knowledge search over {entries:,} entries of ~{WORDS_PER_ENTRY} words{note}",
        [
            "words",
            "query",
            "matching",
            "total reported",
            "ranked",
            "floor p50 ms",
            "floor p99 ms",
            "store p50 ms",
            "store p99 ms",
            "store/floor p99",
        ],
        rows,
    )
    how = (
        f"Built in {seconds:.1f} s, {size:.0f} MB; {repeats} queries each. Floor: raw sqlite3 FTS5 MATCH, bm25 top 10"
        f" over every match. Store: quoted words, bm25 over the newest {knowledge_search.RANK_CAP:,} matches (without"
        f" its weight of each word when a word is held by about {knowledge_search.COMMON:,} entries or more), count"
        f" capped at {knowledge_search.COUNT_CAP:,}, snippets for the page. {machine()}"
    )
    return f"{out}\n{how}\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=60)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(run(args.quick, None if args.quick else args.entries, None if args.quick else args.repeats))


if __name__ == "__main__":
    main()
