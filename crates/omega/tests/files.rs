//! End-to-end encrypted files between real processes: `omega server` stores sealed chunks,
//! `omega send-file` seals and uploads a file, `omega fetch-file` fetches, verifies and resumes.
//! Memory is measured (peak RSS from /proc), never time.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const PASSPHRASE: &str = "files test passphrase";
const WAIT: Duration = Duration::from_secs(600);
const MIB: u64 = 1024 * 1024;

fn omega(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_omega"));
    command
        .arg("--data-dir")
        .arg(dir)
        .env("OMEGA_PASSPHRASE", PASSPHRASE)
        .env_remove("OMEGA_DATA_DIR")
        .env_remove("OMEGA_SERVER_DB")
        .stdin(Stdio::null());
    command
}

struct Process {
    child: Child,
    started: Value,
}

impl Process {
    fn spawn(mut command: Command) -> Process {
        let mut child = command.stdout(Stdio::piped()).spawn().expect("spawn");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read");
        let started: Value =
            serde_json::from_str(&line).unwrap_or_else(|_| panic!("did not start: {line:?}"));
        assert_eq!(started["event"], "started");
        Process { child, started }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Peak resident memory of the process so far (VmHWM), in bytes.
    fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let line = status
            .lines()
            .find(|line| line.starts_with("VmHWM:"))
            .expect("VmHWM");
        let kib: u64 = line
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .expect("VmHWM value");
        kib * 1024
    }

    fn kill_9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(dir: &Path) -> Process {
    let mut command = omega(dir);
    command.args([
        "--json",
        "server",
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--http",
        "127.0.0.1:0",
    ]);
    Process::spawn(command)
}

fn server_addr(server: &Process) -> String {
    server.started["listen_addrs"][0]
        .as_str()
        .expect("addr")
        .to_owned()
}

fn start_node(dir: &Path, server: &str) -> Process {
    let mut command = omega(dir);
    command.args([
        "--json",
        "node",
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--bootstrap",
        server,
        "--mailbox-poll-ms",
        "200",
        "--no-mdns",
    ]);
    Process::spawn(command)
}

fn init(root: &Path, name: &str) -> PathBuf {
    let dir = root.join(name);
    let status = omega(&dir)
        .args(["init", "--name", name])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    dir
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

/// Calls the node's local API (URL and token from its api.json); returns status and JSON.
fn call(dir: &Path, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let info: Value =
        serde_json::from_slice(&std::fs::read(dir.join("api.json")).unwrap()).unwrap();
    let url = format!("{}{path}", info["url"].as_str().unwrap());
    let auth = format!("Bearer {}", info["token"].as_str().unwrap());
    let agent = agent();
    let mut response = match body {
        Some(body) if method == "POST" => agent
            .post(&url)
            .header("Authorization", &auth)
            .send_json(body),
        _ => agent.get(&url).header("Authorization", &auth).call(),
    }
    .unwrap();
    let mut text = String::new();
    response
        .body_mut()
        .as_reader()
        .read_to_string(&mut text)
        .unwrap();
    (
        response.status().as_u16(),
        serde_json::from_str(&text).unwrap(),
    )
}

fn api(dir: &Path, method: &str, path: &str, body: Option<Value>) -> Value {
    let (status, value) = call(dir, method, path, body);
    assert!((200..300).contains(&status), "{method} {path}: {value}");
    value
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Alice and Bob know each other's cards, both with the server as home mailbox.
fn pair(root: &Path, server: &str) -> (PathBuf, Process, PathBuf, Process) {
    let alice = init(root, "alice");
    let bob = init(root, "bob");
    let alice_node = start_node(&alice, server);
    let bob_node = start_node(&bob, server);
    wait_for("bob's first mailbox sync", || {
        api(&bob, "GET", "/v1/stats", None)["mailbox_syncs"].as_u64() >= Some(1)
    });
    let bob_card = bob_node.started["card"].as_str().unwrap().to_owned();
    let alice_card = alice_node.started["card"].as_str().unwrap().to_owned();
    api(
        &alice,
        "POST",
        "/v1/contacts",
        Some(json!({"card": bob_card, "alias": "bob"})),
    );
    api(
        &bob,
        "POST",
        "/v1/contacts",
        Some(json!({"card": alice_card, "alias": "alice"})),
    );
    (alice, alice_node, bob, bob_node)
}

/// Writes `size` pseudo-random bytes (xorshift, 1 MiB at a time) and returns their SHA-256 hex.
fn make_file(path: &Path, size: u64, seed: u64) -> String {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut hasher = Sha256::new();
    let mut state = seed | 1;
    let mut left = size;
    let mut buffer = vec![0u8; MIB as usize];
    while left > 0 {
        let n = left.min(MIB) as usize;
        for word in buffer[..n].chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes()[..word.len()]);
        }
        file.write_all(&buffer[..n]).unwrap();
        hasher.update(&buffer[..n]);
        left -= n as u64;
    }
    file.flush().unwrap();
    hex::encode(hasher.finalize())
}

fn sha256_of(path: &Path) -> String {
    let mut file = std::fs::File::open(path).unwrap();
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).unwrap();
    hex::encode(hasher.finalize())
}

