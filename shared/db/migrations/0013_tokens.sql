-- Bearer tokens for `roundtable serve` (the team over streamable HTTP): one token speaks for one agent
-- with one role. Only the token's SHA-256 is kept; the token itself is printed once at creation.
-- A revoked token keeps its row (revoked_at set), so `roundtable token list` shows what was issued.

CREATE TABLE tokens (
    id           TEXT PRIMARY KEY,
    hash         TEXT NOT NULL UNIQUE,
    agent_id     TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('admin', 'worker', 'observer')),
    created_at   REAL NOT NULL,
    last_used_at REAL,
    revoked_at   REAL
);
CREATE INDEX tokens_by_agent ON tokens(agent_id);
