//! Browser sessions of the web chat, kept in the node's memory only: one-time login codes that
//! `omega open` asks for with the API token, the sessions they turn into (a cookie) and each
//! session's CSRF token. Plus the pure checks the API runs on every request: is the `Host` header
//! ours (DNS-rebinding defence), which session cookie came with it.
//!
//! [`WebSessions`] is a plain state machine: callers pass `now`. Codes and session ids are kept as
//! SHA-256 hashes, so the map's lookups leak nothing about the secrets and a memory dump holds no
//! usable one. Nothing is written to disk: restarting the node ends every browser session.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// How long a login code can be used (once).
pub const CODE_TTL: Duration = Duration::from_secs(120);
/// A session ends after this long without a request (each request extends it).
pub const SESSION_IDLE: Duration = Duration::from_secs(12 * 3600);
/// Name of the session cookie.
pub const COOKIE: &str = "omega_session";
/// Header carrying the CSRF token of cookie-authenticated requests that change state.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Most outstanding codes and live sessions; the oldest goes first when full.
const MAX_CODES: usize = 32;
const MAX_SESSIONS: usize = 64;
/// Hex length of a login code (128 random bits).
const CODE_HEX_LEN: usize = 32;
/// Hex length of a session id (256 random bits).
const SESSION_HEX_LEN: usize = 64;

type Key = [u8; 32];

/// Outstanding login codes and live browser sessions.
#[derive(Default)]
pub struct WebSessions {
    codes: HashMap<Key, Instant>,
    sessions: HashMap<Key, Session>,
}

struct Session {
    csrf: Zeroizing<String>,
    expires: Instant,
}

/// A session just created from a login code: the cookie value and its CSRF token.
pub struct NewSession {
    pub id: Zeroizing<String>,
    pub csrf: Zeroizing<String>,
}

/// A live session found from its cookie.
#[derive(Clone)]
pub struct SessionRef {
    /// Hash of the session id (what [`WebSessions::end`] takes).
    pub key: [u8; 32],
    pub csrf: Zeroizing<String>,
}

impl std::fmt::Debug for SessionRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self { key: _, csrf: _ } = self;
        f.debug_struct("SessionRef").finish_non_exhaustive()
    }
}

impl WebSessions {
    /// A fresh one-time login code (hex), valid for [`CODE_TTL`] from `now`.
    pub fn issue_code(&mut self, now: Instant) -> Zeroizing<String> {
        self.codes.retain(|_, expires| *expires > now);
        if self.codes.len() >= MAX_CODES
            && let Some(oldest) = self
                .codes
                .iter()
                .min_by_key(|(_, expires)| **expires)
                .map(|(key, _)| *key)
        {
            self.codes.remove(&oldest);
        }
        let code = random_hex::<16>();
        self.codes.insert(hash(&code), now + CODE_TTL);
        code
    }

    /// Spends a login code: a new session if the code is one we issued, unused and unexpired.
    pub fn redeem(&mut self, code: &str, now: Instant) -> Option<NewSession> {
        if code.len() != CODE_HEX_LEN {
            return None;
        }
        let expires = self.codes.remove(&hash(code))?;
        if expires <= now {
            return None;
        }
        self.sessions.retain(|_, session| session.expires > now);
        if self.sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = self
                .sessions
                .iter()
                .min_by_key(|(_, session)| session.expires)
                .map(|(key, _)| *key)
        {
            self.sessions.remove(&oldest);
        }
        let id = random_hex::<32>();
        let csrf = random_hex::<32>();
        self.sessions.insert(
            hash(&id),
            Session {
                csrf: csrf.clone(),
                expires: now + SESSION_IDLE,
            },
        );
        Some(NewSession { id, csrf })
    }

    /// The live session with this cookie value, its idle timer restarted; `None` if unknown or
    /// expired (an expired one is forgotten).
    pub fn session(&mut self, id: &str, now: Instant) -> Option<SessionRef> {
        if id.len() != SESSION_HEX_LEN {
            return None;
        }
        let key = hash(id);
        let session = self.sessions.get_mut(&key)?;
        if session.expires <= now {
            self.sessions.remove(&key);
            return None;
        }
        session.expires = now + SESSION_IDLE;
        Some(SessionRef {
            key,
            csrf: session.csrf.clone(),
        })
    }

    /// Whether a session is still live, without extending it (for long-lived streams).
    pub fn is_live(&self, key: &[u8; 32], now: Instant) -> bool {
        self.sessions
            .get(key)
            .is_some_and(|session| session.expires > now)
    }

    /// Ends a session (logout).
    pub fn end(&mut self, key: &[u8; 32]) {
        self.sessions.remove(key);
    }
}

fn random_hex<const N: usize>() -> Zeroizing<String> {
    let mut bytes = Zeroizing::new([0u8; N]);
    rand::rngs::OsRng.fill_bytes(bytes.as_mut());
    Zeroizing::new(hex::encode(bytes.as_ref()))
}

fn hash(secret: &str) -> Key {
    Sha256::digest(secret.as_bytes()).into()
}

/// Whether a request's `Host` header names this API: a loopback name (`127.0.0.1`, `localhost`,
/// `[::1]`, or the exact address we listen on) with our port. Anything else may be a DNS-rebinding
/// attack (a web page whose domain now resolves to 127.0.0.1) and is refused.
pub fn host_allowed(host: &str, local: SocketAddr) -> bool {
    let port = local.port();
    let (name, host_port) = match host.rsplit_once(':') {
        // `[::1]` alone has colons but no port.
        Some((name, port_text)) if !port_text.ends_with(']') => match port_text.parse::<u16>() {
            Ok(parsed) => (name, parsed),
            Err(_) => return false,
        },
        _ => (host, 80),
    };
    if host_port != port {
        return false;
    }
    let name = name.to_ascii_lowercase();
    let ours = match local {
        SocketAddr::V4(addr) => addr.ip().to_string(),
        SocketAddr::V6(addr) => format!("[{}]", addr.ip()),
    };
    matches!(name.as_str(), "127.0.0.1" | "localhost" | "[::1]") || name == ours
}

