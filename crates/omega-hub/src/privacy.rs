//! Hide mode: a member hides a number (or a contact); everything stored of that person is
//! purged at once, and anything of theirs that arrives later is purged before it is stored.
//! The blacklist keeps only keyed hashes of the addresses; every purge is an audit entry with
//! counts, never content.

use std::collections::HashSet;

use omega_auth::scope::Scope;
use omega_channels::{Address, InboundEvent, NormalizedMessage};
use serde::{Deserialize, Serialize};

use crate::audit::AuditEvent;
use crate::auth::Principal;
use crate::error::HubError;
use crate::hub::{Hub, system};
use crate::inbox::source_of;
use crate::store::{PurgeCounts, TenantId, now_ms};

/// Whom to hide: a number or address, or a contact of the inbox.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HideRequest {
    /// An E.164 number (`+5511999990001`) or an address key (`tel:+55…`, `wa-lid:…`, `tg:42`).
    pub address: Option<String>,
    /// A contact id from the inbox (all of that person's addresses are hidden).
    pub contact_id: Option<String>,
    /// Why (recorded in the audit log).
    pub reason: Option<String>,
}

/// What hiding did.
#[derive(Serialize, utoipa::ToSchema)]
pub struct HideOutcome {
    /// How many addresses of the person are now on the blacklist.
    pub addresses: usize,
    pub purged: PurgeCounts,
}

/// One blacklist entry; the address itself is not stored, only a keyed hash.
#[derive(Serialize, utoipa::ToSchema)]
pub struct HiddenView {
    /// A short fingerprint of the keyed hash (to tell entries apart).
    pub fingerprint: String,
    pub hidden_by: String,
    pub created_ms: i64,
}

/// The blacklist of one tenant, loaded once per inbox batch.
pub(crate) struct HiddenSet(HashSet<Vec<u8>>);

impl HiddenSet {
    fn contains_any(&self, hashes: &[Vec<u8>]) -> bool {
        hashes.iter().any(|hash| self.0.contains(hash))
    }
}

fn parse_address(text: &str) -> Result<Address, HubError> {
    let text = text.trim();
    let parsed = match text.strip_prefix('+') {
        Some(digits) => omega_channels::address::phone_from_digits(digits).ok(),
        None => Address::from_key(text),
    };
    parsed.ok_or_else(|| {
        HubError::bad_request(
            "address: expected an E.164 number like +5511999990001 or an address key like tel:+5511999990001, wa-lid:…, tg:42",
        )
    })
}

/// Every address a message names for its sender and chat (one-to-one chats only: hiding a
/// person does not hide the groups they write in, only their messages there).
fn message_keys(message: &NormalizedMessage) -> Vec<String> {
    let mut keys = vec![message.sender.key()];
    keys.extend(message.sender_alt.iter().map(Address::key));
    if !message.chat.is_group() {
        keys.push(message.chat.key());
    }
    keys.sort();
    keys.dedup();
    keys
}

impl Hub {
    /// The keyed hash under which a tenant's blacklist holds an address key.
    pub(crate) fn hidden_hash(&self, tenant: &TenantId, key: &str) -> Vec<u8> {
        self.0
            .master
            .keyed_hash(
                &format!("hidden-address:{}", tenant.as_str()),
                key.as_bytes(),
            )
            .to_vec()
    }

    pub(crate) async fn hidden_set(&self, tenant: &TenantId) -> Result<HiddenSet, HubError> {
        let rows = self.0.db.tenant(tenant).hidden().await?;
        Ok(HiddenSet(
            rows.into_iter().map(|row| row.address_hash).collect(),
        ))
    }

    /// Whether a raw body held in the queue names any of `keys` (parsed per its channel's
    /// source; a body no parser understands is matched on the addresses' digits).
    async fn raw_mentions(
        &self,
        tenant: &TenantId,
        keys: &[String],
    ) -> Result<impl Fn(&str, &[u8]) -> bool + use<>, HubError> {
        let channels: std::collections::HashMap<String, String> = self
            .0
            .db
            .tenant(tenant)
            .channels()
            .await?
            .into_iter()
            .map(|row| (row.id, row.kind))
            .collect();
        let keys: HashSet<String> = keys.iter().cloned().collect();
        let needles: Vec<String> = keys
            .iter()
            .filter_map(|key| key.split_once(':'))
            .map(|(_, rest)| rest.trim_start_matches('+').to_owned())
            .filter(|needle| needle.len() >= 6)
            .collect();
        Ok(move |channel_id: &str, body: &[u8]| {
            let parsed = channels
                .get(channel_id)
                .and_then(|kind| source_of(kind))
                .and_then(|source| omega_channels::parse(source, body).ok());
            match parsed {
                Some(events) => events.iter().any(|event| match event {
                    InboundEvent::Message(message) => {
                        message_keys(message).iter().any(|key| keys.contains(key))
                    }
                    _ => false,
                }),
                None => needles.iter().any(|needle| {
                    body.windows(needle.len())
                        .any(|window| window == needle.as_bytes())
                }),
            }
        })
    }

