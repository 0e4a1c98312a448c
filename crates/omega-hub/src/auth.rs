//! Authentication: login (password + TOTP or a recovery code), access tokens bound to a
//! device, rotating refresh tokens with reuse detection, API keys, and the check every request
//! goes through ([`Hub::authenticate`]): a revoked device or key is refused on its next request.

use omega_auth::jwt::{AccessClaims, JwtError};
use omega_auth::scope::{Role, Scope};
use omega_auth::secret_token;
use omega_auth::totp::{self, TotpSecret};
use serde::{Deserialize, Serialize};

use crate::audit::{Actor, AuditEvent};
use crate::error::HubError;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::store::{DeviceRow, MemberRow, RefreshRow, TenantId, now_ms};
use crate::tenancy::{check_name, new_id, normalize_email, parse_stored_scopes};

/// Who is making a request, after [`Hub::authenticate`].
#[derive(Clone, Debug)]
pub struct Principal {
    pub tenant: TenantId,
    pub kind: PrincipalKind,
    /// Effective scopes: the token's, narrowed to what the member holds now.
    pub scopes: Vec<Scope>,
    pub request_id: Option<String>,
    pub ip: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrincipalKind {
    Member {
        member_id: String,
        device_id: String,
        role: Role,
    },
    ApiKey {
        key_id: String,
    },
}

impl Principal {
    /// Refuses unless the principal holds `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), HubError> {
        if self.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(HubError::missing_scope(scope.as_str()))
        }
    }

    /// Who acts, as `member:<id>` or `apikey:<id>` (stored beside what they did).
    pub fn subject(&self) -> String {
        match &self.kind {
            PrincipalKind::Member { member_id, .. } => format!("member:{member_id}"),
            PrincipalKind::ApiKey { key_id } => format!("apikey:{key_id}"),
        }
    }

    /// The member's role; API keys are refused (people manage people).
    pub fn require_member_role(&self) -> Result<Role, HubError> {
        match &self.kind {
            PrincipalKind::Member { role, .. } => Ok(*role),
            PrincipalKind::ApiKey { .. } => Err(HubError::forbidden(
                "member_only",
                "this is done by a signed-in member, not an API key",
            )),
        }
    }

    /// The member id and device id, or a refusal for API keys.
    pub fn member(&self) -> Result<(&str, &str), HubError> {
        match &self.kind {
            PrincipalKind::Member {
                member_id,
                device_id,
                ..
            } => Ok((member_id, device_id)),
            PrincipalKind::ApiKey { .. } => Err(HubError::forbidden(
                "member_only",
                "this is done by a signed-in member, not an API key",
            )),
        }
    }

    pub fn actor(&self) -> Actor {
        match &self.kind {
            PrincipalKind::Member {
                member_id,
                device_id,
                ..
            } => Actor::Member {
                member_id: member_id.clone(),
                device_id: device_id.clone(),
            },
            PrincipalKind::ApiKey { key_id } => Actor::ApiKey {
                key_id: key_id.clone(),
            },
        }
    }

    /// The rate-limit key of this credential.
    pub fn limit_key(&self) -> String {
        match &self.kind {
            PrincipalKind::Member { device_id, .. } => format!("d:{device_id}"),
            PrincipalKind::ApiKey { key_id } => format!("k:{key_id}"),
        }
    }
}

/// Where a request comes from (for devices, audit entries and limits).
#[derive(Clone, Debug, Default)]
pub struct RequestMeta {
    pub ip: String,
    pub user_agent: String,
    pub request_id: Option<String>,
    /// `X-Omega-Tenant`, when the client states which tenant it means.
    pub tenant_header: Option<String>,
}

/// A login request.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Tenant slug (or id).
    pub tenant: String,
    pub email: String,
    pub password: String,
    /// The 6-digit code of the authenticator app, when 2FA is on.
    pub totp_code: Option<String>,
    /// A recovery code instead of `totp_code`.
    pub recovery_code: Option<String>,
    /// Shown in the security center; default: the User-Agent.
    pub device_name: Option<String>,
}

/// Tokens handed out by login and refresh.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Single use: each refresh returns a new one.
    pub refresh_token: String,
    pub tenant_id: String,
    pub member_id: String,
    pub device_id: String,
}

fn now_secs() -> u64 {
    u64::try_from(now_ms()).unwrap_or_default() / 1000
}

