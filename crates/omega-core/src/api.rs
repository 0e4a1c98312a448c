//! The node's local API: JSON over HTTP on loopback, guarded by a bearer token that the node writes
//! to `DATA_DIR/api.json` (mode 0600), or by a browser session cookie from a one-time login link
//! (`omega open`, see [`crate::web`]). The same origin serves the web chat (`omega_web::CHAT`).
//! Documented in `docs/api.md`.
//!
//! Every request must name us in its `Host` header (DNS-rebinding defence); every answer carries
//! the web client's security headers; a cookie-authenticated request that changes state must
//! carry the session's CSRF token. Errors always have the shape
//! `{"error": {"code": "...", "message": "..."}}`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, Extension, Path, Query, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
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

use crate::kinds::{Change, Draft};
use crate::web::{self, SessionRef, WebSessions};
use crate::{NodeError, NodeHandle};

mod files;
mod groups;
mod qr;

/// Largest request body the API accepts (pictures sent to `POST /v1/contacts/scan`:
/// [`crate::scan::MAX_IMAGE_BYTES`]).
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
    token: Arc<Zeroizing<String>>,
    /// The address the API listens on: what `Host` must name, and the login links' origin.
    local: SocketAddr,
    web: Arc<Mutex<WebSessions>>,
    /// Turns true when the node stops: event streams end then, so a graceful shutdown never
    /// waits on an open browser tab or `omega chat`.
    stopping: tokio::sync::watch::Receiver<bool>,
    /// Permits for reading QR pictures (`POST /v1/contacts/scan`).
    scans: Arc<tokio::sync::Semaphore>,
}

impl AppState {
    fn web(&self) -> MutexGuard<'_, WebSessions> {
        self.web
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// How a request proved it may use the API.
#[derive(Clone, Debug)]
enum Auth {
    /// The bearer token of `api.json`.
    Token,
    /// A browser session cookie.
    Session(SessionRef),
}

/// The API router for a node whose API listens on `local`.
pub fn router(
    node: NodeHandle,
    token: Zeroizing<String>,
    local: SocketAddr,
    stopping: tokio::sync::watch::Receiver<bool>,
) -> Router {
    let state = AppState {
        node,
        token: Arc::new(token),
        local,
        web: Arc::new(Mutex::new(WebSessions::default())),
        stopping,
        scans: Arc::new(tokio::sync::Semaphore::new(qr::CONCURRENT_SCANS)),
    };
    let authed = Router::new()
        .route("/v1/id", get(id))
        .route("/v1/id/qr.svg", get(qr::my_card_svg))
        .route("/v1/stats", get(stats))
        .route("/v1/contacts", get(contacts).post(add_contact))
        // `GET` still finds a contact whose alias is "scan".
        .route(
            "/v1/contacts/scan",
            get(|state: State<AppState>| contact(state, Path("scan".to_owned())))
                .post(qr::scan_card)
                .layer(DefaultBodyLimit::max(crate::scan::MAX_IMAGE_BYTES)),
        )
        .route("/v1/contacts/{name}", get(contact))
        .route("/v1/contacts/{name}/verify", post(verify_contact))
        .route("/v1/messages", get(messages).post(send))
        .route("/v1/messages/{id}", get(message).delete(delete_message))
        .route("/v1/messages/{id}/reactions", post(react).delete(unreact))
        .route("/v1/messages/{id}/edit", post(edit))
        .route(
            "/v1/conversations/{name}/timer",
            axum::routing::put(set_timer),
        )
        .route("/v1/files", post(files::send_file))
        .route("/v1/files/{id}/fetch", post(files::fetch_file))
        .route("/v1/files/{id}/content", get(files::content))
        .route(
            "/v1/files/upload",
            post(files::upload).layer(DefaultBodyLimit::disable()),
        )
        .route("/v1/transfers", get(files::transfers))
        .route("/v1/transfers/{id}", get(files::transfer))
        .route("/v1/search", get(search))
        .route("/v1/groups", get(groups::list).post(groups::create))
        .route("/v1/groups/{group}", get(groups::show))
        .route("/v1/groups/{group}/changes", post(groups::change))
        .route(
            "/v1/groups/{group}/messages",
            get(groups::messages).post(groups::send),
        )
        .route("/v1/groups/{group}/sessions", get(groups::sessions))
        .route(
            "/v1/groups/{group}/timer",
            axum::routing::put(groups::set_timer),
        )
        .route("/v1/conversations", get(conversations))
        .route("/v1/conversations/{name}/read", post(mark_read))
        .route("/v1/events", get(events))
        .route("/v1/devices", get(devices))
        .route(
            "/v1/conversations/{name}/meta",
            get(conversation_meta).put(change_conversation_meta),
        )
        .route("/v1/devices/link", post(link_device))
        .route("/v1/devices/{device}/revoke", post(revoke_device))
        .route("/v1/web/login-codes", post(login_code))
        .route("/v1/web/session", get(web_session))
        .route("/v1/web/logout", post(logout))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_auth));
    Router::new()
        .route("/v1/health", get(|| async { Json(json!({"ok": true})) }))
        .route("/login", get(login))
        .merge(omega_web::router(omega_web::CHAT))
        .merge(authed)
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), check_host))
        .layer(middleware::map_response(secure_headers))
        .with_state(state)
}

