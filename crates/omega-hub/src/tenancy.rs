//! Tenants, departments, members, roles and plans.

use omega_auth::scope::{Role, Scope};
use serde::{Deserialize, Serialize};

use crate::audit::{Actor, AuditEvent};
use crate::auth::Principal;
use crate::error::HubError;
use crate::hub::Hub;
use crate::store::{DepartmentRow, MemberRow, TenantId, TenantRow, now_ms};

/// A plan and its quotas (`None` = unlimited).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    Free,
    Pro,
    Enterprise,
}

/// What a plan allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Quotas {
    pub members: Option<i64>,
    pub channels: Option<i64>,
    pub messages_per_month: Option<i64>,
}

impl Plan {
    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Pro => "pro",
            Plan::Enterprise => "enterprise",
        }
    }

    pub fn parse(text: &str) -> Result<Plan, HubError> {
        match text {
            "free" => Ok(Plan::Free),
            "pro" => Ok(Plan::Pro),
            "enterprise" => Ok(Plan::Enterprise),
            other => Err(HubError::bad_request(format!(
                "unknown plan {other:?}: expected free, pro or enterprise"
            ))),
        }
    }

    pub fn quotas(self) -> Quotas {
        match self {
            Plan::Free => Quotas {
                members: Some(3),
                channels: Some(1),
                messages_per_month: Some(1_000),
            },
            Plan::Pro => Quotas {
                members: Some(25),
                channels: Some(10),
                messages_per_month: Some(100_000),
            },
            Plan::Enterprise => Quotas {
                members: None,
                channels: None,
                messages_per_month: None,
            },
        }
    }
}

/// `company` (departments, many members) or `individual` (one person, 1:1).
pub fn parse_kind(kind: &str) -> Result<&'static str, HubError> {
    match kind {
        "company" => Ok("company"),
        "individual" => Ok("individual"),
        other => Err(HubError::bad_request(format!(
            "unknown tenant kind {other:?}: expected company or individual"
        ))),
    }
}

/// A new tenant with its owner.
pub struct NewTenant<'a> {
    pub slug: &'a str,
    pub name: &'a str,
    pub kind: &'a str,
    pub plan: Plan,
    pub owner_email: &'a str,
    pub owner_name: &'a str,
    pub owner_password: &'a str,
}

/// Checks a tenant slug: 2–40 of `a-z 0-9 -`, not starting or ending with `-`.
pub fn check_slug(slug: &str) -> Result<(), HubError> {
    let ok = (2..=40).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(HubError::bad_request(format!(
            "slug {slug:?}: expected 2–40 characters of a-z, 0-9 and '-', not starting or ending with '-'"
        )))
    }
}

/// Normalises and checks an email address (the login name).
pub fn normalize_email(email: &str) -> Result<String, HubError> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(email)
    } else {
        Err(HubError::bad_request(format!(
            "email {email:?} is not an address like name@example.com"
        )))
    }
}

/// Checks a free-text name (display names, department names, device names).
pub fn check_name(what: &str, name: &str) -> Result<String, HubError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 120 || name.chars().any(char::is_control) {
        return Err(HubError::bad_request(format!(
            "{what}: expected 1–120 characters without control characters"
        )));
    }
    Ok(name.to_owned())
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub(crate) fn scopes_text(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|scope| scope.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) fn parse_stored_scopes(text: &str) -> Vec<Scope> {
    text.split_whitespace()
        .filter_map(|scope| scope.parse().ok())
        .collect()
}

pub(crate) async fn hash_password(password: &str) -> Result<String, HubError> {
    omega_auth::password::check_password_policy(password)
        .map_err(|error| HubError::bad_request(format!("password: {error}")))?;
    let password = zeroize::Zeroizing::new(password.to_owned());
    tokio::task::spawn_blocking(move || {
        omega_auth::password::hash_password(&password, &mut rand::rngs::OsRng)
    })
    .await
    .map_err(|error| HubError::internal(&error))?
    .map_err(|error| HubError::bad_request(format!("password: {error}")))
}

