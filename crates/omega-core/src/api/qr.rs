//! The API's QR endpoints: `GET /v1/id/qr.svg` (our card as an SVG QR code) and
//! `POST /v1/contacts/scan` (the card in a PNG or JPEG picture of a QR code, read with
//! [`crate::scan`] on a blocking thread; the contact is not added).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use omega_crypto::ContactCard;
use serde_json::json;

use super::{ApiError, ApiResult, AppState};
use crate::NodeError;
use crate::scan::{self, ScanError};

/// Pictures read at once; more requests wait their turn (each may hold ~200 MiB while decoding).
pub(super) const CONCURRENT_SCANS: usize = 2;

/// `GET /v1/id/qr.svg`: the card of `GET /v1/id` (with our current addresses) as a QR code.
pub(super) async fn my_card_svg(State(state): State<AppState>) -> ApiResult {
    let card = ContactCard::parse_uri(&state.node.info().card).map_err(|error| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            error.to_string(),
        )
    })?;
    let qr = card.to_qr().map_err(|error| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            error.to_string(),
        )
    })?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], qr.to_svg()).into_response())
}

/// `POST /v1/contacts/scan`: the `omega:` card in a picture of its QR code, as
/// `{"card": "omega:…", "name", "user_id"}`, for the person to confirm with `POST /v1/contacts`.
pub(super) async fn scan_card(State(state): State<AppState>, request: Request) -> ApiResult {
    check_headers(request.headers())?;
    let bytes = Bytes::from_request(request, &state)
        .await
        .map_err(|rejection| match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => too_large(),
            status => ApiError::new(status, "invalid_body", rejection.body_text()),
        })?;
    let permit = state
        .scans
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| ApiError::from(NodeError::ShuttingDown))?;
    let card = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        scan::scan_card(&bytes)
    })
    .await
    .map_err(|error| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            error.to_string(),
        )
    })?
    .map_err(scan_error)?;
    if card.user() == state.node.user() {
        return Err(NodeError::OwnCard.into());
    }
    Ok(Json(json!({
        "card": card.to_uri(),
        "name": card.name,
        "user_id": card.user().user_id(),
    }))
    .into_response())
}

/// Refuses, before the body is read, what cannot be a picture we read: another media type, or a
/// declared length over the limit.
fn check_headers(headers: &HeaderMap) -> Result<(), ApiError> {
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase());
    if !matches!(media_type.as_deref(), Some("image/png" | "image/jpeg")) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the picture's bytes with Content-Type: image/png or image/jpeg",
        ));
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > scan::MAX_IMAGE_BYTES as u64) {
        return Err(too_large());
    }
    Ok(())
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "image_too_large",
        format!(
            "a picture may be at most {} MiB",
            scan::MAX_IMAGE_BYTES / (1024 * 1024)
        ),
    )
}

fn scan_error(error: ScanError) -> ApiError {
    let (status, code) = match &error {
        ScanError::InvalidImage { .. } => (StatusCode::BAD_REQUEST, "invalid_image"),
        ScanError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "image_too_large"),
        ScanError::NotACard(_) => (StatusCode::UNPROCESSABLE_ENTITY, "not_a_card"),
        _ => (StatusCode::UNPROCESSABLE_ENTITY, "no_qr_code"),
    };
    ApiError::new(status, code, error.to_string())
}
