//! Member roles and the scopes they grant.
//!
//! A [`Scope`] is one permission (`inbox:read`); a [`Role`] is a named default set of
//! scopes. Access tokens carry scopes, so the hub checks scopes, never roles.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A member's role in a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including billing and appointing other owners.
    Owner,
    /// Everything but billing; cannot appoint owners.
    Admin,
    /// Works the inbox, contacts and leads.
    Agent,
    /// Reads the inbox, contacts and leads.
    Viewer,
    /// Reads the audit log, members and settings.
    Auditor,
}

/// A permission carried in access tokens. Declared in the alphabetical order of the strings,
/// so sorting by `Ord` and by string agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scope {
    /// `apikeys:write`: create and revoke API keys.
    #[serde(rename = "apikeys:write")]
    ApikeysWrite,
    /// `audit:read`: read the audit log.
    #[serde(rename = "audit:read")]
    AuditRead,
    /// `billing:write`: change the plan and payment details.
    #[serde(rename = "billing:write")]
    BillingWrite,
    /// `channels:write`: connect and configure channels.
    #[serde(rename = "channels:write")]
    ChannelsWrite,
    /// `contacts:read`.
    #[serde(rename = "contacts:read")]
    ContactsRead,
    /// `contacts:write`.
    #[serde(rename = "contacts:write")]
    ContactsWrite,
    /// `inbox:read`.
    #[serde(rename = "inbox:read")]
    InboxRead,
    /// `inbox:write`.
    #[serde(rename = "inbox:write")]
    InboxWrite,
    /// `leads:read`.
    #[serde(rename = "leads:read")]
    LeadsRead,
    /// `leads:write`.
    #[serde(rename = "leads:write")]
    LeadsWrite,
    /// `members:read`.
    #[serde(rename = "members:read")]
    MembersRead,
    /// `members:write`: invite, change roles, remove.
    #[serde(rename = "members:write")]
    MembersWrite,
    /// `security:admin`: security policy, sessions of others, key rotation.
    #[serde(rename = "security:admin")]
    SecurityAdmin,
    /// `settings:read`.
    #[serde(rename = "settings:read")]
    SettingsRead,
    /// `settings:write`.
    #[serde(rename = "settings:write")]
    SettingsWrite,
}

/// An unknown role or scope name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScopeError {
    /// Not one of the [`Scope`] strings.
    #[error("unknown scope {got:?}")]
    UnknownScope {
        /// The string given.
        got: String,
    },
    /// Not one of the [`Role`] names.
    #[error("unknown role {got:?}: expected owner, admin, agent, viewer or auditor")]
    UnknownRole {
        /// The string given.
        got: String,
    },
}

impl Scope {
    /// Every scope, in order.
    pub const ALL: [Scope; 15] = [
        Scope::ApikeysWrite,
        Scope::AuditRead,
        Scope::BillingWrite,
        Scope::ChannelsWrite,
        Scope::ContactsRead,
        Scope::ContactsWrite,
        Scope::InboxRead,
        Scope::InboxWrite,
        Scope::LeadsRead,
        Scope::LeadsWrite,
        Scope::MembersRead,
        Scope::MembersWrite,
        Scope::SecurityAdmin,
        Scope::SettingsRead,
        Scope::SettingsWrite,
    ];

    /// The wire string, such as `inbox:read`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ApikeysWrite => "apikeys:write",
            Scope::AuditRead => "audit:read",
            Scope::BillingWrite => "billing:write",
            Scope::ChannelsWrite => "channels:write",
            Scope::ContactsRead => "contacts:read",
            Scope::ContactsWrite => "contacts:write",
            Scope::InboxRead => "inbox:read",
            Scope::InboxWrite => "inbox:write",
            Scope::LeadsRead => "leads:read",
            Scope::LeadsWrite => "leads:write",
            Scope::MembersRead => "members:read",
            Scope::MembersWrite => "members:write",
            Scope::SecurityAdmin => "security:admin",
            Scope::SettingsRead => "settings:read",
            Scope::SettingsWrite => "settings:write",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = ScopeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == text)
            .ok_or_else(|| ScopeError::UnknownScope {
                got: text.to_owned(),
            })
    }
}

/// Parses scope strings (as in [`crate::jwt::AccessClaims::scp`]), sorted and deduplicated.
///
/// # Errors
/// [`ScopeError::UnknownScope`] naming the first unknown string.
pub fn parse_scopes(scopes: &[String]) -> Result<Vec<Scope>, ScopeError> {
    let mut parsed = scopes
        .iter()
        .map(|s| s.parse())
        .collect::<Result<Vec<Scope>, _>>()?;
    parsed.sort_unstable();
    parsed.dedup();
    Ok(parsed)
}

/// The strings of `scopes`, for [`crate::jwt::AccessClaims::scp`].
#[must_use]
pub fn scope_strings(scopes: &[Scope]) -> Vec<String> {
    scopes.iter().map(|s| s.as_str().to_owned()).collect()
}