impl Hub {
    /// Creates a tenant and its owner (the bootstrap `omega hub admin create-tenant`).
    pub async fn create_tenant(
        &self,
        new: NewTenant<'_>,
    ) -> Result<(TenantRow, MemberRow), HubError> {
        check_slug(new.slug)?;
        let name = check_name("tenant name", new.name)?;
        let kind = parse_kind(new.kind)?;
        let email = normalize_email(new.owner_email)?;
        let owner_name = check_name("owner name", new.owner_name)?;
        let now = now_ms();
        let tenant = TenantRow {
            id: new_id(),
            slug: new.slug.to_owned(),
            name,
            kind: kind.to_owned(),
            plan: new.plan.as_str().to_owned(),
            created_ms: now,
        };
        let owner = MemberRow {
            id: new_id(),
            email,
            display_name: owner_name,
            role: Role::Owner.as_str().to_owned(),
            scopes: scopes_text(Role::Owner.default_scopes()),
            department_id: None,
            password_hash: hash_password(new.owner_password).await?,
            totp_sealed: None,
            totp_enabled: false,
            totp_last_step: None,
            disabled: false,
            created_ms: now,
        };
        let tenant_id = self.0.db.create_tenant(&tenant, &owner).await?;
        let event = AuditEvent::new(
            Some(tenant_id),
            Actor::System { name: "cli".into() },
            "tenant.created",
        )
        .target(format!("tenant/{}", tenant.id))
        .details(
            serde_json::json!({ "kind": tenant.kind, "plan": tenant.plan, "owner": owner.id }),
        );
        self.0.audit.append(event).await?;
        Ok((tenant, owner))
    }

    /// Changes a tenant's plan (operator CLI; billing webhooks later).
    pub async fn set_plan(&self, tenant: &str, plan: Plan) -> Result<TenantRow, HubError> {
        let row = self
            .0
            .db
            .resolve_tenant(tenant)
            .await?
            .ok_or_else(|| HubError::not_found("tenant"))?;
        let tenant_id = TenantId::new(row.id.clone());
        self.0.db.set_plan(&tenant_id, plan.as_str()).await?;
        let event = AuditEvent::new(
            Some(tenant_id),
            Actor::System { name: "cli".into() },
            "tenant.plan_changed",
        )
        .target(format!("tenant/{}", row.id))
        .details(serde_json::json!({ "from": row.plan, "to": plan.as_str() }));
        self.0.audit.append(event).await?;
        Ok(TenantRow {
            plan: plan.as_str().to_owned(),
            ..row
        })
    }

    pub(crate) async fn tenant_plan(
        &self,
        tenant: &TenantId,
    ) -> Result<(TenantRow, Plan), HubError> {
        let row = self
            .0
            .db
            .tenant_row(tenant)
            .await?
            .ok_or_else(|| HubError::not_found("tenant"))?;
        let plan = Plan::parse(&row.plan).unwrap_or(Plan::Free);
        Ok((row, plan))
    }

    /// Adds a member, enforcing role grants, scope subsets, the tenant kind and the plan quota.
    pub async fn add_member(
        &self,
        principal: &Principal,
        new: NewMember,
    ) -> Result<MemberRow, HubError> {
        let granter = principal.require_member_role()?;
        principal.require(Scope::MembersWrite)?;
        let (tenant, plan) = self.tenant_plan(&principal.tenant).await?;
        if tenant.kind == "individual" {
            return Err(HubError::forbidden(
                "individual_tenant",
                "an individual tenant has exactly one member; create a company tenant for a team",
            ));
        }
        let role: Role = new.role.parse().map_err(|_| {
            HubError::bad_request(format!(
                "role {:?}: expected owner, admin, agent, viewer or auditor",
                new.role
            ))
        })?;
        if !granter.can_grant(role) {
            return Err(HubError::forbidden(
                "role_not_grantable",
                format!(
                    "a {} cannot grant the {} role",
                    granter.as_str(),
                    role.as_str()
                ),
            ));
        }
        let scopes = self.granted_scopes(principal, role, new.scopes.as_deref())?;
        let tenant_db = self.0.db.tenant(&principal.tenant);
        if let Some(department) = &new.department_id
            && !tenant_db.department_exists(department).await?
        {
            return Err(HubError::not_found("department"));
        }
        let now = now_ms();
        let member = MemberRow {
            id: new_id(),
            email: normalize_email(&new.email)?,
            display_name: check_name("display_name", &new.display_name)?,
            role: role.as_str().to_owned(),
            scopes: scopes_text(&scopes),
            department_id: new.department_id.clone(),
            password_hash: hash_password(&new.password).await?,
            totp_sealed: None,
            totp_enabled: false,
            totp_last_step: None,
            disabled: false,
            created_ms: now,
        };
        let max = plan.quotas().members;
        if !tenant_db.insert_member_within(&member, max).await? {
            return Err(HubError::quota_exceeded(plan.as_str(), "members", max));
        }
        let event = principal
            .event("member.added")
            .target(format!("member/{}", member.id))
            .details(serde_json::json!({ "role": member.role, "scopes": member.scopes, "department_id": member.department_id }));
        self.0.audit.append(event).await?;
        Ok(member)
    }