/// The value of the `omega_session` cookie among `Cookie` header values, if any.
pub fn session_cookie<'a>(headers: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    headers
        .into_iter()
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim_matches('"'))
}

/// `Set-Cookie` value that stores a session in the browser: not readable by scripts, never sent
/// by another site's requests.
pub fn set_cookie(id: &str) -> String {
    format!("{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/")
}

/// `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
}

/// The page a browser gets for a login link that does not work.
pub fn login_error_page(reason: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>Ômega — login link not valid</title><link rel=\"icon\" href=\"/icon.svg\">\
<link rel=\"stylesheet\" href=\"/app.css\"></head>\n<body class=\"notice-page\"><main class=\"notice\">\
<h1>This login link does not work</h1><p>{reason}</p>\
<p>Login links work once, for two minutes. Run <code>omega open</code> again to get a new one.</p>\
</main></body></html>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_works_once_and_only_before_it_expires() {
        let start = Instant::now();
        let mut sessions = WebSessions::default();
        let code = sessions.issue_code(start);
        assert_eq!(code.len(), CODE_HEX_LEN);
        let session = sessions
            .redeem(&code, start + Duration::from_secs(1))
            .unwrap();
        assert!(
            sessions
                .redeem(&code, start + Duration::from_secs(2))
                .is_none()
        );
        let found = sessions.session(&session.id, start).unwrap();
        assert_eq!(*found.csrf, *session.csrf);

        let late = sessions.issue_code(start);
        assert!(sessions.redeem(&late, start + CODE_TTL).is_none());
        assert!(
            sessions.redeem(&late, start).is_none(),
            "an expired code is gone"
        );
    }

    #[test]
    fn garbage_codes_and_cookies_find_nothing() {
        let now = Instant::now();
        let mut sessions = WebSessions::default();
        let _ = sessions.issue_code(now);
        for garbage in [
            "",
            "0",
            &"a".repeat(CODE_HEX_LEN),
            &"ä".repeat(16),
            &"x".repeat(100_000),
        ] {
            assert!(sessions.redeem(garbage, now).is_none(), "{garbage:.20}");
            assert!(sessions.session(garbage, now).is_none(), "{garbage:.20}");
        }
    }

    #[test]
    fn sessions_slide_and_end() {
        let start = Instant::now();
        let mut sessions = WebSessions::default();
        let code = sessions.issue_code(start);
        let session = sessions.redeem(&code, start).unwrap();
        let later = start + SESSION_IDLE - Duration::from_secs(1);
        let found = sessions.session(&session.id, later).unwrap();
        // Used just before the deadline, so it lives on.
        assert!(
            sessions
                .session(&session.id, later + SESSION_IDLE / 2)
                .is_some()
        );
        assert!(sessions.is_live(&found.key, later));
        sessions.end(&found.key);
        assert!(!sessions.is_live(&found.key, later));
        assert!(sessions.session(&session.id, later).is_none());

        let code = sessions.issue_code(start);
        let idle = sessions.redeem(&code, start).unwrap();
        assert!(sessions.session(&idle.id, start + SESSION_IDLE).is_none());
    }

    #[test]
    fn outstanding_codes_and_sessions_are_bounded() {
        let now = Instant::now();
        let mut sessions = WebSessions::default();
        let codes: Vec<_> = (0..MAX_CODES * 2)
            .map(|_| sessions.issue_code(now))
            .collect();
        assert_eq!(sessions.codes.len(), MAX_CODES);
        for code in &codes {
            let _ = sessions.redeem(code, now);
        }
        for _ in 0..MAX_SESSIONS * 2 {
            let code = sessions.issue_code(now);
            assert!(sessions.redeem(&code, now).is_some());
        }
        assert_eq!(sessions.sessions.len(), MAX_SESSIONS);
    }

    #[test]
    fn only_loopback_hosts_with_our_port_are_ours() {
        let v4: SocketAddr = "127.0.0.1:4567".parse().unwrap();
        for good in [
            "127.0.0.1:4567",
            "localhost:4567",
            "LOCALHOST:4567",
            "[::1]:4567",
        ] {
            assert!(host_allowed(good, v4), "{good}");
        }
        for bad in [
            "evil.example:4567",
            "127.0.0.1:4568",
            "127.0.0.1",
            "localhost",
            "127.0.0.1.evil.example:4567",
            "localhost:4567:4567",
            "",
            ":4567",
            "[::1]",
        ] {
            assert!(!host_allowed(bad, v4), "{bad}");
        }
        let v6: SocketAddr = "[::1]:80".parse().unwrap();
        assert!(host_allowed("[::1]", v6));
        assert!(host_allowed("[::1]:80", v6));
        assert!(!host_allowed("[::2]:80", v6));
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        assert_eq!(session_cookie(["a=1; omega_session=abc; b=2"]), Some("abc"));
        assert_eq!(session_cookie(["a=1", "omega_session=\"x\""]), Some("x"));
        assert_eq!(session_cookie(["omega_sessionx=1; a=2"]), None);
        assert_eq!(session_cookie([]), None);
        assert!(set_cookie("abc").contains("HttpOnly; SameSite=Strict; Path=/"));
    }
}
