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

fn omega_cli(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_omega"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env("OMEGA_PASSPHRASE", PASSPHRASE)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn search_finds_sent_and_received_messages_by_words_ignoring_accents() {
    let root = tempfile::tempdir().unwrap();
    let alice_dir = root.path().join("alice");
    let alice = start(&alice_dir, "alice");
    let bob = start(&root.path().join("bob"), "bob");
    for (from, to, alias) in [(&alice, &bob, "bob"), (&bob, &alice, "alice")] {
        let card = call(to, "GET", "/v1/id", None, None).1["card"]
            .as_str()
            .unwrap()
            .to_owned();
        let added = call(
            from,
            "POST",
            "/v1/contacts",
            Some(&json!({"card": card, "alias": alias}).to_string()),
            None,
        );
        assert_eq!(added.0, 201, "{added:?}");
    }
    for text in ["A reunião mudou para as 15h", "Levo o bolo"] {
        let sent = call(
            &alice,
            "POST",
            "/v1/messages",
            Some(&json!({"to": "bob", "text": text}).to_string()),
            None,
        );
        assert_eq!(sent.0, 202, "{sent:?}");
    }
    let reply = call(
        &bob,
        "POST",
        "/v1/messages",
        Some(r#"{"to":"alice","text":"Reuniao às 15h, combinado"}"#),
        None,
    );
    assert_eq!(reply.0, 202);
    let id = reply.1["message_id"].as_str().unwrap();
    let waited = call(
        &bob,
        "GET",
        &format!("/v1/messages/{id}?wait=delivered&timeout_ms=60000"),
        None,
        None,
    );
    assert_eq!(waited.1["status"], "delivered", "{waited:?}");

    let output = omega_cli(&alice_dir, &["--json", "search", "REUNIAO"]);
    assert!(output.status.success(), "{output:?}");
    let found: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    let mut texts: Vec<&str> = found.iter().map(|m| m["text"].as_str().unwrap()).collect();
    texts.sort_unstable();
    assert_eq!(
        texts,
        ["A reunião mudou para as 15h", "Reuniao às 15h, combinado"]
    );
    assert!(found.iter().any(|m| m["direction"] == "in"));
    assert!(found.iter().any(|m| m["direction"] == "out"));

    let output = omega_cli(&alice_dir, &["--json", "search", "bol", "--with", "bob"]);
    let found: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["text"], "Levo o bolo");

    // Garbage in: clear errors, nothing broken.
    let output = omega_cli(&alice_dir, &["search", "   "]);
    assert_eq!(output.status.code(), Some(1));
    let output = omega_cli(&alice_dir, &["search", "x", "--limit", "0"]);
    assert_eq!(output.status.code(), Some(2));
    let output = omega_cli(&alice_dir, &["search", "x", "--with", "nobody"]);
    assert_eq!(output.status.code(), Some(1));
    let output = omega_cli(&alice_dir, &["--json", "search", "\"*NEAR(-"]);
    assert!(output.status.success(), "{output:?}");
    assert_error(
        &call(&alice, "GET", "/v1/search?limit=5", None, None),
        400,
        "invalid_query",
    );
    assert_error(
        &call(&alice, "GET", "/v1/search?q=a&limit=5000", None, None),
        400,
        "invalid_query",
    );
}