    /// Scopes for a grant: the role's defaults or the asked ones, never beyond the granter's.
    fn granted_scopes(
        &self,
        principal: &Principal,
        role: Role,
        asked: Option<&[String]>,
    ) -> Result<Vec<Scope>, HubError> {
        let scopes = match asked {
            Some(asked) => omega_auth::scope::parse_scopes(asked)
                .map_err(|error| HubError::bad_request(error.to_string()))?,
            None => role.default_scopes().to_vec(),
        };
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
        Ok(scopes)
    }

    /// Changes a member's role, scopes, department or disabled flag.
    pub async fn update_member(
        &self,
        principal: &Principal,
        member_id: &str,
        change: MemberChange,
    ) -> Result<MemberRow, HubError> {
        let granter = principal.require_member_role()?;
        principal.require(Scope::MembersWrite)?;
        let tenant_db = self.0.db.tenant(&principal.tenant);
        let before = tenant_db
            .member(member_id)
            .await?
            .ok_or_else(|| HubError::not_found("member"))?;
        let old_role: Role = before.role.parse().unwrap_or(Role::Viewer);
        if !granter.can_grant(old_role) {
            return Err(HubError::forbidden(
                "role_not_grantable",
                format!(
                    "a {} cannot change a {}",
                    granter.as_str(),
                    old_role.as_str()
                ),
            ));
        }
        let role = match &change.role {
            Some(role) => role.parse::<Role>().map_err(|_| {
                HubError::bad_request(format!(
                    "role {role:?}: expected owner, admin, agent, viewer or auditor"
                ))
            })?,
            None => old_role,
        };
        if !granter.can_grant(role) {
            return Err(HubError::forbidden(
                "role_not_grantable",
                format!(
                    "a {} cannot grant the {} role",
                    granter.as_str(),
                    role.as_str()
                ),
            ));
        }
        let scopes = match (&change.scopes, change.role.is_some()) {
            (Some(scopes), _) => self.granted_scopes(principal, role, Some(scopes))?,
            (None, true) => self.granted_scopes(principal, role, None)?,
            (None, false) => parse_stored_scopes(&before.scopes),
        };
        let disabled = change.disabled.unwrap_or(before.disabled);
        let losing_owner = old_role == Role::Owner && (role != Role::Owner || disabled);
        if losing_owner {
            let owners = tenant_db
                .members()
                .await?
                .iter()
                .filter(|member| member.role == "owner" && !member.disabled)
                .count();
            if owners <= 1 {
                return Err(HubError::conflict(
                    "the tenant's last owner cannot be demoted or disabled",
                ));
            }
        }
        let department_id = match &change.department_id {
            Some(department) if department.is_empty() => None,
            Some(department) => {
                if !tenant_db.department_exists(department).await? {
                    return Err(HubError::not_found("department"));
                }
                Some(department.clone())
            }
            None => before.department_id.clone(),
        };
        let scopes_text = scopes_text(&scopes);
        tenant_db
            .update_member_access(
                member_id,
                role.as_str(),
                &scopes_text,
                department_id.as_deref(),
                disabled,
            )
            .await?;
        let mut event = principal
            .event("member.access_changed")
            .target(format!("member/{member_id}"))
            .details(serde_json::json!({
                "before": { "role": before.role, "scopes": before.scopes, "department_id": before.department_id, "disabled": before.disabled },
                "after": { "role": role.as_str(), "scopes": scopes_text, "department_id": department_id, "disabled": disabled },
            }));
        if let Some(reason) = &change.reason {
            event = event.reason(reason.clone());
        }
        self.0.audit.append(event).await?;
        if disabled && !before.disabled {
            tenant_db
                .revoke_member_devices(member_id, None, now_ms())
                .await?;
        }
        tenant_db
            .member(member_id)
            .await?
            .ok_or_else(|| HubError::not_found("member"))
    }

