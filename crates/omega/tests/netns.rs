//! Two nodes in separate network namespaces that cannot route to each other talk through the
//! server's relay.
//!
//! The real `omega` binary in three namespaces, created for this run and deleted afterwards (even
//! on failure):
//!
//! ```text
//!   ns a (alice): 10.232.1.2 ── veth ── 10.232.1.1 ┐
//!                                                  ├ ns s (omega server; IPv4 forwarding off)
//!   ns b (bob):   10.232.2.2 ── veth ── 10.232.2.1 ┘
//! ```
//!
//! a and b each route only to their own /24 and s does not forward, so alice cannot reach bob.
//! Alice only has a stale card of Bob's (from an earlier run, with direct addresses alone); Bob's
//! running node holds a relay reservation on the server and has published its signed peer record,
//! relayed addresses included, in the server's DHT. Alice's message must reach Bob through the
//! relay — found through the DHT — not through the mailbox, which would also deliver it.
//!
//! Every process runs with `ip netns exec`; the CLI talks to a node inside its namespace (the API
//! is on that namespace's loopback). No traffic leaves these namespaces. Needs root and `ip netns`;
//! skipped (saying why) otherwise.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Output, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use omega_testkit::netns::{Namespaces, in_ns, unsupported};
use serde_json::Value;

const OMEGA: &str = env!("CARGO_BIN_EXE_omega");
const PASSPHRASE: &str = "netns test passphrase";
/// The server's port inside its own namespace (nothing else listens there).
const SERVER_PORT: u16 = 4041;
const WAIT: Duration = Duration::from_secs(60);
/// Seconds a short CLI command may take (it runs under `timeout`).
const COMMAND_TIMEOUT: &str = "90";

/// The `omega` binary with data directory `dir`, inside namespace `ns`; `timed` bounds it with
/// [`COMMAND_TIMEOUT`] (only for commands that end by themselves).
fn omega(ns: &str, dir: &Path, timed: bool) -> Command {
    let mut command = if timed {
        let mut command = in_ns(ns, "timeout");
        command.args([COMMAND_TIMEOUT, OMEGA]);
        command
    } else {
        in_ns(ns, OMEGA)
    };
    command
        .arg("--data-dir")
        .arg(dir)
        .env("OMEGA_PASSPHRASE", PASSPHRASE)
        .env_remove("OMEGA_DATA_DIR")
        .env_remove("OMEGA_SERVER_DB")
        .stdin(Stdio::null());
    command
}

fn run(ns: &str, dir: &Path, args: &[&str]) -> Output {
    omega(ns, dir, true).args(args).output().expect("run omega")
}

