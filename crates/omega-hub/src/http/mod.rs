//! The gateway: one middleware (request id, client IP, per-IP rate limit, CORS, security
//! headers, a JSON log line and metrics per request), the bearer-credential extractor (with the
//! per-token limit), the JSON body extractor (400/413/415 with what is wrong), and the router.

mod console;
mod inbox_ops;
mod routes;

use std::net::SocketAddr;
use std::time::Instant;

use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use tracing::Instrument as _;
use utoipa_axum::router::OpenApiRouter;

use crate::auth::{Principal, RequestMeta};
use crate::error::HubError;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::store::now_ms;

/// The whole HTTP surface of the hub.
pub fn router(hub: Hub) -> Router {
    let body_limit = hub.config().http.body_limit_bytes;
    let (api, openapi) = api_routes().split_for_parts();
    let openapi_json = openapi.to_json().unwrap_or_else(|_| "{}".into());
    api.route(
        "/api/openapi.json",
        axum::routing::get(move || async move {
            (
                [(header::CONTENT_TYPE, "application/json")],
                openapi_json.clone(),
            )
        }),
    )
    // The console lives at `/console/` (its page loads `./console.js`): `/` and `/console`
    // lead there.
    .nest_service(
        "/console/",
        omega_web::router::<()>(omega_web::CONSOLE)
            .fallback(|| async { HubError::not_found("console file") }),
    )
    .route("/", axum::routing::get(to_console))
    .route("/console", axum::routing::get(to_console))
    .fallback(|| async { HubError::not_found("route") })
    .layer(DefaultBodyLimit::max(body_limit))
    .layer(middleware::from_fn_with_state(hub.clone(), gateway))
    .with_state(hub)
}

async fn to_console() -> axum::response::Redirect {
    axum::response::Redirect::to("/console/")
}

/// The OpenAPI document (also served at `/api/openapi.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_routes().into_openapi()
}

fn api_routes() -> OpenApiRouter<Hub> {
    console::api(inbox_ops::api(routes::api(OpenApiRouter::new())))
}

fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .filter(|id| {
            (1..=64).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned)
}

fn client_ip(hub: &Hub, request: &Request) -> String {
    if hub.config().http.trust_forwarded_for
        && let Some(forwarded) = request
            .headers()
            .get("x-forwarded-for")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(',').next())
            .map(str::trim)
            .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok())
    {
        return forwarded.to_owned();
    }
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(
            || "unknown".to_owned(),
            |ConnectInfo(addr)| addr.ip().to_string(),
        )
}

async fn gateway(
    axum::extract::State(hub): axum::extract::State<Hub>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let request_id = request_id(request.headers());
    let ip = client_ip(&hub, &request);
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let allowed_origin = origin.filter(|origin| {
        hub.config()
            .http
            .cors_allowed_origins
            .iter()
            .any(|allowed| allowed == origin)
    });

    let limited = hub.limiters().per_ip.check(&ip, now_ms() as u64);
    let mut response = if let Err(retry) = limited {
        Metrics::bump(&hub.0.metrics.rate_limited);
        HubError::too_many(
            "rate_limited",
            "too many requests from this address",
            retry.secs_ceil(),
        )
        .into_response()
    } else if method == Method::OPTIONS && allowed_origin.is_some() {
        StatusCode::NO_CONTENT.into_response()
    } else {
        let meta = RequestMeta {
            ip: ip.clone(),
            user_agent: request
                .headers()
                .get(header::USER_AGENT)
                .and_then(|value| value.to_str().ok())
                .unwrap_or("")
                .to_owned(),
            request_id: Some(request_id.clone()),
            tenant_header: request
                .headers()
                .get("x-omega-tenant")
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned),
        };
        request.extensions_mut().insert(meta);
        let span = tracing::info_span!("request", request_id = %request_id);
        next.run(request).instrument(span).await
    };

    // The console's origin: every answer (pages, assets, API) carries the strict CSP, no
    // framing, no referrer.
    omega_web::secure(&mut response);
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert("x-request-id", value);
    }
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(origin) = allowed_origin.and_then(|origin| HeaderValue::from_str(&origin).ok()) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type, x-request-id, x-omega-tenant"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, PATCH, DELETE"),
        );
    }
    let status = response.status().as_u16();
    let seconds = started.elapsed().as_secs_f64();
    hub.0.metrics.observe(status, seconds);
    tracing::info!(
        target: "omega_hub::access",
        request_id = %request_id,
        %method,
        %path,
        status,
        latency_ms = seconds * 1000.0,
        ip = %ip,
        "request"
    );
    response
}

/// An authenticated request: the credential is checked (live device/key, enabled member) and
/// the per-credential rate limit applied.
pub struct Authed(pub Principal);

impl FromRequestParts<Hub> for Authed {
    type Rejection = HubError;

    async fn from_request_parts(parts: &mut Parts, hub: &Hub) -> Result<Authed, HubError> {
        let meta = parts
            .extensions
            .get::<RequestMeta>()
            .cloned()
            .unwrap_or_default();
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| {
                value
                    .strip_prefix("Bearer ")
                    .or_else(|| value.strip_prefix("bearer "))
            })
            .map(str::trim);
        let principal = hub.authenticate(bearer, &meta).await?;
        if let Err(retry) = hub
            .limiters()
            .per_token
            .check(&principal.limit_key(), now_ms() as u64)
        {
            Metrics::bump(&hub.0.metrics.rate_limited);
            return Err(HubError::too_many(
                "rate_limited",
                "too many requests with this credential",
                retry.secs_ceil(),
            ));
        }
        Ok(Authed(principal))
    }
}

/// Request metadata set by the gateway.
pub struct Meta(pub RequestMeta);

impl<S: Send + Sync> FromRequestParts<S> for Meta {
    type Rejection = HubError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Meta, HubError> {
        Ok(Meta(
            parts
                .extensions
                .get::<RequestMeta>()
                .cloned()
                .unwrap_or_default(),
        ))
    }
}

/// A JSON body whose errors say what is wrong: 400 for bad JSON or a wrong field, 413 for too
/// large, 415 without `Content-Type: application/json`.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = HubError;

    async fn from_request(request: Request, state: &S) -> Result<Body<T>, HubError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Body(value)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(HubError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
            )),
            Err(JsonRejection::BytesRejection(rejection)) => {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    Err(HubError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "payload_too_large",
                        "the request body is larger than this hub accepts",
                    ))
                } else {
                    Err(HubError::bad_request(format!(
                        "could not read the body: {}",
                        rejection.body_text()
                    )))
                }
            }
            Err(JsonRejection::JsonSyntaxError(rejection)) => Err(HubError::bad_request(format!(
                "malformed JSON: {}",
                inner_message(&rejection.body_text())
            ))),
            Err(JsonRejection::JsonDataError(rejection)) => Err(HubError::bad_request(format!(
                "invalid body: {}",
                inner_message(&rejection.body_text())
            ))),
            Err(other) => Err(HubError::bad_request(other.body_text())),
        }
    }
}

/// Query parameters whose errors use the hub's error shape (400 naming the bad parameter).
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = HubError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Params<T>, HubError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Params(value)),
            Err(rejection) => Err(HubError::bad_request(format!(
                "invalid query: {}",
                inner_message(&rejection.body_text())
            ))),
        }
    }
}

/// axum prefixes serde's message with its own sentence; keep serde's part.
fn inner_message(text: &str) -> String {
    text.split_once(": ")
        .map_or(text, |(_, message)| message)
        .to_owned()
}
