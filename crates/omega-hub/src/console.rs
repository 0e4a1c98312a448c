//! What the business console needs beyond the inbox services: the conversation list with its
//! filters (channel, assignee, minimum lead score), conversation assignment, the dashboard's
//! aggregates, and QR codes as images (SVG rendered here with the `qrcode` crate, so the browser
//! needs no QR encoder and loads nothing from elsewhere): the connector session's, and the
//! two-factor enrolment's `otpauth://` URI (in [`Hub::enroll_totp`]'s answer).

use omega_auth::scope::Scope;
use serde::Serialize;

use crate::auth::Principal;
use crate::error::HubError;
use crate::hub::Hub;
use crate::store::{AssigneeFilter, ConversationFilter, ConversationSummary};

/// A conversation as the inbox lists it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ConversationView {
    pub id: String,
    pub channel_id: String,
    /// The normalized chat address key (e.g. `tel:+5511…`, `tg:42`, `wa-group:…`).
    pub chat: String,
    pub contact_id: String,
    /// The contact's name as the source gave it.
    pub contact_name: Option<String>,
    pub is_group: bool,
    pub last_message_ms: i64,
    /// The contact's lead score (0–100), once scored.
    pub lead_score: Option<i64>,
    /// The member handling it, if any.
    pub assignee_id: Option<String>,
    /// The newest message: its text (absent for media), `in`/`out`, kind and status.
    pub last_text: Option<String>,
    pub last_direction: Option<String>,
    pub last_kind: Option<String>,
    pub last_status: Option<String>,
}

impl From<ConversationSummary> for ConversationView {
    fn from(summary: ConversationSummary) -> Self {
        let row = summary.conversation;
        ConversationView {
            id: row.id,
            channel_id: row.channel_id,
            chat: row.chat_key,
            contact_id: row.contact_id,
            contact_name: summary.contact_name,
            is_group: row.is_group,
            last_message_ms: row.last_message_ms,
            lead_score: row.lead_score,
            assignee_id: row.assignee_id,
            last_text: summary.last_text,
            last_direction: summary.last_direction,
            last_kind: summary.last_kind,
            last_status: summary.last_status,
        }
    }
}

/// The filters of `GET /api/v1/conversations`, as given.
#[derive(Default)]
pub struct ConversationQuery {
    /// `me`, `none`, `any` or a member id.
    pub assignee: Option<String>,
    pub min_score: Option<i64>,
    pub channel: Option<String>,
    pub limit: Option<i64>,
}

