-- The send rate check in O(1) (issue 17): each agent's allowance is one time on its row, the generic cell
-- rate algorithm's "theoretical arrival time". A send (or a notice its call causes) books 60/RATE seconds
-- from max(now, sends_booked_until); it is refused when that would book more than a minute ahead. So an
-- agent may send RATE messages at once, then one every 60/RATE seconds as the allowance refills, and the
-- check reads and writes one row however much mail there is. NULL: nothing booked.
-- messages_by_cause served only the old check (the notices an agent's calls caused in the last minute).
DROP INDEX IF EXISTS messages_by_cause;
ALTER TABLE agents ADD COLUMN sends_booked_until REAL;

-- Mail's search index is filled in the background (issue 17: the FTS5 insert trigger held a send to ≈1,200/s):
-- shared/store/mail/search.py indexes the messages past `search_indexed.through_id` in small batches, and a
-- search matches the messages past it (the unindexed tail) on its own connection, so none is missing. A
-- message at or below the mark is in messages_fts: deleting or editing it updates the index, as before; one
-- past it is not yet, and is left to the indexer. Message ids never go back to or below the mark (send.py).
DROP TRIGGER IF EXISTS messages_fts_insert;
DROP TRIGGER IF EXISTS messages_fts_delete;
DROP TRIGGER IF EXISTS messages_fts_update;
CREATE TABLE search_indexed (
    source     TEXT PRIMARY KEY,
    through_id INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO search_indexed(source, through_id) VALUES ('messages', (SELECT COALESCE(max(id), 0) FROM messages));
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
WHEN OLD.id <= (SELECT through_id FROM search_indexed WHERE source = 'messages') BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, subject, body) VALUES ('delete', OLD.id, OLD.subject, OLD.body);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF subject, body ON messages
WHEN OLD.id <= (SELECT through_id FROM search_indexed WHERE source = 'messages') BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, subject, body) VALUES ('delete', OLD.id, OLD.subject, OLD.body);
    INSERT INTO messages_fts(rowid, subject, body) VALUES (NEW.id, NEW.subject, NEW.body);
END;