    /// Hides a person: blacklists every address of theirs and purges everything stored of
    /// them, in one audited step.
    pub async fn hide(
        &self,
        principal: &Principal,
        request: HideRequest,
    ) -> Result<HideOutcome, HubError> {
        principal.require(Scope::ContactsWrite)?;
        let tenant_db = self.0.db.tenant(&principal.tenant);
        let keys = match (&request.address, &request.contact_id) {
            (Some(address), None) => {
                tenant_db
                    .person_keys(&parse_address(address)?.key())
                    .await?
            }
            (None, Some(contact)) => {
                let keys = tenant_db.contact_keys(contact).await?;
                if keys.is_empty() {
                    return Err(HubError::not_found("contact"));
                }
                keys
            }
            _ => {
                return Err(HubError::bad_request(
                    "give exactly one of address or contact_id",
                ));
            }
        };
        let hashes: Vec<Vec<u8>> = keys
            .iter()
            .map(|key| self.hidden_hash(&principal.tenant, key))
            .collect();
        tenant_db
            .hide_hashes(&hashes, &principal.subject(), now_ms())
            .await?;
        let mentions = self.raw_mentions(&principal.tenant, &keys).await?;
        let purged = tenant_db.purge_person(&keys, mentions).await?;
        let mut event = principal
            .event("privacy.contact_hidden")
            .details(serde_json::json!({ "addresses": keys.len(), "purged": purged }));
        if let Some(reason) = request.reason.as_deref() {
            event = event.reason(reason);
        }
        self.0.audit.append(event).await?;
        self.publish(
            &principal.tenant,
            "contact.hidden",
            Scope::InboxRead,
            serde_json::json!({ "purged": purged }),
        );
        Ok(HideOutcome {
            addresses: keys.len(),
            purged,
        })
    }

    /// Takes an address off the blacklist (the caller names it again: it is not stored).
    pub async fn unhide(
        &self,
        principal: &Principal,
        request: HideRequest,
    ) -> Result<u64, HubError> {
        principal.require(Scope::ContactsWrite)?;
        let Some(address) = request.address.as_deref() else {
            return Err(HubError::bad_request(
                "address: name the number to unhide (the blacklist stores only keyed hashes)",
            ));
        };
        let key = parse_address(address)?.key();
        let removed = self
            .0
            .db
            .tenant(&principal.tenant)
            .unhide_hashes(&[self.hidden_hash(&principal.tenant, &key)])
            .await?;
        if removed == 0 {
            return Err(HubError::not_found("hidden address"));
        }
        let mut event = principal.event("privacy.contact_unhidden");
        if let Some(reason) = request.reason.as_deref() {
            event = event.reason(reason);
        }
        self.0.audit.append(event).await?;
        Ok(removed)
    }

    pub async fn hidden_list(&self, principal: &Principal) -> Result<Vec<HiddenView>, HubError> {
        principal.require(Scope::ContactsRead)?;
        let rows = self.0.db.tenant(&principal.tenant).hidden().await?;
        Ok(rows
            .into_iter()
            .map(|row| HiddenView {
                fingerprint: hex::encode(&row.address_hash[..row.address_hash.len().min(6)]),
                hidden_by: row.hidden_by,
                created_ms: row.created_ms,
            })
            .collect())
    }

    /// Called by the inbox worker before storing a message: when the message names a hidden
    /// person, its new addresses join the blacklist, everything of the person (this raw body
    /// included) is purged, and `true` says "do not store".
    pub(crate) async fn purge_if_hidden(
        &self,
        tenant: &TenantId,
        hidden: &mut HiddenSet,
        message: &NormalizedMessage,
    ) -> Result<bool, HubError> {
        if hidden.0.is_empty() {
            return Ok(false);
        }
        let keys = message_keys(message);
        let hashes: Vec<Vec<u8>> = keys
            .iter()
            .map(|key| self.hidden_hash(tenant, key))
            .collect();
        if !hidden.contains_any(&hashes) {
            return Ok(false);
        }
        let tenant_db = self.0.db.tenant(tenant);
        // A new address of a hidden person (a LID seen for the first time) is hidden too.
        tenant_db.hide_hashes(&hashes, "system", now_ms()).await?;
        hidden.0.extend(hashes);
        let mut all_keys = keys;
        for key in all_keys.clone() {
            for more in tenant_db.person_keys(&key).await? {
                if !all_keys.contains(&more) {
                    all_keys.push(more);
                }
            }
        }
        let mentions = self.raw_mentions(tenant, &all_keys).await?;
        let purged = tenant_db.purge_person(&all_keys, mentions).await?;
        crate::metrics::Metrics::bump(&self.0.metrics.inbound_purged);
        let event = AuditEvent::new(Some(tenant.clone()), system(), "privacy.purged")
            .details(serde_json::json!({ "trigger": "arrival", "purged": purged }));
        self.0.audit.append(event).await?;
        Ok(true)
    }

    /// The recurring purge: finds stored addresses that are on a blacklist (a message stored
    /// while its sender was being hidden) and purges their people. Returns what it purged.
    pub async fn sweep_hidden(&self) -> Result<PurgeCounts, HubError> {
        let mut total = PurgeCounts::default();
        for tenant in self.0.db.tenant_ids_with_hidden().await? {
            let hidden = self.hidden_set(&tenant).await?;
            let tenant_db = self.0.db.tenant(&tenant);
            let mut done: HashSet<String> = HashSet::new();
            for key in tenant_db.address_keys().await? {
                if done.contains(&key) || !hidden.0.contains(&self.hidden_hash(&tenant, &key)) {
                    continue;
                }
                let keys = tenant_db.person_keys(&key).await?;
                done.extend(keys.iter().cloned());
                let hashes: Vec<Vec<u8>> = keys
                    .iter()
                    .map(|key| self.hidden_hash(&tenant, key))
                    .collect();
                tenant_db.hide_hashes(&hashes, "system", now_ms()).await?;
                let mentions = self.raw_mentions(&tenant, &keys).await?;
                let purged = tenant_db.purge_person(&keys, mentions).await?;
                if !purged.is_empty() {
                    let event = AuditEvent::new(Some(tenant.clone()), system(), "privacy.purged")
                        .details(serde_json::json!({ "trigger": "sweep", "purged": purged }));
                    self.0.audit.append(event).await?;
                    total.add(&purged);
                }
            }
        }
        Ok(total)
    }
}