    /// Creates a department (company tenants).
    pub async fn add_department(
        &self,
        principal: &Principal,
        name: &str,
    ) -> Result<DepartmentRow, HubError> {
        principal.require(Scope::MembersWrite)?;
        let (tenant, _) = self.tenant_plan(&principal.tenant).await?;
        if tenant.kind == "individual" {
            return Err(HubError::forbidden(
                "individual_tenant",
                "an individual tenant has no departments",
            ));
        }
        let row = DepartmentRow {
            id: new_id(),
            name: check_name("department name", name)?,
            created_ms: now_ms(),
        };
        self.0
            .db
            .tenant(&principal.tenant)
            .create_department(&row)
            .await?;
        self.0
            .audit
            .append(
                principal
                    .event("department.created")
                    .target(format!("department/{}", row.id)),
            )
            .await?;
        Ok(row)
    }
}

/// A member to add.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    pub email: String,
    pub display_name: String,
    /// owner, admin, agent, viewer or auditor.
    pub role: String,
    /// Scopes; default: the role's.
    pub scopes: Option<Vec<String>>,
    pub department_id: Option<String>,
    /// Initial password (10–1024 bytes); the member changes it.
    pub password: String,
}

/// A change to a member's access; absent fields stay.
#[derive(Deserialize, utoipa::ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct MemberChange {
    pub role: Option<String>,
    pub scopes: Option<Vec<String>>,
    /// A department id, or "" to clear it.
    pub department_id: Option<String>,
    pub disabled: Option<bool>,
    /// Why (kept in the audit log).
    pub reason: Option<String>,
}

impl Principal {
    /// An audit event by this principal in its tenant.
    pub fn event(&self, action: &str) -> AuditEvent {
        AuditEvent::new(Some(self.tenant.clone()), self.actor(), action)
            .request_id(self.request_id.as_deref())
    }
}

/// The quota period (`YYYY-MM`, UTC) of a unix-millisecond time.
pub fn month_period(unix_ms: i64) -> String {
    // Days to civil date (Howard Hinnant's algorithm), for the proleptic Gregorian calendar.
    let days = unix_ms.div_euclid(86_400_000) + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_period_is_the_utc_calendar_month() {
        assert_eq!(month_period(0), "1970-01");
        // 2026-11-24T12:00:00Z
        assert_eq!(month_period(1_795_521_600_000), "2026-11");
        // 2024-02-29T23:59:59.999Z and the next millisecond
        assert_eq!(month_period(1_709_251_199_999), "2024-02");
        assert_eq!(month_period(1_709_251_200_000), "2024-03");
    }

    #[test]
    fn slugs_emails_and_names_are_checked() {
        assert!(check_slug("acme-1").is_ok());
        for bad in [
            "a",
            "-acme",
            "acme-",
            "Acme",
            "ac me",
            "acme'; DROP TABLE tenants;--",
        ] {
            assert!(check_slug(bad).is_err(), "{bad}");
        }
        assert_eq!(
            normalize_email(" Ana@Example.COM ").unwrap(),
            "ana@example.com"
        );
        for bad in ["", "ana", "ana@", "@x.com", "ana@x", "a na@x.com"] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
        assert!(check_name("n", "  ").is_err());
        assert!(check_name("n", "a\u{0}b").is_err());
        assert_eq!(check_name("n", " Vendas ").unwrap(), "Vendas");
    }
}
