//! Small local fakes of the HTTP APIs of the four messaging sources the business hub calls
//! (WPPConnect Server, Evolution API, WhatsApp Cloud API, Telegram Bot API), so hub tests exercise
//! outbound sends, retries and session recovery over real HTTP on 127.0.0.1.
//!
//! A [`FakeSource`] serves one account of one source ([`FakeKind`]). It accepts the request
//! shapes of `fixtures/connectors/*/rest_*.json` and answers with their response and error
//! shapes; it records every request ([`FakeSource::calls`]) and every delivered message
//! ([`FakeSource::sent`]). Tests steer it: inject failures ([`FakeSource::fail_next_sends`],
//! [`FakeSource::deliver_but_timeout_next`]), slow it down ([`FakeSource::set_delay`]), drop or
//! log out the WhatsApp session ([`FakeSource::set_session`]) and scan its QR code
//! ([`FakeSource::scan_qr`]).
//!
//! It deliberately does not do media, templates, group management or webhooks *to* the hub
//! (tests post those themselves from the fixtures). Failures injected as 502, 503 or 504 answer
//! with an nginx-style HTML page, as a reverse proxy in front of the source would; other injected
//! statuses answer with the source's own JSON error shape.
//!
//! Endpoints. WPPConnect and Evolution check the route (unknown: 404), then the credentials (401),
//! then the session or instance name (404); the Cloud API checks its token first; Telegram's token
//! is in the path (wrong: 401).
//!
//! | source | endpoints |
//! |---|---|
//! | WPPConnect | `POST /api/{session}/send-message` (201; session not connected: 404 `Disconnected`; phone not digits: 400), `GET …/status-session`, `POST …/start-session` (reconnects a dropped session; with a QR pending answers `QRCODE`, or `qrcode` when `waitQrCode`), `POST …/logout-session` (new QR), `POST /api/{session}/THISISMYSECURETOKEN/generate-token` |
//! | Evolution | `POST /message/sendText/{instance}` (201; not connected: 400 `Connection Closed`), `GET /instance/connectionState/{instance}`, `GET /instance/connect/{instance}` (reconnects, or offers the QR), `DELETE /instance/logout/{instance}` (new QR), `POST /webhook/set/{instance}` |
//! | Cloud API | `POST /vNN.N/{phone_number_id}/messages`, type `text` only (200; bad body: 400 code 100; other phone number id: 400 code 100 subcode 33) |
//! | Telegram | `POST /bot{token}/sendMessage` (200; empty text: 400), `POST /bot{token}/setWebhook` |
//!
//! Malformed JSON bodies are answered with 400 in the source's shape.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use omega_testkit::fakes::{FakeKind, FakeSource};
//!
//! let fake = FakeSource::start(FakeKind::Telegram { bot_token: "123:FAKE".to_owned() }).await;
//! fake.fail_next_sends(1, 429);
//! // Point the hub at `fake.base_url()`, let it send, then look at what arrived:
//! assert!(fake.base_url().starts_with("http://127.0.0.1:"));
//! assert!(fake.sent().is_empty());
//! fake.stop().await;
//! # }
//! ```

mod cloud_api;
mod evolution;
mod telegram;
mod wppconnect;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State as Extract;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::task::JoinHandle;

/// Which source a [`FakeSource`] imitates, with the one account it serves.
#[derive(Clone, Debug)]
pub enum FakeKind {
    /// WPPConnect Server: `Authorization: Bearer {token}` on `/api/{session}/…`.
    WppConnect {
        /// Session name in the paths.
        session: String,
        /// Bearer token (what `generate-token` hands out).
        token: String,
    },
    /// Evolution API: an `apikey` header on `/message/…/{instance}` and `/instance/…/{instance}`.
    Evolution {
        /// Instance name in the paths.
        instance: String,
        /// Value the `apikey` header must carry.
        apikey: String,
    },
    /// WhatsApp Cloud API: `POST /vNN.N/{phone_number_id}/messages` with a bearer token.
    CloudApi {
        /// The business phone number id in the paths.
        phone_number_id: String,
        /// Bearer token (a system user access token).
        access_token: String,
    },
    /// Telegram Bot API: `POST /bot{token}/sendMessage`.
    Telegram {
        /// The bot token in the paths.
        bot_token: String,
    },
}

