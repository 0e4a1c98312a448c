//! Two nodes in separate network namespaces that cannot route to each other talk through the
//! server's relay.
//!
//! Three namespaces, created for this run and deleted afterwards (even on failure):
//!
//! ```text
//!   ns a: 10.231.1.2 ── veth ── 10.231.1.1 ┐
//!                                          ├ ns s (server; IPv4 forwarding off)
//!   ns b: 10.231.2.2 ── veth ── 10.231.2.1 ┘
//! ```
//!
//! a and b each route only to their own /24, and s does not forward, so a cannot reach b. Each
//! node is a separate `omega-net-peer` process started with `ip netns exec`: s is a relay and
//! DHT server, b reserves a slot on s and echoes Msg requests, a sends to b's relayed address.
//! No traffic leaves these namespaces. Needs root and `ip netns`; skipped (saying why)
//! otherwise.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use omega_testkit::netns::{Namespaces, unsupported};
use serde_json::Value;

const PEER_BIN: &str = env!("CARGO_BIN_EXE_omega-net-peer");
const WAIT: Duration = Duration::from_secs(30);

/// One `omega-net-peer` process in a namespace, with its JSON output lines; killed on drop.
struct Peer {
    name: &'static str,
    child: Child,
    lines: mpsc::Receiver<Value>,
}

impl Peer {
    fn start(name: &'static str, namespace: &str, args: &[&str]) -> Self {
        let mut child = Command::new("ip")
            .args(["netns", "exec", namespace, PEER_BIN])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start omega-net-peer");
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                match serde_json::from_str(&line) {
                    Ok(value) => {
                        if sender.send(value).is_err() {
                            return;
                        }
                    }
                    Err(error) => eprintln!("{name}: not JSON ({error}): {line}"),
                }
            }
        });
        Self { name, child, lines }
    }

    /// The first line `pick` accepts, skipping the others; panics after [`WAIT`].
    fn wait_for<T>(&self, mut pick: impl FnMut(&Value) -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(found) = pick(&line) {
                        return found;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => panic!("{}: timed out", self.name),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("{}: exited before the expected output", self.name)
                }
            }
        }
    }

    fn event<'a>(line: &'a Value, name: &str) -> Option<&'a Value> {
        (line["event"] == name).then_some(line)
    }

    /// Its peer id and listen addresses from the `listening` line.
    fn listening(&self) -> (String, Vec<String>) {
        self.wait_for(|line| {
            let line = Self::event(line, "listening")?;
            let addrs = line["addrs"]
                .as_array()?
                .iter()
                .filter_map(|addr| addr.as_str().map(str::to_owned))
                .collect();
            Some((line["peer"].as_str()?.to_owned(), addrs))
        })
    }

    /// Waits for the process to exit by itself (its stdout closes), skipping further lines;
    /// panics after [`WAIT`].
    fn exit_code(&mut self) -> Option<i32> {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => panic!("{}: did not exit", self.name),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        self.child.wait().expect("wait for omega-net-peer").code()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn two_nodes_in_separate_namespaces_talk_through_the_servers_relay() {
    if let Some(why) = unsupported() {
        eprintln!("skipping network namespace test: {why}");
        return;
    }
    // Dropped last: every peer process is gone before the namespaces are deleted.
    let namespaces = Namespaces::create("om", 231);

    let server = Peer::start(
        "s",
        &namespaces.s,
        &[
            "--listen",
            "/ip4/0.0.0.0/tcp/0",
            "--relay-server",
            "--kad",
            "server",
        ],
    );
    let (s_id, s_addrs) = server.listening();
    let s_port = s_addrs
        .iter()
        .find_map(|addr| addr.strip_prefix("/ip4/10.231.2.1/tcp/"))
        .unwrap_or_else(|| panic!("s does not listen on 10.231.2.1: {s_addrs:?}"))
        .to_owned();

    let b = Peer::start(
        "b",
        &namespaces.b,
        &[
            "--listen",
            "/ip4/10.231.2.2/tcp/0",
            "--bootstrap",
            &format!("/ip4/10.231.2.1/tcp/{s_port}/p2p/{s_id}"),
            "--relay-client",
            "--kad",
            "client",
            "--serve-echo",
        ],
    );
    let (b_id, b_addrs) = b.listening();
    let b_direct = b_addrs
        .iter()
        .find(|addr| addr.starts_with("/ip4/10.231.2.2/tcp/"))
        .unwrap_or_else(|| panic!("b does not listen on 10.231.2.2: {b_addrs:?}"))
        .clone();
    // s hands out all its addresses in the reservation; a can reach s only on 10.231.1.1.
    let relay_prefix = format!("/ip4/10.231.1.1/tcp/{s_port}/p2p/{s_id}/p2p-circuit");
    let circuit = b.wait_for(|line| {
        let addr = Peer::event(line, "new_listen_addr")?["addr"].as_str()?;
        (addr == relay_prefix).then(|| format!("{addr}/p2p/{b_id}"))
    });

    // a cannot reach b directly: neither a TCP connection...
    let b_port = b_direct.rsplit('/').next().expect("port");
    let tcp_connect = Command::new("ip")
        .args(["netns", "exec", &namespaces.a, "timeout", "5", "bash", "-c"])
        .arg(format!("exec 3<>/dev/tcp/10.231.2.2/{b_port}"))
        .stderr(Stdio::null())
        .status()
        .expect("run bash");
    assert!(!tcp_connect.success(), "a reached b's TCP port directly");
    // ...nor an Ômega request to b's direct address.
    let mut direct_attempt = Peer::start(
        "a-direct",
        &namespaces.a,
        &["--send-to", &format!("{b_direct}/p2p/{b_id}"), "directly"],
    );
    let error = direct_attempt
        .wait_for(|line| Peer::event(line, "error").map(|line| line["message"].to_string()));
    assert_eq!(
        direct_attempt.exit_code(),
        Some(1),
        "direct attempt: {error}"
    );

    // Through the relay, a reaches b, knowing only b's relayed address.
    let mut a = Peer::start(
        "a",
        &namespaces.a,
        &["--send-to", &circuit, "hello through the relay"],
    );
    let answer = a.wait_for(|line| {
        if let Some(error) = Peer::event(line, "error") {
            panic!("a's request failed: {}", error["message"]);
        }
        Peer::event(line, "answer").map(|line| line["text"].clone())
    });
    assert_eq!(answer, "hello through the relay");
    assert_eq!(a.exit_code(), Some(0));
}
