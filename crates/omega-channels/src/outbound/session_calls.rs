//! Session calls of the unofficial WhatsApp sources (WPPConnect, Evolution API).

use serde_json::{Value, json};

use super::check::check_url;
use super::{Credentials, HttpRequest, OutboundError};

/// Builds the request asking for the session's state: WPPConnect `GET
/// {base}/api/{session}/status-session`, Evolution `GET
/// {base}/instance/connectionState/{instance}`. The Cloud API and Telegram have no
/// session: [`OutboundError::Unsupported`].
pub fn session_status(credentials: &Credentials) -> Result<HttpRequest, OutboundError> {
    credentials.validate()?;
    let base = credentials.base();
    match credentials {
        Credentials::WppConnect { session, .. } => {
            Ok(credentials.request("GET", format!("{base}/api/{session}/status-session"), None))
        }
        Credentials::Evolution { instance, .. } => Ok(credentials.request(
            "GET",
            format!("{base}/instance/connectionState/{instance}"),
            None,
        )),
        Credentials::CloudApi { .. } | Credentials::Telegram { .. } => {
            Err(credentials.unsupported("session_status"))
        }
    }
}

/// Builds the request that starts (or restarts) the session and asks for a pairing QR.
///
/// WPPConnect: `POST {base}/api/{session}/start-session` with `{webhook?, waitQrCode:
/// true}`, so the answer carries the QR. Evolution: `GET {base}/instance/connect/{instance}`;
/// Evolution takes its webhook through `/webhook/set`, so `webhook_url` is only checked, not
/// sent. The Cloud API and Telegram: [`OutboundError::Unsupported`].
pub fn start_session(
    credentials: &Credentials,
    webhook_url: Option<&str>,
) -> Result<HttpRequest, OutboundError> {
    credentials.validate()?;
    if let Some(url) = webhook_url {
        check_url("webhook_url", url, true)?;
    }
    let base = credentials.base();
    match credentials {
        Credentials::WppConnect { session, .. } => {
            let mut body = json!({ "waitQrCode": true });
            if let Some(url) = webhook_url {
                body["webhook"] = Value::from(url);
            }
            Ok(credentials.request(
                "POST",
                format!("{base}/api/{session}/start-session"),
                Some(&body),
            ))
        }
        Credentials::Evolution { instance, .. } => {
            Ok(credentials.request("GET", format!("{base}/instance/connect/{instance}"), None))
        }
        Credentials::CloudApi { .. } | Credentials::Telegram { .. } => {
            Err(credentials.unsupported("start_session"))
        }
    }
}

/// Builds the request that logs the session out, so the next start pairs afresh:
/// WPPConnect `POST {base}/api/{session}/logout-session`, Evolution `DELETE
/// {base}/instance/logout/{instance}`. The Cloud API and Telegram:
/// [`OutboundError::Unsupported`].
pub fn reset_session(credentials: &Credentials) -> Result<HttpRequest, OutboundError> {
    credentials.validate()?;
    let base = credentials.base();
    match credentials {
        Credentials::WppConnect { session, .. } => {
            Ok(credentials.request("POST", format!("{base}/api/{session}/logout-session"), None))
        }
        Credentials::Evolution { instance, .. } => {
            Ok(credentials.request("DELETE", format!("{base}/instance/logout/{instance}"), None))
        }
        Credentials::CloudApi { .. } | Credentials::Telegram { .. } => {
            Err(credentials.unsupported("reset_session"))
        }
    }
}
