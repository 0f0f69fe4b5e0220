-- Core: who is here (agents, their server sessions), the audit trail, and the one message table that
-- carries agent mail and system notices alike ("vote requested", "task assigned to you").
-- Times are unix seconds (REAL) supplied by the application clock. Agent references are agent ids
-- without foreign keys, so history outlives a pruned agent.

CREATE TABLE agents (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE COLLATE NOCASE,
    client_name  TEXT NOT NULL DEFAULT '',
    host         TEXT NOT NULL DEFAULT '',
    role         TEXT NOT NULL DEFAULT 'worker' CHECK (role IN ('admin', 'worker', 'observer')),
    capabilities TEXT NOT NULL DEFAULT '[]',
    activity     TEXT NOT NULL DEFAULT '',
    created_at   REAL NOT NULL,
    last_seen    REAL NOT NULL
);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    agent_id     TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    server       TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    host         TEXT NOT NULL,
    started_at   REAL NOT NULL,
    heartbeat_at REAL NOT NULL
);
CREATE INDEX sessions_by_agent ON sessions(agent_id, heartbeat_at);

CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    ts          REAL NOT NULL,
    agent_id    TEXT,
    agent_name  TEXT,
    kind        TEXT NOT NULL,
    object_type TEXT,
    object_id   TEXT,
    data        TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX events_by_kind ON events(kind, id);
CREATE INDEX events_by_object ON events(object_type, object_id, id);
CREATE INDEX events_by_agent ON events(agent_id, id);

CREATE TABLE messages (
    id             INTEGER PRIMARY KEY,
    sender_id      TEXT,
    sender_name    TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('direct', 'broadcast', 'topic', 'system')),
    topic          TEXT,
    subject        TEXT NOT NULL DEFAULT '',
    body           TEXT NOT NULL,
    priority       TEXT NOT NULL DEFAULT 'normal' CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    reply_to       INTEGER REFERENCES messages(id),
    thread_id      INTEGER,
    correlation_id TEXT,
    ack_required   INTEGER NOT NULL DEFAULT 0,
    ack_deadline   REAL,
    created_at     REAL NOT NULL,
    expires_at     REAL,
    signature      TEXT,
    ref_type       TEXT,
    ref_id         TEXT
);
CREATE INDEX messages_by_thread ON messages(thread_id, id);
CREATE INDEX messages_broadcast ON messages(kind, id) WHERE kind = 'broadcast';

CREATE TABLE message_recipients (
    agent_id   TEXT NOT NULL,
    message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    read_at    REAL,
    acked_at   REAL,
    PRIMARY KEY (agent_id, message_id)
) WITHOUT ROWID;
CREATE INDEX message_recipients_by_message ON message_recipients(message_id);