/// State of the WhatsApp session behind a WPPConnect session or an Evolution instance (the other
/// sources have no session and ignore it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FakeSession {
    /// Logged in: sends are delivered.
    Connected,
    /// The session dropped (server restart, phone offline) but is still paired: a start-session or
    /// connect call restores it, unless [`FakeSource::set_reconnect_succeeds`] said otherwise.
    NotLogged,
    /// Logged out: only scanning the offered QR code ([`FakeSource::scan_qr`]) restores it.
    Qr,
}

/// One message the fake delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentMessage {
    /// Recipient as the caller sent it (`phone`, `number`, `to` or `chat_id`), as text.
    pub to: String,
    /// Text as the caller sent it.
    pub text: String,
    /// Id the fake answered with (or would have, for a delivery answered with 504).
    pub provider_message_id: String,
}

/// One request the fake answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// HTTP method, upper case.
    pub method: String,
    /// Path without the query; a Telegram bot token is replaced by `***`.
    pub path: String,
    /// Status of the answer.
    pub status: u16,
}

/// A running fake source on 127.0.0.1; stops when dropped.
pub struct FakeSource {
    shared: Arc<Shared>,
    address: SocketAddr,
    task: JoinHandle<()>,
}

impl FakeSource {
    /// Binds 127.0.0.1 on a free port and serves `kind` in a tokio task. The session starts
    /// [`FakeSession::Connected`].
    ///
    /// # Panics
    /// When the port cannot be bound: it is test code.
    pub async fn start(kind: FakeKind) -> FakeSource {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a fake source on 127.0.0.1");
        let address = listener
            .local_addr()
            .expect("local address of the fake source");
        let shared = Arc::new(Shared {
            kind,
            state: Mutex::new(State::default()),
        });
        let router = Router::new()
            .fallback(answer)
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            // `axum::serve` retries accept errors and so only ends when aborted.
            let _ = axum::serve(listener, router).await;
        });
        FakeSource {
            shared,
            address,
            task,
        }
    }

    /// Base URL to put in the hub's channel credentials: `http://127.0.0.1:PORT` for WPPConnect,
    /// Evolution and Telegram, `http://127.0.0.1:PORT/v23.0` for the Cloud API (which accepts any
    /// `/vNN.N` prefix).
    pub fn base_url(&self) -> String {
        match self.shared.kind {
            FakeKind::CloudApi { .. } => format!("http://{}/v23.0", self.address),
            _ => format!("http://{}", self.address),
        }
    }

    /// The next `n` send calls (after authentication) answer `status` — 500, 429, 504… — without
    /// delivering anything. A Telegram 429 carries `parameters.retry_after = 1`; 502, 503 and 504
    /// answer a proxy's HTML page.
    ///
    /// # Panics
    /// When `status` is not an HTTP status (100 to 999).
    pub fn fail_next_sends(&self, n: usize, status: u16) {
        assert!(
            StatusCode::from_u16(status).is_ok(),
            "fail_next_sends: {status} is not an HTTP status"
        );
        let mut state = self.shared.lock();
        state
            .injected
            .extend(std::iter::repeat_n(Injected::Fail(status), n));
    }

    /// The next `n` send calls are delivered (recorded in [`FakeSource::sent`]) but answered with
    /// 504: only a retry discipline on the caller's side avoids a duplicate. Injected outcomes
    /// queue up in the order they were asked for.
    pub fn deliver_but_timeout_next(&self, n: usize) {
        let mut state = self.shared.lock();
        state
            .injected
            .extend(std::iter::repeat_n(Injected::DeliverButTimeout, n));
    }

    /// Delays every answer by `delay`, to exercise caller timeouts. The request takes effect at
    /// once (a send is delivered); only the answer waits.
    pub fn set_delay(&self, delay: Duration) {
        self.shared.lock().delay = delay;
    }

    /// Messages delivered so far, oldest first.
    pub fn sent(&self) -> Vec<SentMessage> {
        self.shared.lock().sent.clone()
    }

    /// Requests answered so far, oldest first.
    pub fn calls(&self) -> Vec<Call> {
        self.shared.lock().calls.clone()
    }

    /// Puts the session in `state`; entering [`FakeSession::Qr`] offers a new QR code.
    pub fn set_session(&self, state: FakeSession) {
        self.shared.lock().enter(state);
    }

    /// The current session state.
    pub fn session(&self) -> FakeSession {
        self.shared.lock().session.clone()
    }

    /// When false (default true), start-session (WPPConnect) or connect (Evolution) on a
    /// [`FakeSession::NotLogged`] session does not reconnect it: it stays `CLOSED` / `close`.
    pub fn set_reconnect_succeeds(&self, ok: bool) {
        self.shared.lock().reconnect_succeeds = ok;
    }

    /// The QR code currently offered (`2@FAKE-QR-1`, then `2@FAKE-QR-2` after the next logout…),
    /// or `None` outside [`FakeSession::Qr`].
    pub fn qr_code(&self) -> Option<String> {
        self.shared.lock().qr_code()
    }

    /// Simulates the human scanning the current QR code: a session in [`FakeSession::Qr`] becomes
    /// [`FakeSession::Connected`]. Does nothing in any other state (no QR is offered).
    pub fn scan_qr(&self) {
        let mut state = self.shared.lock();
        if state.session == FakeSession::Qr {
            state.enter(FakeSession::Connected);
        }
    }

    /// Number of calls whose path ends with `path_suffix` (`"send-message"`, `"logout-session"`…).
    pub fn count(&self, path_suffix: &str) -> usize {
        let state = self.shared.lock();
        state
            .calls
            .iter()
            .filter(|call| call.path.ends_with(path_suffix))
            .count()
    }

    /// The webhook URL last registered with the source (WPPConnect start-session `webhook`,
    /// Evolution `webhook/set`, Telegram `setWebhook`), if any.
    pub fn webhook_url(&self) -> Option<String> {
        self.shared.lock().webhook_url.clone()
    }

    /// Stops serving: the port is closed and idle keep-alive connections are closed (a request
    /// already in progress still gets its answer). Dropping the fake does the same without
    /// waiting.
    pub async fn stop(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for FakeSource {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the server task and the [`FakeSource`] handle share.
struct Shared {
    kind: FakeKind,
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock leaves consistent state: no invariant
        // spans more than one field write.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// An outcome queued for the next send calls.
#[derive(Clone, Copy, Debug)]
enum Injected {
    Fail(u16),
    DeliverButTimeout,
}

/// The mutable state of one fake source.
struct State {
    session: FakeSession,
    reconnect_succeeds: bool,
    /// QR codes offered so far; the current one is number `n_qr_codes`.
    n_qr_codes: u64,
    injected: VecDeque<Injected>,
    delay: Duration,
    sent: Vec<SentMessage>,
    calls: Vec<Call>,
    /// Counter behind message ids.
    n_messages: u64,
    webhook_url: Option<String>,
}

impl Default for State {
    fn default() -> State {
        State {
            session: FakeSession::Connected,
            reconnect_succeeds: true,
            n_qr_codes: 0,
            injected: VecDeque::new(),
            delay: Duration::ZERO,
            sent: Vec::new(),
            calls: Vec::new(),
            n_messages: 0,
            webhook_url: None,
        }
    }
}

impl State {
    fn enter(&mut self, session: FakeSession) {
        if session == FakeSession::Qr {
            self.n_qr_codes += 1;
        }
        self.session = session;
    }

    fn qr_code(&self) -> Option<String> {
        (self.session == FakeSession::Qr).then(|| format!("2@FAKE-QR-{}", self.n_qr_codes))
    }

    /// What a start-session / connect call does to a dropped session.
    fn try_reconnect(&mut self) {
        if self.session == FakeSession::NotLogged && self.reconnect_succeeds {
            self.enter(FakeSession::Connected);
        }
    }

    fn next_message_number(&mut self) -> u64 {
        self.n_messages += 1;
        self.n_messages
    }
}

/// One request as the source modules see it.
struct Request<'a> {
    method: &'a Method,
    path: &'a str,
    headers: &'a HeaderMap,
    body: &'a [u8],
}

impl Request<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    fn bearer(&self) -> Option<&str> {
        self.header(header::AUTHORIZATION.as_str())?
            .strip_prefix("Bearer ")
    }

    /// The body as a JSON object; an empty body is an empty object.
    fn json_object(&self) -> Option<serde_json::Map<String, Value>> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Some(serde_json::Map::new());
        }
        match serde_json::from_slice(self.body) {
            Ok(Value::Object(object)) => Some(object),
            _ => None,
        }
    }
}

