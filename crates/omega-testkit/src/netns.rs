//! Three network namespaces for tests that need hosts which cannot reach each other:
//!
//! ```text
//!   a: 10.N.1.2 ── veth ── 10.N.1.1 ┐
//!                                   ├ s (IPv4 forwarding off)
//!   b: 10.N.2.2 ── veth ── 10.N.2.1 ┘
//! ```
//!
//! a and b each route only to their own /24 and s does not forward, so a cannot reach b. Each test
//! picks its own `N` (second octet) and tag, so tests can run in parallel. Everything is deleted on
//! drop, even when the test fails. No traffic leaves these namespaces.

use std::process::Command;

/// Why namespaces cannot be made here (not root, no `ip netns`), if they cannot.
pub fn unsupported() -> Option<String> {
    match Command::new("id").arg("-u").output() {
        Ok(output) if String::from_utf8_lossy(&output.stdout).trim() == "0" => {}
        Ok(_) => return Some("not running as root".to_owned()),
        Err(error) => return Some(format!("cannot run `id -u`: {error}")),
    }
    match Command::new("ip").args(["netns", "list"]).output() {
        Ok(output) if output.status.success() => None,
        Ok(output) => Some(format!(
            "`ip netns` is unavailable: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )),
        Err(error) => Some(format!("cannot run `ip`: {error}")),
    }
}

/// Runs `ip` with `args`, panicking with its stderr when it fails.
pub fn ip(args: &[&str]) {
    let output = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        output.status.success(),
        "ip {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr).trim()
    );
}

/// `program` run inside namespace `ns`.
pub fn in_ns(ns: &str, program: &str) -> Command {
    let mut command = Command::new("ip");
    command.args(["netns", "exec", ns, program]);
    command
}

/// The three namespaces and their links; deleted on drop.
pub struct Namespaces {
    pub a: String,
    pub b: String,
    pub s: String,
    octet: u8,
    created: Vec<String>,
}

impl Namespaces {
    /// Creates `omega-<tag>-<pid>-{a,b,s}` on 10.`octet`.1.0/24 and 10.`octet`.2.0/24. `tag` is at
    /// most 2 characters (veth names must fit in 15 bytes).
    pub fn create(tag: &str, octet: u8) -> Self {
        assert!(tag.len() <= 2, "tag {tag:?} is longer than 2 characters");
        let pid = std::process::id();
        let mut namespaces = Self {
            a: format!("omega-{tag}-{pid}-a"),
            b: format!("omega-{tag}-{pid}-b"),
            s: format!("omega-{tag}-{pid}-s"),
            octet,
            created: Vec::new(),
        };
        for name in [
            namespaces.a.clone(),
            namespaces.b.clone(),
            namespaces.s.clone(),
        ] {
            ip(&["netns", "add", &name]);
            namespaces.created.push(name.clone());
            ip(&["-n", &name, "link", "set", "lo", "up"]);
        }
        let (a_end, s_end_a) = (format!("{tag}{pid}a"), format!("{tag}{pid}sa"));
        let (b_end, s_end_b) = (format!("{tag}{pid}b"), format!("{tag}{pid}sb"));
        let (a, b, s) = (&namespaces.a, &namespaces.b, &namespaces.s);
        for (ns, end, s_end, subnet) in [(a, &a_end, &s_end_a, 1), (b, &b_end, &s_end_b, 2)] {
            ip(&[
                "link", "add", end, "netns", ns, "type", "veth", "peer", "name", s_end, "netns", s,
            ]);
            let host = format!("10.{octet}.{subnet}.2/24");
            let server = format!("10.{octet}.{subnet}.1/24");
            ip(&["-n", ns, "addr", "add", &host, "dev", end]);
            ip(&["-n", s, "addr", "add", &server, "dev", s_end]);
            ip(&["-n", ns, "link", "set", end, "up"]);
            ip(&["-n", s, "link", "set", s_end, "up"]);
        }
        let forwarding_off = Command::new("ip")
            .args(["netns", "exec", s, "sysctl", "-qw", "net.ipv4.ip_forward=0"])
            .status()
            .expect("run sysctl");
        assert!(
            forwarding_off.success(),
            "cannot turn forwarding off in {s}"
        );
        namespaces
    }

    /// The address of `host` (1 = s, 2 = a or b) on `subnet` (1 = a's side, 2 = b's side).
    pub fn addr(&self, subnet: u8, host: u8) -> String {
        format!("10.{}.{subnet}.{host}", self.octet)
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        // Deleting a namespace also deletes the veth ends inside it.
        for name in self.created.drain(..) {
            let _ = Command::new("ip").args(["netns", "del", &name]).status();
        }
    }
}