fn invalid_credentials() -> HubError {
    HubError::unauthorized("invalid_credentials", "wrong tenant, email or password")
}

impl Hub {
    /// Password (+ second factor) → device, access token and refresh token.
    pub async fn login(
        &self,
        request: LoginRequest,
        meta: &RequestMeta,
    ) -> Result<TokenResponse, HubError> {
        let anonymous = || Actor::Anonymous {
            ip: meta.ip.clone(),
        };
        let now = now_ms();
        let lockout_key = format!(
            "{}\u{0}{}",
            request.tenant,
            request.email.trim().to_lowercase()
        );
        if let Err(retry) = self.limiters().lockout.check(&lockout_key, now as u64) {
            Metrics::bump(&self.0.metrics.rate_limited);
            return Err(HubError::too_many(
                "account_locked",
                "too many failed logins for this account; wait before trying again",
                retry.secs_ceil(),
            ));
        }
        let tenant = self.0.db.resolve_tenant(request.tenant.trim()).await?;
        let email = normalize_email(&request.email).unwrap_or_default();
        let member = match &tenant {
            Some(tenant) => {
                self.0
                    .db
                    .tenant(&TenantId::new(tenant.id.clone()))
                    .member_by_email(&email)
                    .await?
            }
            None => None,
        };
        let (Some(tenant), Some(member)) = (tenant, member) else {
            let password = zeroize::Zeroizing::new(request.password.clone());
            let _ =
                tokio::task::spawn_blocking(move || omega_auth::password::dummy_verify(&password))
                    .await;
            return Err(self
                .login_failed(
                    &lockout_key,
                    None,
                    anonymous(),
                    "unknown tenant or email",
                    meta,
                )
                .await);
        };
        let tenant_id = TenantId::new(tenant.id.clone());
        let password = zeroize::Zeroizing::new(request.password.clone());
        let hash = member.password_hash.clone();
        let password_ok = tokio::task::spawn_blocking(move || {
            omega_auth::password::verify_password(&hash, &password)
        })
        .await
        .map_err(|error| HubError::internal(&error))?;
        let member_actor = Actor::Member {
            member_id: member.id.clone(),
            device_id: String::new(),
        };
        if !password_ok {
            return Err(self
                .login_failed(
                    &lockout_key,
                    Some(&tenant_id),
                    member_actor,
                    "wrong password",
                    meta,
                )
                .await);
        }
        if member.disabled {
            let event = AuditEvent::new(Some(tenant_id), member_actor, "auth.login")
                .denied()
                .reason("member disabled")
                .request_id(meta.request_id.as_deref());
            self.0.audit.record(event).await;
            return Err(HubError::forbidden(
                "member_disabled",
                "this member is disabled",
            ));
        }
        if member.totp_enabled
            && let Err(error) = self.second_factor(&tenant_id, &member, &request).await
        {
            let reason = error.code;
            if error.code != "totp_required" {
                self.limiters()
                    .lockout
                    .record_failure(&lockout_key, now as u64);
            }
            Metrics::bump(&self.0.metrics.logins_failed);
            let event = AuditEvent::new(Some(tenant_id), member_actor, "auth.login")
                .denied()
                .reason(reason)
                .request_id(meta.request_id.as_deref());
            self.0.audit.record(event).await;
            return Err(error);
        }
        self.limiters().lockout.record_success(&lockout_key);
        let device_name = match &request.device_name {
            Some(name) => check_name("device_name", name)?,
            None => device_name_from(&meta.user_agent),
        };
        let device = DeviceRow {
            id: new_id(),
            member_id: member.id.clone(),
            name: device_name,
            ip: meta.ip.clone(),
            user_agent: meta.user_agent.chars().take(300).collect(),
            created_ms: now,
            last_seen_ms: now,
            revoked_ms: None,
        };
        self.0.db.tenant(&tenant_id).insert_device(&device).await?;
        let tokens = self
            .issue_tokens(&tenant_id, &member, &device.id, &new_id())
            .await?;
        Metrics::bump(&self.0.metrics.logins_ok);
        let event = AuditEvent::new(
            Some(tenant_id),
            Actor::Member {
                member_id: member.id.clone(),
                device_id: device.id.clone(),
            },
            "auth.login",
        )
        .target(format!("device/{}", device.id))
        .request_id(meta.request_id.as_deref())
        .details(serde_json::json!({ "ip": meta.ip, "second_factor": member.totp_enabled }));
        self.0.audit.append(event).await?;
        Ok(tokens)
    }

