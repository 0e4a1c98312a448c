//! The web chat's login and browser sessions, over real HTTP against a real node process: one-time
//! login links, the session cookie, CSRF tokens, the Host check, the security headers, and
//! `omega open`. (Code expiry is covered with an injected clock in `omega_core::web`.)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

const PASSPHRASE: &str = "web test passphrase";

struct Running {
    child: Child,
    url: String,
    token: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn omega(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_omega"));
    command
        .arg("--data-dir")
        .arg(dir)
        .env("OMEGA_PASSPHRASE", PASSPHRASE)
        .env_remove("BROWSER")
        .stdin(Stdio::null());
    command
}

fn init(dir: &Path, name: &str) {
    let status = omega(dir)
        .args(["init", "--name", name])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

fn start(dir: &Path, name: &str) -> Running {
    init(dir, name);
    let mut child = omega(dir)
        .args([
            "--json",
            "node",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--no-mdns",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let started: Value = serde_json::from_str(&line).unwrap();
    let api: Value = serde_json::from_slice(&std::fs::read(dir.join("api.json")).unwrap()).unwrap();
    assert_eq!(started["api"], api["url"]);
    Running {
        child,
        url: api["url"].as_str().unwrap().to_owned(),
        token: api["token"].as_str().unwrap().to_owned(),
    }
}

/// An answer: status, headers we look at, body as JSON (or a string if it is not JSON).
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: ureq::http::HeaderMap,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map_or("", |value| value.to_str().unwrap())
    }

    fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.body["error"]["code"], code, "{self:?}");
        assert!(self.body["error"]["message"].is_string(), "{self:?}");
    }

    fn text(&self) -> &str {
        self.body.as_str().unwrap_or_default()
    }
}

/// How a request authenticates.
enum As<'a> {
    Nobody,
    Token(&'a str),
    Cookie {
        session: &'a str,
        csrf: Option<&'a str>,
    },
    /// A bearer token and a session cookie at once.
    TokenAndCookie(&'a str, &'a str),
}

fn request(url: &str, method: &str, who: &As, body: Option<Value>) -> Answer {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    match who {
        As::Nobody => {}
        As::Token(token) => builder = builder.header("Authorization", format!("Bearer {token}")),
        As::Cookie { session, csrf } => {
            builder = builder.header("Cookie", format!("theme=dark; omega_session={session}"));
            if let Some(csrf) = csrf {
                builder = builder.header("X-CSRF-Token", *csrf);
            }
        }
        As::TokenAndCookie(token, session) => {
            builder = builder
                .header("Authorization", format!("Bearer {token}"))
                .header("Cookie", format!("omega_session={session}"));
        }
    }
    let response = match body {
        Some(body) => agent.run(
            builder
                .header("Content-Type", "application/json")
                .body(body.to_string())
                .unwrap(),
        ),
        None => agent.run(builder.body(()).unwrap()),
    };
    let mut response = response.unwrap();
    let mut text = String::new();
    response
        .body_mut()
        .as_reader()
        .read_to_string(&mut text)
        .unwrap();
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

fn login_url(node: &Running) -> String {
    let answer = request(
        &format!("{}/v1/web/login-codes", node.url),
        "POST",
        &As::Token(&node.token),
        Some(json!({})),
    );
    assert_eq!(answer.status, 201, "{answer:?}");
    let code = answer.body["code"].as_str().unwrap();
    assert_eq!(code.len(), 32, "128 random bits in hex");
    assert!(code.bytes().all(|byte| byte.is_ascii_hexdigit()));
    let url = answer.body["url"].as_str().unwrap().to_owned();
    assert_eq!(url, format!("{}/login?code={code}", node.url));
    url
}

/// Follows a login link; returns the session cookie's value.
fn log_in(node: &Running) -> String {
    let answer = request(&login_url(node), "GET", &As::Nobody, None);
    assert_eq!(answer.status, 303, "{answer:?}");
    assert_eq!(answer.header("location"), "/");
    let cookie = answer.header("set-cookie");
    for part in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.split("; ").any(|p| p == part), "{part} in {cookie}");
    }
    let session = cookie
        .split(';')
        .next()
        .unwrap()
        .strip_prefix("omega_session=")
        .unwrap();
    assert_eq!(session.len(), 64);
    session.to_owned()
}

/// One raw HTTP/1.x request, for headers a client library would not let us get wrong.
fn raw(url: &str, request: &str) -> (u16, String) {
    let address = url.strip_prefix("http://").unwrap();
    let mut stream = TcpStream::connect(address).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, answer)
}

