-- Every tool call is counted in its hour's histogram row (tool_call_hours) in the write that records its sample
-- (shared/store/team/metrics.py), so a long or busy window is answered from hour rows alone and the roll-up only
-- drops samples it no longer needs. The samples recorded before this migration were counted nowhere but in
-- tool_calls: they are counted into their hours here, once.
INSERT INTO tool_call_hours(hour, server, tool, agent_id, error, bucket, calls, seconds, max_seconds)
SELECT CAST(ts / 3600 AS INTEGER) * 3600.0, server, tool, COALESCE(agent_id, ''), COALESCE(error, ''), bucket,
       count(*), sum(seconds), max(seconds)
FROM tool_calls WHERE true
GROUP BY 1, 2, 3, 4, 5, 6
ON CONFLICT(hour, server, tool, agent_id, error, bucket) DO UPDATE SET
    calls = tool_call_hours.calls + excluded.calls,
    seconds = tool_call_hours.seconds + excluded.seconds,
    max_seconds = max(tool_call_hours.max_seconds, excluded.max_seconds);
