-- A claim is now one write transaction run in one hop (shared/store/tasks/queue.py), which records its
-- own events: `task.claimed`, and `task.lease_lapsed` when it takes over a lapsed claim, beside the
-- sweep's. The trigger of 0002 that wrote them goes, so each event has exactly one writer.
DROP TRIGGER IF EXISTS tasks_claim_events;
