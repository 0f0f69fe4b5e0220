-- The role belongs to the session that declared it (ROUNDTABLE_ROLE of that server process): an observer
-- server started under a worker's name no longer turns that worker into an observer. agents.role is kept
-- as the strongest role among the agent's live sessions (shared/store/team/agents.py).
ALTER TABLE sessions ADD COLUMN role TEXT NOT NULL DEFAULT 'worker'
    CHECK (role IN ('admin', 'worker', 'observer'));

-- Signatures cover every column that decides delivery and meaning, and the recipients a message was
-- delivered to (shared/rules/signing.py, "v2:" signatures): the ids are kept here, JSON, '*' for a
-- broadcast. NULL on messages written before; their older signatures show as "legacy".
ALTER TABLE messages ADD COLUMN recipient_ids TEXT;

-- Every message a call causes counts against the caller's send rate: a system notice records the agent
-- whose call caused it ("task assigned to you", "vote requested").
ALTER TABLE messages ADD COLUMN caused_by TEXT;
CREATE INDEX messages_by_cause ON messages(caused_by, created_at) WHERE caused_by IS NOT NULL;
