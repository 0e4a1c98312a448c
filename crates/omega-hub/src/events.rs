//! Realtime: the hub publishes what changes in an inbox (new messages, status changes, lead
//! scores, hidden contacts, channel sessions) on one in-process bus; each console connection
//! gets the events of its own tenant that its scopes allow, as Server-Sent Events.

use omega_auth::scope::Scope;
use serde::Serialize;

use crate::hub::Hub;
use crate::store::TenantId;

/// How many events a slow subscriber may fall behind before it is told to refetch.
pub(crate) const BUS_CAPACITY: usize = 4096;

/// One thing that changed in a tenant's inbox.
#[derive(Clone, Debug, Serialize)]
pub struct HubEvent {
    #[serde(skip)]
    pub tenant_id: String,
    /// The scope a subscriber needs to see it.
    #[serde(skip)]
    pub scope: Scope,
    /// e.g. `message.new`, `message.status`, `lead.updated`, `contact.hidden`, `channel.session`.
    pub kind: &'static str,
    pub data: serde_json::Value,
}

impl Hub {
    /// Publishes an event to the tenant's subscribers (nobody listening is fine).
    pub(crate) fn publish(
        &self,
        tenant: &TenantId,
        kind: &'static str,
        scope: Scope,
        data: serde_json::Value,
    ) {
        let _ = self.0.events.send(HubEvent {
            tenant_id: tenant.as_str().to_owned(),
            scope,
            kind,
            data,
        });
    }

    /// A receiver of every event (filter by tenant and scope before handing one out).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<HubEvent> {
        self.0.events.subscribe()
    }
}
