//! The security center (my devices and sessions, revoke one or all; an admin revokes a
//! member's devices) and API keys.

use omega_auth::scope::Scope;
use omega_auth::secret_token;
use serde::{Deserialize, Serialize};

use crate::auth::Principal;
use crate::error::HubError;
use crate::hub::Hub;
use crate::store::{ApiKeyRow, DeviceRow, now_ms};
use crate::tenancy::{check_name, scopes_text};

/// One device (a login) as the security center shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DeviceView {
    pub id: String,
    pub name: String,
    pub ip: String,
    pub user_agent: String,
    pub created_ms: i64,
    pub last_seen_ms: i64,
    pub revoked_ms: Option<i64>,
    /// The device making this request.
    pub current: bool,
}

impl DeviceView {
    fn from_row(row: DeviceRow, current: Option<&str>) -> DeviceView {
        DeviceView {
            current: current == Some(row.id.as_str()),
            id: row.id,
            name: row.name,
            ip: row.ip,
            user_agent: row.user_agent,
            created_ms: row.created_ms,
            last_seen_ms: row.last_seen_ms,
            revoked_ms: row.revoked_ms,
        }
    }
}

/// An API key as listed (never its secret).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_by: String,
    pub created_ms: i64,
    pub last_used_ms: Option<i64>,
    pub revoked_ms: Option<i64>,
}

impl From<ApiKeyRow> for ApiKeyView {
    fn from(row: ApiKeyRow) -> ApiKeyView {
        ApiKeyView {
            id: row.id,
            name: row.name,
            scopes: row.scopes.split_whitespace().map(str::to_owned).collect(),
            created_by: row.created_by,
            created_ms: row.created_ms,
            last_used_ms: row.last_used_ms,
            revoked_ms: row.revoked_ms,
        }
    }
}

/// A new API key.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    pub name: String,
    pub scopes: Vec<String>,
}

/// A created API key: `key` is shown this once and stored only hashed.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedApiKey {
    pub id: String,
    pub key: String,
    pub scopes: Vec<String>,
}