    async fn login_failed(
        &self,
        lockout_key: &str,
        tenant: Option<&TenantId>,
        actor: Actor,
        reason: &str,
        meta: &RequestMeta,
    ) -> HubError {
        self.limiters()
            .lockout
            .record_failure(lockout_key, now_ms() as u64);
        Metrics::bump(&self.0.metrics.logins_failed);
        let event = AuditEvent::new(tenant.cloned(), actor, "auth.login")
            .denied()
            .reason(reason)
            .request_id(meta.request_id.as_deref());
        self.0.audit.record(event).await;
        invalid_credentials()
    }

    async fn second_factor(
        &self,
        tenant: &TenantId,
        member: &MemberRow,
        request: &LoginRequest,
    ) -> Result<(), HubError> {
        let tenant_db = self.0.db.tenant(tenant);
        if let Some(code) = &request.recovery_code {
            let hash = totp::recovery_code_hash(code);
            if tenant_db
                .use_recovery_code(&member.id, &hash, now_ms())
                .await?
            {
                return Ok(());
            }
            return Err(HubError::unauthorized(
                "recovery_code_invalid",
                "unknown or already used recovery code",
            ));
        }
        let Some(code) = &request.totp_code else {
            return Err(HubError::unauthorized(
                "totp_required",
                "two-factor authentication is on: send totp_code (or recovery_code)",
            ));
        };
        self.check_totp(tenant, member, code, false).await
    }

    /// Verifies a TOTP code and spends its time step (a replay in the same window is refused).
    async fn check_totp(
        &self,
        tenant: &TenantId,
        member: &MemberRow,
        code: &str,
        enable: bool,
    ) -> Result<(), HubError> {
        let sealed = member
            .totp_sealed
            .as_ref()
            .ok_or_else(|| HubError::conflict("no authenticator is enrolled"))?;
        let secret_bytes = self
            .0
            .master
            .open(&totp_context(tenant, &member.id), sealed)
            .map_err(|error| HubError::internal(&error))?;
        let secret_array: [u8; 20] = secret_bytes
            .as_slice()
            .try_into()
            .map_err(|_| HubError::internal(&"sealed TOTP secret has the wrong length"))?;
        let secret = TotpSecret::from_bytes(secret_array);
        let last = member
            .totp_last_step
            .and_then(|step| u64::try_from(step).ok());
        let step = match totp::verify(&secret, code, now_secs(), last) {
            Ok(step) => step,
            Err(totp::TotpError::Replayed) => {
                return Err(HubError::unauthorized(
                    "totp_replayed",
                    "this code was already used; wait for the next one",
                ));
            }
            Err(totp::TotpError::Malformed) => {
                return Err(HubError::bad_request("totp_code: expected 6 digits"));
            }
            Err(_) => {
                return Err(HubError::unauthorized(
                    "totp_invalid",
                    "wrong authenticator code",
                ));
            }
        };
        let step = i64::try_from(step).map_err(|error| HubError::internal(&error))?;
        if !self
            .0
            .db
            .tenant(tenant)
            .accept_totp_step(&member.id, step, enable)
            .await?
        {
            return Err(HubError::unauthorized(
                "totp_replayed",
                "this code was already used; wait for the next one",
            ));
        }
        Ok(())
    }

