-- Search finds other forms of a word (issue 14): the knowledge and mail full-text indexes are rebuilt with
-- the Porter stemmer over unicode61, so "lock" finds "locked" and "migrating" finds "migration". Both are
-- external-content tables: dropped with their triggers, made again with the new tokenizer, then rebuilt
-- from their content tables in this same transaction.

DROP TRIGGER IF EXISTS knowledge_fts_insert;
DROP TRIGGER IF EXISTS knowledge_fts_delete;
DROP TRIGGER IF EXISTS knowledge_fts_update;
DROP TABLE IF EXISTS knowledge_fts;
CREATE VIRTUAL TABLE knowledge_fts USING fts5(
    title, body, tags, content='knowledge', content_rowid='id', tokenize='porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER knowledge_fts_insert AFTER INSERT ON knowledge BEGIN
    INSERT INTO knowledge_fts(rowid, title, body, tags) VALUES (NEW.id, NEW.title, NEW.body, NEW.tags);
END;
CREATE TRIGGER knowledge_fts_delete AFTER DELETE ON knowledge BEGIN
    INSERT INTO knowledge_fts(knowledge_fts, rowid, title, body, tags)
    VALUES ('delete', OLD.id, OLD.title, OLD.body, OLD.tags);
END;
CREATE TRIGGER knowledge_fts_update AFTER UPDATE OF title, body, tags ON knowledge BEGIN
    INSERT INTO knowledge_fts(knowledge_fts, rowid, title, body, tags)
    VALUES ('delete', OLD.id, OLD.title, OLD.body, OLD.tags);
    INSERT INTO knowledge_fts(rowid, title, body, tags) VALUES (NEW.id, NEW.title, NEW.body, NEW.tags);
END;
INSERT INTO knowledge_fts(knowledge_fts) VALUES ('rebuild');

DROP TRIGGER IF EXISTS messages_fts_insert;
DROP TRIGGER IF EXISTS messages_fts_delete;
DROP TRIGGER IF EXISTS messages_fts_update;
DROP TABLE IF EXISTS messages_fts;
CREATE VIRTUAL TABLE messages_fts USING fts5(
    subject, body, content='messages', content_rowid='id', tokenize='porter unicode61'
);
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts(rowid, subject, body) VALUES (NEW.id, NEW.subject, NEW.body);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, subject, body) VALUES ('delete', OLD.id, OLD.subject, OLD.body);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF subject, body ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, subject, body) VALUES ('delete', OLD.id, OLD.subject, OLD.body);
    INSERT INTO messages_fts(rowid, subject, body) VALUES (NEW.id, NEW.subject, NEW.body);
END;
INSERT INTO messages_fts(messages_fts) VALUES ('rebuild');
