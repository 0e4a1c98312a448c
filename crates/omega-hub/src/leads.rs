//! Leads: every inbound message of a contact updates that contact's score with the scorer in
//! force (`omega-leads`, offline and in-process), keeping the reasons and a next-action
//! suggestion; the console lists leads by score.

use omega_auth::scope::Scope;
use omega_channels::NormalizedMessage;
use omega_leads::{LeadState, Reason};
use serde::Serialize;

use crate::auth::Principal;
use crate::error::HubError;
use crate::hub::Hub;
use crate::store::{LeadRow, StoredMessage, TenantId, now_ms};

/// A lead as the console shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LeadView {
    pub contact_id: String,
    /// 0–100.
    pub score: i64,
    pub messages: i64,
    /// positive, neutral or negative (of the last message).
    pub sentiment: String,
    /// A code (`send_price_list`, `hand_to_human`, …) with labels in Portuguese and English.
    pub next_action: NextActionView,
    /// Why the score moved on the last message, in Portuguese and English.
    #[schema(value_type = Vec<Object>)]
    pub reasons: serde_json::Value,
    pub updated_ms: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct NextActionView {
    pub code: String,
    pub pt: String,
    pub en: String,
}

#[derive(Serialize)]
struct StoredReason<'a> {
    code: &'a str,
    pt: &'a str,
    en: &'a str,
    delta: i32,
}

fn next_action_view(code: &str) -> NextActionView {
    let action = omega_leads::NextAction::ALL
        .into_iter()
        .find(|action| action.code() == code);
    NextActionView {
        code: code.to_owned(),
        pt: action
            .map_or(code, |a| a.label(omega_leads::Lang::Pt))
            .to_owned(),
        en: action
            .map_or(code, |a| a.label(omega_leads::Lang::En))
            .to_owned(),
    }
}

impl LeadView {
    pub(crate) fn from_row(row: LeadRow) -> LeadView {
        LeadView {
            next_action: next_action_view(&row.next_action),
            contact_id: row.contact_id,
            score: row.score,
            messages: row.messages,
            sentiment: row.sentiment,
            reasons: serde_json::from_str(&row.reasons).unwrap_or_default(),
            updated_ms: row.updated_ms,
        }
    }
}

fn reasons_json(reasons: &[Reason]) -> String {
    let stored: Vec<StoredReason<'_>> = reasons
        .iter()
        .map(|reason| StoredReason {
            code: reason.code,
            pt: reason.pt,
            en: reason.en,
            delta: reason.delta,
        })
        .collect();
    serde_json::to_string(&stored).unwrap_or_else(|_| "[]".into())
}

impl Hub {
    /// Updates the sender's lead from one inbound message (a new contact becomes a lead).
    pub(crate) async fn score_lead(
        &self,
        tenant: &TenantId,
        stored: &StoredMessage,
        message: &NormalizedMessage,
    ) -> Result<(), HubError> {
        let Some(text) = message
            .text
            .as_deref()
            .filter(|text| !text.trim().is_empty())
        else {
            if !stored.new_contact {
                return Ok(());
            }
            // A new contact whose first message has no text is still a lead, unscored.
            return self
                .put_lead(tenant, stored, LeadState::default(), None)
                .await;
        };
        let tenant_db = self.0.db.tenant(tenant);
        let previous = match tenant_db.lead(&stored.contact_id).await? {
            Some(row) => LeadState {
                score: u8::try_from(row.score.clamp(0, 100)).unwrap_or(0),
                messages: u32::try_from(row.messages.max(0)).unwrap_or(u32::MAX),
            },
            None => LeadState::default(),
        };
        let assessment = self.0.scorer.assess(previous, text);
        self.put_lead(tenant, stored, previous, Some(assessment))
            .await
    }

    async fn put_lead(
        &self,
        tenant: &TenantId,
        stored: &StoredMessage,
        previous: LeadState,
        assessment: Option<omega_leads::Assessment>,
    ) -> Result<(), HubError> {
        let row = match &assessment {
            Some(assessment) => {
                let state = assessment.state(previous);
                LeadRow {
                    contact_id: stored.contact_id.clone(),
                    score: i64::from(state.score),
                    messages: i64::from(state.messages),
                    sentiment: serde_json::to_value(assessment.sentiment)
                        .ok()
                        .and_then(|value| value.as_str().map(str::to_owned))
                        .unwrap_or_else(|| "neutral".into()),
                    next_action: assessment.next_action.code().to_owned(),
                    reasons: reasons_json(&assessment.reasons),
                    updated_ms: now_ms(),
                }
            }
            None => LeadRow {
                contact_id: stored.contact_id.clone(),
                score: 0,
                messages: 1,
                sentiment: "neutral".into(),
                next_action: omega_leads::NextAction::AnswerQuestion.code().to_owned(),
                reasons: "[]".into(),
                updated_ms: now_ms(),
            },
        };
        if !self.0.db.tenant(tenant).put_lead(&row).await? {
            return Ok(());
        }
        let view = LeadView::from_row(row);
        self.publish(
            tenant,
            "lead.updated",
            Scope::LeadsRead,
            serde_json::json!({
                "contact_id": view.contact_id,
                "conversation_id": stored.conversation_id,
                "score": view.score,
                "previous": previous.score,
                "sentiment": view.sentiment,
                "next_action": view.next_action,
                "reasons": view.reasons,
            }),
        );
        Ok(())
    }

    /// Leads of my tenant, highest score first.
    pub async fn leads(
        &self,
        principal: &Principal,
        min_score: i64,
        limit: i64,
    ) -> Result<Vec<LeadView>, HubError> {
        principal.require(Scope::LeadsRead)?;
        let rows = self
            .0
            .db
            .tenant(&principal.tenant)
            .leads(min_score, limit.clamp(1, 500))
            .await?;
        Ok(rows.into_iter().map(LeadView::from_row).collect())
    }

    /// One contact's lead.
    pub async fn lead(
        &self,
        principal: &Principal,
        contact_id: &str,
    ) -> Result<LeadView, HubError> {
        principal.require(Scope::LeadsRead)?;
        let row = self
            .0
            .db
            .tenant(&principal.tenant)
            .lead(contact_id)
            .await?
            .ok_or_else(|| HubError::not_found("lead"))?;
        Ok(LeadView::from_row(row))
    }
}
