-- Every table and index of the hub, in one place. The same text runs on SQLite and PostgreSQL:
-- TEXT, BIGINT and BYTEA only (SQLite stores BYTEA values as blobs), no autoincrement, no
-- booleans (0/1 in BIGINT), times in unix milliseconds.
-- Every tenant-owned table starts its primary key with tenant_id, so the storage layer's
-- tenant-scoped handle (`TenantDb`) always filters on it.

CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    plan TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);

CREATE TABLE departments (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
);

CREATE TABLE members (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    email TEXT NOT NULL,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    scopes TEXT NOT NULL,
    department_id TEXT,
    password_hash TEXT NOT NULL,
    totp_sealed BYTEA,
    totp_enabled BIGINT NOT NULL DEFAULT 0,
    totp_last_step BIGINT,
    disabled BIGINT NOT NULL DEFAULT 0,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, email)
);

CREATE TABLE recovery_codes (
    tenant_id TEXT NOT NULL,
    member_id TEXT NOT NULL,
    code_hash BYTEA NOT NULL,
    used_ms BIGINT,
    PRIMARY KEY (tenant_id, member_id, code_hash)
);

-- A device is one login of one member (a browser, a phone, a CLI): the security center lists
-- and revokes these. Access tokens carry the device id and are refused once it is revoked.
CREATE TABLE devices (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    member_id TEXT NOT NULL,
    name TEXT NOT NULL,
    ip TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    last_seen_ms BIGINT NOT NULL,
    revoked_ms BIGINT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX devices_by_member ON devices (tenant_id, member_id);

-- Refresh tokens, stored as SHA-256 of the secret. One family per device login; a token is
-- used once; presenting a used token revokes the family and its device.
CREATE TABLE refresh_tokens (
    token_hash BYTEA PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    member_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    family_id TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    used_ms BIGINT,
    revoked_ms BIGINT
);
CREATE INDEX refresh_by_family ON refresh_tokens (family_id);

CREATE TABLE api_keys (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    secret_hash BYTEA NOT NULL,
    created_by TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    last_used_ms BIGINT,
    revoked_ms BIGINT,
    PRIMARY KEY (tenant_id, id)
);

-- Quota counters (messages per month, …), per tenant, metric and period ("2026-11").
CREATE TABLE usage_counters (
    tenant_id TEXT NOT NULL,
    metric TEXT NOT NULL,
    period TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, metric, period)
);

-- The audit log: leaf `idx` of the RFC 6962 tree is the UTF-8 text of `entry`; `leaf_hash` is
-- kept so a redacted entry (personal data erased) still proves the tree.
CREATE TABLE audit_entries (
    idx BIGINT PRIMARY KEY,
    tenant_id TEXT,
    entry TEXT NOT NULL,
    leaf_hash BYTEA NOT NULL,
    redacted_ms BIGINT
);
CREATE INDEX audit_by_tenant ON audit_entries (tenant_id, idx);

-- Every signed tree head the hub handed out.
CREATE TABLE audit_checkpoints (
    size BIGINT PRIMARY KEY,
    note TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);

-- Signing keys (JWT "jwt", audit log "audit"); the secret is sealed with the hub master key.
CREATE TABLE signing_keys (
    purpose TEXT NOT NULL,
    kid TEXT NOT NULL,
    secret_sealed BYTEA NOT NULL,
    public_key BYTEA NOT NULL,
    created_ms BIGINT NOT NULL,
    retired_ms BIGINT,
    PRIMARY KEY (purpose, kid)
);

-- Every configuration the hub ran with (startup, SIGHUP reload, rollback).
CREATE TABLE config_versions (
    version BIGINT PRIMARY KEY,
    toml TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    source TEXT NOT NULL,
    applied_ms BIGINT NOT NULL
);