/// Refuses requests whose `Host` is not this API's loopback address: a page on another site whose
/// name was re-pointed at 127.0.0.1 (DNS rebinding) must not reach the node.
async fn check_host(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .or_else(|| {
            request
                .uri()
                .authority()
                .map(|authority| authority.as_str())
        });
    if host.is_some_and(|host| web::host_allowed(host, state.local)) {
        return next.run(request).await;
    }
    ApiError::new(
        StatusCode::MISDIRECTED_REQUEST,
        "wrong_host",
        format!(
            "this API answers only to http://{} (the Host header names another site)",
            state.local
        ),
    )
    .into_response()
}

async fn secure_headers(mut response: Response) -> Response {
    omega_web::secure(&mut response);
    if !response.headers().contains_key(header::CACHE_CONTROL) {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Accepts the bearer token, or a live browser session cookie (plus, for anything but GET and
/// HEAD, the session's CSRF token in `X-CSRF-Token`).
async fn require_auth(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let headers = request.headers();
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let presented = value
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .unwrap_or("");
        let expected = state.token.as_bytes();
        if presented.len() == expected.len() && bool::from(presented.as_bytes().ct_eq(expected)) {
            request.extensions_mut().insert(Auth::Token);
            return next.run(request).await;
        }
        return unauthorized();
    }
    let cookie = web::session_cookie(
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok()),
    );
    let Some(session) = cookie.and_then(|id| state.web().session(id, Instant::now())) else {
        return unauthorized();
    };
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let presented = headers
            .get(web::CSRF_HEADER)
            .map_or(&[][..], HeaderValue::as_bytes);
        let expected = session.csrf.as_bytes();
        if presented.len() != expected.len() || !bool::from(presented.ct_eq(expected)) {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf_failed",
                "a browser request that changes something needs the X-CSRF-Token header from GET /v1/web/session",
            )
            .into_response();
        }
    }
    request.extensions_mut().insert(Auth::Session(session));
    next.run(request).await
}

