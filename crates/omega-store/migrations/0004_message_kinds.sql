-- Message kinds beyond plain text, and what can happen to a message after it was sent.
-- kind: text | location | contact | sticker | timer (a system line: the disappearing timer changed).
ALTER TABLE messages ADD COLUMN kind TEXT NOT NULL DEFAULT 'text';
-- JSON with what the kind carries (mentions, coordinates, the shared card, the sticker).
ALTER TABLE messages ADD COLUMN extra TEXT;
-- The quoted message's id (UUID text), in the same conversation.
ALTER TABLE messages ADD COLUMN reply_to TEXT;
ALTER TABLE messages ADD COLUMN edited_ms INTEGER;
-- Deleted for everyone: the body and extra are erased, the row stays as a tombstone.
ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
-- JSON array of {"by": user id, "emoji"}; one reaction per person.
ALTER TABLE messages ADD COLUMN reactions TEXT;
-- Disappearing messages: erased from this store once this time has passed.
ALTER TABLE messages ADD COLUMN expires_at_ms INTEGER;
CREATE INDEX messages_expiring ON messages (expires_at_ms) WHERE expires_at_ms IS NOT NULL;

-- A conversation's disappearing-message timer (0: off), agreed by whoever set it last.
ALTER TABLE contacts ADD COLUMN disappearing_ms INTEGER NOT NULL DEFAULT 0;
