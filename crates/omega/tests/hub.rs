//! `omega hub` driven as an operator and an auditor would: the real binary, a real HTTP client,
//! a standard JWT library (PyJWT) verifying our tokens from the JWKS, `omega audit verify` on
//! files downloaded from the API, and configuration rollback through SIGHUP.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const OMEGA: &str = env!("CARGO_BIN_EXE_omega");
const PASSWORD: &str = "owner password 12345";

fn omega(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(OMEGA)
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env("OMEGA_HUB_OWNER_PASSWORD", PASSWORD)
        .env_remove("OMEGA_HUB_DB")
        .output()
        .unwrap()
}

struct RunningHub {
    child: Child,
    url: String,
}

impl Drop for RunningHub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_hub(dir: &Path) -> RunningHub {
    let mut child = Command::new(OMEGA)
        .arg("--data-dir")
        .arg(dir)
        .args(["--json", "hub", "--http", "127.0.0.1:0"])
        .env_remove("OMEGA_HUB_DB")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let started: Value =
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("hub did not start: {line:?}"));
    RunningHub {
        child,
        url: started["http"].as_str().unwrap().to_owned(),
    }
}

fn http(method: &str, url: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let mut request = ureq::http::Request::builder().method(method).uri(url);
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    let response = match body {
        Some(body) => agent.run(
            request
                .header("Content-Type", "application/json")
                .body(body.to_string())
                .unwrap(),
        ),
        None => agent.run(request.body(()).unwrap()),
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

fn login(hub: &RunningHub) -> Value {
    let (status, body) = http(
        "POST",
        &format!("{}/api/v1/auth/login", hub.url),
        None,
        Some(json!({ "tenant": "acme", "email": "owner@acme.test", "password": PASSWORD })),
    );
    assert_eq!(status, 200, "{body}");
    body
}

#[test]
fn operator_bootstraps_a_tenant_and_a_standard_jwt_library_verifies_our_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let bad = omega(
        dir.path(),
        &[
            "hub",
            "admin",
            "create-tenant",
            "--slug",
            "Bad Slug",
            "--owner-email",
            "o@x.test",
        ],
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("slug"),
        "{bad:?}"
    );
    let bad_plan = omega(
        dir.path(),
        &[
            "hub",
            "admin",
            "create-tenant",
            "--slug",
            "acme",
            "--plan",
            "gold",
            "--owner-email",
            "o@x.test",
        ],
    );
    assert!(
        String::from_utf8_lossy(&bad_plan.stderr).contains("unknown plan"),
        "{bad_plan:?}"
    );

    let created = omega(
        dir.path(),
        &[
            "--json",
            "hub",
            "admin",
            "create-tenant",
            "--slug",
            "acme",
            "--name",
            "Acme Ltda",
            "--owner-email",
            "owner@acme.test",
        ],
    );
    assert!(created.status.success(), "{created:?}");
    let created: Value = serde_json::from_slice(&created.stdout).unwrap();
    assert_eq!(created["slug"], "acme");
    let again = omega(
        dir.path(),
        &[
            "hub",
            "admin",
            "create-tenant",
            "--slug",
            "acme",
            "--owner-email",
            "owner@acme.test",
        ],
    );
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already exists"),
        "{again:?}"
    );

    let hub = start_hub(dir.path());
    let tokens = login(&hub);
    let token = tokens["access_token"].as_str().unwrap();
    let (_, jwks) = http(
        "GET",
        &format!("{}/.well-known/jwks.json", hub.url),
        None,
        None,
    );

    // PyJWT (Debian's python3-jwt) checks the EdDSA signature with the published JWK.
    let script = r#"
import json, sys, jwt
jwks = json.loads(sys.argv[1]); token = sys.argv[2]
kid = jwt.get_unverified_header(token)["kid"]
key = [k for k in jwks["keys"] if k["kid"] == kid][0]
claims = jwt.decode(token, jwt.PyJWK(key).key, algorithms=["EdDSA"], issuer="omega-hub")
print(json.dumps(claims))
"#;
    let verified = Command::new("/usr/bin/python3")
        .args(["-c", script, &jwks.to_string(), token])
        .output()
        .expect("python3 with python3-jwt (scripts/test installs it)");
    assert!(
        verified.status.success(),
        "PyJWT refused our token: {}",
        String::from_utf8_lossy(&verified.stderr)
    );
    let claims: Value = serde_json::from_slice(&verified.stdout).unwrap();
    assert_eq!(claims["tid"], created["tenant_id"]);
    assert_eq!(claims["did"], tokens["device_id"]);
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        900
    );
    // And it refuses a token whose payload was changed.
    let parts: Vec<&str> = token.split('.').collect();
    let forged = format!("{}.{}x.{}", parts[0], parts[1], parts[2]);
    let refused = Command::new("/usr/bin/python3")
        .args(["-c", script, &jwks.to_string(), &forged])
        .output()
        .unwrap();
    assert!(!refused.status.success());

    // A key rotation keeps old tokens valid and publishes both keys.
    assert!(
        omega(dir.path(), &["hub", "admin", "rotate-keys"])
            .status
            .success()
    );
    drop(hub);
    let hub = start_hub(dir.path());
    let (_, jwks) = http(
        "GET",
        &format!("{}/.well-known/jwks.json", hub.url),
        None,
        None,
    );
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2, "{jwks}");
    let (status, _) = http("GET", &format!("{}/api/v1/me", hub.url), Some(token), None);
    assert_eq!(
        status, 200,
        "a token signed before the rotation still verifies"
    );
}