fn unauthorized() -> Response {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "missing or wrong API token (see DATA_DIR/api.json), or no browser session (run `omega open`)",
    )
    .into_response()
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
            NodeError::UnknownGroup { .. } => (StatusCode::NOT_FOUND, "unknown_group"),
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
    let query = parsed(query)?;
    let limit = limit_in(query.limit, 1000, 100_000)?;
    Ok(Json(state.node.messages(query.with.as_deref(), limit).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchQuery {
    q: String,
    with: Option<String>,
    limit: Option<i64>,
}

/// `GET /v1/search?q=…`: messages containing every word, best match first.
async fn search(
    State(state): State<AppState>,
    query: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let query = parsed(query)?;
    let limit = limit_in(query.limit, 50, 1000)?;
    if query.q.trim().is_empty() || query.q.len() > 1000 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "q must hold 1 to 1000 bytes of words to look for",
        ));
    }
    Ok(Json(
        state
            .node
            .search(&query.q, query.with.as_deref(), limit)
            .await?,
    )
    .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendBody {
    to: String,
    text: Option<String>,
    /// The quoted message's id.
    reply_to: Option<String>,
    /// Contacts mentioned in `text` (alias, user id or name).
    #[serde(default)]
    mentions: Vec<String>,
    location: Option<LocationBody>,
    /// An `omega:` card, or the name of one of my contacts whose card to pass on.
    contact: Option<String>,
    sticker: Option<StickerBody>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LocationBody {
    latitude: f64,
    longitude: f64,
    #[serde(default)]
    label: String,
    #[serde(default)]
    accuracy_m: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StickerBody {
    pack: String,
    name: String,
    #[serde(default)]
    alt: String,
}

/// A query string as its type, or 400 `invalid_query` saying what is wrong with it.
fn parsed<T>(
    query: Result<Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, ApiError> {
    query.map(|Query(query)| query).map_err(|rejection| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            rejection.body_text(),
        )
    })
}

/// A `limit` parameter: `default` when absent, else between 1 and `max` (400 otherwise).
fn limit_in(limit: Option<i64>, default: i64, max: i64) -> Result<i64, ApiError> {
    let limit = limit.unwrap_or(default);
    if (1..=max).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            format!("limit must be between 1 and {max}"),
        ))
    }
}

fn invalid_input(message: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", message)
}

/// The item a send body describes: exactly one of text (with mentions), location, contact card
/// or sticker.
async fn draft_of(
    state: &AppState,
    text: Option<String>,
    mentions: Vec<String>,
    location: Option<LocationBody>,
    contact: Option<String>,
    sticker: Option<StickerBody>,
) -> Result<Draft, ApiError> {
    let given = [
        text.is_some(),
        location.is_some(),
        contact.is_some(),
        sticker.is_some(),
    ]
    .iter()
    .filter(|given| **given)
    .count();
    if given != 1 {
        return Err(invalid_input(
            "give exactly one of text, location, contact or sticker",
        ));
    }
    if !mentions.is_empty() && text.is_none() {
        return Err(invalid_input("mentions go with a text"));
    }
    Ok(if let Some(text) = text {
        Draft::Text {
            body: text,
            mentions: state.node.resolve(&mentions).await?,
        }
    } else if let Some(location) = location {
        Draft::Location {
            latitude: location.latitude,
            longitude: location.longitude,
            label: location.label,
            accuracy_m: location.accuracy_m,
        }
    } else if let Some(contact) = contact {
        let card = if contact.trim_start().starts_with("omega:") {
            contact
        } else {
            state.node.card_of(&contact).await?
        };
        Draft::Contact { card }
    } else if let Some(sticker) = sticker {
        Draft::Sticker {
            pack: sticker.pack,
            name: sticker.name,
            alt: sticker.alt,
        }
    } else {
        return Err(invalid_input("nothing to send"));
    })
}

