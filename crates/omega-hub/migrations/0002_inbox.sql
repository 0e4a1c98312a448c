-- The omnichannel inbox. A channel is one connected source (a WhatsApp instance, a Telegram bot…);
-- its webhook is authenticated per channel. Inbound bodies are stored first (inbound_events, the
-- durable queue) and normalized later by the inbox worker into contacts, conversations, messages.

CREATE TABLE channels (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    webhook_token_hash BYTEA NOT NULL,
    secret_sealed BYTEA,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE inbound_events (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    received_ms BIGINT NOT NULL,
    body BYTEA NOT NULL,
    state TEXT NOT NULL,
    error TEXT
);
CREATE INDEX inbound_pending ON inbound_events (state, received_ms);

CREATE TABLE contact_addresses (
    tenant_id TEXT NOT NULL,
    address_key TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    PRIMARY KEY (tenant_id, address_key)
);

CREATE TABLE contacts (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    display_name TEXT,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE conversations (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    chat_key TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    is_group BIGINT NOT NULL,
    last_message_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, channel_id, chat_key)
);

CREATE TABLE inbox_messages (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    provider_message_id TEXT NOT NULL,
    direction TEXT NOT NULL,
    kind TEXT NOT NULL,
    sender_key TEXT NOT NULL,
    text TEXT,
    media TEXT,
    status TEXT NOT NULL,
    sent_at_ms BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, channel_id, provider_message_id)
);
CREATE INDEX inbox_messages_by_conversation ON inbox_messages (tenant_id, conversation_id, sent_at_ms);
