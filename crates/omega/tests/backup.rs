//! `omega backup create` / `omega backup restore` end to end: the real binary, real nodes on
//! 127.0.0.1, real files. A restored identity keeps its history and keeps talking; a damaged,
//! truncated, foreign or wrongly unlocked backup is refused and leaves nothing behind.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const PASSPHRASE: &str = "backup test passphrase";
const WAIT: Duration = Duration::from_secs(90);
/// Header and sealed chunk sizes of the format (docs/backup.md): 64 KiB chunks + 16-byte tags.
const HEADER_LEN: usize = 95;
const SEALED_CHUNK_LEN: usize = 64 * 1024 + 16;

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

/// Runs a command that must fail with `code`, and returns its stderr.
fn fails(output: Output, code: i32) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(code), "stderr: {stderr}");
    assert!(output.stdout.is_empty(), "nothing on stdout on failure");
    stderr
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
    fn start(dir: &Path, port: u16) -> NodeProcess {
        let mut child = omega(dir)
            .args([
                "--json",
                "node",
                "--listen",
                &format!("/ip4/127.0.0.1/tcp/{port}"),
                "--api",
                "127.0.0.1:0",
                "--no-mdns",
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

    /// SIGTERM and wait for the clean shutdown.
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

/// Polls the message list until `done` holds, or panics.
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

/// What a conversation holds, independent of which process shows it.
fn history(list: &[Value]) -> Vec<(String, String, String)> {
    list.iter()
        .map(|m| {
            (
                m["message_id"].as_str().unwrap_or_default().to_owned(),
                m["direction"].as_str().unwrap_or_default().to_owned(),
                m["text"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Files in `dir` whose names start with a dot: temporary files and directories left behind.
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.starts_with('.'))
        .collect()
}

/// An identity with no node running, backed up to `root/NAME.omega-backup`.
fn backed_up(root: &Path, name: &str) -> (PathBuf, PathBuf) {
    let dir = init(root, name);
    let backup = root.join(format!("{name}.omega-backup"));
    ok(&dir, &["backup", "create", backup.to_str().unwrap()]);
    (dir, backup)
}

#[test]
fn restored_backup_of_a_running_node_keeps_history_contacts_and_sessions_in_both_directions() {
    let root = tempfile::tempdir().unwrap();
    let alice = init(root.path(), "alice");
    let bob = init(root.path(), "bob");
    let alice_port = free_port();
    let alice_node = NodeProcess::start(&alice, alice_port);
    let _bob_node = NodeProcess::start(&bob, 0);
    ok(&alice, &["contact", "add", &card(&bob), "--alias", "bob"]);
    ok(&bob, &["contact", "add", &card(&alice), "--alias", "alice"]);
    for n in 0..3 {
        let sent = json(
            &alice,
            &["send", "bob", &format!("a→b {n}"), "--wait", "delivered"],
        );
        assert_eq!(sent["status"], "delivered");
        json(
            &bob,
            &["send", "alice", &format!("b→a {n}"), "--wait", "delivered"],
        );
    }
    let before = wait_until(&alice, "bob", "bob's messages at alice", |list| {
        texts(list, "in").len() == 3
    });
    let alice_id = json(&alice, &["id"]);

    // Backed up while her node runs.
    let backup = root.path().join("alice.omega-backup");
    let created = json(&alice, &["backup", "create", backup.to_str().unwrap()]);
    let size = std::fs::metadata(&backup).unwrap().len();
    assert_eq!(created["path"], backup.to_str().unwrap());
    assert_eq!(created["bytes"], size);
    assert_eq!(created["messages"], 6);
    assert_eq!(created["contacts"], 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the backup is private to its owner");
    }
    assert_eq!(
        leftovers(root.path()),
        Vec::<String>::new(),
        "no temporary file"
    );
    assert_eq!(leftovers(&alice), Vec::<String>::new(), "no snapshot left");
    let contents = std::fs::read(&backup).unwrap();
    assert!(
        !contents.windows(5).any(|w| w == b"a\xe2\x86\x92b "),
        "no message text in clear"
    );

    // The same identity must not run twice: stop the original, then restore and start the copy.
    alice_node.stop();
    let restored = root.path().join("elsewhere").join("alice");
    let answer = json(&restored, &["backup", "restore", backup.to_str().unwrap()]);
    assert_eq!(answer["user_id"], alice_id["user_id"]);
    assert_eq!(answer["messages"], 6);
    assert_eq!(answer["contacts"], 1);
    for file in ["api.json", "node.lock"] {
        assert!(
            !restored.join(file).exists(),
            "{file} is not part of a backup"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&restored), 0o700, "the restored data dir is private");
        assert_eq!(mode(&restored.join("keystore.sealed")), 0o600);
        assert_eq!(mode(&restored.join("omega.db")), 0o600);
    }
    let restored_id = json(&restored, &["id"]);
    assert_eq!(restored_id["user_id"], alice_id["user_id"]);
    assert_eq!(restored_id["device_id"], alice_id["device_id"]);

    let _restored_node = NodeProcess::start(&restored, alice_port);
    assert_eq!(
        history(&messages(&restored, "bob")),
        history(&before),
        "the whole conversation, same ids, same order"
    );
    let contacts = json(&restored, &["contact", "list"]);
    assert_eq!(contacts[0]["alias"], "bob");

    // Sessions survived: Alice writes on in her existing session and Bob answers.
    let sent = json(
        &restored,
        &["send", "bob", "after the restore", "--wait", "delivered"],
    );
    assert_eq!(sent["status"], "delivered");
    let at_bob = wait_until(
        &bob,
        "alice",
        "bob receives from the restored alice",
        |list| texts(list, "in").len() == 4,
    );
    assert_eq!(texts(&at_bob, "in").last().unwrap(), "after the restore");
    json(
        &bob,
        &["send", "alice", "welcome back", "--wait", "delivered"],
    );
    let at_alice = wait_until(&restored, "bob", "bob's answer", |list| {
        texts(list, "in").len() == 4
    });
    assert_eq!(texts(&at_alice, "in").last().unwrap(), "welcome back");
}

#[test]
fn backup_of_a_stopped_node_is_written_atomically_and_never_overwritten_without_force() {
    let root = tempfile::tempdir().unwrap();
    let (alice, backup) = backed_up(root.path(), "alice");
    let first = std::fs::read(&backup).unwrap();
    assert_eq!(&first[..8], b"OMEGABAK");

    let refused = fails(
        run(&alice, &["backup", "create", backup.to_str().unwrap()]),
        1,
    );
    assert!(
        refused.contains("already exists") && refused.contains("--force"),
        "{refused}"
    );
    assert_eq!(std::fs::read(&backup).unwrap(), first, "untouched");

    let again = json(
        &alice,
        &["backup", "create", backup.to_str().unwrap(), "--force"],
    );
    assert_eq!(again["messages"], 0);
    assert_ne!(
        std::fs::read(&backup).unwrap(),
        first,
        "fresh salt, rewritten"
    );
    assert_eq!(leftovers(root.path()), Vec::<String>::new());

    let own_file = alice.join("omega.db");
    let refused = fails(
        run(
            &alice,
            &["backup", "create", own_file.to_str().unwrap(), "--force"],
        ),
        1,
    );
    assert!(refused.contains("identity's own files"), "{refused}");
    let missing_dir = root.path().join("no/such/dir/b.omega-backup");
    let refused = fails(
        run(&alice, &["backup", "create", missing_dir.to_str().unwrap()]),
        1,
    );
    assert!(refused.contains("does not exist"), "{refused}");

    let nobody = fails(
        run(
            &root.path().join("nobody"),
            &["backup", "create", root.path().join("x").to_str().unwrap()],
        ),
        1,
    );
    assert!(nobody.contains("no identity"), "{nobody}");
}

#[test]
fn wrong_passphrase_exits_4_and_writes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let (alice, backup) = backed_up(root.path(), "alice");

    let not_written = root.path().join("other.omega-backup");
    let output = omega(&alice)
        .args(["backup", "create", not_written.to_str().unwrap()])
        .env("OMEGA_PASSPHRASE", "not it")
        .output()
        .unwrap();
    assert!(fails(output, 4).contains("wrong passphrase"));
    assert!(!not_written.exists());

    let target = root.path().join("restored");
    let output = omega(&target)
        .args(["backup", "restore", backup.to_str().unwrap()])
        .env("OMEGA_PASSPHRASE", "not it")
        .output()
        .unwrap();
    assert!(fails(output, 4).contains("wrong passphrase"));
    assert!(!target.exists(), "no data dir");
    assert_eq!(leftovers(root.path()), Vec::<String>::new());
}

#[test]
fn truncated_flipped_shortened_and_garbage_backups_are_refused_and_leave_no_data_dir() {
    let root = tempfile::tempdir().unwrap();
    let (_alice, backup) = backed_up(root.path(), "alice");
    let good = std::fs::read(&backup).unwrap();
    let body = good.len() - HEADER_LEN;
    assert!(
        body > SEALED_CHUNK_LEN,
        "a full chunk and a final one: {body} bytes"
    );
    let full_chunks = body / SEALED_CHUNK_LEN;
    let without_final_chunk = HEADER_LEN + full_chunks * SEALED_CHUNK_LEN;
    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 0x04;

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated", good[..good.len() * 2 / 3].to_vec(), "damaged"),
        ("flipped", flipped, "damaged"),
        (
            "final-chunk-removed",
            good[..without_final_chunk].to_vec(),
            "truncated",
        ),
        ("header-only", good[..HEADER_LEN].to_vec(), "truncated"),
        ("cut-header", good[..40].to_vec(), "ends inside its header"),
        (
            "garbage",
            b"SQLite format 3\0 certainly not a backup".repeat(100),
            "not an \u{d4}mega backup",
        ),
        ("empty", Vec::new(), "not an \u{d4}mega backup"),
    ];
    for (name, bytes, expected) in cases {
        let file = root.path().join(format!("{name}.omega-backup"));
        std::fs::write(&file, &bytes).unwrap();
        // The target's parents do not exist either: they are created, then removed again.
        let target = root.path().join(name).join("deeper").join("alice");
        let stderr = fails(
            run(&target, &["backup", "restore", file.to_str().unwrap()]),
            1,
        );
        assert!(stderr.contains(expected), "{name}: {stderr}");
        assert!(stderr.contains("cannot restore from"), "{name}: {stderr}");
        assert!(
            !root.path().join(name).exists(),
            "{name}: nothing left behind"
        );
        assert_eq!(leftovers(root.path()), Vec::<String>::new(), "{name}");
    }
}

#[test]
fn restoring_over_an_identity_or_into_a_non_empty_directory_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let (alice, backup) = backed_up(root.path(), "alice");
    let bob = init(root.path(), "bob");
    let keystore = std::fs::read(bob.join("keystore.sealed")).unwrap();
    for target in [&alice, &bob] {
        let stderr = fails(
            run(target, &["backup", "restore", backup.to_str().unwrap()]),
            1,
        );
        assert!(stderr.contains("already holds an identity"), "{stderr}");
    }
    assert_eq!(
        std::fs::read(bob.join("keystore.sealed")).unwrap(),
        keystore
    );

    let busy = root.path().join("busy");
    std::fs::create_dir(&busy).unwrap();
    std::fs::write(busy.join("notes.txt"), "mine").unwrap();
    let stderr = fails(
        run(&busy, &["backup", "restore", backup.to_str().unwrap()]),
        1,
    );
    assert!(stderr.contains("not empty"), "{stderr}");

    // An empty directory is fine.
    let empty = root.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    json(&empty, &["backup", "restore", backup.to_str().unwrap()]);
    assert_eq!(
        json(&empty, &["id"])["user_id"],
        json(&alice, &["id"])["user_id"]
    );
}

#[test]
fn separate_backup_passphrase_is_needed_to_restore_and_the_identity_passphrase_still_guards_it() {
    let root = tempfile::tempdir().unwrap();
    let alice = init(root.path(), "alice");
    let backup = root.path().join("alice.omega-backup");
    let var = "OMEGA_TEST_BACKUP_PASSPHRASE";
    let output = omega(&alice)
        .args([
            "backup",
            "create",
            backup.to_str().unwrap(),
            "--backup-passphrase-env",
            var,
        ])
        .output()
        .unwrap();
    assert!(
        fails(output, 1).contains("not set"),
        "an unset variable is an error"
    );
    assert!(!backup.exists());
    let output = omega(&alice)
        .args([
            "backup",
            "create",
            backup.to_str().unwrap(),
            "--backup-passphrase-env",
            var,
        ])
        .env(var, "a different backup passphrase")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let target = root.path().join("restored");
    let restore = |backup_passphrase: Option<&str>, identity_passphrase: &str| {
        let mut command = omega(&target);
        command
            .args(["--json", "backup", "restore", backup.to_str().unwrap()])
            .env("OMEGA_PASSPHRASE", identity_passphrase);
        if let Some(passphrase) = backup_passphrase {
            command
                .args(["--backup-passphrase-env", var])
                .env(var, passphrase);
        }
        command.output().unwrap()
    };
    // The identity's passphrase alone does not open it.
    assert!(fails(restore(None, PASSPHRASE), 4).contains("wrong passphrase"));
    assert!(!target.exists());
    // The backup opens, but the identity inside needs its own passphrase.
    let stderr = fails(restore(Some("a different backup passphrase"), "not it"), 4);
    assert!(stderr.contains("wrong passphrase"), "{stderr}");
    assert!(!target.exists());
    assert_eq!(leftovers(root.path()), Vec::<String>::new());

    let output = restore(Some("a different backup passphrase"), PASSPHRASE);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["user_id"], json(&alice, &["id"])["user_id"]);
}

#[test]
fn an_independent_implementation_reads_the_backup_as_documented() {
    // Python's `cryptography` (Argon2id since 44) plus a hand-written HChaCha20: a second reader
    // of the format, so the format is what docs/backup.md says and not whatever our code does.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/backup_xcheck.py");
    let probe = Command::new("python3")
        .args([
            "-c",
            "from cryptography.hazmat.primitives.kdf.argon2 import Argon2id",
        ])
        .output();
    if !probe.is_ok_and(|output| output.status.success()) {
        eprintln!("skipped: python3 with cryptography >= 44 (Argon2id) is not installed");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let (alice, backup) = backed_up(root.path(), "alice");
    let output = Command::new("python3")
        .arg(&script)
        .arg(&backup)
        .env("OMEGA_PASSPHRASE", PASSPHRASE)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "the second reader refused it: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read: Value = serde_json::from_slice(&output.stdout).unwrap();
    let names: Vec<&str> = read["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "manifest.json",
            "public.json",
            "keystore.sealed",
            "omega.db"
        ]
    );
    assert_eq!(read["manifest"]["format"], "omega-backup");
    assert_eq!(
        read["manifest"]["user_id"],
        json(&alice, &["id"])["user_id"]
    );
}
