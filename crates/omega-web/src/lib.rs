//! The browser clients, embedded in the binary: the web chat a node serves on its loopback API
//! port ([`CHAT`]) and the business console the hub serves ([`CONSOLE`]). Assets are plain
//! HTML/CSS/JS under `assets/`, compiled in with `include_bytes!`, so building needs no npm and
//! running needs no network (no CDN). Every answer carries a strict Content-Security-Policy (no
//! inline script or style, nothing from other origins), `nosniff`, no framing and no referrer.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use axum::routing::get;

/// One embedded file.
pub struct Asset {
    /// The URL path under the client's mount point (`/` is the page itself).
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $file:literal, $mime:expr) => {
        Asset {
            path: $path,
            content_type: $mime,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/", $file)),
        }
    };
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// The node's web chat.
pub const CHAT: &[Asset] = &[
    asset!("/", "chat/index.html", HTML),
    asset!("/app.js", "chat/app.js", JS),
    asset!("/app.css", "chat/app.css", CSS),
    asset!("/icon.svg", "icon.svg", SVG),
];

/// The hub's console.
pub const CONSOLE: &[Asset] = &[
    asset!("/", "console/index.html", HTML),
    asset!("/console.js", "console/console.js", JS),
    asset!("/console.css", "console/console.css", CSS),
    asset!("/api.js", "console/api.js", JS),
    asset!("/dom.js", "console/dom.js", JS),
    asset!("/i18n.js", "console/i18n.js", JS),
    asset!("/inbox.js", "console/inbox.js", JS),
    asset!("/channels.js", "console/channels.js", JS),
    asset!("/admin.js", "console/admin.js", JS),
    asset!("/merkle.js", "console/merkle.js", JS),
    asset!("/chart.js", "console/chart.js", JS),
    asset!("/dashboard.js", "console/dashboard.js", JS),
    asset!("/icon.svg", "icon.svg", SVG),
];

/// The Content-Security-Policy every client page runs under.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Adds the security headers every answer of a client's origin should carry (pages, assets and
/// API answers alike).
pub fn secure<B>(response: &mut Response<B>) {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
}

/// A router serving `assets` at their paths (mount it with `Router::nest` for a prefix). Pages
/// and scripts are never cached, so an upgraded binary serves its own client at once.
pub fn router<S: Clone + Send + Sync + 'static>(assets: &'static [Asset]) -> Router<S> {
    let mut router = Router::new();
    for asset in assets {
        router = router.route(asset.path, get(move || async move { answer(asset) }));
    }
    router
}

fn answer(asset: &'static Asset) -> Response<Body> {
    let mut response = Response::new(Body::from(asset.body));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    secure(&mut response);
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;
    use tower::ServiceExt as _;

    #[tokio::test]
    async fn every_asset_is_served_with_its_type_and_the_policy() {
        for bundle in [CHAT, CONSOLE] {
            let app: Router = router(bundle);
            for asset in bundle {
                let response = app
                    .clone()
                    .oneshot(Request::get(asset.path).body(Body::empty()).unwrap())
                    .await
                    .unwrap();
                assert_eq!(response.status(), StatusCode::OK, "{}", asset.path);
                assert_eq!(response.headers()[header::CONTENT_TYPE], asset.content_type);
                assert_eq!(response.headers()[header::CONTENT_SECURITY_POLICY], CSP);
                assert!(!asset.body.is_empty(), "{}", asset.path);
            }
        }
    }

    /// ` onclick=`-style attributes.
    fn has_inline_handler(html: &str) -> bool {
        html.match_indices(" on").any(|(at, _)| {
            let rest = &html[at + 3..];
            let name_len = rest.chars().take_while(char::is_ascii_lowercase).count();
            name_len > 0 && rest[name_len..].starts_with('=')
        })
    }

    #[test]
    fn no_page_loads_anything_from_another_origin_or_inline() {
        for asset in CHAT.iter().chain(CONSOLE) {
            let text = std::str::from_utf8(asset.body).unwrap();
            for banned in ["http://", "https://", "//cdn", "javascript:"] {
                // SVG namespaces are identifiers, not fetches.
                let hits = text
                    .match_indices(banned)
                    .filter(|(at, _)| !text[..*at].ends_with("xmlns=\""))
                    .count();
                assert_eq!(hits, 0, "{} contains {banned}", asset.path);
            }
            if asset.content_type == HTML {
                assert!(!text.contains("<script>"), "{}: inline script", asset.path);
                assert!(!has_inline_handler(text), "{}: inline handler", asset.path);
                assert!(!text.contains("style="), "{}: inline style", asset.path);
            }
        }
    }
}
