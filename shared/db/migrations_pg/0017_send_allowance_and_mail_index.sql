-- SQLite's 0017 (see shared/db/migrations/0017_send_allowance.sql): the send rate check in O(1), the generic
-- cell rate algorithm's booked time on each agent's row. NULL: nothing booked.
ALTER TABLE agents ADD COLUMN sends_booked_until DOUBLE PRECISION;
