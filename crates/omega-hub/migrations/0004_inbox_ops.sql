-- The inbox's operations: hide mode, outbound replies, connector sessions, diagnostics, leads.

-- Hide mode. The blacklist holds a keyed hash of each hidden address (never the number itself),
-- so once a contact is purged no row of the tenant names it.
CREATE TABLE hidden_addresses (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    address_hash BYTEA NOT NULL,
    hidden_by TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, address_hash)
);

-- Outbound credentials (sealed with the master key) and the connector session of a channel.
ALTER TABLE channels ADD COLUMN credentials_sealed BYTEA;
ALTER TABLE channels ADD COLUMN session_state TEXT;
ALTER TABLE channels ADD COLUMN session_due_ms BIGINT;

-- What happened on a channel: webhook refusals, session transitions, send attempts. Never
-- message content or secrets.
CREATE TABLE channel_diagnostics (
    tenant_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    id TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    kind TEXT NOT NULL,
    request TEXT NOT NULL,
    outcome TEXT NOT NULL,
    latency_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, channel_id, id)
);

-- Replies waiting to be sent through a source's API. One job per idempotency key.
CREATE TABLE outbound_jobs (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    to_key TEXT NOT NULL,
    text TEXT NOT NULL,
    reply_to TEXT,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_ms BIGINT NOT NULL,
    last_error TEXT,
    created_by TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, idempotency_key)
);
CREATE INDEX outbound_due ON outbound_jobs (state, next_attempt_ms);

-- A contact's lead score and why.
CREATE TABLE leads (
    tenant_id TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    score BIGINT NOT NULL,
    messages BIGINT NOT NULL,
    sentiment TEXT NOT NULL,
    next_action TEXT NOT NULL,
    reasons TEXT NOT NULL,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, contact_id)
);