const ADMIN_SCOPES: [Scope; 14] = [
    Scope::ApikeysWrite,
    Scope::AuditRead,
    Scope::ChannelsWrite,
    Scope::ContactsRead,
    Scope::ContactsWrite,
    Scope::InboxRead,
    Scope::InboxWrite,
    Scope::LeadsRead,
    Scope::LeadsWrite,
    Scope::MembersRead,
    Scope::MembersWrite,
    Scope::SecurityAdmin,
    Scope::SettingsRead,
    Scope::SettingsWrite,
];
const AGENT_SCOPES: [Scope; 6] = [
    Scope::ContactsRead,
    Scope::ContactsWrite,
    Scope::InboxRead,
    Scope::InboxWrite,
    Scope::LeadsRead,
    Scope::LeadsWrite,
];
const VIEWER_SCOPES: [Scope; 3] = [Scope::ContactsRead, Scope::InboxRead, Scope::LeadsRead];
const AUDITOR_SCOPES: [Scope; 3] = [Scope::AuditRead, Scope::MembersRead, Scope::SettingsRead];

impl Role {
    /// Every role, most powerful first.
    pub const ALL: [Role; 5] = [
        Role::Owner,
        Role::Admin,
        Role::Agent,
        Role::Viewer,
        Role::Auditor,
    ];

    /// The lowercase name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Agent => "agent",
            Role::Viewer => "viewer",
            Role::Auditor => "auditor",
        }
    }

    /// The scopes this role grants, sorted.
    #[must_use]
    pub fn default_scopes(self) -> &'static [Scope] {
        match self {
            Role::Owner => &Scope::ALL,
            Role::Admin => &ADMIN_SCOPES,
            Role::Agent => &AGENT_SCOPES,
            Role::Viewer => &VIEWER_SCOPES,
            Role::Auditor => &AUDITOR_SCOPES,
        }
    }

    /// Whether a member with this role may give `other` to someone: owners any role, admins
    /// any but owner, everyone else none.
    #[must_use]
    pub fn can_grant(self, other: Role) -> bool {
        match self {
            Role::Owner => true,
            Role::Admin => other != Role::Owner,
            Role::Agent | Role::Viewer | Role::Auditor => false,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ScopeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| ScopeError::UnknownRole {
                got: text.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_strings_round_trip_and_order() {
        for scope in Scope::ALL {
            assert_eq!(scope.as_str().parse::<Scope>(), Ok(scope));
            assert_eq!(
                serde_json::to_string(&scope).unwrap(),
                format!("\"{scope}\"")
            );
            assert_eq!(
                serde_json::from_str::<Scope>(&format!("\"{scope}\"")).unwrap(),
                scope
            );
        }
        let mut strings: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
        strings.sort_unstable();
        let ordered: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(strings, ordered, "declaration order is string order");
    }

    #[test]
    fn unknown_scope_is_named() {
        let err = "inbox:delete".parse::<Scope>().unwrap_err();
        assert_eq!(err.to_string(), "unknown scope \"inbox:delete\"");
        assert!("Inbox:Read".parse::<Scope>().is_err());
        assert!(serde_json::from_str::<Scope>("\"inbox:admin\"").is_err());
    }

    #[test]
    fn parse_scopes_sorts_and_dedups() {
        let input: Vec<String> = ["leads:read", "inbox:read", "leads:read", "audit:read"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            parse_scopes(&input),
            Ok(vec![Scope::AuditRead, Scope::InboxRead, Scope::LeadsRead])
        );
        let bad: Vec<String> = vec!["inbox:read".into(), "root".into()];
        assert_eq!(
            parse_scopes(&bad),
            Err(ScopeError::UnknownScope { got: "root".into() })
        );
        assert_eq!(parse_scopes(&[]), Ok(vec![]));
        assert_eq!(
            scope_strings(&[Scope::InboxRead, Scope::SecurityAdmin]),
            vec!["inbox:read", "security:admin"]
        );
    }

    #[test]
    fn role_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(serde_json::to_string(&role).unwrap(), format!("\"{role}\""));
        }
        assert!(matches!(
            "Owner".parse::<Role>(),
            Err(ScopeError::UnknownRole { .. })
        ));
    }

    #[test]
    fn default_scopes() {
        let strings = |role: Role| -> Vec<&str> {
            role.default_scopes().iter().map(|s| s.as_str()).collect()
        };
        assert_eq!(Role::Owner.default_scopes(), &Scope::ALL);
        let admin = Role::Admin.default_scopes();
        assert_eq!(admin.len(), Scope::ALL.len() - 1);
        assert!(!admin.contains(&Scope::BillingWrite));
        assert_eq!(
            strings(Role::Agent),
            [
                "contacts:read",
                "contacts:write",
                "inbox:read",
                "inbox:write",
                "leads:read",
                "leads:write"
            ]
        );
        assert_eq!(
            strings(Role::Viewer),
            ["contacts:read", "inbox:read", "leads:read"]
        );
        assert_eq!(
            strings(Role::Auditor),
            ["audit:read", "members:read", "settings:read"]
        );
        for role in Role::ALL {
            assert!(role.default_scopes().is_sorted(), "{role}");
        }
    }

    #[test]
    fn grants() {
        for other in Role::ALL {
            assert!(Role::Owner.can_grant(other));
            assert_eq!(Role::Admin.can_grant(other), other != Role::Owner);
            for weak in [Role::Agent, Role::Viewer, Role::Auditor] {
                assert!(!weak.can_grant(other));
            }
        }
    }
}
