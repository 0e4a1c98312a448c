//! Handlers of `/api/v1`, each annotated for the generated OpenAPI document.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use omega_audit::bundle::{ProofBundle, SignedHead};
use omega_auth::scope::Scope;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Authed, Body, Meta, Params};
use crate::auth::{LoginRequest, TokenResponse, TotpEnrollment};
use crate::error::HubError;
use crate::hub::Hub;
use crate::inbox::{ChannelView, NewChannel};
use crate::security::{ApiKeyView, CreatedApiKey, DeviceView, NewApiKey};
use crate::store::{DepartmentRow, MemberRow, PrivacySettings};
use crate::tenancy::{MemberChange, NewMember, Plan, Quotas};

pub(super) fn api(router: OpenApiRouter<Hub>) -> OpenApiRouter<Hub> {
    router
        .routes(routes!(health))
        .routes(routes!(metrics))
        .routes(routes!(jwks))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(totp_enroll))
        .routes(routes!(totp_confirm))
        .routes(routes!(totp_disable))
        .routes(routes!(tenant))
        .routes(routes!(departments, create_department))
        .routes(routes!(members, add_member))
        .routes(routes!(member, update_member))
        .routes(routes!(member_devices))
        .routes(routes!(revoke_member_devices))
        .routes(routes!(my_devices))
        .routes(routes!(revoke_my_device))
        .routes(routes!(revoke_my_devices))
        .routes(routes!(api_keys, create_api_key))
        .routes(routes!(revoke_api_key))
        .routes(routes!(audit_head))
        .routes(routes!(audit_entries))
        .routes(routes!(audit_inclusion))
        .routes(routes!(audit_consistency))
        .routes(routes!(channels, create_channel))
        .routes(routes!(conversation_messages))
        .routes(routes!(webhook, webhook_verification))
        .routes(routes!(privacy, set_privacy))
}

/// The inbox's privacy settings.
#[utoipa::path(get, path = "/api/v1/settings/privacy", tag = "inbox", security(("bearer" = [])),
    responses((status = 200, body = PrivacySettings), (status = 403, body = ErrorBody)))]
async fn privacy(
    State(hub): State<Hub>,
    Authed(principal): Authed,
) -> Result<Json<PrivacySettings>, HubError> {
    Ok(Json(hub.privacy(&principal).await?))
}

/// Change the privacy settings (audited).
#[utoipa::path(put, path = "/api/v1/settings/privacy", tag = "inbox", security(("bearer" = [])), request_body = PrivacySettings,
    responses((status = 200, body = PrivacySettings), (status = 403, body = ErrorBody)))]
async fn set_privacy(
    State(hub): State<Hub>,
    Authed(principal): Authed,
    Body(body): Body<PrivacySettings>,
) -> Result<Json<PrivacySettings>, HubError> {
    Ok(Json(hub.set_privacy(&principal, body).await?))
}

/// The error body of every failure.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine code, e.g. `token_expired`, `missing_scope`, `quota_exceeded`.
    pub code: String,
    pub message: String,
}

// ---------------------------------------------------------------- operations

/// Health of the hub and each dependency; 503 when one is down.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, description = "healthy"), (status = 503, description = "a dependency is down")))]
async fn health(State(hub): State<Hub>) -> impl IntoResponse {
    let database = match hub.db().ping().await {
        Ok(latency) => serde_json::json!({
            "ok": true,
            "kind": if hub.db().is_postgres() { "postgresql" } else { "sqlite" },
            "latency_ms": latency.as_secs_f64() * 1000.0,
        }),
        Err(error) => serde_json::json!({ "ok": false, "error": error.to_string() }),
    };
    let keys = hub.0.keys.current();
    let audit = match hub.audit().verifier_key() {
        Ok(verifier_key) => {
            serde_json::json!({ "ok": true, "size": hub.audit().size(), "verifier_key": verifier_key })
        }
        Err(error) => serde_json::json!({ "ok": false, "error": error.to_string() }),
    };
    let healthy = database["ok"] == true && audit["ok"] == true;
    let body = serde_json::json!({
        "status": if healthy { "ok" } else { "degraded" },
        "checks": {
            "database": database,
            "audit_log": audit,
            "signing_keys": { "ok": true, "jwt_kid": keys.jwt_signer.kid() },
        },
        "uptime_ms": crate::store::now_ms() - hub.0.started_ms,
    });
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "text exposition format")))]
async fn metrics(State(hub): State<Hub>) -> impl IntoResponse {
    let count = |state: &'static str| {
        let hub = hub.clone();
        async move {
            hub.db()
                .inbound_count(state)
                .await
                .map_or(0, |n| n.max(0) as u64)
        }
    };
    let (pending, failed, unknown) = (
        count("pending").await,
        count("failed").await,
        count("unknown").await,
    );
    let text = hub.0.metrics.render(&[
        (
            "omega_hub_audit_entries",
            "Entries in the audit log.",
            hub.audit().size(),
        ),
        (
            "omega_hub_inbound_pending",
            "Webhook deliveries stored and not yet normalized.",
            pending,
        ),
        (
            "omega_hub_inbound_failed",
            "Webhook deliveries that could not be normalized (kept raw).",
            failed,
        ),
        (
            "omega_hub_inbound_unknown",
            "Webhook deliveries of unknown event types (kept raw).",
            unknown,
        ),
    ]);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

