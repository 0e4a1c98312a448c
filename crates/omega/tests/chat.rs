//! `omega chat` as a person uses it: the real binary in a real terminal (tmux), against two real
//! node processes. The terminal-free tests of the app and its rendering live beside the code in
//! `src/chat/`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const PASSPHRASE: &str = "chat test passphrase";
/// Generous: the tests return as soon as what they wait for happened.
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

fn ok(dir: &Path, args: &[&str]) -> String {
    let output = omega(dir).args(args).output().expect("run omega");
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

fn init(root: &Path, name: &str) -> PathBuf {
    let dir = root.join(name);
    ok(&dir, &["init", "--name", name]);
    dir
}

/// A running `omega node`, killed when dropped.
struct NodeProcess(Child);

impl NodeProcess {
    fn start(dir: &Path) -> NodeProcess {
        let mut child = omega(dir)
            .args([
                "--json",
                "node",
                "--listen",
                "/ip4/127.0.0.1/tcp/0",
                "--no-mdns",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn node");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read node output");
        let started: Value =
            serde_json::from_str(&line).unwrap_or_else(|_| panic!("node did not start: {line:?}"));
        assert_eq!(started["event"], "started");
        NodeProcess(child)
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn chat_without_a_running_node_exits_3_and_says_so() {
    let root = tempfile::tempdir().unwrap();
    let alice = init(root.path(), "alice");
    let output = omega(&alice).args(["chat"]).output().unwrap();
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no node is running"), "{stderr}");
}

/// A tmux server of our own (its socket in the test's temp dir), killed when dropped.
struct Tmux {
    socket: PathBuf,
    config: PathBuf,
}

impl Tmux {
    fn available() -> bool {
        Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|output| output.status.success())
    }

    fn run(&self, args: &[&str]) -> Output {
        let output = Command::new("tmux")
            .arg("-u")
            .arg("-S")
            .arg(&self.socket)
            .arg("-f")
            .arg(&self.config)
            .args(args)
            .output()
            .expect("run tmux");
        assert!(
            output.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "chat"]).stdout)
            .into_owned()
    }

    /// A pane variable, such as `#{pane_dead}`.
    fn pane(&self, format: &str) -> String {
        let output = self.run(&["display-message", "-p", "-t", "chat", format]);
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Polls the screen until `done` holds, or panics showing it.
    fn wait_for(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

#[test]
fn chat_in_a_real_terminal_sends_shows_replies_unharmed_by_escapes_and_restores_on_exit() {
    if !Tmux::available() {
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let alice = init(root.path(), "alice");
    let bob = init(root.path(), "bob");
    let _alice_node = NodeProcess::start(&alice);
    let _bob_node = NodeProcess::start(&bob);
    let card = |dir: &Path| json(dir, &["id"])["card"].as_str().unwrap().to_owned();
    ok(&alice, &["contact", "add", &card(&bob), "--alias", "bob"]);
    ok(&bob, &["contact", "add", &card(&alice), "--alias", "alice"]);

    let config = root.path().join("tmux.conf");
    // The pane stays after `omega chat` exits, so its exit status and screen can be read.
    std::fs::write(&config, "set -g remain-on-exit on\n").unwrap();
    let tmux = Tmux {
        socket: root.path().join("tmux.sock"),
        config,
    };
    // The exit status goes to a file: tmux 3.3 sometimes leaves a dead pane's process unreaped.
    let status_file = root.path().join("chat-exit-status");
    let command = format!(
        "'{}' --data-dir '{}' chat --with bob; echo $? > '{}'",
        env!("CARGO_BIN_EXE_omega"),
        alice.display(),
        status_file.display()
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "chat",
        "-x",
        "100",
        "-y",
        "30",
        &command,
    ]);
    tmux.wait_for("the chat to connect", |screen| {
        screen.contains("live") && screen.contains("message to bob")
    });

    tmux.run(&["send-keys", "-t", "chat", "-l", "hello from tmux"]);
    tmux.run(&["send-keys", "-t", "chat", "Enter"]);
    let deadline = Instant::now() + WAIT;
    let alice_id = json(&alice, &["id"])["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    loop {
        let at_bob = json(&bob, &["messages", "--with", &alice_id]);
        if at_bob
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["text"] == "hello from tmux")
        {
            break;
        }
        assert!(Instant::now() < deadline, "Bob never got it: {at_bob}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Clear screen, cursor home, red: a terminal that obeyed would lose the conversation.
    ok(
        &bob,
        &[
            "send",
            "alice",
            "\u{1b}[2J\u{1b}[H\u{1b}[31mreply with escapes",
        ],
    );
    let screen = tmux.wait_for("Bob's reply and the delivered tick", |screen| {
        screen.contains("reply with escapes") && screen.contains("hello from tmux ✓✓")
    });
    assert!(
        screen.contains("Esc quit"),
        "the status bar is intact:\n{screen}"
    );
    assert!(
        screen.contains("Conversations"),
        "the list is intact:\n{screen}"
    );

    tmux.run(&["send-keys", "-t", "chat", "Escape"]);
    let screen = tmux.wait_for("omega chat to exit and leave the alternate screen", |_| {
        std::fs::read_to_string(&status_file).is_ok_and(|status| status.ends_with('\n'))
            && tmux.pane("#{alternate_on}") == "0"
    });
    assert_eq!(std::fs::read_to_string(&status_file).unwrap().trim(), "0");
    assert!(
        !screen.contains("Conversations"),
        "the chat's screen is gone:\n{screen}"
    );
}
