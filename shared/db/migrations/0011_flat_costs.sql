-- Flat costs as history grows (issue 17): every query a tool, a resource or the summary runs is served by
-- an index whose reads do not grow with finished tasks, read mail, old events or old samples.

-- My unread mail, found without reading what I have read (inbox, unread counts, message_wait's probe).
CREATE INDEX message_recipients_unread ON message_recipients(agent_id, message_id) WHERE read_at IS NULL;
-- Overdue acknowledgements: only rows still owing one.
CREATE INDEX message_recipients_owing ON message_recipients(agent_id, message_id) WHERE acked_at IS NULL;
-- Retention and the `since` filter walk mail by time.
CREATE INDEX messages_by_time ON messages(created_at);
CREATE INDEX messages_expiring ON messages(expires_at) WHERE expires_at IS NOT NULL;
-- Task lists by state in queue order; the unfinished ones (what readers scan for claims and counts) apart.
CREATE INDEX tasks_by_status ON tasks(status, priority DESC, id);
CREATE INDEX tasks_finished ON tasks(completed_at) WHERE status IN ('done', 'failed', 'cancelled');
-- The audit trail by time, for retention.
CREATE INDEX events_by_time ON events(ts);
-- A task list without a status filter walks queue order and stops at the page.
CREATE INDEX tasks_by_priority ON tasks(priority DESC, id);

-- The last integrity check (PRAGMA quick_check reads the whole file): run in the background on a schedule
-- or on request, and reported by every health call with its age instead of being re-run per call.
CREATE TABLE integrity_checks (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at REAL NOT NULL,
    seconds    REAL NOT NULL,
    result     TEXT NOT NULL
);
CREATE INDEX messages_owing_ack ON messages(ack_deadline) WHERE ack_required = 1;

-- Every agent but its sender gets a recipient row for a broadcast (at send, or on joining while it is
-- live), so reading mail never scans broadcasts; the broadcasts already sent get their rows here.
INSERT OR IGNORE INTO message_recipients(agent_id, message_id)
SELECT a.id, m.id FROM messages m JOIN agents a ON a.id IS NOT m.sender_id
WHERE m.kind = 'broadcast' AND (m.expires_at IS NULL OR m.expires_at > CAST(strftime('%s', 'now') AS REAL));
-- Health's ready and stuck tasks: open tasks, the longest unchanged first.
CREATE INDEX tasks_open_by_update ON tasks(updated_at) WHERE status = 'open';
-- performance_metrics' totals count mail read within the window.
CREATE INDEX message_recipients_by_read_time ON message_recipients(read_at) WHERE read_at IS NOT NULL;
-- Retention deletes old messages; their replies let go of them over this index.
CREATE INDEX messages_by_reply ON messages(reply_to) WHERE reply_to IS NOT NULL;