fn run(command: &mut Command) -> Output {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    command.output().unwrap()
}

fn json_of(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "not JSON: {}",
            String::from_utf8_lossy(&output.stdout).trim()
        )
    })
}

/// Sends `path` to bob with the CLI and returns its JSON result.
fn send_file(alice: &Path, path: &Path) -> Value {
    json_of(&run(omega(alice)
        .args(["--json", "send-file", "bob"])
        .arg(path)))
}

/// Bob's file message, once it arrived.
fn arrived_file(bob: &Path) -> Value {
    let mut found = Value::Null;
    wait_for("the file message", || {
        let messages = api(bob, "GET", "/v1/messages?with=alice&limit=100", None);
        if let Some(file) = messages
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["direction"] == "in" && m["kind"] == "file")
        {
            found = file.clone();
            true
        } else {
            false
        }
    });
    found
}

#[test]
fn a_200_mb_file_reaches_an_offline_receiver_through_the_server_resumes_after_kill_9_and_verifies()
{
    let root = tempfile::tempdir().unwrap();
    let server = start_server(&root.path().join("server"));
    let home = server_addr(&server);
    let (alice, alice_node, bob, bob_node) = pair(root.path(), &home);
    bob_node.kill_9();

    const SIZE: u64 = 200 * 1000 * 1000;
    let original = root.path().join("big.bin");
    let expected = make_file(&original, SIZE, 0x5eed);

    let sent = send_file(&alice, &original);
    assert_eq!(sent["state"], "done");
    assert_eq!(sent["sha256"], expected.as_str());
    assert_eq!(sent["bytes_done"], SIZE);
    let message_id = sent["message_id"].as_str().unwrap().to_owned();
    let sender_peak = alice_node.peak_rss();
    wait_for("the file message deposited at bob's mailbox", || {
        api(&alice, "GET", &format!("/v1/messages/{message_id}"), None)["status"] == "sent"
    });
    // The sender goes away: every chunk must come from the server's blob store.
    alice_node.kill_9();

    let bob_node = start_node(&bob, &home);
    let message = arrived_file(&bob);
    assert_eq!(message["message_id"], message_id.as_str());
    assert_eq!(message["file"]["name"], "big.bin");
    assert_eq!(message["file"]["size"], SIZE);
    assert_eq!(message["file"]["sha256"], expected.as_str());
    assert_eq!(message["file"]["state"], "available");
    assert!(message["file"].get("key").is_none());

    // Fetch, and kill bob's node once about half has been verified.
    let out = root.path().join("downloads");
    std::fs::create_dir(&out).unwrap();
    let mut fetch = omega(&bob)
        .args(["--json", "fetch-file", &message_id, "--out"])
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut halfway = 0;
    wait_for("half of the file fetched", || {
        let transfers = api(&bob, "GET", "/v1/transfers", None);
        halfway = transfers
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["bytes_done"].as_u64())
            .max()
            .unwrap_or(0);
        halfway >= SIZE / 2
    });
    let first_peak = bob_node.peak_rss();
    bob_node.kill_9();
    let interrupted = fetch.wait().unwrap();
    assert!(!interrupted.success(), "the fetch of a killed node fails");
    assert!(
        !out.join("big.bin").exists(),
        "nothing unverified is placed"
    );

    // Restart and fetch again: it resumes.
    let bob_node = start_node(&bob, &home);
    let fetched = json_of(&run(omega(&bob)
        .args(["--json", "fetch-file", &message_id, "--out"])
        .arg(&out)));
    let second_peak = bob_node.peak_rss();
    assert_eq!(fetched["state"], "done");
    assert_eq!(fetched["sha256"], expected.as_str());
    let resumed = fetched["resumed_bytes"].as_u64().unwrap();
    let transferred = fetched["bytes_transferred"].as_u64().unwrap();
    assert!(resumed >= SIZE / 2 - 4 * MIB, "resumed after {resumed}");
    assert!(
        transferred < SIZE - resumed + 16 * MIB && transferred < SIZE,
        "fetched {transferred} bytes the second time, of {SIZE}"
    );
    let path = PathBuf::from(fetched["path"].as_str().unwrap());
    assert_eq!(path, out.join("big.bin"));
    assert_eq!(
        sha256_of(&path),
        expected,
        "the file on disk is the file sent"
    );
    let message = api(&bob, "GET", &format!("/v1/messages/{message_id}"), None);
    assert_eq!(message["file"]["state"], "done");
    assert_eq!(message["file"]["path"], path.display().to_string());

    println!(
        "peak RSS for a {} MB file: sender node {:.1} MiB, receiver node {:.1} MiB (killed at {:.0} MB), resumed receiver {:.1} MiB; resumed at {resumed} bytes, fetched {transferred} bytes the second time",
        SIZE / 1_000_000,
        sender_peak as f64 / MIB as f64,
        first_peak as f64 / MIB as f64,
        halfway as f64 / 1e6,
        second_peak as f64 / MIB as f64,
    );
    // Flat memory: far below the file's size (a generous bound for a debug build).
    for (who, peak) in [
        ("sender", sender_peak),
        ("receiver", first_peak),
        ("resumed receiver", second_peak),
    ] {
        assert!(
            peak < 100 * MIB,
            "{who} peaked at {peak} bytes for a {SIZE}-byte file"
        );
    }
    drop(server);
}

