//! Helpers shared by the black-box tests that run `omega server` and `omega node` processes:
//! the binary with a data dir and a passphrase, processes whose first stdout line is their JSON
//! `started` event, the node's local API (URL and token from `api.json`), and waiting on a
//! condition with a generous timeout (never a fixed sleep).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const PASSPHRASE: &str = "omega test passphrase";
pub const WAIT: Duration = Duration::from_secs(120);

pub fn omega(dir: &Path) -> Command {
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

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("free port")
}

pub struct Process {
    pub child: Child,
    pub started: Value,
}

impl Process {
    pub fn spawn(mut command: Command) -> Process {
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

    pub fn kill_9(mut self) {
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

pub fn start_server(dir: &Path, port: u16) -> Process {
    let mut command = omega(dir);
    command.args([
        "--json",
        "server",
        "--listen",
        &format!("/ip4/127.0.0.1/tcp/{port}"),
        "--http",
        "127.0.0.1:0",
    ]);
    Process::spawn(command)
}

pub fn server_addr(server: &Process) -> String {
    server.started["listen_addrs"][0]
        .as_str()
        .expect("addr")
        .to_owned()
}

pub fn start_node(dir: &Path, port: u16, server: &str) -> Process {
    let mut command = omega(dir);
    command.args([
        "--json",
        "node",
        "--listen",
        &format!("/ip4/127.0.0.1/tcp/{port}"),
        "--bootstrap",
        server,
        "--mailbox-poll-ms",
        "200",
        "--no-mdns",
    ]);
    Process::spawn(command)
}

pub fn init(root: &Path, name: &str) -> PathBuf {
    let dir = root.join(name);
    let status = omega(&dir)
        .args(["init", "--name", name])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    dir
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

/// Calls the node's local API (URL and token from its api.json).
pub fn api(dir: &Path, method: &str, path: &str, body: Option<Value>) -> Value {
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
    let value: Value = serde_json::from_str(&text).unwrap();
    assert!(response.status().is_success(), "{method} {path}: {value}");
    value
}

pub fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
