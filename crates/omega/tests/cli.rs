//! Black-box tests: the real `omega` binary, real processes, real sockets on 127.0.0.1.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const PASSPHRASE: &str = "correct horse battery staple";
const WAIT: Duration = Duration::from_secs(90);

fn omega(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_omega"));
    command
        .arg("--data-dir")
        .arg(dir)
        .env("OMEGA_PASSPHRASE", PASSPHRASE)
        .env_remove("OMEGA_DATA_DIR")
        .stdin(Stdio::null());
    command
}

fn run(dir: &Path, args: &[&str]) -> Output {
    omega(dir).args(args).output().expect("run omega")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let output = run(dir, args);
    assert!(
        output.status.success(),
        "omega {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

fn json(dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&ok(dir, &all)).expect("json output")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("free port")
}

/// A running `omega node` process.
struct NodeProcess {
    child: Child,
}

impl NodeProcess {
    /// Starts a node and waits for its "started" line (the API is up once it is printed).
    fn start(dir: &Path, port: u16) -> NodeProcess {
        let mut child = omega(dir)
            .args([
                "--json",
                "node",
                "--listen",
                &format!("/ip4/127.0.0.1/tcp/{port}"),
                "--api",
                "127.0.0.1:0",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn node");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read node output");
        let started: Value =
            serde_json::from_str(&line).unwrap_or_else(|_| panic!("node did not start: {line:?}"));
        assert_eq!(started["event"], "started");
        NodeProcess { child }
    }

    /// SIGTERM and wait: the clean shutdown path.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(status.success());
        let exit = self.child.wait().expect("wait");
        assert!(exit.success(), "node exited with {exit:?}");
    }

    /// SIGKILL: the crash path.
    fn kill_9(mut self) {
        self.child.kill().expect("kill -9");
        let _ = self.child.wait();
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn init(root: &Path, name: &str) -> PathBuf {
    let dir = root.join(name);
    ok(&dir, &["init", "--name", name]);
    dir
}

fn card(dir: &Path) -> String {
    json(dir, &["id"])["card"]
        .as_str()
        .expect("card")
        .to_owned()
}

fn messages(dir: &Path, with: &str) -> Vec<Value> {
    json(dir, &["messages", "--with", with])
        .as_array()
        .expect("array")
        .clone()
}

/// Polls the message list until `done` holds (each poll is a real CLI round trip), or panics.
fn wait_until(dir: &Path, with: &str, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let list = messages(dir, with);
        if done(&list) {
            return list;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {list:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn texts(list: &[Value], direction: &str) -> Vec<String> {
    list.iter()
        .filter(|message| message["direction"] == direction)
        .map(|message| message["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn all_delivered(list: &[Value], count: usize) -> bool {
    let out: Vec<_> = list.iter().filter(|m| m["direction"] == "out").collect();
    out.len() == count
        && out
            .iter()
            .all(|m| m["status"] == "delivered" || m["status"] == "read")
}

#[test]
fn two_cli_nodes_chat_both_ways_every_message_once_in_order_and_delivered() {
    let root = tempfile::tempdir().unwrap();
    let alice = init(root.path(), "alice");
    let bob = init(root.path(), "bob");
    let _alice_node = NodeProcess::start(&alice, 0);
    let _bob_node = NodeProcess::start(&bob, 0);
    ok(&alice, &["contact", "add", &card(&bob), "--alias", "bob"]);
    ok(&bob, &["contact", "add", &card(&alice), "--alias", "alice"]);

    let count = 100;
    for n in 0..count {
        let sent = json(&alice, &["send", "bob", &format!("a→b {n}")]);
        assert_eq!(sent["status"], "queued", "send returns once durably queued");
        json(&bob, &["send", "alice", &format!("b→a {n}")]);
    }
    let expected_at_bob: Vec<String> = (0..count).map(|n| format!("a→b {n}")).collect();
    let expected_at_alice: Vec<String> = (0..count).map(|n| format!("b→a {n}")).collect();
    let at_alice = wait_until(&alice, "bob", "alice's messages delivered", |list| {
        all_delivered(list, count) && texts(list, "in").len() >= count
    });
    let at_bob = wait_until(&bob, "alice", "bob's messages delivered", |list| {
        all_delivered(list, count) && texts(list, "in").len() >= count
    });
    assert_eq!(
        texts(&at_bob, "in"),
        expected_at_bob,
        "exactly once, in order"
    );
    assert_eq!(
        texts(&at_alice, "in"),
        expected_at_alice,
        "exactly once, in order"
    );
    let first = &at_bob.iter().find(|m| m["direction"] == "in").unwrap();
    for field in ["message_id", "from", "to", "text", "status", "timestamp"] {
        assert!(!first[field].is_null(), "messages --json has {field}");
    }
}

#[test]
fn send_wait_delivered_returns_after_delivery_and_read_receipts_flow_back() {
    let root = tempfile::tempdir().unwrap();
    let alice = init(root.path(), "alice");
    let bob = init(root.path(), "bob");
    let _alice_node = NodeProcess::start(&alice, 0);
    let _bob_node = NodeProcess::start(&bob, 0);
    ok(&alice, &["contact", "add", &card(&bob), "--alias", "bob"]);
    let sent = json(
        &alice,
        &["send", "bob", "are you there?", "--wait", "delivered"],
    );
    assert_eq!(sent["status"], "delivered");
    // Bob never added Alice: her first message makes her a (nameless) contact he can answer.
    let incoming = messages(&bob, sent["from"].as_str().unwrap());
    assert_eq!(texts(&incoming, "in"), ["are you there?"]);
    ok(&bob, &["read", sent["from"].as_str().unwrap()]);
    wait_until(&alice, "bob", "read receipt", |list| {
        list.iter().all(|m| m["status"] == "read")
    });
}

#[test]
fn offline_recipient_gets_message_when_it_starts_without_user_action() {
    let root = tempfile::tempdir().unwrap();
    let alice = init(root.path(), "alice");
    let bob = init(root.path(), "bob");
    let bob_port = free_port();
    let alice_node = NodeProcess::start(&alice, 0);
    let bob_node = NodeProcess::start(&bob, bob_port);
    ok(&alice, &["contact", "add", &card(&bob), "--alias", "bob"]);
    ok(&bob, &["contact", "add", &card(&alice), "--alias", "alice"]);
    bob_node.stop();

    let sent = json(&alice, &["send", "bob", "while you were away"]);
    assert_eq!(sent["status"], "queued");
    let waited = run(
        &alice,
        &["send", "bob", "second", "--wait", "sent", "--timeout", "1"],
    );
    assert_eq!(
        waited.status.code(),
        Some(5),
        "--wait gives up with exit 5, the message stays queued"
    );
    let list = messages(&alice, "bob");
    assert!(
        list.iter().all(|m| m["status"] == "queued"),
        "nothing leaves while bob is offline: {list:#?}"
    );

    let _bob_node = NodeProcess::start(&bob, bob_port);
    let at_bob = wait_until(&bob, "alice", "bob receives after restart", |list| {
        texts(list, "in").len() >= 2
    });
    assert_eq!(texts(&at_bob, "in"), ["while you were away", "second"]);
    wait_until(&alice, "bob", "delivered status", |list| {
        all_delivered(list, 2)
    });
    drop(alice_node);
}

#[test]
fn kill_9_after_send_returned_loses_nothing_and_duplicates_nothing() {
    let root = tempfile::tempdir().unwrap();
    let alice = init(root.path(), "alice");
    let bob = init(root.path(), "bob");
    let alice_port = free_port();
    let bob_port = free_port();
    let alice_node = NodeProcess::start(&alice, alice_port);
    let bob_node = NodeProcess::start(&bob, bob_port);
    ok(&alice, &["contact", "add", &card(&bob), "--alias", "bob"]);
    ok(&bob, &["contact", "add", &card(&alice), "--alias", "alice"]);
    json(&alice, &["send", "bob", "before", "--wait", "delivered"]);
    bob_node.stop();

    for n in 0..5 {
        let sent = json(&alice, &["send", "bob", &format!("survives {n}")]);
        assert_eq!(sent["status"], "queued");
    }
    alice_node.kill_9();

    let _bob_node = NodeProcess::start(&bob, bob_port);
    let _alice_node = NodeProcess::start(&alice, alice_port);
    let at_bob = wait_until(&bob, "alice", "messages after the crash", |list| {
        texts(list, "in").len() >= 6
    });
    wait_until(&alice, "bob", "delivered after the crash", |list| {
        all_delivered(list, 6)
    });
    let expected: Vec<String> = std::iter::once("before".to_owned())
        .chain((0..5).map(|n| format!("survives {n}")))
        .collect();
    assert_eq!(
        texts(&at_bob, "in"),
        expected,
        "nothing lost, nothing twice"
    );
}

#[test]
fn commands_without_a_running_node_say_so_plainly() {
    let root = tempfile::tempdir().unwrap();
    let alice = init(root.path(), "alice");
    for args in [
        &["messages"][..],
        &["send", "bob", "hi"],
        &["contact", "list"],
    ] {
        let output = run(&alice, args);
        assert_eq!(output.status.code(), Some(3), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("no node is running"), "{stderr}");
    }
    // `id` works without a node: it reads the public file.
    let id = json(&alice, &["id"]);
    for field in ["user_id", "device_id", "card", "fingerprint"] {
        assert!(id[field].is_string(), "id --json has {field}");
    }
}

#[test]
fn wrong_passphrase_is_a_clear_error_and_the_identity_survives() {
    let root = tempfile::tempdir().unwrap();
    let alice = init(root.path(), "alice");
    let before = json(&alice, &["id"])["user_id"].clone();
    let output = omega(&alice)
        .args(["node", "--listen", "/ip4/127.0.0.1/tcp/0"])
        .env("OMEGA_PASSPHRASE", "not the passphrase")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&output.stderr).contains("wrong passphrase"));
    let again = run(&alice, &["init", "--name", "mallory"]);
    assert!(!again.status.success(), "init never overwrites an identity");
    assert_eq!(json(&alice, &["id"])["user_id"], before);
    let node = NodeProcess::start(&alice, 0);
    node.stop();
}

#[test]
fn garbage_input_gets_clear_errors() {
    let root = tempfile::tempdir().unwrap();
    let alice = init(root.path(), "alice");
    let bad_listen = run(&alice, &["node", "--listen", "not-a-multiaddr"]);
    assert!(String::from_utf8_lossy(&bad_listen.stderr).contains("invalid --listen"));
    let public_api = run(&alice, &["node", "--api", "0.0.0.0:0"]);
    assert!(String::from_utf8_lossy(&public_api.stderr).contains("loopback"));
    let _node = NodeProcess::start(&alice, 0);
    for (args, expected) in [
        (
            &["contact", "add", "omega:garbage"][..],
            "invalid contact card",
        ),
        (
            &["contact", "add", "https://example.com"],
            "invalid contact card",
        ),
        (&["contact", "add", &card(&alice)], "your own"),
        (&["send", "nobody", "hi"], "no contact named"),
        (&["messages", "--with", "nobody"], "no contact named"),
    ] {
        let output = run(&alice, args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    let bad_limit = run(&alice, &["messages", "--limit", "0"]);
    assert_eq!(bad_limit.status.code(), Some(2));
}

#[test]
fn link_a_second_device_from_the_cli_then_list_and_revoke_it() {
    let root = tempfile::tempdir().unwrap();
    let alice = init(root.path(), "alice");
    let bob = init(root.path(), "bob");
    let _alice_node = NodeProcess::start(&alice, 0);
    let _bob_node = NodeProcess::start(&bob, 0);
    ok(&alice, &["contact", "add", &card(&bob), "--alias", "bob"]);
    ok(&bob, &["contact", "add", &card(&alice), "--alias", "alice"]);
    ok(
        &bob,
        &[
            "send",
            "alice",
            "hello before the link",
            "--wait",
            "delivered",
        ],
    );

    // Garbage and expired-looking URIs are refused before anything is written.
    let phone = root.path().join("phone");
    for (uri, expected) in [
        ("omega:nope", "invalid link uri"),
        ("omega-link:%%%", "not base32"),
        ("omega-link:aaaa", "invalid link uri"),
    ] {
        let output = run(&phone, &["init", "--link", uri]);
        assert_eq!(output.status.code(), Some(1), "{uri}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{uri}: {stderr}");
    }
    assert!(!phone.join("keystore.sealed").exists());

    let link = json(&alice, &["device", "link"]);
    let uri = link["uri"].as_str().expect("uri").to_owned();
    assert!(uri.starts_with("omega-link:"));
    let human = ok(&alice, &["device", "link"]);
    assert!(human.contains("omega-link:") && human.contains("omega init --link"));
    // The second offer replaced the first: the first URI is refused.
    let refused = run(&phone, &["init", "--link", &uri]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("wrong link secret"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let uri = human
        .lines()
        .find(|line| line.starts_with("omega-link:"))
        .expect("uri line")
        .to_owned();
    let joined = json(&phone, &["init", "--link", &uri, "--device-name", "phone"]);
    assert_eq!(joined["user_id"], json(&alice, &["id"])["user_id"]);
    assert_eq!(joined["contacts"], 1);
    // Used once: a second claim is refused.
    let again = run(&root.path().join("tablet"), &["init", "--link", &uri]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("already used"));

    let phone_node = NodeProcess::start(&phone, 0);
    wait_until(&phone, "bob", "the history backfill", |list| {
        texts(list, "in") == ["hello before the link"]
    });
    // Conversation metadata is shared by the devices.
    assert_eq!(json(&alice, &["archive", "bob"])["archived"], true);
    assert_eq!(json(&phone, &["mute", "bob"])["muted"], true);
    let bad = run(&alice, &["alias", "bob", "two words"]);
    assert_eq!(bad.status.code(), Some(1));
    let devices = json(&alice, &["device", "list"]);
    assert_eq!(devices.as_array().expect("array").len(), 2);
    let refuse_self = run(
        &alice,
        &[
            "device",
            "revoke",
            json(&alice, &["id"])["device_id"].as_str().unwrap(),
        ],
    );
    assert_eq!(refuse_self.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refuse_self.stderr).contains("cannot revoke itself"));
    let left = json(&alice, &["device", "revoke", "phone"]);
    assert_eq!(left.as_array().expect("array").len(), 1);
    phone_node.stop();
}