async fn send(State(state): State<AppState>, JsonBody(body): JsonBody<SendBody>) -> ApiResult {
    let draft = draft_of(
        &state,
        body.text,
        body.mentions,
        body.location,
        body.contact,
        body.sticker,
    )
    .await?;
    let message = state
        .node
        .send(&body.to, draft, body.reply_to.as_deref())
        .await?;
    Ok((StatusCode::ACCEPTED, Json(message)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReactBody {
    emoji: String,
}

/// `POST /v1/messages/{id}/reactions`: my reaction (replacing any earlier one of mine).
async fn react(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ReactBody>,
) -> ApiResult {
    let change = Change::React {
        emoji: Some(body.emoji),
    };
    Ok(Json(state.node.change(&id, change).await?).into_response())
}

/// `DELETE /v1/messages/{id}/reactions`: takes my reaction back.
async fn unreact(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let change = Change::React { emoji: None };
    Ok(Json(state.node.change(&id, change).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EditBody {
    text: String,
    #[serde(default)]
    mentions: Vec<String>,
}

/// `POST /v1/messages/{id}/edit`: replaces the text of one of my text messages.
async fn edit(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<EditBody>,
) -> ApiResult {
    let change = Change::Edit {
        body: body.text,
        mentions: state.node.resolve(&body.mentions).await?,
    };
    Ok(Json(state.node.change(&id, change).await?).into_response())
}

/// `DELETE /v1/messages/{id}`: deletes one of my messages for everyone.
async fn delete_message(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
    Ok(Json(state.node.change(&id, Change::Delete).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TimerBody {
    /// 0 turns disappearing messages off.
    seconds: u64,
}

/// `PUT /v1/conversations/{name}/timer`: sets the conversation's disappearing timer for both
/// sides; answers the timer line added to the conversation.
async fn set_timer(
    State(state): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<TimerBody>,
) -> ApiResult {
    let draft = Draft::Timer {
        expires_in_ms: body.seconds.saturating_mul(1000),
    };
    let message = state.node.send(&name, draft, None).await?;
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
    let query = parsed(query)?;
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

/// Linking and revoking devices hand out or take away the whole identity: only the API token
/// (the CLI on this machine) may, never a browser session.
fn token_only(auth: &Auth) -> Result<(), ApiError> {
    match auth {
        Auth::Token => Ok(()),
        Auth::Session(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "devices are linked and revoked from the command line (omega device)",
        )),
    }
}

async fn conversation_meta(State(state): State<AppState>, Path(name): Path<String>) -> ApiResult {
    Ok(Json(state.node.conversation_meta(&name, None).await?).into_response())
}

/// One field at a time: `{"archived": bool}`, `{"muted": bool}` or `{"alias": "name"}` (an empty
/// alias clears it).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MetaBody {
    archived: Option<bool>,
    muted: Option<bool>,
    alias: Option<String>,
}

async fn change_conversation_meta(
    State(state): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<MetaBody>,
) -> ApiResult {
    use crate::metadata::MetaChange;
    let change = match (body.archived, body.muted, body.alias) {
        (Some(on), None, None) => MetaChange::Archived(on),
        (None, Some(on), None) => MetaChange::Muted(on),
        (None, None, Some(alias)) => {
            MetaChange::Alias((!alias.trim().is_empty()).then(|| alias.trim().to_owned()))
        }
        _ => return Err(invalid_input("give exactly one of archived, muted, alias")),
    };
    Ok(Json(state.node.conversation_meta(&name, Some(change)).await?).into_response())
}

async fn devices(State(state): State<AppState>) -> ApiResult {
    Ok(Json(state.node.devices().await?).into_response())
}

async fn link_device(State(state): State<AppState>, Extension(auth): Extension<Auth>) -> ApiResult {
    token_only(&auth)?;
    Ok(Json(state.node.link_device().await?).into_response())
}

async fn revoke_device(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(device): Path<String>,
) -> ApiResult {
    token_only(&auth)?;
    Ok(Json(state.node.revoke_device(&device).await?).into_response())
}

async fn mark_read(State(state): State<AppState>, Path(name): Path<String>) -> ApiResult {
    let marked = state.node.mark_read(&name).await?;
    Ok(Json(json!({"marked": marked})).into_response())
}

async fn events(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    // A browser's stream stops at the first event after its session ended (logout, idle expiry).
    let session = match auth {
        Auth::Session(session) => Some(session.key),
        Auth::Token => None,
    };
    let web = state.web.clone();
    let stream = BroadcastStream::new(state.node.subscribe())
        .take_while(move |_| {
            session.is_none_or(|key| {
                web.lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .is_live(&key, Instant::now())
            })
        })
        .filter_map(|event| {
            let event = event.ok()?;
            let data = serde_json::to_string(&event).ok()?;
            Some(Ok(Event::default().data(data)))
        });
    let mut stopping = state.stopping.clone();
    let stopped = async move {
        let _ = stopping.wait_for(|stopping| *stopping).await;
    };
    Sse::new(futures::StreamExt::take_until(stream, stopped)).keep_alive(KeepAlive::default())
}

async fn conversations(State(state): State<AppState>) -> ApiResult {
    Ok(Json(state.node.conversations().await?).into_response())
}

// ---- the web chat's login ----------------------------------------------------------------------

/// `POST /v1/web/login-codes`: a one-time login link for a browser. Only the API token may ask
/// (a browser session cannot mint more sessions).
async fn login_code(State(state): State<AppState>, Extension(auth): Extension<Auth>) -> ApiResult {
    if !matches!(auth, Auth::Token) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "login codes are given to the API token only (run `omega open`)",
        ));
    }
    let code = state.web().issue_code(Instant::now());
    let url = format!("http://{}/login?code={}", state.local, code.as_str());
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "code": code.as_str(),
            "url": url,
            "expires_in_s": web::CODE_TTL.as_secs(),
        })),
    )
        .into_response())
}

