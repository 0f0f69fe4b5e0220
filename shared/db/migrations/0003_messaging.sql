-- Messaging: who said what to whom (audience, signed), topic subscriptions, full-text search of mail.
-- audience is the canonical addressee list the signature covers: JSON names, "topic:<name>" or "*".

ALTER TABLE messages ADD COLUMN audience TEXT NOT NULL DEFAULT '';
CREATE INDEX messages_by_sender ON messages(sender_id, created_at);
CREATE INDEX message_recipients_unacked ON message_recipients(message_id) WHERE acked_at IS NULL;

CREATE TABLE topic_subscriptions (
    agent_id   TEXT NOT NULL,
    pattern    TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (agent_id, pattern)
) WITHOUT ROWID;

CREATE VIRTUAL TABLE messages_fts USING fts5(subject, body, content='messages', content_rowid='id');
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
