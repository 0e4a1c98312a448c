//! The one error type of the hub's services, and its HTTP form
//! `{ "error": { "code": "...", "message": "..." } }`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::audit::AuditError;
use crate::store::StoreError;

/// A refused or failed request, with a stable machine code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds for `Retry-After` (429 only).
    pub retry_after_secs: Option<u64>,
}

impl HubError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> HubError {
        HubError {
            status,
            code,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> HubError {
        HubError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> HubError {
        HubError::new(StatusCode::UNAUTHORIZED, code, message)
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> HubError {
        HubError::new(StatusCode::FORBIDDEN, code, message)
    }

    /// Also what a cross-tenant id guess gets: indistinguishable from an id that does not exist.
    pub fn not_found(what: &str) -> HubError {
        HubError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such {what}"),
        )
    }

    pub fn conflict(message: impl Into<String>) -> HubError {
        HubError::new(StatusCode::CONFLICT, "conflict", message)
    }

    pub fn too_many(
        code: &'static str,
        message: impl Into<String>,
        retry_after_secs: u64,
    ) -> HubError {
        HubError {
            retry_after_secs: Some(retry_after_secs.max(1)),
            ..HubError::new(StatusCode::TOO_MANY_REQUESTS, code, message)
        }
    }

    pub fn internal(error: &dyn std::fmt::Display) -> HubError {
        tracing::error!(%error, "internal error");
        HubError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the request id is in the X-Request-Id header and in the hub's log",
        )
    }

    /// A plan limit is reached (`what`: "members", "channels", …).
    pub fn quota_exceeded(plan: &str, what: &str, max: Option<i64>) -> HubError {
        HubError::forbidden(
            "quota_exceeded",
            format!(
                "the {plan} plan allows {} {what} and the tenant has them all; upgrade the plan",
                max.unwrap_or_default()
            ),
        )
    }

    pub fn missing_scope(scope: &str) -> HubError {
        HubError::forbidden("missing_scope", format!("this needs the {scope} scope"))
    }
}

impl From<StoreError> for HubError {
    fn from(error: StoreError) -> HubError {
        match error {
            StoreError::Conflict { what } => HubError::conflict(format!("{what} already exists")),
            other => HubError::internal(&other),
        }
    }
}

impl From<AuditError> for HubError {
    fn from(error: AuditError) -> HubError {
        match error {
            AuditError::OutOfRange { idx, size } => HubError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no entry or tree size {idx} within a tree of size {size}"),
            ),
            other => HubError::internal(&other),
        }
    }
}

impl std::fmt::Display for HubError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl IntoResponse for HubError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": { "code": self.code, "message": self.message }
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after_secs
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
