-- SQLite's 0018 (shared/db/migrations/0018_calls_counted_by_the_hour_when_written.sql): every tool call is counted
-- in its hour's histogram row when its sample is written; the samples recorded before are counted in here, once.
INSERT INTO tool_call_hours(hour, server, tool, agent_id, error, bucket, calls, seconds, max_seconds)
SELECT floor(ts / 3600) * 3600.0, server, tool, COALESCE(agent_id, ''), COALESCE(error, ''), bucket,
       count(*), sum(seconds), max(seconds)
FROM tool_calls
GROUP BY 1, 2, 3, 4, 5, 6
ON CONFLICT(hour, server, tool, agent_id, error, bucket) DO UPDATE SET
    calls = tool_call_hours.calls + excluded.calls,
    seconds = tool_call_hours.seconds + excluded.seconds,
    max_seconds = GREATEST(tool_call_hours.max_seconds, excluded.max_seconds);
