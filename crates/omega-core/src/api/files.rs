//! The file endpoints: `POST /v1/files` (send a file from a local path), `POST
//! /v1/files/{message_id}/fetch` (fetch a received file to a local path) and `GET
//! /v1/transfers/{id}` (progress). Reading and writing local paths is for the owner's API token
//! only: a browser session is refused, so a page in the web chat cannot read or write files on
//! disk.

use std::path::PathBuf;

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;

use super::{ApiError, ApiResult, AppState, Auth, JsonBody};

fn token_only(auth: &Auth) -> Result<(), ApiError> {
    if matches!(auth, Auth::Token) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "files on disk are sent and fetched with the API token only (omega send-file / fetch-file)",
        ))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SendFileBody {
    to: String,
    /// Absolute path of the file to send.
    path: PathBuf,
}

/// `POST /v1/files`: checks the file and starts sending it; answers 202 with the transfer.
pub(super) async fn send_file(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    JsonBody(body): JsonBody<SendFileBody>,
) -> ApiResult {
    token_only(&auth)?;
    let transfer = state.node.send_file(&body.to, &body.path).await?;
    Ok((StatusCode::ACCEPTED, Json(transfer)).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct FetchFileBody {
    /// Absolute path: a directory, or a new file's name. Default `DATA_DIR/downloads`.
    #[serde(default)]
    out: Option<PathBuf>,
}

/// `POST /v1/files/{message_id}/fetch`: starts (or resumes) a fetch; answers 202 with the
/// transfer.
pub(super) async fn fetch_file(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(message_id): Path<String>,
    JsonBody(body): JsonBody<FetchFileBody>,
) -> ApiResult {
    token_only(&auth)?;
    let transfer = state
        .node
        .fetch_file(&message_id, body.out.as_deref())
        .await?;
    Ok((StatusCode::ACCEPTED, Json(transfer)).into_response())
}

/// `GET /v1/transfers/{id}`: a send or fetch started since the node started.
pub(super) async fn transfer(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
    match state.node.transfer(&id) {
        Some(transfer) => Ok(Json(transfer).into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_transfer",
            format!("no transfer {id} (transfers are forgotten when the node stops)"),
        )),
    }
}

/// `GET /v1/transfers`: every send and fetch since the node started, oldest first.
pub(super) async fn transfers(State(state): State<AppState>) -> ApiResult {
    Ok(Json(state.node.transfers()).into_response())
}