    async fn issue_tokens(
        &self,
        tenant: &TenantId,
        member: &MemberRow,
        device_id: &str,
        family_id: &str,
    ) -> Result<TokenResponse, HubError> {
        let config = self.config();
        let now = now_secs();
        let claims = AccessClaims {
            iss: config.auth.issuer.clone(),
            sub: member.id.clone(),
            tid: tenant.as_str().to_owned(),
            did: device_id.to_owned(),
            scp: parse_stored_scopes(&member.scopes)
                .iter()
                .map(|scope| scope.as_str().to_owned())
                .collect(),
            iat: now,
            exp: now + config.auth.access_ttl_secs,
            jti: new_id(),
            kind: "member".into(),
        };
        let access_token = self
            .0
            .keys
            .current()
            .jwt_signer
            .sign(&claims)
            .map_err(|error| HubError::internal(&error))?;
        let (refresh_token, refresh_hash) = secret_token::new_refresh_token(&mut rand::rngs::OsRng);
        let now_ms = now_ms();
        let ttl_ms = i64::try_from(config.auth.refresh_ttl_days).unwrap_or(30) * 24 * 3600 * 1000;
        self.0
            .db
            .insert_refresh(&RefreshRow {
                token_hash: refresh_hash.to_vec(),
                tenant_id: tenant.as_str().to_owned(),
                member_id: member.id.clone(),
                device_id: device_id.to_owned(),
                family_id: family_id.to_owned(),
                created_ms: now_ms,
                expires_ms: now_ms + ttl_ms,
                used_ms: None,
                revoked_ms: None,
            })
            .await?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: config.auth.access_ttl_secs,
            refresh_token,
            tenant_id: tenant.as_str().to_owned(),
            member_id: member.id.clone(),
            device_id: device_id.to_owned(),
        })
    }

    /// Rotates a refresh token. Presenting one that was already used revokes its whole family
    /// and the device: whoever holds a stolen copy is locked out along with the victim's session.
    pub async fn refresh(
        &self,
        refresh_token: &str,
        meta: &RequestMeta,
    ) -> Result<TokenResponse, HubError> {
        let hash = secret_token::token_hash(refresh_token.trim());
        let Some(row) = self.0.db.refresh_by_hash(&hash).await? else {
            Metrics::bump(&self.0.metrics.auth_refused);
            return Err(HubError::unauthorized(
                "refresh_invalid",
                "unknown refresh token",
            ));
        };
        let tenant = TenantId::new(row.tenant_id.clone());
        let actor = Actor::Member {
            member_id: row.member_id.clone(),
            device_id: row.device_id.clone(),
        };
        let now = now_ms();
        let fresh = row.used_ms.is_none() && row.revoked_ms.is_none();
        if !fresh || !self.0.db.use_refresh(&hash, now).await? {
            Metrics::bump(&self.0.metrics.auth_refused);
            if row.revoked_ms.is_none() || row.used_ms.is_some() {
                self.0.db.revoke_refresh_family(&row.family_id, now).await?;
                self.0
                    .db
                    .tenant(&tenant)
                    .revoke_device(&row.member_id, &row.device_id, now)
                    .await?;
                let event = AuditEvent::new(Some(tenant), actor, "auth.refresh_reused")
                    .denied()
                    .target(format!("device/{}", row.device_id))
                    .reason("a used refresh token was presented again; the family and its device are revoked")
                    .request_id(meta.request_id.as_deref())
                    .details(serde_json::json!({ "ip": meta.ip }));
                self.0.audit.record(event).await;
                return Err(HubError::unauthorized(
                    "refresh_reused",
                    "this refresh token was already used; the session is revoked, sign in again",
                ));
            }
            return Err(HubError::unauthorized(
                "refresh_revoked",
                "this session was revoked; sign in again",
            ));
        }
        if row.expires_ms <= now {
            return Err(HubError::unauthorized(
                "refresh_expired",
                "the refresh token expired; sign in again",
            ));
        }
        let (device, member) = live_session(
            &self.0.db.tenant(&tenant),
            &row.member_id,
            &row.device_id,
            HubError::unauthorized("refresh_invalid", "the session no longer exists"),
        )
        .await?;
        self.issue_tokens(&tenant, &member, &device.id, &row.family_id)
            .await
    }

    /// Checks a bearer credential on every request: signature, expiry, tenant, and that the
    /// device (or API key) is still live and the member enabled, right now.
    pub async fn authenticate(
        &self,
        bearer: Option<&str>,
        meta: &RequestMeta,
    ) -> Result<Principal, HubError> {
        let result = self.authenticate_inner(bearer, meta).await;
        if let Err(error) = &result {
            Metrics::bump(&self.0.metrics.auth_refused);
            // Hub-wide: a refused credential proves no tenant.
            let event = AuditEvent::new(
                None,
                Actor::Anonymous {
                    ip: meta.ip.clone(),
                },
                "auth.refused",
            )
            .denied()
            .reason(error.code)
            .request_id(meta.request_id.as_deref());
            self.0.audit.record(event).await;
        }
        result
    }

    async fn authenticate_inner(
        &self,
        bearer: Option<&str>,
        meta: &RequestMeta,
    ) -> Result<Principal, HubError> {
        let token = bearer.ok_or_else(|| {
            HubError::unauthorized(
                "missing_token",
                "send Authorization: Bearer <access token or API key>",
            )
        })?;
        let principal = if token.starts_with("omk_") {
            self.authenticate_api_key(token, meta).await?
        } else {
            self.authenticate_jwt(token, meta).await?
        };
        if let Some(stated) = &meta.tenant_header
            && stated != principal.tenant.as_str()
        {
            return Err(HubError::forbidden(
                "wrong_tenant",
                "the credential belongs to another tenant than X-Omega-Tenant",
            ));
        }
        Ok(principal)
    }

    async fn authenticate_jwt(
        &self,
        token: &str,
        meta: &RequestMeta,
    ) -> Result<Principal, HubError> {
        let keys = self.0.keys.current();
        let claims: AccessClaims =
            keys.jwt_keys
                .verify(token, now_secs(), 30)
                .map_err(|error| match error {
                    JwtError::Expired { .. } => HubError::unauthorized(
                        "token_expired",
                        "the access token expired; refresh it",
                    ),
                    other => HubError::unauthorized(
                        "token_invalid",
                        format!("access token refused: {other}"),
                    ),
                })?;
        if claims.iss != self.config().auth.issuer || claims.kind != "member" {
            return Err(HubError::unauthorized(
                "token_invalid",
                "access token refused: not issued by this hub",
            ));
        }
        let tenant = TenantId::new(claims.tid.clone());
        let tenant_db = self.0.db.tenant(&tenant);
        let (device, member) = live_session(
            &tenant_db,
            &claims.sub,
            &claims.did,
            HubError::unauthorized("token_invalid", "access token refused: unknown device"),
        )
        .await?;
        let now = now_ms();
        if now - device.last_seen_ms > 30_000 || device.ip != meta.ip {
            tenant_db.touch_device(&device.id, &meta.ip, now).await?;
        }
        let held = parse_stored_scopes(&member.scopes);
        let scopes = claims
            .scp
            .iter()
            .filter_map(|scope| scope.parse::<Scope>().ok())
            .filter(|scope| held.contains(scope))
            .collect();
        Ok(Principal {
            tenant,
            kind: PrincipalKind::Member {
                member_id: member.id,
                device_id: device.id,
                role: member.role.parse().unwrap_or(Role::Viewer),
            },
            scopes,
            request_id: meta.request_id.clone(),
            ip: meta.ip.clone(),
        })
    }

    async fn authenticate_api_key(
        &self,
        token: &str,
        meta: &RequestMeta,
    ) -> Result<Principal, HubError> {
        let refused = || HubError::unauthorized("api_key_invalid", "unknown API key");
        let (id, hash) = secret_token::parse_api_key(token).ok_or_else(refused)?;
        let row = self.0.db.api_key_by_id(&id).await?.ok_or_else(refused)?;
        if !secret_token::ct_eq(&row.secret_hash, &hash) {
            return Err(refused());
        }
        if row.revoked_ms.is_some() {
            return Err(HubError::unauthorized(
                "api_key_revoked",
                "this API key was revoked",
            ));
        }
        let tenant = TenantId::new(row.tenant_id.clone());
        let now = now_ms();
        if row.last_used_ms.is_none_or(|last| now - last > 30_000) {
            self.0
                .db
                .tenant(&tenant)
                .touch_api_key(&row.id, now)
                .await?;
        }
        Ok(Principal {
            tenant,
            kind: PrincipalKind::ApiKey { key_id: row.id },
            scopes: parse_stored_scopes(&row.scopes),
            request_id: meta.request_id.clone(),
            ip: meta.ip.clone(),
        })
    }

    /// Starts TOTP enrolment: a fresh secret, shown once; 2FA turns on at [`Hub::confirm_totp`].
    pub async fn enroll_totp(&self, principal: &Principal) -> Result<TotpEnrollment, HubError> {
        let (member_id, _) = principal.member()?;
        let tenant_db = self.0.db.tenant(&principal.tenant);
        let member = tenant_db
            .member(member_id)
            .await?
            .ok_or_else(|| HubError::not_found("member"))?;
        if member.totp_enabled {
            return Err(HubError::conflict(
                "two-factor authentication is already on; disable it first",
            ));
        }
        let secret = TotpSecret::generate(&mut rand::rngs::OsRng);
        let sealed = self.0.master.seal(
            &totp_context(&principal.tenant, member_id),
            secret.as_bytes(),
        );
        tenant_db.set_totp_pending(member_id, &sealed).await?;
        let (tenant, _) = self.tenant_plan(&principal.tenant).await?;
        let issuer = format!("Ômega {}", tenant.name);
        self.0
            .audit
            .append(
                principal
                    .event("auth.totp_enrolment_started")
                    .target(format!("member/{member_id}")),
            )
            .await?;
        let otpauth_uri = totp::otpauth_uri(&secret, &issuer, &member.email);
        Ok(TotpEnrollment {
            secret: secret.to_base32(),
            qr_svg: crate::console::qr_svg(&otpauth_uri)?,
            otpauth_uri,
        })
    }

    /// Confirms enrolment with a first code; returns the recovery codes (shown once).
    pub async fn confirm_totp(
        &self,
        principal: &Principal,
        code: &str,
    ) -> Result<Vec<String>, HubError> {
        let (member_id, _) = principal.member()?;
        let tenant_db = self.0.db.tenant(&principal.tenant);
        let member = tenant_db
            .member(member_id)
            .await?
            .ok_or_else(|| HubError::not_found("member"))?;
        if member.totp_enabled {
            return Err(HubError::conflict(
                "two-factor authentication is already on",
            ));
        }
        self.check_totp(&principal.tenant, &member, code, true)
            .await?;
        let codes = totp::RecoveryCodes::generate(&mut rand::rngs::OsRng, 10);
        let hashes: Vec<[u8; 32]> = codes
            .codes()
            .iter()
            .map(|code| totp::recovery_code_hash(code))
            .collect();
        tenant_db.replace_recovery_codes(member_id, &hashes).await?;
        self.0
            .audit
            .append(
                principal
                    .event("auth.totp_enabled")
                    .target(format!("member/{member_id}")),
            )
            .await?;
        Ok(codes.codes().to_vec())
    }

    /// Turns 2FA off; needs a current code.
    pub async fn disable_totp(&self, principal: &Principal, code: &str) -> Result<(), HubError> {
        let (member_id, _) = principal.member()?;
        let tenant_db = self.0.db.tenant(&principal.tenant);
        let member = tenant_db
            .member(member_id)
            .await?
            .ok_or_else(|| HubError::not_found("member"))?;
        if !member.totp_enabled {
            return Err(HubError::conflict("two-factor authentication is off"));
        }
        self.check_totp(&principal.tenant, &member, code, false)
            .await?;
        tenant_db.disable_totp(member_id).await?;
        self.0
            .audit
            .append(
                principal
                    .event("auth.totp_disabled")
                    .target(format!("member/{member_id}")),
            )
            .await?;
        Ok(())
    }
}