#[derive(Deserialize)]
struct LoginQuery {
    code: Option<String>,
}

/// `GET /login?code=…`: spends a login code, sets the session cookie and sends the browser to the
/// chat. A code that does not work gets a page saying to run `omega open` again.
async fn login(
    State(state): State<AppState>,
    method: Method,
    headers: axum::http::HeaderMap,
    query: Result<Query<LoginQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let page = |status: StatusCode, reason: &str| {
        (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            web::login_error_page(reason),
        )
            .into_response()
    };
    let code = match query {
        Ok(Query(LoginQuery { code: Some(code) })) if !code.is_empty() => code,
        Ok(_) => return page(StatusCode::BAD_REQUEST, "The link has no login code in it."),
        Err(_) => return page(StatusCode::BAD_REQUEST, "The link is malformed."),
    };
    // Link previews probe with HEAD; only a real visit spends the code.
    if method == Method::HEAD {
        return StatusCode::OK.into_response();
    }
    let now = Instant::now();
    let redeemed = state.web().redeem(&code, now);
    let to_chat = |cookie: Option<String>| {
        let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
        if let Some(cookie) = cookie.and_then(|cookie| HeaderValue::try_from(cookie).ok()) {
            response.headers_mut().insert(header::SET_COOKIE, cookie);
        }
        response
    };
    if let Some(session) = redeemed {
        return to_chat(Some(web::set_cookie(&session.id)));
    }
    // Back-button visits of a spent link by someone already logged in just go to the chat.
    let cookie = web::session_cookie(
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok()),
    );
    if cookie.is_some_and(|id| state.web().session(id, now).is_some()) {
        return to_chat(None);
    }
    page(
        StatusCode::UNAUTHORIZED,
        "The login code is wrong, already used or expired.",
    )
}

/// `GET /v1/web/session`: who is logged in, and the CSRF token the page sends back on changes.
async fn web_session(State(state): State<AppState>, Extension(auth): Extension<Auth>) -> ApiResult {
    let info = state.node.info();
    let csrf = match &auth {
        Auth::Session(session) => Some(session.csrf.as_str().to_owned()),
        Auth::Token => None,
    };
    Ok(Json(json!({"csrf": csrf, "user_id": info.user_id, "name": info.name})).into_response())
}

/// `POST /v1/web/logout`: ends the browser session and clears its cookie.
async fn logout(State(state): State<AppState>, Extension(auth): Extension<Auth>) -> ApiResult {
    let Auth::Session(session) = auth else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "no_session",
            "only a browser session can log out; the API token is valid while the node runs",
        ));
    };
    state.web().end(&session.key);
    let mut response = Json(json!({"ok": true})).into_response();
    if let Ok(cookie) = HeaderValue::try_from(web::clear_cookie()) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}
