-- The role belongs to the session that declared it (ROUNDTABLE_ROLE of that server process): an observer
-- server started under a worker's name no longer turns that worker into an observer. agents.role is kept
-- as the strongest role among the agent's live sessions (shared/store/team/agents.py).
ALTER TABLE sessions ADD COLUMN role TEXT NOT NULL DEFAULT 'worker'
    CHECK (role IN ('admin', 'worker', 'observer'));

-- Signatures cover every column that decides delivery and meaning, and the recipients a message was
-- delivered to (shared/rules/signing.py, "v2:" signatures): the ids are kept here, JSON, '*' for a
-- broadcast. NULL on messages written before; their older signatures show as "legacy".
ALTER TABLE messages ADD COLUMN recipient_ids TEXT;
