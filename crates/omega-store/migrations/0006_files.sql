-- End-to-end encrypted files (docs/files.md): what this device needs to fetch a received file.
-- One row per received `file` message, written just before the message's own transaction (a row
-- whose message never committed is harmless: nothing reads it) and gone with the message.
CREATE TABLE files (
    -- The `messages` row (UUID text).
    message_id TEXT PRIMARY KEY NOT NULL,
    -- `omega_files::Manifest` bytes: chunk ids, size, SHA-256, name and the file key. Like message
    -- bodies, in clear in this store (docs/decisions/002-local-message-bodies.md).
    manifest BLOB NOT NULL,
    -- JSON array of full multiaddrs answering /omega/blob/1 gets, in the order to try them.
    sources TEXT NOT NULL,
    -- available | fetching | done | failed
    state TEXT NOT NULL DEFAULT 'available',
    -- Where the fetched file was written (state done).
    path TEXT,
    -- Why the last fetch failed (state failed).
    error TEXT,
    updated_ms INTEGER NOT NULL
);

CREATE TRIGGER files_erased_with_message AFTER DELETE ON messages
BEGIN
    DELETE FROM files WHERE message_id = old.message_id;
END;

CREATE TRIGGER files_erased_on_delete_for_everyone AFTER UPDATE OF deleted ON messages
WHEN new.deleted = 1
BEGIN
    DELETE FROM files WHERE message_id = new.message_id;
END;
