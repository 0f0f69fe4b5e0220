-- SQLite's 0017 (shared/db/migrations/0017_send_allowance_and_mail_index.sql): the send rate check in O(1), the
-- generic cell rate algorithm's booked time on each agent's row (NULL: nothing booked). Its mail index part has no
-- twin here: messages.search is a generated tsvector, filled in each INSERT (shared/store/mail/search.py).
-- messages_by_cause served only the old check (the notices an agent's calls caused in the last minute).
DROP INDEX IF EXISTS messages_by_cause;
ALTER TABLE agents ADD COLUMN sends_booked_until DOUBLE PRECISION;
