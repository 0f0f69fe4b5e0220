-- The slowest calls of a busy window are found by walking the samples from the slowest down (ts is in the index,
-- so the walk reads no row until one falls in the window) instead of sorting every sample of the window
-- (shared/store/team/metrics.py `slowest`).
CREATE INDEX tool_calls_by_seconds ON tool_calls(seconds, ts);