/// An answer before it becomes an HTTP response.
struct Reply {
    status: u16,
    body: ReplyBody,
}

enum ReplyBody {
    Json(Value),
    Html(String),
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: ReplyBody::Json(body),
        }
    }

    fn html(status: u16, body: String) -> Reply {
        Reply {
            status,
            body: ReplyBody::Html(body),
        }
    }

    /// What a reverse proxy answers when the source is unreachable or slow.
    fn gateway(status: u16) -> Reply {
        let title = format!("{status} {}", reason(status));
        Reply::html(
            status,
            format!(
                "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n\
                 <center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n\
                 </body>\r\n</html>\r\n"
            ),
        )
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match self.body {
            ReplyBody::Json(body) => (status, axum::Json(body)).into_response(),
            ReplyBody::Html(body) => (
                status,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                body,
            )
                .into_response(),
        }
    }
}

/// A 1×1 PNG as a data URL, standing in for a rendered QR code.
const QR_IMAGE: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

/// The reason phrase of `status` (`"Gateway Timeout"`).
fn reason(status: u16) -> &'static str {
    StatusCode::from_u16(status)
        .ok()
        .and_then(|status| status.canonical_reason())
        .unwrap_or("Error")
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// Answers a send call that reached the account: with the next injected outcome if any, else with
/// `deliver` (which records what it delivers). `failure` gives the source's error shape.
fn send(
    state: &mut State,
    failure: impl FnOnce(u16) -> Reply,
    deliver: impl FnOnce(&mut State) -> Reply,
) -> Reply {
    match state.injected.pop_front() {
        Some(Injected::Fail(status @ 502..=504)) => Reply::gateway(status),
        Some(Injected::Fail(status)) => failure(status),
        Some(Injected::DeliverButTimeout) => {
            let _ = deliver(state);
            Reply::gateway(504)
        }
        None => deliver(state),
    }
}

/// The one handler: routes by source, records the call, then waits out the configured delay.
async fn answer(
    Extract(shared): Extract<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = Request {
        method: &method,
        path: uri.path(),
        headers: &headers,
        body: &body,
    };
    let (reply, delay) = {
        let mut state = shared.lock();
        let (reply, logged_path) = match &shared.kind {
            FakeKind::WppConnect { session, token } => (
                wppconnect::handle(session, token, &mut state, &request),
                request.path.to_owned(),
            ),
            FakeKind::Evolution { instance, apikey } => (
                evolution::handle(instance, apikey, &mut state, &request),
                request.path.to_owned(),
            ),
            FakeKind::CloudApi {
                phone_number_id,
                access_token,
            } => (
                cloud_api::handle(phone_number_id, access_token, &mut state, &request),
                request.path.to_owned(),
            ),
            FakeKind::Telegram { bot_token } => (
                telegram::handle(bot_token, &mut state, &request),
                telegram::redact(request.path),
            ),
        };
        state.calls.push(Call {
            method: method.as_str().to_owned(),
            path: logged_path,
            status: reply.status,
        });
        (reply, state.delay)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    reply.into_response()
}
