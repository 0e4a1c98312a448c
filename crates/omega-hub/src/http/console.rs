//! Handlers the business console uses beyond the inbox's: the filtered conversation list, one
//! conversation, assignment, the dashboard's statistics and the session's QR code image. The
//! console's own files (`/console/`) are served by `omega_web` (see [`super::router`]).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::routes::ErrorBody;
use super::{Authed, Body, Params};
use crate::console::{ConversationQuery, ConversationView, InboxStats, QrImage};
use crate::error::HubError;
use crate::hub::Hub;

pub(super) fn api(router: OpenApiRouter<Hub>) -> OpenApiRouter<Hub> {
    router
        .routes(routes!(conversations))
        .routes(routes!(conversation))
        .routes(routes!(assign))
        .routes(routes!(inbox_stats))
        .routes(routes!(session_qr))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct ConversationsParams {
    /// `me`, `none` (unassigned), `any` (default) or a member id.
    assignee: Option<String>,
    /// Only contacts whose lead scores at least this (0–100); unscored ones are left out.
    min_score: Option<i64>,
    /// Only this channel's conversations.
    channel: Option<String>,
    /// At most this many (1–1000, default 500).
    limit: Option<i64>,
}

/// Conversations of my tenant, most recent first, with the contact's name, lead score, assignee
/// and the newest message (personal data: audited).
#[utoipa::path(get, path = "/api/v1/conversations", tag = "inbox", security(("bearer" = [])), params(ConversationsParams),
    responses((status = 200, body = Vec<ConversationView>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn conversations(
    State(hub): State<Hub>,
    Authed(principal): Authed,
    Params(params): Params<ConversationsParams>,
) -> Result<Json<Vec<ConversationView>>, HubError> {
    let query = ConversationQuery {
        assignee: params.assignee,
        min_score: params.min_score,
        channel: params.channel,
        limit: params.limit,
    };
    Ok(Json(hub.conversation_list(&principal, query).await?))
}

/// One conversation (personal data: audited).
#[utoipa::path(get, path = "/api/v1/conversations/{id}", tag = "inbox", security(("bearer" = [])),
    params(("id" = String, Path, description = "conversation id")),
    responses((status = 200, body = ConversationView), (status = 404, body = ErrorBody)))]
async fn conversation(
    State(hub): State<Hub>,
    Authed(principal): Authed,
    Path(id): Path<String>,
) -> Result<Json<ConversationView>, HubError> {
    Ok(Json(hub.conversation_view(&principal, &id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AssigneeRequest {
    /// A member of my tenant, `"me"`, or null for nobody.
    member_id: Option<String>,
}

/// Hand a conversation to a member (or to nobody); audited, and published to consoles as
/// `conversation.assigned`.
#[utoipa::path(put, path = "/api/v1/conversations/{id}/assignee", tag = "inbox", security(("bearer" = [])),
    params(("id" = String, Path, description = "conversation id")), request_body = AssigneeRequest,
    responses((status = 200, body = ConversationView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn assign(
    State(hub): State<Hub>,
    Authed(principal): Authed,
    Path(id): Path<String>,
    Body(body): Body<AssigneeRequest>,
) -> Result<Json<ConversationView>, HubError> {
    let member_id = match body.member_id.as_deref() {
        Some("me") => Some(principal.member()?.0.to_owned()),
        other => other.map(str::to_owned),
    };
    Ok(Json(
        hub.assign_conversation(&principal, &id, member_id.as_deref())
            .await?,
    ))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct StatsParams {
    /// How many days back, today included (1–90, default 14).
    days: Option<i64>,
    /// Where days start: minutes east of UTC (-840–840, default 0). A browser sends
    /// `-new Date().getTimezoneOffset()`.
    tz_offset_minutes: Option<i64>,
}

/// The dashboard: messages per channel per day (in and out) and the lead score histogram.
#[utoipa::path(get, path = "/api/v1/stats/inbox", tag = "inbox", security(("bearer" = [])), params(StatsParams),
    responses((status = 200, body = InboxStats), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn inbox_stats(
    State(hub): State<Hub>,
    Authed(principal): Authed,
    Params(params): Params<StatsParams>,
) -> Result<Json<InboxStats>, HubError> {
    Ok(Json(
        hub.inbox_stats(
            &principal,
            params.days.unwrap_or(14),
            params.tz_offset_minutes.unwrap_or(0),
            crate::store::now_ms(),
        )
        .await?,
    ))
}

/// The QR code to scan while a WhatsApp session waits for one: `image/svg+xml` rendered from the
/// source's QR text, or the `image/png` the source rendered when it gave only that.
#[utoipa::path(get, path = "/api/v1/channels/{id}/session/qr", tag = "inbox", security(("bearer" = [])),
    params(("id" = String, Path, description = "channel id")),
    responses((status = 200, description = "image/svg+xml or image/png"), (status = 404, body = ErrorBody)))]
async fn session_qr(
    State(hub): State<Hub>,
    Authed(principal): Authed,
    Path(id): Path<String>,
) -> Result<Response, HubError> {
    Ok(match hub.session_qr(&principal, &id).await? {
        QrImage::Svg(svg) => ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response(),
        QrImage::Png(png) => ([(header::CONTENT_TYPE, "image/png")], png).into_response(),
    })
}
