//! Handlers of the inbox's operations: replies, channel credentials, sessions and diagnostics,
//! hide mode, leads and the realtime event stream.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use omega_channels::outbound::Credentials;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::routes::ErrorBody;
use super::{Authed, Body, Meta, Params};
use crate::auth::RequestMeta;
use crate::error::HubError;
use crate::hub::Hub;
use crate::leads::LeadView;
use crate::outbound::{ReplyRequest, ReplyView};
use crate::privacy::{HiddenView, HideOutcome, HideRequest};
use crate::sessions::SessionView;
use crate::store::DiagnosticRow;

pub(super) fn api(router: OpenApiRouter<Hub>) -> OpenApiRouter<Hub> {
    router
        .routes(routes!(reply))
        .routes(routes!(set_credentials))
        .routes(routes!(session))
        .routes(routes!(diagnostics))
        .routes(routes!(hidden, hide))
        .routes(routes!(unhide))
        .routes(routes!(leads))
        .routes(routes!(contact_lead))
        .routes(routes!(events))
}

/// Reply in a conversation through its channel's source. Send an `Idempotency-Key` header: a
/// retried request with the same key answers the same reply (200) and sends nothing again.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/messages", tag = "inbox", security(("bearer" = [])),
    params(("id" = String, Path, description = "conversation id"),
           ("Idempotency-Key" = Option<String>, Header, description = "1–128 ASCII characters")),
    request_body = ReplyRequest,
    responses((status = 202, body = ReplyView, description = "queued"), (status = 200, body = ReplyView, description = "already queued with this key"),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn reply(
    State(hub): State<Hub>,
    Authed(principal): Authed,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body<ReplyRequest>,
) -> Result<(StatusCode, Json<ReplyView>), HubError> {
    let key = match headers.get("idempotency-key") {
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| HubError::bad_request("Idempotency-Key: ASCII only"))?
                .to_owned(),
        ),
        None => None,
    };
    let (created, view) = hub.reply(&principal, &id, body, key).await?;
    let status = if created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view)))
}

/// Set the credentials the hub uses to call the channel's source (sealed at rest, never
/// shown again). Body: `{"kind":"wpp_connect","base_url":…,"session":…,"token":…}`,
/// `{"kind":"evolution","base_url":…,"instance":…,"apikey":…}`,
/// `{"kind":"cloud_api","base_url":…,"phone_number_id":…,"access_token":…}` or
/// `{"kind":"telegram","base_url":…,"bot_token":…}`.
#[utoipa::path(put, path = "/api/v1/channels/{id}/credentials", tag = "inbox", security(("bearer" = [])),
    params(("id" = String, Path, description = "channel id")),
    request_body = Object,
    responses((status = 204, description = "stored"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn set_credentials(
    State(hub): State<Hub>,
    Authed(principal): Authed,
    Path(id): Path<String>,
    Body(body): Body<Credentials>,
) -> Result<StatusCode, HubError> {
    hub.set_channel_credentials(&principal, &id, body).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The connector session of a WhatsApp instance (state, QR code to scan, reconnects).
#[utoipa::path(get, path = "/api/v1/channels/{id}/session", tag = "inbox", security(("bearer" = [])),
    params(("id" = String, Path, description = "channel id")),
    responses((status = 200, body = SessionView), (status = 404, body = ErrorBody)))]
async fn session(
    State(hub): State<Hub>,
    Authed(principal): Authed,
    Path(id): Path<String>,
) -> Result<Json<SessionView>, HubError> {
    Ok(Json(hub.session(&principal, &id).await?))
}

/// A channel's diagnostic log, newest first: webhook refusals, session transitions, send
/// attempts (timestamp, request, outcome, latency; never content or secrets).
#[utoipa::path(get, path = "/api/v1/channels/{id}/diagnostics", tag = "inbox", security(("bearer" = [])),
    params(("id" = String, Path, description = "channel id")),
    responses((status = 200, body = Vec<DiagnosticRow>), (status = 404, body = ErrorBody)))]
async fn diagnostics(
    State(hub): State<Hub>,
    Authed(principal): Authed,
    Path(id): Path<String>,
) -> Result<Json<Vec<DiagnosticRow>>, HubError> {
    Ok(Json(hub.diagnostics(&principal, &id).await?))
}

/// The blacklist of hide mode (keyed-hash fingerprints: the numbers are not stored).
#[utoipa::path(get, path = "/api/v1/privacy/hidden", tag = "inbox", security(("bearer" = [])),
    responses((status = 200, body = Vec<HiddenView>), (status = 403, body = ErrorBody)))]
async fn hidden(
    State(hub): State<Hub>,
    Authed(principal): Authed,
) -> Result<Json<Vec<HiddenView>>, HubError> {
    Ok(Json(hub.hidden_list(&principal).await?))
}

/// Hide a number or contact: purges everything stored of that person now (messages,
/// conversations, queued replies, raw queued bodies, lead) and everything that arrives later.
#[utoipa::path(post, path = "/api/v1/privacy/hidden", tag = "inbox", security(("bearer" = [])), request_body = HideRequest,
    responses((status = 200, body = HideOutcome), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn hide(
    State(hub): State<Hub>,
    Authed(principal): Authed,
    Body(body): Body<HideRequest>,
) -> Result<Json<HideOutcome>, HubError> {
    Ok(Json(hub.hide(&principal, body).await?))
}

/// Take a number off the blacklist (name it again: only its keyed hash is stored).
#[utoipa::path(post, path = "/api/v1/privacy/hidden/remove", tag = "inbox", security(("bearer" = [])), request_body = HideRequest,
    responses((status = 204, description = "removed"), (status = 404, body = ErrorBody)))]