#[test]
fn a_login_link_works_once_and_gives_a_strict_http_only_cookie() {
    let root = tempfile::tempdir().unwrap();
    let node = start(&root.path().join("alice"), "Alice");
    let url = login_url(&node);
    let first = request(&url, "GET", &As::Nobody, None);
    assert_eq!(first.status, 303, "{first:?}");
    assert!(first.header("set-cookie").starts_with("omega_session="));

    let again = request(&url, "GET", &As::Nobody, None);
    assert_eq!(again.status, 401, "a spent code is refused");
    assert!(again.header("content-type").starts_with("text/html"));
    assert!(again.text().contains("omega open"), "{}", again.text());
    assert!(again.header("set-cookie").is_empty());

    // A HEAD (a link preview) does not spend a code.
    let url = login_url(&node);
    assert_eq!(request(&url, "HEAD", &As::Nobody, None).status, 200);
    assert_eq!(request(&url, "GET", &As::Nobody, None).status, 303);
}

#[test]
fn garbage_login_links_get_clear_errors() {
    let root = tempfile::tempdir().unwrap();
    let node = start(&root.path().join("alice"), "Alice");
    let login = |query: &str| {
        request(
            &format!("{}/login{query}", node.url),
            "GET",
            &As::Nobody,
            None,
        )
    };
    for (query, status, says) in [
        ("", 400, "no login code"),
        ("?code=", 400, "no login code"),
        ("?other=1", 400, "no login code"),
        ("?code=a&code=b", 400, "malformed"),
        ("?code=%FF%FE", 401, "wrong, already used or expired"),
        (
            "?code=0123456789abcdef0123456789abcdef",
            401,
            "wrong, already used or expired",
        ),
        (
            "?code=%C3%BC%C3%B1%C3%AF%E2%98%83",
            401,
            "wrong, already used or expired",
        ),
        (
            "?code=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
            401,
            "wrong, already used or expired",
        ),
    ] {
        let answer = login(query);
        assert_eq!(answer.status, status, "{query}: {answer:?}");
        assert!(answer.text().contains(says), "{query}: {}", answer.text());
        assert!(answer.text().contains("omega open"), "{query}");
        assert!(
            !answer.text().contains("<script>alert"),
            "{query}: never echoed"
        );
    }
    let huge = format!("?code={}", "a".repeat(60_000));
    let answer = login(&huge);
    assert_eq!(answer.status, 401, "{:?}", answer.status);

    // Only the token may ask for codes; garbage cookies are no session.
    request(
        &format!("{}/v1/web/login-codes", node.url),
        "POST",
        &As::Nobody,
        Some(json!({})),
    )
    .assert_error(401, "unauthorized");
    for session in ["", "x", &"0".repeat(64), "ü", &"a".repeat(10_000)] {
        request(
            &format!("{}/v1/id", node.url),
            "GET",
            &As::Cookie {
                session,
                csrf: None,
            },
            None,
        )
        .assert_error(401, "unauthorized");
    }
}

