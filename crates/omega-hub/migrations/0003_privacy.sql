-- Per-tenant privacy settings of the inbox (the rest of the privacy layer grows here).
CREATE TABLE privacy_settings (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants (id),
    ignore_groups BIGINT NOT NULL,
    ignore_broadcasts BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
