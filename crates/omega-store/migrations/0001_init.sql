-- Every table and index of the node's local store. Applied in order by omega_store::migrate;
-- never edit an applied migration: add 0002_*.sql instead.

-- This device's identity: one row. The vodozemac account is pickled and encrypted with the
-- store key held in the sealed keystore, never in clear.
CREATE TABLE identity (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    user_key       BLOB    NOT NULL,
    name           TEXT    NOT NULL,
    account_pickle TEXT    NOT NULL,
    device_list    BLOB    NOT NULL,  -- our encoded SignedDeviceList
    created_ms     INTEGER NOT NULL
);

CREATE TABLE contacts (
    user_key            BLOB    PRIMARY KEY,
    user_id             TEXT    NOT NULL UNIQUE,
    alias               TEXT    UNIQUE,
    name                TEXT    NOT NULL,
    device_list         BLOB    NOT NULL,  -- encoded SignedDeviceList, verified before it is stored
    device_list_version INTEGER NOT NULL,
    addrs               TEXT    NOT NULL,  -- JSON array of multiaddrs
    verified            INTEGER NOT NULL DEFAULT 0,
    added_ms            INTEGER NOT NULL
);

-- Olm sessions, one or more per remote device (pickled, encrypted with the store key).
CREATE TABLE sessions (
    session_id      TEXT    PRIMARY KEY,
    peer_curve25519 BLOB    NOT NULL,
    pickle          TEXT    NOT NULL,
    used_seq        INTEGER NOT NULL,  -- larger = used more recently
    created_ms      INTEGER NOT NULL
);
CREATE INDEX sessions_by_peer ON sessions (peer_curve25519, used_seq);

-- Text messages, both directions. `seq` is the local order of the conversation.
CREATE TABLE messages (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id   TEXT    NOT NULL,
    peer_user    BLOB    NOT NULL,  -- the other party: the conversation
    direction    TEXT    NOT NULL CHECK (direction IN ('in', 'out')),
    body         TEXT    NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('queued', 'sent', 'delivered', 'read', 'failed')),
    timestamp_ms INTEGER NOT NULL,  -- the sender's clock
    updated_ms   INTEGER NOT NULL,
    UNIQUE (peer_user, direction, message_id)
);
CREATE INDEX messages_by_peer ON messages (peer_user, seq);

-- Inbound envelopes already accepted, so a redelivery or replay is never stored twice.
CREATE TABLE seen_envelopes (
    sender_user BLOB    NOT NULL,
    message_id  BLOB    NOT NULL,
    seen_ms     INTEGER NOT NULL,
    PRIMARY KEY (sender_user, message_id)
);

-- Envelopes waiting to leave this device, one row per recipient device. Written in the same
-- transaction as the message, before any network attempt. `envelope` is filled once encrypted.
CREATE TABLE outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id   BLOB    NOT NULL,
    peer_user    BLOB    NOT NULL,
    peer_device  BLOB    NOT NULL,  -- curve25519 identity key of the recipient device
    content      BLOB    NOT NULL,  -- encoded Content (plaintext until sealed)
    envelope     BLOB,
    attempts     INTEGER NOT NULL DEFAULT 0,
    created_ms   INTEGER NOT NULL,
    UNIQUE (message_id, peer_device)
);
