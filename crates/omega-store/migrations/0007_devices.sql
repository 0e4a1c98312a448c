-- Multi-device (docs/devices.md). The addresses my other devices were last seen at (the user's
-- own devices are not contacts, so they are not in `contacts.addrs`).
CREATE TABLE own_device_addrs (
    peer_id BLOB PRIMARY KEY,  -- libp2p peer id of one of my other devices
    addrs   TEXT NOT NULL      -- JSON array of multiaddrs
);

-- The conversation-metadata Automerge document shared by my devices (read markers, archived and
-- muted flags, aliases): one row, the saved document.
CREATE TABLE metadata_doc (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    doc BLOB    NOT NULL
);
