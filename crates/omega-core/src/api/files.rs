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
/// transfer. A browser session may only fetch into the node's own `DATA_DIR/downloads` (no
/// `out`), from where `GET /v1/files/{id}/content` hands the file to the browser.
pub(super) async fn fetch_file(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(message_id): Path<String>,
    JsonBody(body): JsonBody<FetchFileBody>,
) -> ApiResult {
    if body.out.is_some() {
        token_only(&auth)?;
    }
    let transfer = state
        .node
        .fetch_file(&message_id, body.out.as_deref())
        .await?;
    Ok((StatusCode::ACCEPTED, Json(transfer)).into_response())
}

/// `GET /v1/files/{message_id}/content`: a received file the node has fetched (and verified),
/// as a download (`Content-Disposition: attachment`, never rendered). A browser session gets
/// only files fetched into `DATA_DIR/downloads`.
pub(super) async fn content(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(message_id): Path<String>,
) -> ApiResult {
    let (path, name, size) = state
        .node
        .fetched_file(&message_id, matches!(auth, Auth::Token))
        .await?;
    let file = tokio::fs::File::open(&path).await.map_err(|error| {
        ApiError::new(
            StatusCode::GONE,
            "file_gone",
            format!("the fetched file cannot be read any more: {error}"),
        )
    })?;
    let stream = futures::stream::unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut buffer = vec![0u8; 64 * 1024];
        match file.read(&mut buffer).await {
            Ok(0) => None,
            Ok(n) => {
                buffer.truncate(n);
                Some((
                    Ok::<_, std::io::Error>(axum::body::Bytes::from(buffer)),
                    file,
                ))
            }
            Err(error) => Some((Err(error), file)),
        }
    });
    let disposition = format!(
        "attachment; filename=\"{}\"",
        name.replace(['"', '\\'], "_")
    );
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/octet-stream".to_owned(),
            ),
            (axum::http::header::CONTENT_DISPOSITION, disposition),
            (axum::http::header::CONTENT_LENGTH, size.to_string()),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UploadQuery {
    to: String,
    name: String,
}

/// `POST /v1/files/upload?to=NAME&name=FILE`: the body is a file (at most 1 GiB) to send to
/// `to`. It is streamed into `DATA_DIR/outgoing/` (never held in memory), then sent like
/// `POST /v1/files`. This is how the web chat sends a file the person picked.
pub(super) async fn upload(
    State(state): State<AppState>,
    axum::extract::Query(query): axum::extract::Query<UploadQuery>,
    body: axum::body::Body,
) -> ApiResult {
    use futures::StreamExt;
    use tokio::io::AsyncWriteExt;
    state.node.contact_view(&query.to).await?;
    let (dir, path) = state.node.upload_path(&query.name)?;
    let result: Result<(), ApiError> = async {
        tokio::fs::create_dir_all(&dir).await.map_err(io_error)?;
        let mut file = tokio::fs::File::create(&path).await.map_err(io_error)?;
        let mut stream = body.into_data_stream();
        let mut written: u64 = 0;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|error| {
                ApiError::new(StatusCode::BAD_REQUEST, "upload_failed", error.to_string())
            })?;
            written += chunk.len() as u64;
            if written > omega_files::MAX_FILE_SIZE {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    "files are at most 1 GiB",
                ));
            }
            file.write_all(&chunk).await.map_err(io_error)?;
        }
        if written == 0 {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_input",
                "the file is empty",
            ));
        }
        file.sync_all().await.map_err(io_error)?;
        Ok(())
    }
    .await;
    if let Err(error) = result {
        let _ = tokio::fs::remove_dir_all(&dir).await;
        return Err(error);
    }
    let transfer = state.node.send_file(&query.to, &path).await?;
    Ok((StatusCode::ACCEPTED, Json(transfer)).into_response())
}

fn io_error(error: std::io::Error) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        error.to_string(),
    )
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