/// `omega --json ARGS` on a node's data dir, parsed (panics on failure).
fn omega_json(dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let output = omega_cli(dir, &all);
    assert!(
        output.status.success(),
        "omega {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Polls `omega messages --with WITH --json` until one message satisfies `check`.
fn wait_for_message(dir: &Path, with: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let messages = omega_json(dir, &["messages", "--with", with]);
        if let Some(found) = messages.as_array().unwrap().iter().find(|m| check(m)) {
            return found.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}: {messages}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn every_message_kind_round_trips_between_nodes_and_renders_in_messages_json() {
    let root = tempfile::tempdir().unwrap();
    let (alice_dir, bob_dir, carol_dir) = (
        root.path().join("alice"),
        root.path().join("bob"),
        root.path().join("carol"),
    );
    let alice = start(&alice_dir, "alice");
    let bob = start(&bob_dir, "bob");
    let init = omega_cli(&carol_dir, &["init", "--name", "Carol"]);
    assert!(init.status.success());
    let carol_card = String::from_utf8(omega_cli(&carol_dir, &["id", "--card"]).stdout).unwrap();
    for (from, to, alias) in [(&alice, &bob, "bob"), (&bob, &alice, "alice")] {
        let card = call(to, "GET", "/v1/id", None, None).1["card"]
            .as_str()
            .unwrap()
            .to_owned();
        let added = call(
            from,
            "POST",
            "/v1/contacts",
            Some(&json!({"card": card, "alias": alias}).to_string()),
            None,
        );
        assert_eq!(added.0, 201, "{added:?}");
    }
    let bob_id = call(&bob, "GET", "/v1/id", None, None).1["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let alice_id = call(&alice, "GET", "/v1/id", None, None).1["user_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Text with a mention; Bob quotes it in his reply.
    let hello = omega_json(&alice_dir, &["send", "bob", "oi @bob", "--mention", "bob"]);
    let hello_id = hello["message_id"].as_str().unwrap().to_owned();
    let got = wait_for_message(&bob_dir, "alice", "the mention", |m| {
        m["message_id"] == hello_id.as_str()
    });
    assert_eq!(got["kind"], "text");
    assert_eq!(got["mentions"], json!([bob_id]));
    let reply = omega_json(&bob_dir, &["send", "alice", "oi!", "--reply-to", &hello_id]);
    let reply_id = reply["message_id"].as_str().unwrap().to_owned();
    let got = wait_for_message(&alice_dir, "bob", "the reply", |m| {
        m["message_id"] == reply_id.as_str()
    });
    assert_eq!(got["reply_to"], hello_id.as_str());

    // Location, contact card, sticker.
    let place = omega_json(
        &alice_dir,
        &[
            "send",
            "bob",
            "--location",
            "-23.5505,-46.6333",
            "--label",
            "Praça da Sé",
        ],
    );
    let place_id = place["message_id"].as_str().unwrap().to_owned();
    let got = wait_for_message(&bob_dir, "alice", "the location", |m| {
        m["message_id"] == place_id.as_str()
    });
    assert_eq!(got["kind"], "location");
    assert_eq!(got["location"]["label"], "Praça da Sé");
    assert_eq!(got["location"]["latitude"], -23.5505);
    let shared = omega_json(&alice_dir, &["send", "bob", "--contact", carol_card.trim()]);
    let shared_id = shared["message_id"].as_str().unwrap().to_owned();
    let got = wait_for_message(&bob_dir, "alice", "the card", |m| {
        m["message_id"] == shared_id.as_str()
    });
    assert_eq!(got["kind"], "contact");
    assert_eq!(got["contact"]["name"], "Carol");
    assert_eq!(got["contact"]["card"], carol_card.trim());
    let sticker = omega_json(
        &alice_dir,
        &["send", "bob", "👍", "--sticker", "omega/thumbs-up"],
    );
    let sticker_id = sticker["message_id"].as_str().unwrap().to_owned();
    let got = wait_for_message(&bob_dir, "alice", "the sticker", |m| {
        m["message_id"] == sticker_id.as_str()
    });
    assert_eq!(
        got["sticker"],
        json!({"pack": "omega", "name": "thumbs-up", "alt": "👍"})
    );

    // Bob reacts; Alice edits her text and deletes the location for everyone.
    omega_json(&bob_dir, &["react", &hello_id, "🎉"]);
    let got = wait_for_message(&alice_dir, "bob", "the reaction", |m| {
        m["message_id"] == hello_id.as_str() && !m["reactions"].is_null()
    });
    assert_eq!(got["reactions"], json!([{"by": bob_id, "emoji": "🎉"}]));
    let edited = omega_json(&alice_dir, &["edit", &hello_id, "olá @bob"]);
    assert!(edited["edited_at"].is_i64());
    let got = wait_for_message(&bob_dir, "alice", "the edit", |m| {
        m["message_id"] == hello_id.as_str() && m["text"] == "olá @bob"
    });
    assert!(got["edited_at"].is_i64());
    omega_json(&alice_dir, &["delete", &place_id]);
    let got = wait_for_message(&bob_dir, "alice", "the delete", |m| {
        m["message_id"] == place_id.as_str() && m["deleted"] == true
    });
    assert_eq!(got["text"], "");
    assert!(got["location"].is_null(), "{got}");

    // Only the author edits or deletes; garbage is refused clearly.
    for args in [
        vec!["edit", hello_id.as_str(), "forged"],
        vec!["delete", hello_id.as_str()],
        vec!["react", "not-an-id", "👍"],
        vec!["send", "alice", "--location", "91,0"],
        vec!["send", "alice", "--sticker", "nopack"],
        vec![
            "send",
            "alice",
            "x",
            "--reply-to",
            "00000000-0000-0000-0000-000000000000",
        ],
        vec!["timer", "alice", "3 fortnights"],
    ] {
        let output = omega_cli(&bob_dir, &args);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {output:?}");
        assert!(!output.stderr.is_empty());
    }

    // Disappearing messages: the timer line shows on both sides, then messages vanish from
    // both stores (and from search) once the timer runs out.
    let line = omega_json(&alice_dir, &["timer", "bob", "2s"]);
    assert_eq!(line["kind"], "timer");
    assert_eq!(line["timer_ms"], 2000);
    wait_for_message(&bob_dir, "alice", "the timer line", |m| {
        m["kind"] == "timer" && m["timer_ms"] == 2000
    });
    let secret = omega_json(&alice_dir, &["send", "bob", "efêmera mensagem"]);
    assert!(secret["expires_at"].is_i64(), "{secret}");
    let secret_id = secret["message_id"].as_str().unwrap().to_owned();
    wait_for_message(&bob_dir, "alice", "the disappearing message", |m| {
        m["message_id"] == secret_id.as_str() && m["expires_at"].is_i64()
    });
    for dir in [&alice_dir, &bob_dir] {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let messages = omega_json(dir, &["messages"]);
            let left = messages
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["message_id"] == secret_id.as_str());
            if !left {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "never erased: {messages}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let found = omega_json(dir, &["search", "efemera"]);
        assert_eq!(found, json!([]), "the search index forgets it too");
    }
    // The earlier messages stay; timer off.
    let off = omega_json(&bob_dir, &["timer", "alice", "off"]);
    assert_eq!(off["timer_ms"], 0);
    let kept = omega_json(&bob_dir, &["messages", "--with", "alice"]);
    assert!(
        kept.as_array()
            .unwrap()
            .iter()
            .any(|m| m["message_id"] == sticker_id.as_str())
    );
    let _ = alice_id;
}