async fn unhide(
    State(hub): State<Hub>,
    Authed(principal): Authed,
    Body(body): Body<HideRequest>,
) -> Result<StatusCode, HubError> {
    hub.unhide(&principal, body).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct LeadsQuery {
    /// Only leads scoring at least this (0–100).
    min_score: Option<i64>,
    /// At most this many (1–500, default 100).
    limit: Option<i64>,
}

/// Leads of my tenant, highest score first, with reasons and next-action suggestions.
#[utoipa::path(get, path = "/api/v1/leads", tag = "inbox", security(("bearer" = [])), params(LeadsQuery),
    responses((status = 200, body = Vec<LeadView>), (status = 403, body = ErrorBody)))]
async fn leads(
    State(hub): State<Hub>,
    Authed(principal): Authed,
    Params(query): Params<LeadsQuery>,
) -> Result<Json<Vec<LeadView>>, HubError> {
    let min = query.min_score.unwrap_or(0);
    if !(0..=100).contains(&min) {
        return Err(HubError::bad_request("min_score: expected 0 ..= 100"));
    }
    Ok(Json(
        hub.leads(&principal, min, query.limit.unwrap_or(100))
            .await?,
    ))
}

/// One contact's lead.
#[utoipa::path(get, path = "/api/v1/contacts/{id}/lead", tag = "inbox", security(("bearer" = [])),
    params(("id" = String, Path, description = "contact id")),
    responses((status = 200, body = LeadView), (status = 404, body = ErrorBody)))]
async fn contact_lead(
    State(hub): State<Hub>,
    Authed(principal): Authed,
    Path(id): Path<String>,
) -> Result<Json<LeadView>, HubError> {
    Ok(Json(hub.lead(&principal, &id).await?))
}

/// How often a stream re-checks its credential (revocation ends the stream).
const RECHECK: Duration = Duration::from_secs(15);

/// The realtime stream of my tenant (Server-Sent Events): `message.new`, `message.status`,
/// `lead.updated`, `contact.hidden`, `channel.session`, each only with the scope it needs.
/// The credential is re-checked every few seconds; a revoked or expired one ends the stream.
#[utoipa::path(get, path = "/api/v1/events", tag = "inbox", security(("bearer" = [])),
    responses((status = 200, description = "text/event-stream"), (status = 401, body = ErrorBody)))]
async fn events(
    State(hub): State<Hub>,
    Authed(principal): Authed,
    Meta(meta): Meta,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, HubError> {
    principal.require(omega_auth::scope::Scope::InboxRead)?;
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::to_owned);
    let receiver = hub.subscribe();
    let stopping = hub.0.stopping.subscribe();
    let state = StreamState {
        stopping,
        hub,
        principal,
        bearer,
        meta,
        receiver,
        next_check: tokio::time::Instant::now() + RECHECK,
        ended: false,
    };
    let stream = futures::stream::unfold(state, |mut state| async move {
        if state.ended {
            return None;
        }
        let event = state.next().await;
        Some((Ok(event), state))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

struct StreamState {
    stopping: tokio::sync::watch::Receiver<bool>,
    hub: Hub,
    principal: crate::auth::Principal,
    bearer: Option<String>,
    meta: RequestMeta,
    receiver: tokio::sync::broadcast::Receiver<crate::events::HubEvent>,
    next_check: tokio::time::Instant,
    ended: bool,
}

impl StreamState {
    /// The next event for this subscriber (or the `end` event that closes the stream).
    async fn next(&mut self) -> Event {
        loop {
            tokio::select! {
                () = stopped(&mut self.stopping) => {
                    self.ended = true;
                    return Event::default().event("end").data(r#"{"reason":"hub stopping"}"#);
                }
                () = tokio::time::sleep_until(self.next_check) => {
                    self.next_check = tokio::time::Instant::now() + RECHECK;
                    match self.hub.authenticate(self.bearer.as_deref(), &self.meta).await {
                        Ok(principal) if principal.tenant == self.principal.tenant => self.principal = principal,
                        Ok(_) | Err(_) => {
                            self.ended = true;
                            return Event::default().event("end").data(r#"{"reason":"credential no longer valid"}"#);
                        }
                    }
                }
                received = self.receiver.recv() => match received {
                    Ok(event) => {
                        if event.tenant_id != self.principal.tenant.as_str()
                            || !self.principal.scopes.contains(&event.scope)
                        {
                            continue;
                        }
                        let data = serde_json::to_string(&event.data).unwrap_or_else(|_| "{}".into());
                        return Event::default().event(event.kind).data(data);
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                        return Event::default().event("lagged").data(format!(r#"{{"missed":{missed}}}"#));
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        self.ended = true;
                        return Event::default().event("end").data(r#"{"reason":"hub stopping"}"#);
                    }
                }
            }
        }
    }
}

/// Resolves once the hub is stopping (holds no borrow of the watch value across an await).
async fn stopped(receiver: &mut tokio::sync::watch::Receiver<bool>) {
    loop {
        let stopping = *receiver.borrow_and_update();
        if stopping || receiver.changed().await.is_err() {
            return;
        }
    }
}
