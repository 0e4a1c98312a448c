//! `omega up` and `omega demo` driven as a person would: real processes, real sockets, the
//! printed URLs and credentials used for real.

use std::io::{BufRead, BufReader, Lines};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

const PASSPHRASE: &str = "up test passphrase";

struct Up {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Up {
    fn start(dir: &Path) -> Up {
        let mut child = Command::new(env!("CARGO_BIN_EXE_omega"))
            .arg("--data-dir")
            .arg(dir)
            .args([
                "--json",
                "up",
                "--name",
                "Ana",
                "--listen",
                "/ip4/127.0.0.1/tcp/0",
                "--no-mdns",
                "--server-listen",
                "/ip4/127.0.0.1/tcp/0",
                "--server-http",
                "127.0.0.1:0",
                "--hub-http",
                "127.0.0.1:0",
            ])
            .env("OMEGA_PASSPHRASE", PASSPHRASE)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Up { child, lines }
    }

    /// The next stdout line with this `event`.
    fn event(&mut self, event: &str) -> Value {
        for line in self.lines.by_ref() {
            let line = line.unwrap();
            let value: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if value["event"] == event {
                return value;
            }
        }
        panic!("omega up ended before {event:?}");
    }

    /// SIGTERM, then the clean exit.
    fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.event("stopped");
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status:?}");
    }
}

fn http(method: &str, url: &str, token: Option<&str>, body: Option<&Value>) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut request = ureq::http::Request::builder().method(method).uri(url);
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    let body = body.map(Value::to_string).unwrap_or_default();
    if !body.is_empty() {
        request = request.header("Content-Type", "application/json");
    }
    let mut response = agent.run(request.body(body).unwrap()).unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[test]
fn up_runs_server_hub_and_node_together_and_prints_the_owner_password_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut up = Up::start(dir.path());
    let started = up.event("started");

    // The node answers on its API and uses the bundled server as its home mailbox.
    let api = started["api"].as_str().unwrap();
    assert_eq!(http("GET", &format!("{api}/v1/health"), None, None).0, 200);
    let home = started["home"].as_str().unwrap();
    let server_peer = started["server"]["peer_id"].as_str().unwrap();
    assert!(home.ends_with(&format!("/p2p/{server_peer}")), "{started}");
    let server_http = started["server"]["http"].as_str().unwrap();
    assert_eq!(
        http("GET", &format!("http://{server_http}/health"), None, None).0,
        200
    );

    // The hub is up with a first business whose owner can log in with the printed password.
    let hub = started["hub"].as_str().unwrap();
    let owner = &started["owner"];
    assert_eq!(owner["tenant"], "my-business");
    let password = owner["password"].as_str().unwrap();
    assert!(password.len() >= 16, "{owner}");
    let (status, login) = http(
        "POST",
        &format!("{hub}/api/v1/auth/login"),
        None,
        Some(&json!({ "tenant": "my-business", "email": owner["email"], "password": password })),
    );
    assert_eq!(status, 200, "{login}");
    let (status, _) = http(
        "POST",
        &format!("{hub}/api/v1/auth/login"),
        None,
        Some(
            &json!({ "tenant": "my-business", "email": owner["email"], "password": "wrong password here" }),
        ),
    );
    assert_eq!(status, 401);

    // The web chat link, when the node gives one, logs a browser in (a redirect with a cookie).
    if let Some(web) = started["web"].as_str() {
        let (status, _) = http("GET", web, None, None);
        assert_eq!(status, 303, "{web}");
    }
    let user_id = started["user_id"].as_str().unwrap().to_owned();
    up.stop();
    for file in ["api.json", "hub/hub.json", "server/server.json"] {
        assert!(
            !dir.path().join(file).exists(),
            "{file} is removed on a clean stop"
        );
    }

    // Second run: same identity, same business, and no password printed again.
    let mut up = Up::start(dir.path());
    let again = up.event("started");
    assert_eq!(again["user_id"], user_id.as_str());
    assert!(again["owner"].is_null(), "{again}");
    let hub = again["hub"].as_str().unwrap();
    let (status, _) = http(
        "POST",
        &format!("{hub}/api/v1/auth/login"),
        None,
        Some(
            &json!({ "tenant": "my-business", "email": "owner@omega.local", "password": password }),
        ),
    );
    assert_eq!(status, 200);
    up.stop();
}

#[test]
fn up_with_a_busy_hub_port_says_so_and_leaves_nothing_running() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_omega"))
        .arg("--data-dir")
        .arg(dir.path())
        .args([
            "up",
            "--name",
            "Ana",
            "--no-mdns",
            "--server-listen",
            "/ip4/127.0.0.1/tcp/0",
            "--server-http",
            "127.0.0.1:0",
            "--hub-http",
            &format!("127.0.0.1:{port}"),
        ])
        .env("OMEGA_PASSPHRASE", PASSPHRASE)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("hub"), "{stderr}");
    assert!(!dir.path().join("server/server.json").exists());
}

#[test]
fn demo_tour_chats_catches_up_offline_scores_a_whatsapp_lead_and_replies() {
    let output = Command::new(env!("CARGO_BIN_EXE_omega"))
        .args(["--json", "demo", "--exit"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let events: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let names: Vec<&str> = events
        .iter()
        .map(|event| event["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "server",
            "people",
            "chat",
            "offline",
            "caught_up",
            "hub",
            "lead",
            "reply",
            "open",
            "done"
        ]
    );
    let find = |name: &str| events.iter().find(|e| e["event"] == name).unwrap();
    assert_eq!(find("chat")["status"], "read");
    assert_eq!(find("caught_up")["status"], "delivered");
    let lead = find("lead");
    assert!(lead["score"].as_i64().unwrap() > 50, "{lead}");
    let reasons = lead["reasons"].as_array().unwrap();
    assert!(!reasons.is_empty(), "{lead}");
    assert_eq!(find("reply")["delivered"], 1);
    let data_dir = find("server")["data_dir"].as_str().unwrap().to_owned();
    assert!(
        !Path::new(&data_dir).exists(),
        "the throwaway data dir is deleted"
    );
}
