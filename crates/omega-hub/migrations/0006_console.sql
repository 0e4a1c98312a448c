-- The console: who handles a conversation (a member id, or NULL for nobody), and the index the
-- dashboard counts messages per day with.
ALTER TABLE conversations ADD COLUMN assignee_id TEXT;
CREATE INDEX conversations_by_assignee ON conversations (tenant_id, assignee_id);
CREATE INDEX inbox_messages_by_time ON inbox_messages (tenant_id, sent_at_ms);
