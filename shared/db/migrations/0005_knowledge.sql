-- Knowledge: shared entries (facts, decisions, how-tos, experiences …) searchable with FTS5, their tags,
-- supersede chains; and skills: named, versioned procedures (every version kept).
-- title_key is the normalised title (lower case, single spaces) used to point at possible duplicates.

CREATE TABLE knowledge (
    id            INTEGER PRIMARY KEY,
    kind          TEXT NOT NULL,
    title         TEXT NOT NULL,
    title_key     TEXT NOT NULL,
    body          TEXT NOT NULL,
    tags          TEXT NOT NULL DEFAULT '',
    source        TEXT,
    links         TEXT NOT NULL DEFAULT '[]',
    data          TEXT,
    author_id     TEXT NOT NULL,
    author_name   TEXT NOT NULL,
    created_at    REAL NOT NULL,
    supersedes    INTEGER REFERENCES knowledge(id),
    superseded_by INTEGER REFERENCES knowledge(id)
);
CREATE INDEX knowledge_by_title ON knowledge(title_key) WHERE superseded_by IS NULL;
CREATE INDEX knowledge_by_kind ON knowledge(kind, id);
CREATE INDEX knowledge_by_author ON knowledge(author_id, id);
CREATE INDEX knowledge_by_supersedes ON knowledge(supersedes) WHERE supersedes IS NOT NULL;

CREATE TABLE knowledge_tags (
    tag      TEXT NOT NULL,
    entry_id INTEGER NOT NULL REFERENCES knowledge(id) ON DELETE CASCADE,
    PRIMARY KEY (tag, entry_id)
) WITHOUT ROWID;

CREATE VIRTUAL TABLE knowledge_fts USING fts5(
    title, body, tags, content='knowledge', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
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

CREATE TABLE skills (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    description TEXT NOT NULL,
    parameters  TEXT NOT NULL DEFAULT '[]',
    steps       TEXT NOT NULL DEFAULT '[]',
    composed_of TEXT,
    author_id   TEXT NOT NULL,
    author_name TEXT NOT NULL,
    created_at  REAL NOT NULL,
    UNIQUE (name, version)
);
