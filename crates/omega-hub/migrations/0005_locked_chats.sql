-- Privacy: skip chats the source flags as locked (WhatsApp Chat Lock), on by default.
ALTER TABLE privacy_settings ADD COLUMN skip_locked_chats BIGINT NOT NULL DEFAULT 1;
