//! `omega-net-peer`: one `omega-net` node per process, for tests that need separate network
//! namespaces (`tests/netns.rs`). Not a user tool.
//!
//! ```text
//! omega-net-peer [--listen ADDR]... [--bootstrap ADDR/p2p/ID]... [--external ADDR]...
//!                [--relay-server] [--relay-client] [--kad client|server]
//!                [--serve-echo] [--send-to ADDR/p2p/ID TEXT]
//! ```
//!
//! Prints one JSON object per line on stdout: `{"event":"listening","peer":..,"addrs":[..]}`
//! once bound, then `new_listen_addr`, `connected`, `disconnected`, `reachability` and
//! `hole_punch` events as they happen. With `--serve-echo` it answers every Msg request with
//! its body. With `--send-to` it sends TEXT as a Msg request, prints
//! `{"event":"answer","text":..}` (exit 0) or `{"event":"error","message":..}` (exit 1) and
//! stops; otherwise it runs until stdin closes. Bad arguments or a failed start exit 2.

use std::{io::Write, process::ExitCode};

use libp2p::{Multiaddr, PeerId, identity::Keypair, multiaddr::Protocol as AddrProtocol};
use omega_net::{Config, KadMode, NatStatus, NetEvent, Protocol};

struct Args {
    config: Config,
    serve_echo: bool,
    send_to: Option<(PeerId, Multiaddr, String)>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut config = Config::new(Keypair::generate_ed25519());
    let mut serve_echo = false;
    let mut send_to = None;
    let addr = |value: Option<String>, flag: &str| -> Result<Multiaddr, String> {
        let value = value.ok_or_else(|| format!("{flag} needs an address"))?;
        value
            .parse()
            .map_err(|error| format!("{flag} {value}: {error}"))
    };
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--listen" => config.listen.push(addr(args.next(), "--listen")?),
            "--bootstrap" => config.bootstrap.push(addr(args.next(), "--bootstrap")?),
            "--external" => config.external_addrs.push(addr(args.next(), "--external")?),
            "--relay-server" => config.relay_server = true,
            "--relay-client" => config.relay_client = true,
            "--kad" => {
                config.kad = match args.next().as_deref() {
                    Some("client") => KadMode::Client,
                    Some("server") => KadMode::Server,
                    other => return Err(format!("--kad wants client or server, got {other:?}")),
                }
            }
            "--serve-echo" => serve_echo = true,
            "--send-to" => {
                let target = addr(args.next(), "--send-to")?;
                let Some(AddrProtocol::P2p(peer)) = target.iter().last() else {
                    return Err(format!("--send-to {target}: must end in /p2p/<peer id>"));
                };
                let text = args
                    .next()
                    .ok_or("--send-to needs a text after the address")?;
                send_to = Some((peer, target, text));
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        config,
        serve_echo,
        send_to,
    })
}

/// `text` as a JSON string literal.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_addrs(addrs: &[Multiaddr]) -> String {
    let items: Vec<String> = addrs.iter().map(|a| json_string(&a.to_string())).collect();
    format!("[{}]", items.join(","))
}

/// Prints one JSON line and flushes, so a reader sees it at once.
fn print_line(line: String) {
    let mut stdout = std::io::stdout().lock();
    // A closed stdout only means nobody listens any more.
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

fn describe_event(event: &NetEvent) -> Option<String> {
    Some(match event {
        NetEvent::NewListenAddr { addr } => format!(
            r#"{{"event":"new_listen_addr","addr":{}}}"#,
            json_string(&addr.to_string())
        ),
        NetEvent::ExpiredListenAddr { addr } => format!(
            r#"{{"event":"expired_listen_addr","addr":{}}}"#,
            json_string(&addr.to_string())
        ),
        NetEvent::Connected { peer } => format!(
            r#"{{"event":"connected","peer":{}}}"#,
            json_string(&peer.to_string())
        ),
        NetEvent::Disconnected { peer } => format!(
            r#"{{"event":"disconnected","peer":{}}}"#,
            json_string(&peer.to_string())
        ),
        NetEvent::Reachability { status } => {
            let status = match status {
                NatStatus::Public(addr) => format!("public {addr}"),
                NatStatus::Private => "private".to_owned(),
                NatStatus::Unknown => "unknown".to_owned(),
            };
            format!(
                r#"{{"event":"reachability","status":{}}}"#,
                json_string(&status)
            )
        }
        NetEvent::HolePunch { peer, succeeded } => format!(
            r#"{{"event":"hole_punch","peer":{},"succeeded":{succeeded}}}"#,
            json_string(&peer.to_string())
        ),
        _ => return None,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(error) => {
            eprintln!("omega: {error}");
            return ExitCode::from(2);
        }
    };
    let (net, mut events) = match omega_net::start(args.config).await {
        Ok(started) => started,
        Err(error) => {
            eprintln!("omega: cannot start the node: {error}");
            return ExitCode::from(2);
        }
    };
    print_line(format!(
        r#"{{"event":"listening","peer":{},"addrs":{}}}"#,
        json_string(&net.local_peer_id().to_string()),
        json_addrs(&net.listen_addrs().await)
    ));

    let serve_echo = args.serve_echo;
    let event_task = tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if let Some(line) = describe_event(&event) {
                print_line(line);
            }
            if let NetEvent::Request {
                protocol: Protocol::Msg,
                body,
                responder,
                ..
            } = event
                && serve_echo
            {
                responder.respond(body);
            }
        }
    });

    let code = match args.send_to {
        Some((peer, target, text)) => {
            match net
                .request(Protocol::Msg, peer, vec![target], text.into_bytes())
                .await
            {
                Ok(answer) => {
                    print_line(format!(
                        r#"{{"event":"answer","text":{}}}"#,
                        json_string(&String::from_utf8_lossy(&answer))
                    ));
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    print_line(format!(
                        r#"{{"event":"error","message":{}}}"#,
                        json_string(&error.to_string())
                    ));
                    ExitCode::FAILURE
                }
            }
        }
        None => {
            // Run until whoever started us closes our stdin.
            let _ = tokio::task::spawn_blocking(|| {
                std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink())
            })
            .await;
            ExitCode::SUCCESS
        }
    };
    net.shutdown().await;
    event_task.abort();
    code
}
