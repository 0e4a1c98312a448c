//! `omega audit verify` end to end: head and proof files built with `omega-audit` as the hub
//! builds them, checked by the real binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use omega_audit::{Log, ProofBundle, SignedHead, SigningKey, sign_checkpoint, verifier_key};
use serde_json::Value;

const ORIGIN: &str = "hub.example/audit";

fn signing_key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn entry(i: u64) -> String {
    format!(r#"{{"seq":{i},"action":"member.add","actor":"alice","target":"bob{i}"}}"#)
}

/// A log of `n` entries, with entry `changed` (if any) replaced: a fork.
fn log(n: u64, changed: Option<u64>) -> Log {
    let mut log = Log::default();
    for i in 0..n {
        let data = if Some(i) == changed {
            entry(1000 + i)
        } else {
            entry(i)
        };
        log.append(data.as_bytes());
    }
    log
}

fn head(log: &Log, size: u64, key: &SigningKey) -> SignedHead {
    let root = log.root_at(size).unwrap();
    let note = sign_checkpoint(ORIGIN, size, &root, ORIGIN, key).unwrap();
    SignedHead::new(note, verifier_key(ORIGIN, key).unwrap()).unwrap()
}

fn inclusion(log: &Log, index: u64, size: u64) -> ProofBundle {
    let proof = log.prove_inclusion(index, size).unwrap();
    ProofBundle::inclusion(index, size, entry(index), &proof)
}

fn consistency(log: &Log, old: u64, new: u64) -> ProofBundle {
    ProofBundle::consistency(old, new, &log.prove_consistency(old, new).unwrap())
}

fn write(dir: &Path, name: &str, value: &impl serde::Serialize) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(value).unwrap()).unwrap();
    path
}