impl Hub {
    /// My devices, newest last.
    pub async fn my_devices(&self, principal: &Principal) -> Result<Vec<DeviceView>, HubError> {
        let (member_id, device_id) = principal.member()?;
        let rows = self
            .0
            .db
            .tenant(&principal.tenant)
            .devices_of(member_id)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| DeviceView::from_row(row, Some(device_id)))
            .collect())
    }

    /// Revokes one of my devices (its tokens fail on their next request).
    pub async fn revoke_my_device(
        &self,
        principal: &Principal,
        device_id: &str,
    ) -> Result<(), HubError> {
        let (member_id, _) = principal.member()?;
        let member_id = member_id.to_owned();
        self.revoke_device_of(principal, &member_id, device_id)
            .await
    }

    async fn revoke_device_of(
        &self,
        principal: &Principal,
        member_id: &str,
        device_id: &str,
    ) -> Result<(), HubError> {
        let tenant_db = self.0.db.tenant(&principal.tenant);
        let device = tenant_db.device(device_id).await?;
        if device.is_none_or(|device| device.member_id != member_id) {
            return Err(HubError::not_found("device"));
        }
        tenant_db
            .revoke_device(member_id, device_id, now_ms())
            .await?;
        self.0
            .audit
            .append(
                principal
                    .event("security.device_revoked")
                    .target(format!("device/{device_id}")),
            )
            .await?;
        Ok(())
    }

    /// Revokes all my devices, keeping the current one when `keep_current`.
    pub async fn revoke_my_devices(
        &self,
        principal: &Principal,
        keep_current: bool,
    ) -> Result<u64, HubError> {
        let (member_id, device_id) = principal.member()?;
        let keep = keep_current.then_some(device_id);
        let n = self
            .0
            .db
            .tenant(&principal.tenant)
            .revoke_member_devices(member_id, keep, now_ms())
            .await?;
        let event = principal
            .event("security.devices_revoked")
            .target(format!("member/{member_id}"))
            .details(serde_json::json!({ "revoked": n, "kept_current": keep_current }));
        self.0.audit.append(event).await?;
        Ok(n)
    }

    /// A member's devices (admins, `security:admin`). Reading them is audited.
    pub async fn member_devices(
        &self,
        principal: &Principal,
        member_id: &str,
    ) -> Result<Vec<DeviceView>, HubError> {
        principal.require(Scope::SecurityAdmin)?;
        let tenant_db = self.0.db.tenant(&principal.tenant);
        if tenant_db.member(member_id).await?.is_none() {
            return Err(HubError::not_found("member"));
        }
        let rows = tenant_db.devices_of(member_id).await?;
        self.0
            .audit
            .append(
                principal
                    .event("personal_data.read")
                    .target(format!("member/{member_id}/devices")),
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| DeviceView::from_row(row, None))
            .collect())
    }

    /// Revokes one device of a member, or all when `device_id` is `None` (admins).
    pub async fn revoke_member_devices(
        &self,
        principal: &Principal,
        member_id: &str,
        device_id: Option<&str>,
        reason: Option<&str>,
    ) -> Result<u64, HubError> {
        principal.require(Scope::SecurityAdmin)?;
        let tenant_db = self.0.db.tenant(&principal.tenant);
        let member = tenant_db
            .member(member_id)
            .await?
            .ok_or_else(|| HubError::not_found("member"))?;
        if member.role == "owner"
            && principal.require_member_role()? != omega_auth::scope::Role::Owner
        {
            return Err(HubError::forbidden(
                "role_not_grantable",
                "only an owner revokes an owner's devices",
            ));
        }
        if let Some(device_id) = device_id {
            self.revoke_device_of(principal, member_id, device_id)
                .await?;
            return Ok(1);
        }
        let n = tenant_db
            .revoke_member_devices(member_id, None, now_ms())
            .await?;
        let mut event = principal
            .event("security.devices_revoked")
            .target(format!("member/{member_id}"))
            .details(serde_json::json!({ "revoked": n }));
        if let Some(reason) = reason {
            event = event.reason(reason);
        }
        self.0.audit.append(event).await?;
        Ok(n)
    }

    /// Creates an API key with scopes the creator holds.
    pub async fn create_api_key(
        &self,
        principal: &Principal,
        new: NewApiKey,
    ) -> Result<CreatedApiKey, HubError> {
        principal.require(Scope::ApikeysWrite)?;
        let (member_id, _) = principal.member()?;
        let name = check_name("name", &new.name)?;
        let scopes = omega_auth::scope::parse_scopes(&new.scopes)
            .map_err(|error| HubError::bad_request(error.to_string()))?;
        if scopes.is_empty() {
            return Err(HubError::bad_request("scopes: give at least one scope"));
        }
        if let Some(beyond) = scopes
            .iter()
            .find(|scope| !principal.scopes.contains(scope))
        {
            return Err(HubError::forbidden(
                "scope_not_grantable",
                format!(
                    "you cannot grant {} because you do not hold it",
                    beyond.as_str()
                ),
            ));
        }
        let material = secret_token::new_api_key(&mut rand::rngs::OsRng);
        let row = ApiKeyRow {
            tenant_id: principal.tenant.as_str().to_owned(),
            id: material.id.clone(),
            name,
            scopes: scopes_text(&scopes),
            secret_hash: material.hash.to_vec(),
            created_by: member_id.to_owned(),
            created_ms: now_ms(),
            last_used_ms: None,
            revoked_ms: None,
        };
        self.0
            .db
            .tenant(&principal.tenant)
            .insert_api_key(&row)
            .await?;
        let event = principal
            .event("apikey.created")
            .target(format!("apikey/{}", row.id))
            .details(serde_json::json!({ "scopes": row.scopes }));
        self.0.audit.append(event).await?;
        Ok(CreatedApiKey {
            id: material.id.clone(),
            key: material.secret_display.clone(),
            scopes: scopes
                .iter()
                .map(|scope| scope.as_str().to_owned())
                .collect(),
        })
    }

    pub async fn api_keys(&self, principal: &Principal) -> Result<Vec<ApiKeyView>, HubError> {
        principal.require(Scope::ApikeysWrite)?;
        let rows = self.0.db.tenant(&principal.tenant).api_keys().await?;
        Ok(rows.into_iter().map(ApiKeyView::from).collect())
    }

    pub async fn revoke_api_key(
        &self,
        principal: &Principal,
        key_id: &str,
    ) -> Result<(), HubError> {
        principal.require(Scope::ApikeysWrite)?;
        if !self
            .0
            .db
            .tenant(&principal.tenant)
            .revoke_api_key(key_id, now_ms())
            .await?
        {
            return Err(HubError::not_found("API key"));
        }
        self.0
            .audit
            .append(
                principal
                    .event("apikey.revoked")
                    .target(format!("apikey/{key_id}")),
            )
            .await?;
        Ok(())
    }
}
