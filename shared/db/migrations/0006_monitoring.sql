-- Monitoring: when each agent last called a tool (online vs idle), one row per tool call, and hourly
-- rollups of old calls. A call row never holds arguments or results: which tool of which server, whose
-- call, when it started, how long it took, and the kind of error (NULL when it succeeded).
-- bucket: the latency histogram bucket of the duration (shared/store/metrics.py, bucket()), so rollups
-- keep a histogram from which percentiles of long windows are estimated.

ALTER TABLE agents ADD COLUMN last_active REAL;

CREATE TABLE tool_calls (
    id       INTEGER PRIMARY KEY,
    ts       REAL NOT NULL,
    agent_id TEXT,
    server   TEXT NOT NULL,
    tool     TEXT NOT NULL,
    seconds  REAL NOT NULL,
    bucket   INTEGER NOT NULL,
    error    TEXT
);
CREATE INDEX tool_calls_by_ts ON tool_calls(ts);
CREATE INDEX tool_calls_by_tool ON tool_calls(tool, ts);

-- One row per (hour, server, tool, agent, error kind or '', latency bucket).
CREATE TABLE tool_call_hours (
    hour        REAL NOT NULL,
    server      TEXT NOT NULL,
    tool        TEXT NOT NULL,
    agent_id    TEXT NOT NULL,
    error       TEXT NOT NULL,
    bucket      INTEGER NOT NULL,
    calls       INTEGER NOT NULL,
    seconds     REAL NOT NULL,
    max_seconds REAL NOT NULL,
    PRIMARY KEY (hour, server, tool, agent_id, error, bucket)
) WITHOUT ROWID;