fn verify(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_omega"));
    command.args(["audit", "verify"]).stdin(Stdio::null());
    for arg in args {
        command.arg(arg);
    }
    command.output().expect("run omega")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_ok(output: &Output) {
    assert!(
        output.status.success(),
        "expected success, got {:?}: {}",
        output.status,
        stderr(output)
    );
}

fn assert_fails(output: &Output) {
    assert_eq!(
        output.status.code(),
        Some(1),
        "expected exit code 1; stdout: {} stderr: {}",
        stdout(output),
        stderr(output)
    );
    assert!(
        stderr(output).starts_with("omega: "),
        "no error message: {}",
        stderr(output)
    );
}

#[test]
fn valid_inclusion_proof_is_ok() {
    let dir = tempfile::tempdir().unwrap();
    let key = signing_key(7);
    let log = log(10, None);
    let head = write(dir.path(), "HEAD.json", &head(&log, 10, &key));
    let proof = write(dir.path(), "PROOF.json", &inclusion(&log, 4, 10));
    let pinned = verifier_key(ORIGIN, &key).unwrap();

    let output = verify(&[&"--head", &head, &"--proof", &proof, &"--key", &pinned]);
    assert_ok(&output);
    let out = stdout(&output);
    assert!(
        out.starts_with("ok: entry 4 is in tree size 10 of hub.example/audit"),
        "{out}"
    );

    // Without --key it still verifies, against the head's own key, and says so.
    let output = verify(&[&"--head", &head, &"--proof", &proof]);
    assert_ok(&output);
    assert!(stderr(&output).contains(&pinned), "{}", stderr(&output));

    let output = verify(&[
        &"--json", &"--head", &head, &"--proof", &proof, &"--key", &pinned,
    ]);
    assert_ok(&output);
    let report: Value = serde_json::from_str(&stdout(&output)).expect("json output");
    assert_eq!(report["ok"], true);
    assert_eq!(report["pinned"], true);
    assert_eq!(report["kind"], "inclusion");
    assert_eq!(report["index"], 4);
    assert_eq!(report["tree_size"], 10);
    assert_eq!(report["origin"], ORIGIN);
}

#[test]
fn tampered_entry_fails() {
    let dir = tempfile::tempdir().unwrap();
    let key = signing_key(7);
    let log = log(10, None);
    let head = write(dir.path(), "HEAD.json", &head(&log, 10, &key));
    let mut proof = serde_json::to_value(inclusion(&log, 4, 10)).unwrap();
    let tampered = proof["entry"]
        .as_str()
        .unwrap()
        .replacen("alice", "alicE", 1);
    proof["entry"] = Value::String(tampered);
    let proof = write(dir.path(), "PROOF.json", &proof);

    let output = verify(&[&"--head", &head, &"--proof", &proof]);
    assert_fails(&output);
    assert!(
        stderr(&output).contains("entry 4 is not proven"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn wrong_pinned_key_fails() {
    let dir = tempfile::tempdir().unwrap();
    let log = log(10, None);
    let head = write(dir.path(), "HEAD.json", &head(&log, 10, &signing_key(7)));
    let proof = write(dir.path(), "PROOF.json", &inclusion(&log, 4, 10));
    let other = verifier_key(ORIGIN, &signing_key(8)).unwrap();

    let output = verify(&[&"--head", &head, &"--proof", &proof, &"--key", &other]);
    assert_fails(&output);
    assert!(
        stderr(&output).contains("no signature by key"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn consistency_with_old_head_is_ok() {
    let dir = tempfile::tempdir().unwrap();
    let key = signing_key(7);
    let log = log(10, None);
    let old = write(dir.path(), "OLD.json", &head(&log, 6, &key));
    let new = write(dir.path(), "HEAD.json", &head(&log, 10, &key));
    let proof = write(dir.path(), "PROOF.json", &consistency(&log, 6, 10));

    let output = verify(&[&"--head", &new, &"--proof", &proof, &"--old-head", &old]);
    assert_ok(&output);
    let out = stdout(&output);
    assert!(
        out.starts_with("ok: tree size 6 is a prefix of tree size 10"),
        "{out}"
    );

    // Without the old head the proof cannot be checked.
    let output = verify(&[&"--head", &new, &"--proof", &proof]);
    assert_fails(&output);
    assert!(stderr(&output).contains("old head"), "{}", stderr(&output));
}

#[test]
fn forked_log_fails_consistency() {
    let dir = tempfile::tempdir().unwrap();
    let key = signing_key(7);
    let honest = log(10, None);
    let forked = log(10, Some(2));
    let old = write(dir.path(), "OLD.json", &head(&honest, 6, &key));
    let new = write(dir.path(), "HEAD.json", &head(&forked, 10, &key));
    let proof = write(dir.path(), "PROOF.json", &consistency(&forked, 6, 10));

    let output = verify(&[&"--head", &new, &"--proof", &proof, &"--old-head", &old]);
    assert_fails(&output);
    assert!(
        stderr(&output).contains("is not proven a prefix"),
        "{}",
        stderr(&output)
    );

    // Same size, different content.
    let old = write(dir.path(), "OLD10.json", &head(&honest, 10, &key));
    let proof = write(dir.path(), "SAME.json", &consistency(&forked, 10, 10));
    let output = verify(&[&"--head", &new, &"--proof", &proof, &"--old-head", &old]);
    assert_fails(&output);
}

#[test]
fn garbage_json_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let key = signing_key(7);
    let log = log(10, None);
    let head = write(dir.path(), "HEAD.json", &head(&log, 10, &key));
    let proof = write(dir.path(), "PROOF.json", &inclusion(&log, 4, 10));

    let garbage = dir.path().join("GARBAGE.json");
    std::fs::write(&garbage, "{ this is not json").unwrap();
    let output = verify(&[&"--head", &garbage, &"--proof", &proof]);
    assert_fails(&output);
    assert!(
        stderr(&output).contains("GARBAGE.json"),
        "{}",
        stderr(&output)
    );

    let output = verify(&[&"--head", &head, &"--proof", &garbage]);
    assert_fails(&output);
    assert!(
        stderr(&output).contains("GARBAGE.json"),
        "{}",
        stderr(&output)
    );

    // Valid JSON of the wrong shape: the missing field is named.
    let partial = write(
        dir.path(),
        "PARTIAL.json",
        &serde_json::json!({"origin": ORIGIN, "size": 10}),
    );
    let output = verify(&[&"--head", &partial, &"--proof", &proof]);
    assert_fails(&output);
    let message = stderr(&output);
    assert!(
        message.contains("PARTIAL.json: expected a signed head object"),
        "{message}"
    );

    let missing = dir.path().join("MISSING.json");
    let output = verify(&[&"--head", &head, &"--proof", &missing]);
    assert_fails(&output);
    assert!(
        stderr(&output).contains("MISSING.json: cannot read"),
        "{}",
        stderr(&output)
    );
}