/// The public keys that verify our access tokens (RFC 7517, OKP/Ed25519 per RFC 8037).
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth", responses((status = 200, description = "JWK set")))]
async fn jwks(State(hub): State<Hub>) -> impl IntoResponse {
    let keys = hub.0.keys.current();
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(keys.jwt_keys.jwks_json()),
    )
}

// ---------------------------------------------------------------- auth

/// Sign in: password, then `totp_code` or `recovery_code` when 2FA is on. Creates a device.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn login(
    State(hub): State<Hub>,
    Meta(meta): Meta,
    Body(request): Body<LoginRequest>,
) -> Result<Json<TokenResponse>, HubError> {
    if let Err(retry) = hub
        .limiters()
        .login_per_ip
        .check(&meta.ip, crate::store::now_ms() as u64)
    {
        crate::metrics::Metrics::bump(&hub.0.metrics.rate_limited);
        return Err(HubError::too_many(
            "rate_limited",
            "too many sign-in attempts from this address",
            retry.secs_ceil(),
        ));
    }
    Ok(Json(hub.login(request, &meta).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RefreshRequest {
    refresh_token: String,
}

/// Trade a refresh token (single use) for new tokens.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = ErrorBody)))]
async fn refresh(
    State(hub): State<Hub>,
    Meta(meta): Meta,
    Body(request): Body<RefreshRequest>,
) -> Result<Json<TokenResponse>, HubError> {
    Ok(Json(hub.refresh(&request.refresh_token, &meta).await?))
}

/// Sign out: revokes this device.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
async fn logout(State(hub): State<Hub>, Authed(principal): Authed) -> Result<StatusCode, HubError> {
    let (_, device_id) = principal.member()?;
    let device_id = device_id.to_owned();
    hub.revoke_my_device(&principal, &device_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
struct MeView {
    tenant_id: String,
    kind: &'static str,
    member: Option<MemberView>,
    api_key_id: Option<String>,
    device_id: Option<String>,
    scopes: Vec<String>,
}

/// Who I am, with my effective scopes.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = MeView), (status = 401, body = ErrorBody)))]
async fn me(State(hub): State<Hub>, Authed(principal): Authed) -> Result<Json<MeView>, HubError> {
    let scopes = principal
        .scopes
        .iter()
        .map(|scope| scope.as_str().to_owned())
        .collect();
    let view = match &principal.kind {
        crate::auth::PrincipalKind::Member {
            member_id,
            device_id,
            ..
        } => {
            let member = hub
                .db()
                .tenant(&principal.tenant)
                .member(member_id)
                .await?
                .ok_or_else(|| HubError::not_found("member"))?;
            MeView {
                tenant_id: principal.tenant.as_str().to_owned(),
                kind: "member",
                member: Some(MemberView::from(member)),
                api_key_id: None,
                device_id: Some(device_id.clone()),
                scopes,
            }
        }
        crate::auth::PrincipalKind::ApiKey { key_id } => MeView {
            tenant_id: principal.tenant.as_str().to_owned(),
            kind: "api_key",
            member: None,
            api_key_id: Some(key_id.clone()),
            device_id: None,
            scopes,
        },
    };
    Ok(Json(view))
}

/// Start 2FA enrolment: returns the secret, its `otpauth://` URI and that URI as a QR code
/// (an SVG document), all shown once.
#[utoipa::path(post, path = "/api/v1/auth/totp/enroll", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = TotpEnrollment), (status = 409, body = ErrorBody)))]
async fn totp_enroll(
    State(hub): State<Hub>,
    Authed(principal): Authed,
) -> Result<Json<TotpEnrollment>, HubError> {
    Ok(Json(hub.enroll_totp(&principal).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TotpCode {
    code: String,
}

#[derive(Serialize, ToSchema)]
struct RecoveryCodesView {
    /// Each works once instead of a TOTP code. Shown this once.
    recovery_codes: Vec<String>,
}

/// Confirm enrolment with a first code: 2FA is on from now; returns recovery codes.
#[utoipa::path(post, path = "/api/v1/auth/totp/confirm", tag = "auth", security(("bearer" = [])), request_body = TotpCode,
    responses((status = 200, body = RecoveryCodesView), (status = 401, body = ErrorBody)))]
async fn totp_confirm(
    State(hub): State<Hub>,
    Authed(principal): Authed,
    Body(body): Body<TotpCode>,
) -> Result<Json<RecoveryCodesView>, HubError> {
    Ok(Json(RecoveryCodesView {
        recovery_codes: hub.confirm_totp(&principal, &body.code).await?,
    }))
}

/// Turn 2FA off (needs a current code).
#[utoipa::path(post, path = "/api/v1/auth/totp/disable", tag = "auth", security(("bearer" = [])), request_body = TotpCode,
    responses((status = 204), (status = 401, body = ErrorBody)))]
async fn totp_disable(
    State(hub): State<Hub>,
    Authed(principal): Authed,
    Body(body): Body<TotpCode>,
) -> Result<StatusCode, HubError> {
    hub.disable_totp(&principal, &body.code).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- tenancy

#[derive(Serialize, ToSchema)]
struct Usage {
    used: i64,
    limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
struct TenantView {
    id: String,
    slug: String,
    name: String,
    kind: String,
    plan: Plan,
    quotas: Quotas,
    members: Usage,
    messages_this_month: Usage,
}

/// My tenant, its plan and usage.
#[utoipa::path(get, path = "/api/v1/tenant", tag = "tenancy", security(("bearer" = [])),
    responses((status = 200, body = TenantView), (status = 401, body = ErrorBody)))]
async fn tenant(
    State(hub): State<Hub>,
    Authed(principal): Authed,
) -> Result<Json<TenantView>, HubError> {
    let (row, plan) = hub.tenant_plan(&principal.tenant).await?;
    let tenant_db = hub.db().tenant(&principal.tenant);
    let quotas = plan.quotas();
    let period = crate::tenancy::month_period(crate::store::now_ms());
    Ok(Json(TenantView {
        members: Usage {
            used: tenant_db.member_count().await?,
            limit: quotas.members,
        },
        messages_this_month: Usage {
            used: tenant_db.usage("messages", &period).await?,
            limit: quotas.messages_per_month,
        },
        id: row.id,
        slug: row.slug,
        name: row.name,
        kind: row.kind,
        plan,
        quotas,
    }))
}

#[derive(Serialize, ToSchema)]
struct DepartmentView {
    id: String,
    name: String,
    created_ms: i64,
}

impl From<DepartmentRow> for DepartmentView {
    fn from(row: DepartmentRow) -> Self {
        DepartmentView {
            id: row.id,
            name: row.name,
            created_ms: row.created_ms,
        }
    }
}

/// Departments of my tenant.
#[utoipa::path(get, path = "/api/v1/departments", tag = "tenancy", security(("bearer" = [])),
    responses((status = 200, body = Vec<DepartmentView>)))]
async fn departments(
    State(hub): State<Hub>,
    Authed(principal): Authed,
) -> Result<Json<Vec<DepartmentView>>, HubError> {
    principal.require(Scope::MembersRead)?;
    let rows = hub.db().tenant(&principal.tenant).departments().await?;
    Ok(Json(rows.into_iter().map(DepartmentView::from).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewDepartment {
    name: String,
}

/// Create a department (company tenants).
#[utoipa::path(post, path = "/api/v1/departments", tag = "tenancy", security(("bearer" = [])), request_body = NewDepartment,
    responses((status = 201, body = DepartmentView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_department(
    State(hub): State<Hub>,
    Authed(principal): Authed,
    Body(body): Body<NewDepartment>,
) -> Result<(StatusCode, Json<DepartmentView>), HubError> {
    let row = hub.add_department(&principal, &body.name).await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

/// A member as the API shows it (never the password hash or TOTP secret).
#[derive(Serialize, ToSchema)]
pub struct MemberView {
    id: String,
    email: String,
    display_name: String,
    role: String,
    scopes: Vec<String>,
    department_id: Option<String>,
    totp_enabled: bool,
    disabled: bool,
    created_ms: i64,
}

impl From<MemberRow> for MemberView {
    fn from(row: MemberRow) -> Self {
        MemberView {
            scopes: row.scopes.split_whitespace().map(str::to_owned).collect(),
            id: row.id,
            email: row.email,
            display_name: row.display_name,
            role: row.role,
            department_id: row.department_id,
            totp_enabled: row.totp_enabled,
            disabled: row.disabled,
            created_ms: row.created_ms,
        }
    }
}

/// Members of my tenant (personal data: the read is audited).
#[utoipa::path(get, path = "/api/v1/members", tag = "tenancy", security(("bearer" = [])),
    responses((status = 200, body = Vec<MemberView>), (status = 403, body = ErrorBody)))]
async fn members(
    State(hub): State<Hub>,
    Authed(principal): Authed,
) -> Result<Json<Vec<MemberView>>, HubError> {
    principal.require(Scope::MembersRead)?;
    let rows = hub.db().tenant(&principal.tenant).members().await?;
    hub.audit()
        .append(principal.event("personal_data.read").target("members"))
        .await?;
    Ok(Json(rows.into_iter().map(MemberView::from).collect()))
}

/// Add a member (role and scopes no higher than mine; plan quota enforced).
#[utoipa::path(post, path = "/api/v1/members", tag = "tenancy", security(("bearer" = [])), request_body = NewMember,
    responses((status = 201, body = MemberView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn add_member(
    State(hub): State<Hub>,
    Authed(principal): Authed,
    Body(body): Body<NewMember>,
) -> Result<(StatusCode, Json<MemberView>), HubError> {
    let row = hub.add_member(&principal, body).await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

/// One member (personal data: the read is audited).
#[utoipa::path(get, path = "/api/v1/members/{id}", tag = "tenancy", security(("bearer" = [])),
    params(("id" = String, Path, description = "member id")),
    responses((status = 200, body = MemberView), (status = 404, body = ErrorBody)))]
async fn member(
    State(hub): State<Hub>,
    Authed(principal): Authed,
    Path(id): Path<String>,
) -> Result<Json<MemberView>, HubError> {
    principal.require(Scope::MembersRead)?;
    let row = hub
        .db()
        .tenant(&principal.tenant)
        .member(&id)
        .await?
        .ok_or_else(|| HubError::not_found("member"))?;
    hub.audit()
        .append(
            principal
                .event("personal_data.read")
                .target(format!("member/{id}")),
        )
        .await?;
    Ok(Json(row.into()))
}

/// Change a member's role, scopes, department or disabled flag (audited with before/after).
#[utoipa::path(patch, path = "/api/v1/members/{id}", tag = "tenancy", security(("bearer" = [])), request_body = MemberChange,
    params(("id" = String, Path, description = "member id")),
    responses((status = 200, body = MemberView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn update_member(
    State(hub): State<Hub>,
    Authed(principal): Authed,
    Path(id): Path<String>,
    Body(body): Body<MemberChange>,
) -> Result<Json<MemberView>, HubError> {
    Ok(Json(hub.update_member(&principal, &id, body).await?.into()))
}

/// A member's devices (`security:admin`).
#[utoipa::path(get, path = "/api/v1/members/{id}/devices", tag = "security", security(("bearer" = [])),
    params(("id" = String, Path, description = "member id")),
    responses((status = 200, body = Vec<DeviceView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn member_devices(
    State(hub): State<Hub>,
    Authed(principal): Authed,
    Path(id): Path<String>,
) -> Result<Json<Vec<DeviceView>>, HubError> {
    Ok(Json(hub.member_devices(&principal, &id).await?))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
struct RevokeRequest {
    /// One device; absent: all of them.
    device_id: Option<String>,
    reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct Revoked {
    revoked: u64,
}

/// Revoke a member's devices, one or all (`security:admin`).
#[utoipa::path(post, path = "/api/v1/members/{id}/devices/revoke", tag = "security", security(("bearer" = [])),
    params(("id" = String, Path, description = "member id")), request_body = RevokeRequest,
    responses((status = 200, body = Revoked), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn revoke_member_devices(
    State(hub): State<Hub>,
    Authed(principal): Authed,
    Path(id): Path<String>,
    Body(body): Body<RevokeRequest>,
) -> Result<Json<Revoked>, HubError> {
    let revoked = hub
        .revoke_member_devices(
            &principal,
            &id,
            body.device_id.as_deref(),
            body.reason.as_deref(),
        )
        .await?;
    Ok(Json(Revoked { revoked }))
}

// ---------------------------------------------------------------- security center

/// My devices (sessions): name, IP, last seen.
#[utoipa::path(get, path = "/api/v1/security/devices", tag = "security", security(("bearer" = [])),
    responses((status = 200, body = Vec<DeviceView>)))]
async fn my_devices(
    State(hub): State<Hub>,
    Authed(principal): Authed,
) -> Result<Json<Vec<DeviceView>>, HubError> {
    Ok(Json(hub.my_devices(&principal).await?))
}

/// Revoke one of my devices; its tokens fail on their next request.
#[utoipa::path(post, path = "/api/v1/security/devices/{id}/revoke", tag = "security", security(("bearer" = [])),
    params(("id" = String, Path, description = "device id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn revoke_my_device(
    State(hub): State<Hub>,
    Authed(principal): Authed,
    Path(id): Path<String>,
) -> Result<StatusCode, HubError> {
    hub.revoke_my_device(&principal, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema, IntoParams)]
#[serde(deny_unknown_fields)]
struct RevokeAll {
    /// Keep the device making this request (default true).
    keep_current: Option<bool>,
}

/// Revoke all my devices (but this one, unless `keep_current=false`).
#[utoipa::path(post, path = "/api/v1/security/devices/revoke-all", tag = "security", security(("bearer" = [])),
    params(RevokeAll), responses((status = 200, body = Revoked)))]
async fn revoke_my_devices(
    State(hub): State<Hub>,
    Authed(principal): Authed,
    Params(query): Params<RevokeAll>,
) -> Result<Json<Revoked>, HubError> {
    let revoked = hub
        .revoke_my_devices(&principal, query.keep_current.unwrap_or(true))
        .await?;
    Ok(Json(Revoked { revoked }))
}

/// API keys of my tenant (never their secrets).
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "security", security(("bearer" = [])),
    responses((status = 200, body = Vec<ApiKeyView>), (status = 403, body = ErrorBody)))]
async fn api_keys(
    State(hub): State<Hub>,
    Authed(principal): Authed,
) -> Result<Json<Vec<ApiKeyView>>, HubError> {
    Ok(Json(hub.api_keys(&principal).await?))
}

/// Create an API key for a connector or bot; the key is in this response only.
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "security", security(("bearer" = [])), request_body = NewApiKey,
    responses((status = 201, body = CreatedApiKey), (status = 403, body = ErrorBody)))]
async fn create_api_key(
    State(hub): State<Hub>,
    Authed(principal): Authed,
    Body(body): Body<NewApiKey>,
) -> Result<(StatusCode, Json<CreatedApiKey>), HubError> {
    Ok((
        StatusCode::CREATED,
        Json(hub.create_api_key(&principal, body).await?),
    ))
}

/// Revoke an API key; it fails on its next request.
#[utoipa::path(post, path = "/api/v1/api-keys/{id}/revoke", tag = "security", security(("bearer" = [])),
    params(("id" = String, Path, description = "API key id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn revoke_api_key(
    State(hub): State<Hub>,
    Authed(principal): Authed,
    Path(id): Path<String>,
) -> Result<StatusCode, HubError> {
    hub.revoke_api_key(&principal, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- audit

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct HeadQuery {
    /// An earlier tree size; default: now.
    size: Option<u64>,
}

/// A signed tree head (C2SP checkpoint) — save it as HEAD.json for `omega audit verify`.
#[utoipa::path(get, path = "/api/v1/audit/head", tag = "audit", security(("bearer" = [])), params(HeadQuery),
    responses((status = 200, description = "SignedHead JSON"), (status = 403, body = ErrorBody)))]
async fn audit_head(
    State(hub): State<Hub>,
    Authed(principal): Authed,
    Params(query): Params<HeadQuery>,
) -> Result<Json<SignedHead>, HubError> {
    principal.require(Scope::AuditRead)?;
    let head = match query.size {
        Some(size) => hub.audit().head_at(size).await?,
        None => hub.audit().head().await?,
    };
    Ok(Json(head))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct EntriesQuery {
    /// First index (default 0).
    from: Option<u64>,
    /// At most this many (default 100, max 1000).
    limit: Option<u64>,
}

#[derive(Serialize, ToSchema)]
struct AuditEntryView {
    index: i64,
    /// The exact leaf text (hash its UTF-8 bytes to get the leaf).
    entry: String,
    redacted: bool,
}

/// My tenant's audit entries.
#[utoipa::path(get, path = "/api/v1/audit/entries", tag = "audit", security(("bearer" = [])), params(EntriesQuery),
    responses((status = 200, body = Vec<AuditEntryView>), (status = 403, body = ErrorBody)))]
async fn audit_entries(
    State(hub): State<Hub>,
    Authed(principal): Authed,
    Params(query): Params<EntriesQuery>,
) -> Result<Json<Vec<AuditEntryView>>, HubError> {
    principal.require(Scope::AuditRead)?;
    let from = i64::try_from(query.from.unwrap_or(0))
        .map_err(|_| HubError::bad_request("from: too large"))?;
    let limit = query.limit.unwrap_or(100).clamp(1, 1000) as i64;
    let rows = hub
        .db()
        .tenant(&principal.tenant)
        .audit_entries(from, limit)
        .await?;
    Ok(Json(
        rows.into_iter()
            .map(|row| AuditEntryView {
                index: row.idx,
                entry: row.entry,
                redacted: row.redacted_ms.is_some(),
            })
            .collect(),
    ))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct InclusionQuery {
    index: u64,
    /// Tree size of the head to prove against; default: now.
    size: Option<u64>,
}

/// Proof that one of my tenant's entries is in the log — save as PROOF.json.
#[utoipa::path(get, path = "/api/v1/audit/proof/inclusion", tag = "audit", security(("bearer" = [])), params(InclusionQuery),
    responses((status = 200, description = "ProofBundle JSON (kind inclusion)"), (status = 404, body = ErrorBody)))]
async fn audit_inclusion(
    State(hub): State<Hub>,
    Authed(principal): Authed,
    Params(query): Params<InclusionQuery>,
) -> Result<Json<ProofBundle>, HubError> {
    principal.require(Scope::AuditRead)?;
    let index = i64::try_from(query.index).map_err(|_| HubError::not_found("audit entry"))?;
    let row = hub
        .db()
        .tenant(&principal.tenant)
        .audit_entry(index)
        .await?
        .ok_or_else(|| HubError::not_found("audit entry"))?;
    let size = query.size.unwrap_or_else(|| hub.audit().size());
    Ok(Json(
        hub.audit().inclusion(query.index, size, row.entry).await?,
    ))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct ConsistencyQuery {
    from: u64,
    /// Default: now.
    to: Option<u64>,
}

/// Proof that the log of size `from` is a prefix of the log of size `to`.
#[utoipa::path(get, path = "/api/v1/audit/proof/consistency", tag = "audit", security(("bearer" = [])), params(ConsistencyQuery),
    responses((status = 200, description = "ProofBundle JSON (kind consistency)"), (status = 404, body = ErrorBody)))]
async fn audit_consistency(
    State(hub): State<Hub>,
    Authed(principal): Authed,
    Params(query): Params<ConsistencyQuery>,
) -> Result<Json<ProofBundle>, HubError> {
    principal.require(Scope::AuditRead)?;
    let to = query.to.unwrap_or_else(|| hub.audit().size());
    Ok(Json(hub.audit().consistency(query.from, to).await?))
}

// ---------------------------------------------------------------- inbox

/// Channels of my tenant (never their secrets).
#[utoipa::path(get, path = "/api/v1/channels", tag = "inbox", security(("bearer" = [])),
    responses((status = 200, body = Vec<ChannelView>), (status = 403, body = ErrorBody)))]
async fn channels(
    State(hub): State<Hub>,
    Authed(principal): Authed,
) -> Result<Json<Vec<ChannelView>>, HubError> {
    Ok(Json(hub.channels(&principal).await?))
}

/// Connect a channel (plan quota enforced); the webhook token is in this answer only.
#[utoipa::path(post, path = "/api/v1/channels", tag = "inbox", security(("bearer" = [])), request_body = NewChannel,
    responses((status = 201, body = ChannelView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn create_channel(
    State(hub): State<Hub>,
    Authed(principal): Authed,
    Body(body): Body<NewChannel>,
) -> Result<(StatusCode, Json<ChannelView>), HubError> {
    Ok((
        StatusCode::CREATED,
        Json(hub.create_channel(&principal, body).await?),
    ))
}

#[derive(Serialize, ToSchema)]
struct InboxMessageView {
    id: String,
    provider_message_id: String,
    direction: String,
    kind: String,
    sender: String,
    text: Option<String>,
    status: String,
    sent_at_ms: i64,
}

/// Messages of one conversation, oldest first (personal data: audited).
#[utoipa::path(get, path = "/api/v1/conversations/{id}/messages", tag = "inbox", security(("bearer" = [])),
    params(("id" = String, Path, description = "conversation id")),
    responses((status = 200, body = Vec<InboxMessageView>), (status = 404, body = ErrorBody)))]
async fn conversation_messages(
    State(hub): State<Hub>,
    Authed(principal): Authed,
    Path(id): Path<String>,
) -> Result<Json<Vec<InboxMessageView>>, HubError> {
    principal.require(Scope::InboxRead)?;
    let rows = hub
        .db()
        .tenant(&principal.tenant)
        .conversation_messages(&id)
        .await?
        .ok_or_else(|| HubError::not_found("conversation"))?;
    hub.audit()
        .append(
            principal
                .event("personal_data.read")
                .target(format!("conversation/{id}")),
        )
        .await?;
    Ok(Json(
        rows.into_iter()
            .map(|row| InboxMessageView {
                id: row.id,
                provider_message_id: row.provider_message_id,
                direction: row.direction,
                kind: row.kind,
                sender: row.sender_key,
                text: row.text,
                status: row.status,
                sent_at_ms: row.sent_at_ms,
            })
            .collect(),
    ))
}

/// A source's webhook delivery, authenticated per channel kind; stored, then normalized.
#[utoipa::path(post, path = "/hooks/v1/{channel_id}", tag = "inbox",
    params(("channel_id" = String, Path, description = "channel id")),
    responses((status = 200, description = "stored"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn webhook(
    State(hub): State<Hub>,
    Path(channel_id): Path<String>,
    Params(query): Params<Vec<(String, String)>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, HubError> {
    hub.ingest(&channel_id, &headers, &query, &body).await?;
    Ok(Json(serde_json::json!({ "accepted": true })))
}

/// The WhatsApp Cloud API verification handshake: echoes `hub.challenge` when `hub.verify_token`
/// is this channel's webhook token.
#[utoipa::path(get, path = "/hooks/v1/{channel_id}", tag = "inbox",
    params(("channel_id" = String, Path, description = "channel id")),
    responses((status = 200, description = "the challenge"), (status = 403, body = ErrorBody)))]
async fn webhook_verification(
    State(hub): State<Hub>,
    Path(channel_id): Path<String>,
    Params(query): Params<Vec<(String, String)>>,
) -> Result<String, HubError> {
    let refused = || {
        HubError::forbidden(
            "webhook_unauthorized",
            "verify token does not match this channel",
        )
    };
    let channel = hub
        .db()
        .channel_by_id(&channel_id)
        .await?
        .ok_or_else(refused)?;
    let presented = query
        .iter()
        .find(|(key, _)| key == "hub.verify_token")
        .map(|(_, value)| value.clone())
        .unwrap_or_default();
    if !omega_auth::secret_token::ct_eq(
        &omega_auth::secret_token::token_hash(&presented),
        &channel.webhook_token_hash,
    ) {
        return Err(refused());
    }
    omega_channels::cloud_api::verification_challenge(&query, &presented).ok_or_else(refused)
}