#[test]
fn a_chunk_corrupted_in_the_servers_store_is_detected_and_fetched_from_the_sender() {
    let root = tempfile::tempdir().unwrap();
    let server_dir = root.path().join("server");
    let server = start_server(&server_dir);
    let home = server_addr(&server);
    let (alice, _alice_node, bob, _bob_node) = pair(root.path(), &home);
    let original = root.path().join("notes.bin");
    let expected = make_file(&original, 5 * MIB + 123, 42);
    let sent = send_file(&alice, &original);
    let message_id = sent["message_id"].as_str().unwrap().to_owned();
    arrived_file(&bob);

    // Flip a byte in one chunk the server holds.
    let shard = std::fs::read_dir(server_dir.join("blobs"))
        .unwrap()
        .flatten()
        .find(|entry| entry.path().is_dir())
        .unwrap();
    let chunk = std::fs::read_dir(shard.path())
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&chunk).unwrap();
    bytes[100] ^= 0x40;
    std::fs::write(&chunk, bytes).unwrap();

    let out = root.path().join("got.bin");
    let fetched = json_of(&run(omega(&bob)
        .args(["--json", "fetch-file", &message_id, "--out"])
        .arg(&out)));
    assert_eq!(fetched["sha256"], expected.as_str());
    assert_eq!(sha256_of(&out), expected);
    assert_eq!(fetched["corrupt_chunks"], 1, "{fetched}");
    let alice_addrs: Vec<String> = api(&alice, "GET", "/v1/id", None)["addrs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    let from = fetched["chunks_from"].as_object().unwrap();
    let from_sender: u64 = from
        .iter()
        .filter(|(source, _)| alice_addrs.contains(source))
        .map(|(_, n)| n.as_u64().unwrap())
        .sum();
    let from_server = from[&home].as_u64().unwrap();
    assert_eq!(
        from_sender, 1,
        "the damaged chunk came from the sender: {from:?}"
    );
    assert_eq!(
        from_server, 6,
        "every chunk was first asked of the server: {from:?}"
    );
    drop(server);
}