#[test]
fn auditor_downloads_head_and_proofs_and_verifies_them_offline() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        omega(
            dir.path(),
            &[
                "hub",
                "admin",
                "create-tenant",
                "--slug",
                "acme",
                "--owner-email",
                "owner@acme.test"
            ]
        )
        .status
        .success()
    );
    let hub = start_hub(dir.path());
    let token = login(&hub)["access_token"].as_str().unwrap().to_owned();
    let get = |path: &str| {
        let (status, body) = http("GET", &format!("{}{path}", hub.url), Some(&token), None);
        assert_eq!(status, 200, "{path}: {body}");
        body
    };
    let old_head = get("/api/v1/audit/head");
    http(
        "POST",
        &format!("{}/api/v1/departments", hub.url),
        Some(&token),
        Some(json!({ "name": "Vendas" })),
    );
    get("/api/v1/members");
    let head = get("/api/v1/audit/head");
    let entries = get("/api/v1/audit/entries");
    let last = entries.as_array().unwrap().last().unwrap()["index"]
        .as_u64()
        .unwrap();
    let inclusion = get(&format!(
        "/api/v1/audit/proof/inclusion?index={last}&size={}",
        head["size"]
    ));
    let consistency = get(&format!(
        "/api/v1/audit/proof/consistency?from={}&to={}",
        old_head["size"], head["size"]
    ));
    let files = tempfile::tempdir().unwrap();
    let write = |name: &str, value: &Value| {
        let path = files.path().join(name);
        std::fs::write(&path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
        path.display().to_string()
    };
    let head_file = write("HEAD.json", &head);
    let old_file = write("OLD.json", &old_head);
    let inclusion_file = write("PROOF.json", &inclusion);
    let consistency_file = write("CONSISTENCY.json", &consistency);
    let key = head["verifier_key"].as_str().unwrap().to_owned();
    let verify = |args: &[&str]| omega(dir.path(), &[&["audit", "verify"], args].concat());

    let ok = verify(&[
        "--head",
        &head_file,
        "--proof",
        &inclusion_file,
        "--key",
        &key,
    ]);
    assert!(ok.status.success(), "{ok:?}");
    assert!(String::from_utf8_lossy(&ok.stdout).starts_with("ok:"));
    let ok = verify(&[
        "--head",
        &head_file,
        "--proof",
        &consistency_file,
        "--old-head",
        &old_file,
        "--key",
        &key,
    ]);
    assert!(ok.status.success(), "{ok:?}");

    // A tampered entry, a head from a rewritten log, and garbage are all refused.
    let mut tampered = inclusion.clone();
    tampered["entry"] = Value::String(
        inclusion["entry"]
            .as_str()
            .unwrap()
            .replace("personal_data.read", "personal_data.skip"),
    );
    let tampered_file = write("TAMPERED.json", &tampered);
    let refused = verify(&[
        "--head",
        &head_file,
        "--proof",
        &tampered_file,
        "--key",
        &key,
    ]);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("does not verify"),
        "{refused:?}"
    );
    let mut forged_head = head.clone();
    forged_head["root"] = Value::String("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into());
    let forged_file = write("FORGED.json", &forged_head);
    assert_eq!(
        verify(&["--head", &forged_file, "--proof", &inclusion_file])
            .status
            .code(),
        Some(1)
    );
    let garbage_file = files.path().join("GARBAGE.json");
    std::fs::write(&garbage_file, "{ not json").unwrap();
    let garbage = verify(&[
        "--head",
        &garbage_file.display().to_string(),
        "--proof",
        &inclusion_file,
    ]);
    assert_eq!(garbage.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&garbage.stderr).contains("GARBAGE.json"),
        "{garbage:?}"
    );
}

#[cfg(unix)]
#[test]
fn configuration_history_and_rollback_through_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let hub = start_hub(dir.path());
    let config_path = dir.path().join("hub").join("hub.toml");
    let original = std::fs::read_to_string(&config_path).unwrap();
    std::fs::write(&config_path, "[limits]\nper_ip_burst = 42\n").unwrap();
    let status = Command::new("kill")
        .args(["-HUP", &hub.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let history = |expected: usize| -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = omega(dir.path(), &["--json", "hub", "config", "history"]);
            let versions: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
            if versions
                .as_array()
                .is_some_and(|list| list.len() >= expected)
            {
                return versions;
            }
            assert!(
                Instant::now() < deadline,
                "history never reached {expected}: {versions}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let versions = history(2);
    assert_eq!(versions[1]["source"], "reload");

    let rollback = omega(dir.path(), &["--json", "hub", "config", "rollback", "1"]);
    assert!(rollback.status.success(), "{rollback:?}");
    let answer: Value = serde_json::from_slice(&rollback.stdout).unwrap();
    assert_eq!(answer["reloaded"], true);
    assert_eq!(std::fs::read_to_string(&config_path).unwrap(), original);
    let versions = history(3);
    assert_eq!(versions[2]["source"], "rollback to 1");
    let missing = omega(dir.path(), &["hub", "config", "rollback", "99"]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no configuration version 99"));
    let (status, health) = http("GET", &format!("{}/health", hub.url), None, None);
    assert_eq!(status, 200, "{health}");
}