#[test]
fn a_session_cookie_reads_freely_but_changes_need_its_csrf_token() {
    let root = tempfile::tempdir().unwrap();
    let node = start(&root.path().join("alice"), "Alice");
    let bob_dir = root.path().join("bob");
    init(&bob_dir, "Bob");
    let bob_card = String::from_utf8(
        omega(&bob_dir)
            .args(["id", "--card"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_owned();

    let session = log_in(&node);
    let cookie = As::Cookie {
        session: &session,
        csrf: None,
    };
    let me = request(
        &format!("{}/v1/web/session", node.url),
        "GET",
        &cookie,
        None,
    );
    assert_eq!(me.status, 200, "{me:?}");
    assert_eq!(me.body["name"], "Alice");
    let id = request(&format!("{}/v1/id", node.url), "GET", &cookie, None);
    assert_eq!(id.status, 200);
    assert_eq!(me.body["user_id"], id.body["user_id"]);
    let csrf = me.body["csrf"].as_str().unwrap().to_owned();
    assert_eq!(csrf.len(), 64);
    assert_eq!(
        request(
            &format!("{}/v1/conversations", node.url),
            "GET",
            &cookie,
            None
        )
        .body,
        json!([])
    );

    let add = |csrf: Option<&str>| {
        request(
            &format!("{}/v1/contacts", node.url),
            "POST",
            &As::Cookie {
                session: &session,
                csrf,
            },
            Some(json!({"card": bob_card, "alias": "bob"})),
        )
    };
    add(None).assert_error(403, "csrf_failed");
    add(Some("")).assert_error(403, "csrf_failed");
    add(Some(&"0".repeat(64))).assert_error(403, "csrf_failed");
    add(Some(&csrf[..63])).assert_error(403, "csrf_failed");
    let added = add(Some(&csrf));
    assert_eq!(added.status, 201, "{added:?}");
    assert_eq!(added.body["alias"], "bob");

    let conversations = request(
        &format!("{}/v1/conversations", node.url),
        "GET",
        &cookie,
        None,
    );
    assert_eq!(conversations.body[0]["peer"], "bob");
    assert_eq!(conversations.body[0]["unread"], 0);
    assert_eq!(conversations.body[0]["last_text"], Value::Null);

    // A browser session cannot mint more sessions.
    request(
        &format!("{}/v1/web/login-codes", node.url),
        "POST",
        &As::Cookie {
            session: &session,
            csrf: Some(&csrf),
        },
        Some(json!({})),
    )
    .assert_error(403, "forbidden");

    // The event stream works with the cookie, and stops once the session ends.
    let address = node.url.strip_prefix("http://").unwrap();
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .write_all(
            format!(
                "GET /v1/events HTTP/1.1\r\nHost: {address}\r\nCookie: omega_session={session}\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut events = BufReader::new(stream);
    let mut status_line = String::new();
    events.read_line(&mut status_line).unwrap();
    assert!(status_line.starts_with("HTTP/1.1 200"), "{status_line}");
    let send = |text: &str| {
        let sent = request(
            &format!("{}/v1/messages", node.url),
            "POST",
            &As::Token(&node.token),
            Some(json!({"to": "bob", "text": text})),
        );
        assert_eq!(sent.status, 202, "{sent:?}");
    };
    send("before logout");
    let mut seen = String::new();
    while !seen.contains("before logout") {
        let mut line = String::new();
        assert!(
            events.read_line(&mut line).unwrap() > 0,
            "stream ended early"
        );
        seen.push_str(&line);
    }

    // Logging out needs the CSRF token too, and ends the session.
    request(
        &format!("{}/v1/web/logout", node.url),
        "POST",
        &cookie,
        Some(json!({})),
    )
    .assert_error(403, "csrf_failed");
    let out = request(
        &format!("{}/v1/web/logout", node.url),
        "POST",
        &As::Cookie {
            session: &session,
            csrf: Some(&csrf),
        },
        Some(json!({})),
    );
    assert_eq!(out.status, 200, "{out:?}");
    assert!(out.header("set-cookie").contains("Max-Age=0"));
    send("after logout");
    let mut rest = String::new();
    events.read_to_string(&mut rest).unwrap();
    assert!(!rest.contains("after logout"), "{rest}");
    request(&format!("{}/v1/id", node.url), "GET", &cookie, None).assert_error(401, "unauthorized");
}

#[test]
fn the_bearer_token_keeps_working_without_csrf() {
    let root = tempfile::tempdir().unwrap();
    let node = start(&root.path().join("alice"), "Alice");
    let token = As::Token(&node.token);
    let session = request(&format!("{}/v1/web/session", node.url), "GET", &token, None);
    assert_eq!(session.status, 200);
    assert_eq!(session.body["csrf"], Value::Null);
    request(
        &format!("{}/v1/messages", node.url),
        "POST",
        &token,
        Some(json!({"to": "nobody", "text": "hi"})),
    )
    .assert_error(404, "unknown_contact");
    request(
        &format!("{}/v1/id", node.url),
        "GET",
        &As::Token("wrong"),
        None,
    )
    .assert_error(401, "unauthorized");
    // A wrong token is not rescued by a cookie.
    let session = log_in(&node);
    request(
        &format!("{}/v1/id", node.url),
        "GET",
        &As::TokenAndCookie("wrong", &session),
        None,
    )
    .assert_error(401, "unauthorized");
    request(
        &format!("{}/v1/web/logout", node.url),
        "POST",
        &token,
        Some(json!({})),
    )
    .assert_error(400, "no_session");
}

#[test]
fn requests_naming_another_host_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let node = start(&root.path().join("alice"), "Alice");
    let port = node.url.rsplit(':').next().unwrap().parse::<u16>().unwrap();
    let ask = |host_line: &str, version: &str| {
        raw(
            &node.url,
            &format!(
                "GET /v1/health {version}\r\n{host_line}Authorization: Bearer {}\r\nConnection: close\r\n\r\n",
                node.token
            ),
        )
    };
    for host in [
        format!("evil.example:{port}"),
        format!("127.0.0.1.evil.example:{port}"),
        format!("127.0.0.1:{}", port.wrapping_add(1)),
        "127.0.0.1".to_owned(),
        "localhost".to_owned(),
    ] {
        let (status, answer) = ask(&format!("Host: {host}\r\n"), "HTTP/1.1");
        assert_eq!(status, 421, "{host}: {answer}");
        assert!(answer.contains("\"code\":\"wrong_host\""), "{answer}");
        assert!(
            answer
                .to_ascii_lowercase()
                .contains("content-security-policy:")
        );
    }
    let (status, answer) = ask("", "HTTP/1.0");
    assert_eq!(status, 421, "no Host at all: {answer}");
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("LocalHost:{port}"),
    ] {
        let (status, answer) = ask(&format!("Host: {host}\r\n"), "HTTP/1.1");
        assert_eq!(status, 200, "{host}: {answer}");
    }
    // The login page is behind the same check.
    let (status, _) = raw(
        &node.url,
        &format!(
            "GET /login?code=x HTTP/1.1\r\nHost: rebind.example:{port}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert_eq!(status, 421);
}

#[test]
fn the_chat_assets_and_every_answer_carry_the_security_headers() {
    let root = tempfile::tempdir().unwrap();
    let node = start(&root.path().join("alice"), "Alice");
    for (path, content_type) in [
        ("/", "text/html"),
        ("/app.js", "text/javascript"),
        ("/app.css", "text/css"),
        ("/icon.svg", "image/svg+xml"),
    ] {
        let answer = request(&format!("{}{path}", node.url), "GET", &As::Nobody, None);
        assert_eq!(answer.status, 200, "{path}");
        assert!(
            answer.header("content-type").starts_with(content_type),
            "{path}"
        );
        assert_ne!(answer.text().trim(), "placeholder", "{path} is written");
    }
    let token = As::Token(&node.token);
    for (path, who, status) in [
        ("/", &As::Nobody, 200),
        ("/app.js", &As::Nobody, 200),
        ("/v1/health", &As::Nobody, 200),
        ("/v1/id", &token, 200),
        ("/v1/id", &As::Nobody, 401),
        ("/v1/nothing", &token, 404),
        ("/login?code=bad", &As::Nobody, 401),
    ] {
        let answer = request(&format!("{}{path}", node.url), "GET", who, None);
        assert_eq!(answer.status, status, "{path}");
        let csp = answer.header("content-security-policy");
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(answer.header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(answer.header("x-frame-options"), "DENY", "{path}");
        assert_eq!(answer.header("referrer-policy"), "no-referrer", "{path}");
        if path.starts_with("/v1/") {
            assert_eq!(answer.header("cache-control"), "no-store", "{path}");
        }
    }
}

#[test]
fn omega_open_prints_a_working_link_and_needs_a_running_node() {
    let root = tempfile::tempdir().unwrap();
    let idle = root.path().join("idle");
    init(&idle, "Idle");
    let output = omega(&idle).arg("open").output().unwrap();
    assert_eq!(output.status.code(), Some(3), "no node runs");
    assert!(String::from_utf8_lossy(&output.stderr).contains("no node is running"));

    let dir = root.path().join("alice");
    let node = start(&dir, "Alice");
    let output = omega(&dir).args(["--json", "open"]).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    let url = printed["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/login?code=", node.url)),
        "{url}"
    );
    assert_eq!(request(url, "GET", &As::Nobody, None).status, 303);

    // $BROWSER gets the link; one that cannot start does not fail the command.
    let opened = root.path().join("opened.txt");
    let script = root.path().join("browser.sh");
    std::fs::write(
        &script,
        // Written aside, then renamed: the file appears complete or not at all.
        format!(
            "#!/bin/sh\necho \"$1\" > {0}.part && mv {0}.part {0}\n",
            opened.display()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let output = omega(&dir)
        .arg("open")
        .env(
            "BROWSER",
            format!("/nonexistent/browser:{}", script.display()),
        )
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let url = stdout
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .unwrap()
        .to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !opened.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let handed = std::fs::read_to_string(&opened).unwrap_or_default();
    assert_eq!(handed.trim(), url);

    let output = omega(&dir)
        .arg("open")
        .env("BROWSER", "/nonexistent/browser")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("could not start $BROWSER"));
}