/// `omega --json ARGS` in `ns`, which must succeed; its JSON output.
fn json(ns: &str, dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let output = run(ns, dir, &all);
    assert!(
        output.status.success(),
        "omega {all:?} in {ns} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "omega {all:?}: not JSON ({error}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// The node's `/v1/stats`, read inside its namespace (the API listens on that loopback) with
/// the URL and token of its `api.json`. There is no `omega stats` command.
fn stats(ns: &str, dir: &Path) -> Value {
    const SCRIPT: &str = r#"
import json, sys, urllib.request
api = json.load(open(sys.argv[1]))
request = urllib.request.Request(api["url"] + "/v1/stats",
                                 headers={"Authorization": "Bearer " + api["token"]})
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
print(opener.open(request, timeout=30).read().decode())
"#;
    let output = in_ns(ns, "timeout")
        .args([COMMAND_TIMEOUT, "python3", "-c", SCRIPT])
        .arg(dir.join("api.json"))
        .stdin(Stdio::null())
        .output()
        .expect("run python3");
    assert!(
        output.status.success(),
        "reading /v1/stats in {ns} failed: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    serde_json::from_slice(&output.stdout).expect("stats are JSON")
}

fn counter(stats: &Value, name: &str) -> u64 {
    stats[name]
        .as_u64()
        .unwrap_or_else(|| panic!("no {name} in {stats}"))
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {value}"))
        .iter()
        .map(|item| item.as_str().expect("a string").to_owned())
        .collect()
}

/// A long-running `omega` process (server or node) and its first output line; killed on drop.
struct Process {
    name: &'static str,
    child: Child,
    started: Value,
    killed: bool,
}

impl Process {
    /// Starts `command` and waits (at most [`WAIT`]) for its JSON "started" line.
    fn start(name: &'static str, mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("{name}: cannot start: {error}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, lines) = mpsc::channel();
        // Reads (and drains) stdout for the life of the process.
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        let mut process = Self {
            name,
            child,
            started: Value::Null,
            killed: false,
        };
        let line = match lines.recv_timeout(WAIT) {
            Ok(line) => line,
            Err(error) => panic!("{name}: no \"started\" line ({error})"),
        };
        process.started = serde_json::from_str(&line)
            .unwrap_or_else(|error| panic!("{name}: not JSON ({error}): {line}"));
        assert_eq!(process.started["event"], "started", "{name}: {line}");
        process
    }

    fn kill(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.killed = true;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if !self.killed
            && let Ok(Some(status)) = self.child.try_wait()
        {
            eprintln!("{}: had exited early ({status})", self.name);
        }
        self.stop();
    }
}

/// Waits (at most [`WAIT`]) until `check` returns something.
fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn two_nodes_in_separate_namespaces_talk_through_the_servers_relay() {
    if let Some(why) = unsupported() {
        eprintln!("skipping network namespace test: {why}");
        return;
    }
    // Dropped last: every process is gone before the namespaces and the directories are deleted.
    let root = tempfile::tempdir().expect("temporary directory");
    let namespaces = Namespaces::create("on", 232);
    let (ns_a, ns_b, ns_s) = (&namespaces.a, &namespaces.b, &namespaces.s);
    let (alice, bob) = (root.path().join("alice"), root.path().join("bob"));

    let mut server = omega(ns_s, &root.path().join("server"), false);
    server.args([
        "--json",
        "server",
        "--listen",
        &format!("/ip4/0.0.0.0/tcp/{SERVER_PORT}"),
        "--http",
        "127.0.0.1:0",
    ]);
    let server = Process::start("server", server);
    let server_id = server.started["peer_id"]
        .as_str()
        .expect("server peer id")
        .to_owned();
    let server_addrs = strings(&server.started["listen_addrs"]);
    // The server's address as each side sees it; the other one is unreachable from there.
    let server_from =
        |subnet: u8| format!("/ip4/10.232.{subnet}.1/tcp/{SERVER_PORT}/p2p/{server_id}");
    for subnet in [1, 2] {
        assert!(
            server_addrs.contains(&server_from(subnet)),
            "the server does not listen on 10.232.{subnet}.1: {server_addrs:?}"
        );
    }

    for (ns, dir, name) in [(ns_a, &alice, "alice"), (ns_b, &bob, "bob")] {
        let init = run(ns, dir, &["init", "--name", name]);
        assert!(
            init.status.success(),
            "init {name}: {}",
            String::from_utf8_lossy(&init.stderr).trim()
        );
    }
    let node = |ns: &str, dir: &Path, network: &[&str]| {
        let mut command = omega(ns, dir, false);
        command.args(["--json", "node", "--listen", "/ip4/0.0.0.0/tcp/0"]);
        command.args(network);
        command.args(["--no-mdns", "--mailbox-poll-ms", "200"]);
        command
    };

    // Bob's card from an earlier run: his direct addresses of then (10.232.2.2 and loopback,
    // neither reachable from a) and the server as home mailbox, but no relayed address, since
    // that run used no relay.
    let earlier = Process::start(
        "bob (earlier run)",
        node(ns_b, &bob, &["--mailbox", &server_from(2)]),
    );
    let stale_card = earlier.started["card"]
        .as_str()
        .expect("bob's card")
        .to_owned();
    earlier.kill();

    let bootstrap_b = server_from(2);
    let bob_node = Process::start("bob", node(ns_b, &bob, &["--bootstrap", &bootstrap_b]));
    let bootstrap_a = server_from(1);
    let _alice_node = Process::start("alice", node(ns_a, &alice, &["--bootstrap", &bootstrap_a]));
    let bob_user = bob_node.started["user_id"]
        .as_str()
        .expect("bob's user id")
        .to_owned();

    // Bob's reservation carries every address of the server; alice can reach it only on
    // 10.232.1.1. The stats are read before the addresses, so that a record published after the
    // relayed address appeared is counted after `published_before`.
    let via_a = format!("{}/p2p-circuit", server_from(1));
    let (published_before, bob_addrs) = wait_for("bob's relayed address reachable from a", || {
        let published = counter(&stats(ns_b, &bob), "records_published");
        let addrs = strings(&json(ns_b, &bob, &["id"])["addrs"]);
        addrs
            .iter()
            .any(|addr| addr.starts_with(&via_a))
            .then_some((published, addrs))
    });
    let seen = Instant::now();
    // Bob publishes his record 200 ms after his addresses change: wait until it is counted. If
    // the publication finished before `published_before` was read (a slow poll), the count may
    // not move again; a few seconds with at least one publication then do.
    wait_for(
        "bob's peer record with the relayed address in the DHT",
        || {
            let published = counter(&stats(ns_b, &bob), "records_published");
            let counted = published > published_before
                || (published >= 1 && seen.elapsed() > Duration::from_secs(5));
            (counted && seen.elapsed() > Duration::from_secs(1)).then_some(())
        },
    );
    assert!(
        !bob_addrs
            .iter()
            .any(|addr| !addr.contains("/p2p-circuit") && addr.starts_with("/ip4/10.232.1.")),
        "bob has a direct address in a's subnet: {bob_addrs:?}"
    );
    let bob_direct = bob_addrs
        .iter()
        .find(|addr| addr.starts_with("/ip4/10.232.2.2/tcp/"))
        .unwrap_or_else(|| panic!("bob does not listen on 10.232.2.2: {bob_addrs:?}"))
        .clone();
    let bob_port = bob_direct
        .strip_prefix("/ip4/10.232.2.2/tcp/")
        .and_then(|rest| rest.split('/').next())
        .expect("bob's port")
        .to_owned();
    wait_for("alice's peer record in the DHT", || {
        (counter(&stats(ns_a, &alice), "records_published") >= 1).then_some(())
    });

    // Alice only has the stale card: no address of Bob's she can reach.
    let contact = json(
        ns_a,
        &alice,
        &["contact", "add", &stale_card, "--alias", "bob"],
    );
    let known = strings(&contact["addrs"]);
    assert!(
        !known.is_empty()
            && known
                .iter()
                .all(|addr| !addr.contains("/p2p-circuit") && !addr.starts_with("/ip4/10.232.1.")),
        "the stale card should hold only direct addresses unreachable from a: {known:?}"
    );

    // a cannot reach b directly.
    let tcp_connect = in_ns(ns_a, "timeout")
        .args(["5", "bash", "-c"])
        .arg(format!("exec 3<>/dev/tcp/10.232.2.2/{bob_port}"))
        .stderr(Stdio::null())
        .status()
        .expect("run bash");
    assert!(!tcp_connect.success(), "a reached b's TCP port directly");

    let sent = run(
        ns_a,
        &alice,
        &[
            "--json",
            "send",
            "bob",
            "through the relay",
            "--wait",
            "delivered",
            "--timeout",
            "60",
        ],
    );
    let alice_stats = stats(ns_a, &alice);
    assert!(
        sent.status.success(),
        "send failed ({}): {} {}; alice's stats: {alice_stats}",
        sent.status,
        String::from_utf8_lossy(&sent.stdout).trim(),
        String::from_utf8_lossy(&sent.stderr).trim()
    );
    let sent: Value = serde_json::from_slice(&sent.stdout).expect("send prints JSON");
    assert_eq!(sent["status"], "delivered", "{sent}");
    assert_eq!(
        counter(&alice_stats, "mailbox_deposits"),
        0,
        "delivered through the mailbox, not through the relay: {alice_stats}"
    );

    let received: Vec<Value> = json(ns_b, &bob, &["messages"])
        .as_array()
        .expect("a list of messages")
        .iter()
        .filter(|message| message["direction"] == "in")
        .cloned()
        .collect();
    assert_eq!(
        received
            .iter()
            .filter(|message| message["text"] == "through the relay")
            .count(),
        1,
        "bob got the message exactly once: {received:?}"
    );

    // Alice found Bob's relayed address in his DHT record and remembered it.
    let contacts = json(ns_a, &alice, &["contact", "list"]);
    let bob_contact = contacts
        .as_array()
        .expect("a list of contacts")
        .iter()
        .find(|contact| contact["user_id"] == bob_user.as_str())
        .unwrap_or_else(|| panic!("bob is not among alice's contacts: {contacts}"));
    let learned = strings(&bob_contact["addrs"]);
    assert!(
        learned.iter().any(|addr| addr.starts_with(&via_a)),
        "alice did not learn bob's relayed address: {learned:?}"
    );
}
