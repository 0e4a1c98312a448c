-- Groups (docs/groups.md). A group's conversation lives in `messages` with peer_user = the
-- 32-byte group id; `author` is the member who wrote an incoming group message (NULL in 1:1).
ALTER TABLE messages ADD COLUMN author BLOB;

-- One row per group this device knows: its signed genesis (omega-groups canonical bytes).
CREATE TABLE groups (
    group_id   BLOB    PRIMARY KEY,
    genesis    BLOB    NOT NULL,
    joined_ms  INTEGER NOT NULL,
    -- The group's disappearing-message timer (0: off), set by the last timer line.
    disappearing_ms INTEGER NOT NULL DEFAULT 0
);

-- The signed operations of each group's membership log (accepted or pending), by hash.
CREATE TABLE group_ops (
    group_id BLOB NOT NULL REFERENCES groups (group_id) ON DELETE CASCADE,
    hash     BLOB NOT NULL,
    op       BLOB NOT NULL,
    PRIMARY KEY (group_id, hash)
);

-- This device's current outbound Megolm session per group: the pickle (encrypted with the
-- store key) and omega-groups' OutboundSessionInfo (JSON), plus the users it was shared with.
CREATE TABLE group_outbound (
    group_id   BLOB PRIMARY KEY REFERENCES groups (group_id) ON DELETE CASCADE,
    session_id TEXT NOT NULL,
    pickle     TEXT NOT NULL,
    info       TEXT NOT NULL,
    shared_with TEXT NOT NULL
);

-- Other devices' Megolm sessions, received over Olm from `sender_user`'s device `sender_device`
-- (its curve25519 key).
CREATE TABLE group_inbound (
    session_id    TEXT    PRIMARY KEY,
    group_id      BLOB    NOT NULL,
    sender_user   BLOB    NOT NULL,
    sender_device BLOB    NOT NULL,
    pickle        TEXT    NOT NULL,
    received_ms   INTEGER NOT NULL,
    -- Gap repair: the ratchet index after the highest one decrypted, and the indexes below it
    -- never seen (JSON array), which were asked again from the sender.
    next_index    INTEGER NOT NULL DEFAULT 0,
    missing       TEXT    NOT NULL DEFAULT '[]'
);

-- Group messages that arrived before their session key: kept until it comes (bounded by the
-- engine; purged after the mailbox TTL).
CREATE TABLE group_waiting (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id  TEXT    NOT NULL,
    message     BLOB    NOT NULL,
    received_ms INTEGER NOT NULL
);
CREATE INDEX group_waiting_by_session ON group_waiting (session_id);

-- My published group messages by session and ratchet index, so a member that missed one (a
-- connection that died silently) can ask for it again. Purged after the mailbox TTL.
CREATE TABLE group_sent (
    session_id TEXT    NOT NULL,
    idx        INTEGER NOT NULL,
    message    BLOB    NOT NULL,
    sent_ms    INTEGER NOT NULL,
    PRIMARY KEY (session_id, idx)
);
