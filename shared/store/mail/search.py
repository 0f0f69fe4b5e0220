"""Mail's full-text index, filled in the background, and the unindexed tail a search still sees.

On SQLite a message is not indexed in its send: FTS5's insert trigger held one-message transactions to
≈1,200/s (a segment written per commit). Migration 0017 keeps a mark, `search_indexed.through_id`: every
message up to it is in `messages_fts`; the ones past it (the tail) are indexed by `index_pending`, a
background job of the messaging server (servers/messaging/mail.py `INDEXING`) that adds them in batches of
`BATCH`, each its own short write transaction. A search never misses the tail: `prepare` copies it (at most
`TAIL_MAX` messages) into a contentless FTS5 table of the reading connection's own temp schema
(`temp.mail_tail`, same tokenizer), in the search's own read snapshot, and `dialect.text_matches` matches both.
A longer tail (no messaging server ran for a while) is indexed first by the search itself when it may write,
or else matched whole. Message ids never go back to the mark or below it (`next_id`), so a message past it is
always one the indexer has not seen.

On PostgreSQL `messages.search` is a generated tsvector column with a GIN index (its fast-update pending list),
filled in the INSERT: measured at ≈15 % of a one-row INSERT transaction (≈1,700/s against ≈2,000/s without it),
not the FTS5 trigger's 4x, so there is no tail and `prepare`/`index_pending` do nothing there.
"""

from __future__ import annotations

import anyio.lowlevel

from shared.db.connection import Database, Tx
from shared.store.mail import dialect

BATCH = 500
"""Messages indexed per write transaction: a few milliseconds of the write lock."""
TAIL_MAX = 2_000
"""The most unindexed messages a search copies into its temp table (the indexer keeps the tail far shorter)."""
INDEX_SECONDS = 0.5
"""How often the messaging server's indexer looks for a tail."""

MARK = "SELECT through_id FROM search_indexed WHERE source = 'messages'"


def next_id(tx: Tx) -> int:
    """The id the next message gets, given inside its write transaction: past every message and past the mark
    (SQLite would reuse the id of a deleted newest message, which may be indexed already)."""
    if not dialect.of(tx).deferred_index:
        return int(tx.scalar("SELECT nextval(pg_get_serial_sequence('messages', 'id'))"))
    return int(tx.scalar(f"SELECT max(COALESCE((SELECT max(id) FROM messages), 0), COALESCE(({MARK}), 0)) + 1"))


def index_batch(tx: Tx, batch: int = BATCH) -> int:
    """Index up to `batch` messages past the mark and move the mark past them; how many were indexed."""
    if not dialect.of(tx).deferred_index:
        return 0
    mark = int(tx.scalar(MARK) or 0)
    row = tx.fetchone(
        "SELECT count(*), max(id) FROM (SELECT id FROM messages WHERE id > ? ORDER BY id LIMIT ?) AS b", (mark, batch)
    )
    if row is None or not row[0]:
        return 0
    count, top = int(row[0]), int(row[1])
    tx.execute(
        "INSERT INTO messages_fts(rowid, subject, body)"
        " SELECT id, subject, body FROM messages WHERE id > ? AND id <= ?",
        (mark, top),
    )
    tx.execute("UPDATE search_indexed SET through_id = ? WHERE source = 'messages'", (top,))
    return count


async def index_pending(db: Database, *, batches: int = 1_000) -> int:
    """Index the tail in batches (each its own write), after a read that finds whether there is one; returns how
    many messages were indexed. The messaging server's background job, and a search that found a long tail."""
    if db.read_only or not dialect.of(db).deferred_index:
        return 0
    if not await db.scalar(f"SELECT EXISTS (SELECT 1 FROM messages WHERE id > ({MARK}))"):
        return 0
    done = 0
    for _ in range(batches):
        indexed = await db.write(index_batch)
        done += indexed
        if indexed < BATCH:
            break
        await (
            anyio.lowlevel.checkpoint()
        )  # a write that finds the lock free never yields: let calls run between batches
    return done


def prepare(tx: Tx, bound: int | None = TAIL_MAX) -> bool:
    """Before a text search, in its read snapshot: copy the unindexed tail into `temp.mail_tail`, which
    `dialect.text_matches` reads beside messages_fts. False (nothing copied) when the tail is longer than
    `bound`; None copies it whatever its length."""
    if not dialect.of(tx).deferred_index:
        return True
    mark = int(tx.scalar(MARK) or 0)
    if bound is not None:
        n = int(tx.scalar("SELECT count(*) FROM (SELECT 1 FROM messages WHERE id > ? LIMIT ?) AS t", (mark, bound + 1)))
        if n > bound:
            return False
    tx.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.mail_tail"
        " USING fts5(subject, body, content='', tokenize='porter unicode61')"
    )
    tx.execute("INSERT INTO temp.mail_tail(mail_tail) VALUES ('delete-all')")
    tx.execute(
        "INSERT INTO temp.mail_tail(rowid, subject, body) SELECT id, subject, body FROM messages WHERE id > ?", (mark,)
    )
    return True
