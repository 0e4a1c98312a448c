//! The API's group endpoints: list, create, show, change the membership, send, read, and the
//! Megolm sessions a device holds.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;

use super::{ApiResult, AppState, JsonBody, LocationBody, StickerBody, draft_of, limit_in, parsed};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateBody {
    name: String,
    /// Contacts (alias, name or user id); I am the owner and am not listed.
    #[serde(default)]
    members: Vec<String>,
}

/// `GET /v1/groups`: every group this device knows.
pub(super) async fn list(State(state): State<AppState>) -> ApiResult {
    Ok(Json(state.node.groups().await?).into_response())
}

/// `POST /v1/groups`: a new group of my contacts.
pub(super) async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CreateBody>,
) -> ApiResult {
    let group = state.node.group_create(&body.name, &body.members).await?;
    Ok((StatusCode::CREATED, Json(group)).into_response())
}

/// `GET /v1/groups/{group}`: one group (id, id prefix or name).
pub(super) async fn show(State(state): State<AppState>, Path(group): Path<String>) -> ApiResult {
    Ok(Json(state.node.group(&group).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ChangeBody {
    /// `add`, `remove`, `promote` (any role change), `leave` or `rename`.
    action: String,
    /// The member concerned (for `leave`: an optional successor).
    member: Option<String>,
    /// `member`, `admin` or `owner` (add: default member; promote: default admin).
    role: Option<String>,
    /// The new name (rename).
    name: Option<String>,
}

/// `POST /v1/groups/{group}/changes`: a membership operation, signed with my user key.
pub(super) async fn change(
    State(state): State<AppState>,
    Path(group): Path<String>,
    JsonBody(body): JsonBody<ChangeBody>,
) -> ApiResult {
    let view = state
        .node
        .group_change_named(
            &group,
            &body.action,
            body.member.as_deref(),
            body.role.as_deref(),
            body.name.as_deref(),
        )
        .await?;
    Ok(Json(view).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SendBody {
    text: Option<String>,
    #[serde(default)]
    mentions: Vec<String>,
    location: Option<LocationBody>,
    contact: Option<String>,
    sticker: Option<StickerBody>,
}

/// `POST /v1/groups/{group}/messages`: sends an item to the group.
pub(super) async fn send(
    State(state): State<AppState>,
    Path(group): Path<String>,
    JsonBody(body): JsonBody<SendBody>,
) -> ApiResult {
    let draft = draft_of(
        &state,
        body.text,
        body.mentions,
        body.location,
        body.contact,
        body.sticker,
    )
    .await?;
    let message = state.node.group_send(&group, draft).await?;
    Ok((StatusCode::ACCEPTED, Json(message)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MessagesQuery {
    limit: Option<i64>,
}

/// `GET /v1/groups/{group}/messages?limit=`: the group's last messages, oldest first.
pub(super) async fn messages(
    State(state): State<AppState>,
    Path(group): Path<String>,
    query: Result<Query<MessagesQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let query = parsed(query)?;
    let limit = limit_in(query.limit, 1000, 100_000)?;
    Ok(Json(state.node.group_messages(&group, limit).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TimerBody {
    /// 0 turns disappearing messages off.
    seconds: u64,
}

/// `PUT /v1/groups/{group}/timer`: the group's disappearing-message timer, for every member.
pub(super) async fn set_timer(
    State(state): State<AppState>,
    Path(group): Path<String>,
    JsonBody(body): JsonBody<TimerBody>,
) -> ApiResult {
    let draft = crate::kinds::Draft::Timer {
        expires_in_ms: body.seconds.saturating_mul(1000),
    };
    let message = state.node.group_send(&group, draft).await?;
    Ok((StatusCode::ACCEPTED, Json(message)).into_response())
}

/// `GET /v1/groups/{group}/sessions`: my outbound Megolm session and those shared with me.
pub(super) async fn sessions(
    State(state): State<AppState>,
    Path(group): Path<String>,
) -> ApiResult {
    Ok(Json(state.node.group_sessions(&group).await?).into_response())
}
