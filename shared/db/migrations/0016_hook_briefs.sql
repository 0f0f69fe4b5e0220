-- What the Claude Code hook (`roundtable hook`) last told each Claude Code session, so UserPromptSubmit adds
-- only what is new since then and nothing when nothing changed. One row per Claude Code session id (the hook
-- input's session_id), written in the same transaction that reads what it compares against; rows of sessions
-- quiet for a week are deleted by the hook itself at SessionStart (servers/cli/hook.py).

CREATE TABLE hook_briefs (
    claude_session TEXT PRIMARY KEY,
    agent_id       TEXT NOT NULL,
    mail_seen      INTEGER NOT NULL,  -- the highest message id the session was told about
    seen           TEXT NOT NULL,     -- JSON: the ids of held, assigned tasks and open votes it was told about
    stop_for       TEXT,              -- JSON: what the last Stop block was about (blocked again only when it changes)
    updated_at     REAL NOT NULL
);
CREATE INDEX hook_briefs_by_age ON hook_briefs(updated_at);