/// The device and its member, if the device is live, belongs to that member, and the member is
/// enabled; `missing` when either does not exist.
async fn live_session(
    tenant_db: &crate::store::TenantDb<'_>,
    member_id: &str,
    device_id: &str,
    missing: HubError,
) -> Result<(DeviceRow, MemberRow), HubError> {
    let device = tenant_db.device(device_id).await?;
    let member = tenant_db.member(member_id).await?;
    let (Some(device), Some(member)) = (device, member) else {
        return Err(missing);
    };
    if device.member_id != member.id {
        return Err(missing);
    }
    if device.revoked_ms.is_some() {
        return Err(HubError::unauthorized(
            "device_revoked",
            "this device was revoked; sign in again",
        ));
    }
    if member.disabled {
        return Err(HubError::forbidden(
            "member_disabled",
            "this member is disabled",
        ));
    }
    Ok((device, member))
}

/// A TOTP secret to put into an authenticator app.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TotpEnrollment {
    /// Base32, for typing in by hand.
    pub secret: String,
    /// `otpauth://` URI, for a QR code.
    pub otpauth_uri: String,
    /// The `otpauth://` URI as a QR code: a standalone SVG document (`image/svg+xml`) for an
    /// authenticator app to scan. Part of this one answer, like the secret: never re-fetchable.
    pub qr_svg: String,
}

fn totp_context(tenant: &TenantId, member_id: &str) -> String {
    format!("totp:{}:{member_id}", tenant.as_str())
}

/// A readable device name from a User-Agent.
fn device_name_from(user_agent: &str) -> String {
    let agent = user_agent.trim();
    if agent.is_empty() {
        return "unnamed device".into();
    }
    let name: String = agent.chars().filter(|c| !c.is_control()).take(60).collect();
    name
}
