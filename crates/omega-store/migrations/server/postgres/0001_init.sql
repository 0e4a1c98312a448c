-- Every table and index of the server's store on PostgreSQL: the store-and-forward mailbox, signed
-- device lists and the prekey directory. Applied in order by omega_store::migrate, tracked in
-- omega_schema_version; never edit an applied migration: add 0002_*.sql instead, and the same
-- change to ../sqlite/.

-- Envelopes waiting for their recipient device. `cursor` orders a mailbox; deposits to one mailbox
-- take an advisory lock so cursors are also assigned in commit order.
CREATE TABLE mailbox (
    cursor         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recipient_hash BYTEA  NOT NULL,  -- 32 bytes: hash of the recipient user and device
    message_id     BYTEA  NOT NULL,  -- 16 bytes, chosen by the sender
    envelope       BYTEA  NOT NULL,  -- opaque, end-to-end encrypted
    deposited_ms   BIGINT NOT NULL,
    expires_ms     BIGINT NOT NULL
);
-- Envelopes are ciphertext: do not try to compress them.
ALTER TABLE mailbox ALTER COLUMN envelope SET STORAGE EXTERNAL;
CREATE INDEX mailbox_by_recipient ON mailbox (recipient_hash, cursor);
CREATE UNIQUE INDEX mailbox_by_message ON mailbox (recipient_hash, message_id);
CREATE INDEX mailbox_by_expiry ON mailbox (expires_ms);

-- The newest signed device list of each user (verified by the server before it is stored).
CREATE TABLE device_lists (
    user_key BYTEA  PRIMARY KEY,
    version  BIGINT NOT NULL,
    signed   BYTEA  NOT NULL
);

-- Signed one-time prekeys of each device, handed out oldest first, each exactly once.
CREATE TABLE one_time_keys (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device    BYTEA  NOT NULL,  -- the device's Curve25519 key, 32 bytes
    key       BYTEA  NOT NULL,
    signature BYTEA  NOT NULL
);
CREATE INDEX one_time_keys_by_device ON one_time_keys (device, id);
CREATE UNIQUE INDEX one_time_keys_by_key ON one_time_keys (device, key);

-- The signed fallback key of each device, handed out (and kept) when its one-time keys run out.
CREATE TABLE fallback_keys (
    device    BYTEA PRIMARY KEY,
    key       BYTEA NOT NULL,
    signature BYTEA NOT NULL
);
