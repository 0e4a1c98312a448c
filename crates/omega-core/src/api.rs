//! The node's local API: JSON over HTTP on loopback, guarded by a bearer token that the node writes
//! to `DATA_DIR/api.json` (mode 0600). Documented in `docs/api.md`.
//!
//! Errors always have the shape `{"error": {"code": "...", "message": "..."}}`.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::Stream;
use omega_store::Status;
use rand::RngCore;
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use zeroize::Zeroizing;

use crate::{NodeError, NodeHandle};

/// Largest request body the API accepts.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A fresh random API token (hex).
pub fn new_token() -> Zeroizing<String> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    Zeroizing::new(hex::encode(bytes))
}

#[derive(Clone)]
struct AppState {
    node: NodeHandle,
    token: std::sync::Arc<Zeroizing<String>>,
}

/// The API router for a node.
pub fn router(node: NodeHandle, token: Zeroizing<String>) -> Router {
    let state = AppState {
        node,
        token: std::sync::Arc::new(token),
    };
    let authed = Router::new()
        .route("/v1/id", get(id))
        .route("/v1/stats", get(stats))
        .route("/v1/contacts", get(contacts).post(add_contact))
        .route("/v1/contacts/{name}", get(contact))
        .route("/v1/contacts/{name}/verify", post(verify_contact))
        .route("/v1/messages", get(messages).post(send))
        .route("/v1/messages/{id}", get(message))
        .route("/v1/conversations/{name}/read", post(mark_read))
        .route("/v1/events", get(events))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/v1/health", get(|| async { Json(json!({"ok": true})) }))
        .merge(authed)
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or("");
    let expected = state.token.as_bytes();
    if presented.len() == expected.len() && bool::from(presented.as_bytes().ct_eq(expected)) {
        next.run(request).await
    } else {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong API token (see DATA_DIR/api.json)",
        )
        .into_response()
    }
}

/// The one error shape of the API.
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"error": {"code": self.code, "message": self.message}})),
        )
            .into_response()
    }
}

impl From<NodeError> for ApiError {
    fn from(error: NodeError) -> Self {
        let (status, code) = match &error {
            NodeError::UnknownContact { .. } => (StatusCode::NOT_FOUND, "unknown_contact"),
            NodeError::UnknownMessage { .. } => (StatusCode::NOT_FOUND, "unknown_message"),
            NodeError::InvalidCard(_) => (StatusCode::BAD_REQUEST, "invalid_card"),
            NodeError::OwnCard => (StatusCode::BAD_REQUEST, "own_card"),
            NodeError::InvalidInput(_) => (StatusCode::BAD_REQUEST, "invalid_input"),
            NodeError::SafetyNumberMismatch { .. } => {
                (StatusCode::CONFLICT, "safety_number_mismatch")
            }
            NodeError::Store(omega_store::StoreError::AliasTaken { .. }) => {
                (StatusCode::CONFLICT, "alias_taken")
            }
            NodeError::ShuttingDown => (StatusCode::SERVICE_UNAVAILABLE, "shutting_down"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        ApiError::new(status, code, error.to_string())
    }
}

/// JSON body extractor whose rejections use the API's error shape.
struct JsonBody<T>(T);

impl<S, T> axum::extract::FromRequest<S> for JsonBody<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(ApiError::new(
                rejection.status(),
                "invalid_body",
                rejection.body_text(),
            )),
        }
    }
}

type ApiResult = Result<Response, ApiError>;

async fn id(State(state): State<AppState>) -> ApiResult {
    Ok(Json(state.node.info()).into_response())
}

async fn stats(State(state): State<AppState>) -> ApiResult {
    Ok(Json(state.node.stats()).into_response())
}

async fn contacts(State(state): State<AppState>) -> ApiResult {
    Ok(Json(state.node.contacts().await?).into_response())
}

async fn contact(State(state): State<AppState>, Path(name): Path<String>) -> ApiResult {
    Ok(Json(state.node.contact_view(&name).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddContact {
    card: String,
    alias: Option<String>,
}

async fn add_contact(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<AddContact>,
) -> ApiResult {
    let view = state
        .node
        .add_contact(&body.card, body.alias.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyContact {
    safety_number: Option<String>,
}

async fn verify_contact(
    State(state): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<VerifyContact>,
) -> ApiResult {
    let view = state
        .node
        .verify_contact(&name, body.safety_number.as_deref())
        .await?;
    Ok(Json(view).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessagesQuery {
    with: Option<String>,
    limit: Option<i64>,
}

async fn messages(
    State(state): State<AppState>,
    query: Result<Query<MessagesQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let Query(query) = query.map_err(|rejection| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            rejection.body_text(),
        )
    })?;
    let limit = query.limit.unwrap_or(1000);
    if !(1..=100_000).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "limit must be between 1 and 100000",
        ));
    }
    Ok(Json(state.node.messages(query.with.as_deref(), limit).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendBody {
    to: String,
    text: String,
}

async fn send(State(state): State<AppState>, JsonBody(body): JsonBody<SendBody>) -> ApiResult {
    let message = state.node.send_text(&body.to, &body.text).await?;
    Ok((StatusCode::ACCEPTED, Json(message)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageQuery {
    wait: Option<String>,
    timeout_ms: Option<u64>,
}

async fn message(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<MessageQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let Query(query) = query.map_err(|rejection| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            rejection.body_text(),
        )
    })?;
    let Some(wait) = query.wait else {
        return Ok(Json(state.node.message(&id).await?).into_response());
    };
    let wanted = Status::parse(&wait)
        .filter(|status| *status != Status::Failed)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                "wait must be one of queued, sent, delivered, read",
            )
        })?;
    let timeout = Duration::from_millis(query.timeout_ms.unwrap_or(30_000).min(300_000));
    let message = state.node.wait_for_status(&id, wanted, timeout).await?;
    Ok(Json(message).into_response())
}

async fn mark_read(State(state): State<AppState>, Path(name): Path<String>) -> ApiResult {
    let marked = state.node.mark_read(&name).await?;
    Ok(Json(json!({"marked": marked})).into_response())
}

async fn events(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream = BroadcastStream::new(state.node.subscribe()).filter_map(|event| {
        let event = event.ok()?;
        let data = serde_json::to_string(&event).ok()?;
        Some(Ok(Event::default().data(data)))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