/// The dashboard: messages per channel per day and the lead score distribution.
#[derive(Serialize, utoipa::ToSchema)]
pub struct InboxStats {
    /// The days counted, oldest first (`YYYY-MM-DD` in the requested time zone).
    pub days: Vec<String>,
    /// Minutes east of UTC the days were cut at.
    pub tz_offset_minutes: i64,
    /// One series per channel of the tenant, each with one count per day.
    pub channels: Vec<ChannelSeries>,
    /// Ten buckets, 0–9 … 90–100; absent without `leads:read`.
    pub score_histogram: Option<Vec<ScoreBucketView>>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ChannelSeries {
    pub channel_id: String,
    pub name: String,
    pub kind: String,
    /// Messages received per day.
    pub inbound: Vec<i64>,
    /// Messages sent (replies and echoes of the business's own sends) per day.
    pub outbound: Vec<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ScoreBucketView {
    /// Lowest score in the bucket.
    pub from: i64,
    /// Highest score in the bucket (inclusive).
    pub to: i64,
    pub count: i64,
}

/// A QR code to show: SVG rendered here, or the PNG the source rendered itself.
pub enum QrImage {
    Svg(String),
    Png(Vec<u8>),
}

const DAY_MS: i64 = 86_400_000;

impl Hub {
    /// Conversations of my tenant matching the filters, most recent first (personal data:
    /// the read is audited).
    pub async fn conversation_list(
        &self,
        principal: &Principal,
        query: ConversationQuery,
    ) -> Result<Vec<ConversationView>, HubError> {
        principal.require(Scope::InboxRead)?;
        let assignee = match query.assignee.as_deref() {
            None | Some("" | "any") => AssigneeFilter::Anyone,
            Some("none") => AssigneeFilter::Unassigned,
            Some("me") => AssigneeFilter::Member(principal.member()?.0.to_owned()),
            Some(id) => AssigneeFilter::Member(id.to_owned()),
        };
        if let Some(min) = query.min_score
            && !(0..=100).contains(&min)
        {
            return Err(HubError::bad_request("min_score: expected 0 ..= 100"));
        }
        let limit = query.limit.unwrap_or(500);
        if !(1..=1000).contains(&limit) {
            return Err(HubError::bad_request("limit: expected 1 ..= 1000"));
        }
        let filter = ConversationFilter {
            channel_id: query.channel.filter(|channel| !channel.is_empty()),
            assignee,
            min_score: query.min_score,
            limit,
        };
        let rows = self
            .0
            .db
            .tenant(&principal.tenant)
            .conversation_list(&filter)
            .await?;
        self.0
            .audit
            .append(
                principal
                    .event("personal_data.read")
                    .target("conversations"),
            )
            .await?;
        Ok(rows.into_iter().map(ConversationView::from).collect())
    }

    /// One conversation (personal data: the read is audited).
    pub async fn conversation_view(
        &self,
        principal: &Principal,
        conversation_id: &str,
    ) -> Result<ConversationView, HubError> {
        principal.require(Scope::InboxRead)?;
        let summary = self
            .0
            .db
            .tenant(&principal.tenant)
            .conversation_summary(conversation_id)
            .await?
            .ok_or_else(|| HubError::not_found("conversation"))?;
        self.0
            .audit
            .append(
                principal
                    .event("personal_data.read")
                    .target(format!("conversation/{conversation_id}")),
            )
            .await?;
        Ok(summary.into())
    }

    /// Hands a conversation to a member of my tenant, or to nobody (audited, published as
    /// `conversation.assigned`).
    pub async fn assign_conversation(
        &self,
        principal: &Principal,
        conversation_id: &str,
        member_id: Option<&str>,
    ) -> Result<ConversationView, HubError> {
        principal.require(Scope::InboxWrite)?;
        let tenant_db = self.0.db.tenant(&principal.tenant);
        if let Some(member_id) = member_id {
            let member = tenant_db
                .member(member_id)
                .await?
                .ok_or_else(|| HubError::not_found("member"))?;
            if member.disabled {
                return Err(HubError::forbidden(
                    "member_disabled",
                    "this member is disabled",
                ));
            }
        }
        if !tenant_db.set_assignee(conversation_id, member_id).await? {
            return Err(HubError::not_found("conversation"));
        }
        let event = principal
            .event("inbox.assigned")
            .target(format!("conversation/{conversation_id}"))
            .details(serde_json::json!({ "assignee": member_id }));
        self.0.audit.append(event).await?;
        self.publish(
            &principal.tenant,
            "conversation.assigned",
            Scope::InboxRead,
            serde_json::json!({
                "conversation_id": conversation_id,
                "assignee_id": member_id,
                "by": principal.subject(),
            }),
        );
        let summary = tenant_db
            .conversation_summary(conversation_id)
            .await?
            .ok_or_else(|| HubError::not_found("conversation"))?;
        Ok(summary.into())
    }

    /// Messages per channel per day over the last `days` days (today included) and the lead
    /// score histogram. Days are cut at local midnight `tz_offset_minutes` east of UTC.
    pub async fn inbox_stats(
        &self,
        principal: &Principal,
        days: i64,
        tz_offset_minutes: i64,
        now_ms: i64,
    ) -> Result<InboxStats, HubError> {
        principal.require(Scope::InboxRead)?;
        if !(1..=90).contains(&days) {
            return Err(HubError::bad_request("days: expected 1 ..= 90"));
        }
        if !(-14 * 60..=14 * 60).contains(&tz_offset_minutes) {
            return Err(HubError::bad_request(
                "tz_offset_minutes: expected -840 ..= 840",
            ));
        }
        let offset_ms = tz_offset_minutes * 60_000;
        let today = (now_ms + offset_ms).div_euclid(DAY_MS);
        let first = today - (days - 1);
        let tenant_db = self.0.db.tenant(&principal.tenant);
        let counts = tenant_db
            .messages_per_day(
                first * DAY_MS - offset_ms,
                (today + 1) * DAY_MS - offset_ms,
                offset_ms,
            )
            .await?;
        let width = usize::try_from(days).unwrap_or(0);
        let mut channels: Vec<ChannelSeries> = tenant_db
            .channels()
            .await?
            .into_iter()
            .map(|row| ChannelSeries {
                channel_id: row.id,
                name: row.name,
                kind: row.kind,
                inbound: vec![0; width],
                outbound: vec![0; width],
            })
            .collect();
        for count in counts {
            let Ok(slot) = usize::try_from(count.day - first) else {
                continue;
            };
            let Some(series) = channels
                .iter_mut()
                .find(|series| series.channel_id == count.channel_id)
            else {
                continue;
            };
            let column = if count.direction == "in" {
                &mut series.inbound
            } else {
                &mut series.outbound
            };
            if let Some(cell) = column.get_mut(slot) {
                *cell += count.count;
            }
        }
        let score_histogram = if principal.scopes.contains(&Scope::LeadsRead) {
            let mut buckets: Vec<ScoreBucketView> = (0..10)
                .map(|bucket| ScoreBucketView {
                    from: bucket * 10,
                    to: if bucket == 9 { 100 } else { bucket * 10 + 9 },
                    count: 0,
                })
                .collect();
            for bucket in tenant_db.score_histogram().await? {
                let index = usize::try_from(bucket.bucket.clamp(0, 9)).unwrap_or(0);
                buckets[index].count += bucket.count;
            }
            Some(buckets)
        } else {
            None
        };
        Ok(InboxStats {
            days: (first..=today).map(civil_date).collect(),
            tz_offset_minutes,
            channels,
            score_histogram,
        })
    }

    /// The QR code of a channel's connector session, while it waits to be scanned.
    pub async fn session_qr(
        &self,
        principal: &Principal,
        channel_id: &str,
    ) -> Result<QrImage, HubError> {
        let session = self.session(principal, channel_id).await?;
        let code = session.qr.ok_or_else(|| {
            HubError::not_found("QR code (the session is not waiting for a scan)")
        })?;
        if let Some(png) = code.strip_prefix("data:image/png;base64,") {
            let bytes = data_encoding::BASE64
                .decode(png.trim().as_bytes())
                .map_err(|_| HubError::internal(&"the source's QR image is not base64"))?;
            return Ok(QrImage::Png(bytes));
        }
        qr_svg(&code).map(QrImage::Svg)
    }
}

/// `YYYY-MM-DD` of a day number (days since 1970-01-01), proleptic Gregorian.
fn civil_date(day: i64) -> String {
    // Howard Hinnant's `civil_from_days`.
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A QR code as a standalone SVG: one path of dark modules, a 4-module quiet zone, and
/// `shape-rendering="crispEdges"` so it scans at any size.
pub fn qr_svg(text: &str) -> Result<String, HubError> {
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
        .or_else(|_| {
            qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::L)
        })
        .map_err(|_| HubError::internal(&"the QR payload is too large to encode"))?;
    let width = code.width();
    let colors = code.to_colors();
    let quiet = 4;
    let size = width + 2 * quiet;
    let mut path = String::with_capacity(colors.len() * 4);
    for (index, color) in colors.iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let (x, y) = (index % width + quiet, index / width + quiet);
            path.push_str(&format!("M{x} {y}h1v1h-1z"));
        }
    }
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" \
         shape-rendering=\"crispEdges\"><rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/>\
         <path d=\"{path}\" fill=\"#000\"/></svg>"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_match_known_days() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(-1), "1969-12-31");
        assert_eq!(civil_date(11_016), "2000-02-29");
        assert_eq!(civil_date(20_270), "2025-07-01");
    }

    #[test]
    fn qr_svg_draws_every_dark_module_inside_the_quiet_zone() {
        let svg = qr_svg("2@abc,def,ghi").unwrap();
        let code = qrcode::QrCode::with_error_correction_level(
            "2@abc,def,ghi".as_bytes(),
            qrcode::EcLevel::M,
        )
        .unwrap();
        let dark = code
            .to_colors()
            .iter()
            .filter(|color| **color == qrcode::Color::Dark)
            .count();
        assert_eq!(svg.matches('M').count(), dark);
        let size = code.width() + 8;
        assert!(svg.contains(&format!("viewBox=\"0 0 {size} {size}\"")));
        assert!(!svg.contains("<script"));
    }
}
