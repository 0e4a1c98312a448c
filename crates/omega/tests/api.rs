//! The node's local API driven over real HTTP: authentication, the error shape, bad input, and the
//! server-sent event stream.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

const PASSPHRASE: &str = "api test passphrase";

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

fn start(dir: &Path, name: &str) -> Running {
    let status = Command::new(env!("CARGO_BIN_EXE_omega"))
        .args(["--data-dir"])
        .arg(dir)
        .args(["init", "--name", name])
        .env("OMEGA_PASSPHRASE", PASSPHRASE)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let mut child = Command::new(env!("CARGO_BIN_EXE_omega"))
        .arg("--data-dir")
        .arg(dir)
        .args(["--json", "node", "--listen", "/ip4/127.0.0.1/tcp/0"])
        .env("OMEGA_PASSPHRASE", PASSPHRASE)
        .stdin(Stdio::null())
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
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("api.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "api.json is private to its owner");
    }
    Running {
        child,
        url: api["url"].as_str().unwrap().to_owned(),
        token: api["token"].as_str().unwrap().to_owned(),
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

fn call(
    node: &Running,
    method: &str,
    path: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> (u16, Value) {
    let url = format!("{}{path}", node.url);
    let auth = format!("Bearer {}", token.unwrap_or(&node.token));
    let agent = agent();
    let response = match (method, body) {
        ("GET", _) => agent.get(&url).header("Authorization", &auth).call(),
        (_, Some(body)) => agent
            .post(&url)
            .header("Authorization", &auth)
            .header("Content-Type", "application/json")
            .send(body),
        (_, None) => agent.post(&url).header("Authorization", &auth).send_empty(),
    };
    let mut response = response.unwrap();
    let status = response.status().as_u16();
    let mut text = String::new();
    response
        .body_mut()
        .as_reader()
        .read_to_string(&mut text)
        .unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn assert_error(answer: &(u16, Value), status: u16, code: &str) {
    assert_eq!(answer.0, status, "{answer:?}");
    assert_eq!(answer.1["error"]["code"], code, "{answer:?}");
    assert!(answer.1["error"]["message"].is_string(), "{answer:?}");
}

#[test]
fn api_refuses_missing_or_wrong_tokens_and_bad_input_with_one_error_shape() {
    let root = tempfile::tempdir().unwrap();
    let node = start(&root.path().join("alice"), "alice");
    assert_eq!(call(&node, "GET", "/v1/health", None, Some("")).0, 200);
    assert_error(
        &call(&node, "GET", "/v1/id", None, Some("")),
        401,
        "unauthorized",
    );
    assert_error(
        &call(&node, "GET", "/v1/id", None, Some("wrong")),
        401,
        "unauthorized",
    );
    assert_error(
        &call(&node, "GET", "/v1/nothing-here", None, None),
        404,
        "not_found",
    );
    assert_error(
        &call(&node, "POST", "/v1/messages", Some("{not json"), None),
        400,
        "invalid_body",
    );
    assert_error(
        &call(&node, "POST", "/v1/messages", Some(r#"{"to": 5}"#), None),
        422,
        "invalid_body",
    );
    assert_error(
        &call(
            &node,
            "POST",
            "/v1/messages",
            Some(r#"{"to":"x","text":"y","extra":1}"#),
            None,
        ),
        422,
        "invalid_body",
    );
    assert_error(
        &call(
            &node,
            "POST",
            "/v1/messages",
            Some(r#"{"to":"nobody","text":"hi"}"#),
            None,
        ),
        404,
        "unknown_contact",
    );
    assert_error(
        &call(
            &node,
            "POST",
            "/v1/contacts",
            Some(r#"{"card":"omega:zzzz"}"#),
            None,
        ),
        400,
        "invalid_card",
    );
    assert_error(
        &call(&node, "GET", "/v1/messages?limit=0", None, None),
        400,
        "invalid_query",
    );
    assert_error(
        &call(&node, "GET", "/v1/messages?limit=abc", None, None),
        400,
        "invalid_query",
    );
    assert_error(
        &call(
            &node,
            "GET",
            "/v1/messages/01a20d89-0000-7000-8000-000000000000",
            None,
            None,
        ),
        404,
        "unknown_message",
    );
    let huge = json!({"to": "x", "text": "y".repeat(100 * 1024)}).to_string();
    assert_eq!(
        call(&node, "POST", "/v1/messages", Some(&huge), None).0,
        413
    );
    let stats = call(&node, "GET", "/v1/stats", None, None);
    assert_eq!(stats.0, 200);
    assert_eq!(stats.1["refused_bad_signature"], 0);
}

#[test]
fn event_stream_carries_new_messages_and_status_changes() {
    let root = tempfile::tempdir().unwrap();
    let alice = start(&root.path().join("alice"), "alice");
    let bob = start(&root.path().join("bob"), "bob");
    let bob_card = call(&bob, "GET", "/v1/id", None, None).1["card"]
        .as_str()
        .unwrap()
        .to_owned();
    let added = call(
        &alice,
        "POST",
        "/v1/contacts",
        Some(&json!({"card": bob_card, "alias": "bob"}).to_string()),
        None,
    );
    assert_eq!(added.0, 201, "{added:?}");
    assert_error(
        &call(
            &alice,
            "POST",
            "/v1/contacts",
            Some(&json!({"card": bob_card, "alias": "has space"}).to_string()),
            None,
        ),
        400,
        "invalid_input",
    );

    // Subscribe to Bob's stream, then have Alice write.
    let mut events = agent()
        .get(format!("{}/v1/events", bob.url))
        .header("Authorization", &format!("Bearer {}", bob.token))
        .call()
        .unwrap();
    assert_eq!(events.status().as_u16(), 200);
    let reader = BufReader::new(events.body_mut().as_reader());
    let sent = call(
        &alice,
        "POST",
        "/v1/messages",
        Some(r#"{"to":"bob","text":"over the stream"}"#),
        None,
    );
    assert_eq!(sent.0, 202, "{sent:?}");
    assert_eq!(sent.1["status"], "queued");
    let mut got = None;
    for line in reader.lines() {
        let line = line.unwrap();
        if let Some(data) = line.strip_prefix("data:") {
            let event: Value = serde_json::from_str(data.trim()).unwrap();
            if event["type"] == "message" {
                got = Some(event);
                break;
            }
        }
    }
    let event = got.expect("a message event");
    assert_eq!(event["message"]["text"], "over the stream");
    assert_eq!(event["message"]["direction"], "in");

    let id = sent.1["message_id"].as_str().unwrap();
    let waited = call(
        &alice,
        "GET",
        &format!("/v1/messages/{id}?wait=delivered&timeout_ms=60000"),
        None,
        None,
    );
    assert_eq!(waited.1["status"], "delivered", "{waited:?}");
    assert_error(
        &call(
            &alice,
            "GET",
            &format!("/v1/messages/{id}?wait=bogus"),
            None,
            None,
        ),
        400,
        "invalid_query",
    );
}

#[test]
fn node_stops_cleanly_while_a_client_holds_the_event_stream_open() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("solo");
    let mut node = start(&dir, "solo");
    let mut events = agent()
        .get(format!("{}/v1/events", node.url))
        .header("Authorization", &format!("Bearer {}", node.token))
        .call()
        .unwrap();
    assert_eq!(events.status().as_u16(), 200);
    let reader = std::thread::spawn(move || {
        // Reads until the node ends the stream.
        let mut sink = Vec::new();
        let _ = events.body_mut().as_reader().read_to_end(&mut sink);
    });
    let status = Command::new("kill")
        .args(["-TERM", &node.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // A hang here is the bug: the shutdown waited for the stream's client to go away.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let exit = loop {
        if let Some(exit) = node.child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the node did not stop while an event stream was open"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
    reader.join().unwrap();
    assert!(
        !dir.join("api.json").exists(),
        "a clean stop removes api.json"
    );
}
