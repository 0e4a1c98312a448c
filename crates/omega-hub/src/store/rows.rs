//! Rows as the store returns them.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::StoreError;

/// A tenant id. Only the auth layer (from a verified token) and the store hand these out.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TenantId(String);

impl TenantId {
    pub(crate) fn new(id: String) -> TenantId {
        TenantId(id)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantRow {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub kind: String,
    pub plan: String,
    pub created_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DepartmentRow {
    pub id: String,
    pub name: String,
    pub created_ms: i64,
}

#[derive(Clone, PartialEq, Eq)]
pub struct MemberRow {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub role: String,
    /// Space-separated scope names.
    pub scopes: String,
    pub department_id: Option<String>,
    pub password_hash: String,
    pub totp_sealed: Option<Vec<u8>>,
    pub totp_enabled: bool,
    pub totp_last_step: Option<i64>,
    pub disabled: bool,
    pub created_ms: i64,
}

impl std::fmt::Debug for MemberRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let MemberRow {
            id,
            email: _,
            display_name: _,
            role,
            scopes,
            department_id,
            password_hash: _,
            totp_sealed: _,
            totp_enabled,
            totp_last_step: _,
            disabled,
            created_ms,
        } = self;
        f.debug_struct("MemberRow")
            .field("id", id)
            .field("role", role)
            .field("scopes", scopes)
            .field("department_id", department_id)
            .field("totp_enabled", totp_enabled)
            .field("disabled", disabled)
            .field("created_ms", created_ms)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRow {
    pub id: String,
    pub member_id: String,
    pub name: String,
    pub ip: String,
    pub user_agent: String,
    pub created_ms: i64,
    pub last_seen_ms: i64,
    pub revoked_ms: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshRow {
    pub token_hash: Vec<u8>,
    pub tenant_id: String,
    pub member_id: String,
    pub device_id: String,
    pub family_id: String,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub used_ms: Option<i64>,
    pub revoked_ms: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyRow {
    pub tenant_id: String,
    pub id: String,
    pub name: String,
    pub scopes: String,
    pub secret_hash: Vec<u8>,
    pub created_by: String,
    pub created_ms: i64,
    pub last_used_ms: Option<i64>,
    pub revoked_ms: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRow {
    pub idx: i64,
    pub tenant_id: Option<String>,
    pub entry: String,
    pub leaf_hash: Vec<u8>,
    pub redacted_ms: Option<i64>,
}

#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRow {
    pub purpose: String,
    pub kid: String,
    pub secret_sealed: Vec<u8>,
    pub public_key: Vec<u8>,
    pub created_ms: i64,
    pub retired_ms: Option<i64>,
}

impl std::fmt::Debug for SigningKeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRow")
            .field("purpose", &self.purpose)
            .field("kid", &self.kid)
            .field("created_ms", &self.created_ms)
            .field("retired_ms", &self.retired_ms)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigVersionRow {
    pub version: i64,
    pub toml: String,
    pub sha256: String,
    pub source: String,
    pub applied_ms: i64,
}

/// Reads one column, naming it in the error.
pub(crate) fn col<'r, T>(row: &'r AnyRow, name: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(name)
        .map_err(|error| StoreError::Corrupt(format!("column {name}: {error}")))
}

pub(crate) fn tenant_row(row: &AnyRow) -> Result<TenantRow, StoreError> {
    Ok(TenantRow {
        id: col(row, "id")?,
        slug: col(row, "slug")?,
        name: col(row, "name")?,
        kind: col(row, "kind")?,
        plan: col(row, "plan")?,
        created_ms: col(row, "created_ms")?,
    })
}

pub(crate) fn member_row(row: &AnyRow) -> Result<MemberRow, StoreError> {
    Ok(MemberRow {
        id: col(row, "id")?,
        email: col(row, "email")?,
        display_name: col(row, "display_name")?,
        role: col(row, "role")?,
        scopes: col(row, "scopes")?,
        department_id: col(row, "department_id")?,
        password_hash: col(row, "password_hash")?,
        totp_sealed: col(row, "totp_sealed")?,
        totp_enabled: col::<i64>(row, "totp_enabled")? != 0,
        totp_last_step: col(row, "totp_last_step")?,
        disabled: col::<i64>(row, "disabled")? != 0,
        created_ms: col(row, "created_ms")?,
    })
}

pub(crate) fn device_row(row: &AnyRow) -> Result<DeviceRow, StoreError> {
    Ok(DeviceRow {
        id: col(row, "id")?,
        member_id: col(row, "member_id")?,
        name: col(row, "name")?,
        ip: col(row, "ip")?,
        user_agent: col(row, "user_agent")?,
        created_ms: col(row, "created_ms")?,
        last_seen_ms: col(row, "last_seen_ms")?,
        revoked_ms: col(row, "revoked_ms")?,
    })
}

pub(crate) fn refresh_row(row: &AnyRow) -> Result<RefreshRow, StoreError> {
    Ok(RefreshRow {
        token_hash: col(row, "token_hash")?,
        tenant_id: col(row, "tenant_id")?,
        member_id: col(row, "member_id")?,
        device_id: col(row, "device_id")?,
        family_id: col(row, "family_id")?,
        created_ms: col(row, "created_ms")?,
        expires_ms: col(row, "expires_ms")?,
        used_ms: col(row, "used_ms")?,
        revoked_ms: col(row, "revoked_ms")?,
    })
}

pub(crate) fn api_key_row(row: &AnyRow) -> Result<ApiKeyRow, StoreError> {
    Ok(ApiKeyRow {
        tenant_id: col(row, "tenant_id")?,
        id: col(row, "id")?,
        name: col(row, "name")?,
        scopes: col(row, "scopes")?,
        secret_hash: col(row, "secret_hash")?,
        created_by: col(row, "created_by")?,
        created_ms: col(row, "created_ms")?,
        last_used_ms: col(row, "last_used_ms")?,
        revoked_ms: col(row, "revoked_ms")?,
    })
}

pub(crate) fn audit_row(row: &AnyRow) -> Result<AuditRow, StoreError> {
    Ok(AuditRow {
        idx: col(row, "idx")?,
        tenant_id: col(row, "tenant_id")?,
        entry: col(row, "entry")?,
        leaf_hash: col(row, "leaf_hash")?,
        redacted_ms: col(row, "redacted_ms")?,
    })
}

pub(crate) fn signing_key_row(row: &AnyRow) -> Result<SigningKeyRow, StoreError> {
    Ok(SigningKeyRow {
        purpose: col(row, "purpose")?,
        kid: col(row, "kid")?,
        secret_sealed: col(row, "secret_sealed")?,
        public_key: col(row, "public_key")?,
        created_ms: col(row, "created_ms")?,
        retired_ms: col(row, "retired_ms")?,
    })
}

pub(crate) fn config_version_row(row: &AnyRow) -> Result<ConfigVersionRow, StoreError> {
    Ok(ConfigVersionRow {
        version: col(row, "version")?,
        toml: col(row, "toml")?,
        sha256: col(row, "sha256")?,
        source: col(row, "source")?,
        applied_ms: col(row, "applied_ms")?,
    })
}
