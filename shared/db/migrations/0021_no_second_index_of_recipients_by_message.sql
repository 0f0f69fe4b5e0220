-- message_recipients_unacked (message_id) WHERE acked_at IS NULL held every recipient row not yet
-- acknowledged, which is nearly every row (a message needs no acknowledgement unless asked for one), on the
-- key message_recipients_by_message already has: a second b-tree written by every send for no query of its
-- own (a message's few recipient rows are found by message_recipients_by_message and filtered there).
DROP INDEX IF EXISTS message_recipients_unacked;
