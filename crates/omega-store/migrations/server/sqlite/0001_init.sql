-- Every table and index of the server's store on SQLite: the store-and-forward mailbox, signed
-- device lists and the prekey directory. Applied in order by omega_store::migrate; never edit an
-- applied migration: add 0002_*.sql instead, and the same change to ../postgres/.

-- Envelopes waiting for their recipient device. `cursor` orders a mailbox: AUTOINCREMENT so a
-- cursor is never reused, even after the newest row was acknowledged and deleted.
CREATE TABLE mailbox (
    cursor         INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient_hash BLOB    NOT NULL,  -- 32 bytes: hash of the recipient user and device
    message_id     BLOB    NOT NULL,  -- 16 bytes, chosen by the sender
    envelope       BLOB    NOT NULL,  -- opaque, end-to-end encrypted
    deposited_ms   INTEGER NOT NULL,
    expires_ms     INTEGER NOT NULL
);
CREATE INDEX mailbox_by_recipient ON mailbox (recipient_hash, cursor);
CREATE UNIQUE INDEX mailbox_by_message ON mailbox (recipient_hash, message_id);
CREATE INDEX mailbox_by_expiry ON mailbox (expires_ms);

-- The newest signed device list of each user (verified by the server before it is stored).
CREATE TABLE device_lists (
    user_key BLOB    PRIMARY KEY,
    version  INTEGER NOT NULL,
    signed   BLOB    NOT NULL
);

-- Signed one-time prekeys of each device, handed out oldest first, each exactly once.
CREATE TABLE one_time_keys (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    device    BLOB    NOT NULL,  -- the device's Curve25519 key, 32 bytes
    key       BLOB    NOT NULL,
    signature BLOB    NOT NULL
);
CREATE INDEX one_time_keys_by_device ON one_time_keys (device, id);
CREATE UNIQUE INDEX one_time_keys_by_key ON one_time_keys (device, key);

-- The signed fallback key of each device, handed out (and kept) when its one-time keys run out.
CREATE TABLE fallback_keys (
    device    BLOB PRIMARY KEY,
    key       BLOB NOT NULL,
    signature BLOB NOT NULL
);