#[test]
fn garbage_file_input_gets_a_clear_error_and_a_non_zero_exit() {
    let root = tempfile::tempdir().unwrap();
    let server = start_server(&root.path().join("server"));
    let home = server_addr(&server);
    let (alice, _alice_node, _bob, _bob_node) = pair(root.path(), &home);
    let fails = |args: &[&str], expected: &str| {
        let output = run(omega(&alice).args(args));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(
            stderr.contains(expected),
            "{args:?}: expected {expected:?} in {stderr:?}"
        );
    };
    let missing = root.path().join("missing.bin");
    fails(
        &["send-file", "bob", missing.to_str().unwrap()],
        "cannot read",
    );
    fails(
        &["send-file", "bob", root.path().to_str().unwrap()],
        "is a directory",
    );
    let huge = root.path().join("huge.bin");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(1024 * MIB + 1)
        .unwrap();
    fails(
        &["send-file", "bob", huge.to_str().unwrap()],
        "more than the limit of 1 GiB",
    );
    let small = root.path().join("small.txt");
    std::fs::write(&small, b"hello").unwrap();
    fails(&["send-file", "nobody", small.to_str().unwrap()], "nobody");
    fails(
        &["fetch-file", "0190b3c2-0000-7000-8000-000000000000"],
        "0190b3c2-0000-7000-8000-000000000000",
    );
    fails(&["fetch-file", "not-an-id"], "not-an-id");
    let text = api(
        &alice,
        "POST",
        "/v1/messages",
        Some(json!({"to": "bob", "text": "just text"})),
    );
    let text_id = text["message_id"].as_str().unwrap();
    fails(&["fetch-file", text_id], "not a file");
    // My own file message has nothing to fetch; a bad --out is refused before anything starts.
    let sent = send_file(&alice, &small);
    let sent_id = sent["message_id"].as_str().unwrap();
    fails(&["fetch-file", sent_id], "nothing to fetch");
    // The API refuses a relative path and a browser-less unknown transfer clearly too.
    let (status, refused) = call(
        &alice,
        "POST",
        "/v1/files",
        Some(json!({"to": "bob", "path": "relative/path"})),
    );
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("absolute")
    );
    let (status, unknown) = call(&alice, "GET", "/v1/transfers/nope", None);
    assert_eq!(status, 404, "{unknown}");
    drop(server);
}

#[test]
fn a_fetch_to_a_bad_out_path_is_refused_and_the_file_stays_fetchable() {
    let root = tempfile::tempdir().unwrap();
    let server = start_server(&root.path().join("server"));
    let home = server_addr(&server);
    let (alice, _alice_node, bob, _bob_node) = pair(root.path(), &home);
    let original = root.path().join("photo.bin");
    let expected = make_file(&original, 300_000, 7);
    let sent = send_file(&alice, &original);
    let message_id = sent["message_id"].as_str().unwrap().to_owned();
    arrived_file(&bob);
    let bad = root.path().join("no/such/dir/photo.bin");
    let output = run(omega(&bob)
        .args(["fetch-file", &message_id, "--out"])
        .arg(&bad));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("does not exist"), "{stderr}");
    let existing = root.path().join("photo.bin");
    let output = run(omega(&bob)
        .args(["fetch-file", &message_id, "--out"])
        .arg(&existing));
    assert!(String::from_utf8_lossy(&output.stderr).contains("already exists"));
    let out = root.path().join("fetched");
    std::fs::create_dir(&out).unwrap();
    let fetched = json_of(&run(omega(&bob)
        .args(["--json", "fetch-file", &message_id, "--out"])
        .arg(&out)));
    assert_eq!(sha256_of(&out.join("photo.bin")), expected);
    assert_eq!(fetched["resumed_bytes"], 0);
    drop(server);
}

