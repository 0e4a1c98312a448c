//! The server's HTTP port: `/health`, Prometheus `/metrics`, and the mailbox over HTTP
//! (`POST /v1/mailbox`, body and answer are protobuf `MailboxRequest` / `MailboxResponse`) for
//! clients that cannot dial libp2p.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use omega_store::server::ServerStore;
use serde_json::json;

use crate::mailbox::MailboxService;
use crate::metrics::Metrics;

struct AppState<S> {
    service: MailboxService<S>,
    metrics: Arc<Metrics>,
}

impl<S: Clone> Clone for AppState<S> {
    fn clone(&self) -> Self {
        AppState {
            service: self.service.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

pub(crate) fn router<S: ServerStore>(service: MailboxService<S>, metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/health", get(health::<S>))
        .route("/metrics", get(metrics_text::<S>))
        .route("/v1/mailbox", post(mailbox::<S>))
        .layer(DefaultBodyLimit::max(
            omega_proto::MAX_MAILBOX_REQUEST_BYTES,
        ))
        .with_state(AppState { service, metrics })
}

async fn health<S: ServerStore>(State(state): State<AppState<S>>) -> Response {
    match state.service.store().depth().await {
        Ok(depth) => {
            axum::Json(json!({"ok": true, "store": {"ok": true, "depth": depth}})).into_response()
        }
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"ok": false, "store": {"ok": false, "error": error.to_string()}})),
        )
            .into_response(),
    }
}

async fn metrics_text<S: ServerStore>(State(state): State<AppState<S>>) -> Response {
    let depth = state.service.store().depth().await.ok();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(depth),
    )
        .into_response()
}

async fn mailbox<S: ServerStore>(
    State(state): State<AppState<S>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Response {
    let source = client.ip().to_string().into_bytes();
    let answer = state.service.handle_bytes(&source, &body).await;
    ([(header::CONTENT_TYPE, "application/x-protobuf")], answer).into_response()
}
