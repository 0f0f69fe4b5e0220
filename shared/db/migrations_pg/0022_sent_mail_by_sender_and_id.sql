-- messages_by_sender was (sender_id, created_at), which no query reads in that order: a sender's mail is read
-- by id (message_query(sent=true) pages it by id, message_send shows the message it wrote, the inbox's sender
-- filter walks ids), so each of those found every message the sender ever sent and sorted them — a cost that
-- grew with the sender's history (1,000 sends: 1,000 rows sorted per send). By (sender_id, id) they seek.
DROP INDEX IF EXISTS messages_by_sender;
CREATE INDEX messages_by_sender ON messages(sender_id, id);