#[test]
fn a_picture_arrives_with_its_thumbnail_and_no_message_shows_the_key() {
    let root = tempfile::tempdir().unwrap();
    let server = start_server(&root.path().join("server"));
    let home = server_addr(&server);
    let (alice, _alice_node, bob, _bob_node) = pair(root.path(), &home);
    let picture = root.path().join("sunset.png");
    image::RgbImage::from_fn(400, 200, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    })
    .save(&picture)
    .unwrap();
    let sent = send_file(&alice, &picture);
    let message = arrived_file(&bob);
    assert_eq!(message["message_id"], sent["message_id"]);
    let file = &message["file"];
    assert_eq!(file["mime"], "image/png");
    assert_eq!(file["thumbnail"]["width"], 128);
    assert_eq!(file["thumbnail"]["height"], 64);
    assert_eq!(file["state"], "available");
    // The manifest (with the key) is in neither side's API output.
    let manifest_hex_len = 64;
    for dir in [&alice, &bob] {
        let all = api(dir, "GET", "/v1/messages?limit=100", None).to_string();
        assert!(
            !all.contains("manifest") && !all.contains("\"key\""),
            "{all}"
        );
        assert!(
            !all.split('"').any(|s| s.len() > 4 * manifest_hex_len && s.chars().all(|c| c.is_ascii_hexdigit())),
            "no long hex blob in {all}"
        );
    }
    let mine = api(
        &alice,
        "GET",
        &format!("/v1/messages/{}", sent["message_id"].as_str().unwrap()),
        None,
    );
    assert_eq!(mine["file"]["state"], "sent");
    drop(server);
}

/// Sends a raw body to `POST /v1/files/upload?…` with the API token; status and JSON.
fn upload(dir: &Path, query: &str, body: &[u8]) -> (u16, Value) {
    let info: Value =
        serde_json::from_slice(&std::fs::read(dir.join("api.json")).unwrap()).unwrap();
    let url = format!("{}/v1/files/upload?{query}", info["url"].as_str().unwrap());
    let auth = format!("Bearer {}", info["token"].as_str().unwrap());
    let mut response = agent()
        .post(&url)
        .header("Authorization", &auth)
        .send(body)
        .unwrap();
    let text = response.body_mut().read_to_string().unwrap();
    (
        response.status().as_u16(),
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

#[test]
fn an_uploaded_file_is_sent_and_a_fetched_one_is_downloaded_and_garbage_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let server = start_server(&root.path().join("server"));
    let home = server_addr(&server);
    let (alice, _alice_node, bob, _bob_node) = pair(root.path(), &home);

    // Garbage: no such contact, an empty body, a name that sanitizes to nothing is renamed.
    let (status, error) = upload(&alice, "to=nobody&name=a.txt", b"hello");
    assert_eq!(status, 404, "{error}");
    let (status, error) = upload(&alice, "to=bob&name=a.txt", b"");
    assert_eq!(status, 400, "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("empty")
    );
    let (status, _) = upload(&alice, "name=a.txt", b"hello");
    assert_eq!(status, 400, "a missing `to` is refused");

    // An upload is sent like any file; its name survives (sanitized).
    let body = b"lista de compras: arroz, feij\xc3\xa3o, farinha\n".repeat(10_000);
    let (status, transfer) = upload(&alice, "to=bob&name=..%2Fcompras.txt", &body);
    assert_eq!(status, 202, "{transfer}");
    let arrived = arrived_file(&bob);
    let message_id = arrived["message_id"].as_str().unwrap().to_owned();
    assert!(!arrived["file"]["name"].as_str().unwrap().contains('/'));

    // Not fetched yet: no content. Then fetched into the node's downloads and downloaded whole.
    let (status, _) = call(
        &bob,
        "GET",
        &format!("/v1/files/{message_id}/content"),
        None,
    );
    assert_eq!(status, 400);
    let (status, _) = call(
        &bob,
        "GET",
        "/v1/files/00000000-0000-0000-0000-000000000000/content",
        None,
    );
    assert_eq!(status, 404);
    api(
        &bob,
        "POST",
        &format!("/v1/files/{message_id}/fetch"),
        Some(json!({})),
    );
    wait_for("the file is fetched", || {
        api(&bob, "GET", &format!("/v1/messages/{message_id}"), None)["file"]["state"] == "done"
    });
    let info: Value =
        serde_json::from_slice(&std::fs::read(bob.join("api.json")).unwrap()).unwrap();
    let url = format!(
        "{}/v1/files/{message_id}/content",
        info["url"].as_str().unwrap()
    );
    let mut response = agent()
        .get(&url)
        .header(
            "Authorization",
            &format!("Bearer {}", info["token"].as_str().unwrap()),
        )
        .call()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let disposition = response
        .headers()
        .get("content-disposition")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    let mut downloaded = Vec::new();
    response
        .body_mut()
        .as_reader()
        .read_to_end(&mut downloaded)
        .unwrap();
    assert_eq!(downloaded, body);
    drop(server);
}
