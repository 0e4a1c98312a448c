//! `omega bench peers`: many lightweight clients (one libp2p swarm each, in this process) hold
//! connections to one real `omega server` process and exchange envelopes through its mailbox.
//! Reports the server's resident memory per connection and the delivery latency (deposit by the
//! sender, then fetch + ack by the recipient), beside a raw libp2p request round trip measured in
//! the same run.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use futures::StreamExt;
use libp2p::{Multiaddr, PeerId};
use omega_crypto::{DeviceAccount, UserIdentity, mailbox_address, sign_mailbox_auth};
use omega_net::{NetEvent, NetHandle, Protocol};
use omega_proto::{Message, v1};
use serde_json::{Value, json};

struct ServerProcess {
    child: Child,
    peer: PeerId,
    addrs: Vec<Multiaddr>,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(dir: &Path) -> Result<ServerProcess> {
    let mut child = Command::new(std::env::current_exe()?)
        .arg("--data-dir")
        .arg(dir)
        .args([
            "--json",
            "server",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--http",
            "127.0.0.1:0",
        ])
        .args(["--rate-per-second", "1000000", "--rate-burst", "1000000"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start omega server")?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)?;
    let started: Value =
        serde_json::from_str(&line).with_context(|| format!("server said {line:?}"))?;
    let addrs: Vec<Multiaddr> = started["listen_addrs"]
        .as_array()
        .ok_or_else(|| anyhow!("no listen_addrs"))?
        .iter()
        .filter_map(|addr| addr.as_str()?.parse().ok())
        .collect();
    let (peer, addr) = addrs
        .first()
        .and_then(omega_core::delivery::split_peer_addr)
        .ok_or_else(|| anyhow!("no server address"))?;
    Ok(ServerProcess {
        child,
        peer,
        addrs: vec![addr],
    })
}

/// Resident memory of a process, in KiB (Linux /proc).
fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .context("reading process memory needs Linux /proc")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| anyhow!("no VmRSS in /proc/{pid}/status"))
}

struct Client {
    net: NetHandle,
    _events: tokio::sync::mpsc::Receiver<NetEvent>,
    user: UserIdentity,
    account: DeviceAccount,
    token: Vec<u8>,
}

async fn call(
    net: &NetHandle,
    server: &ServerProcess,
    op: v1::mailbox_request::Op,
) -> Result<v1::mailbox_response::Result> {
    let bytes = net
        .request(
            Protocol::Mailbox,
            server.peer,
            server.addrs.clone(),
            v1::MailboxRequest { op: Some(op) }.encode_to_vec(),
        )
        .await?;
    match omega_proto::decode_mailbox_response(&bytes)?.result {
        Some(v1::mailbox_response::Result::Error(error)) => {
            bail!("{}: {}", error.code, error.message)
        }
        Some(result) => Ok(result),
        None => bail!("empty answer"),
    }
}

async fn connect_client(server: &ServerProcess) -> Result<Client> {
    let config = omega_net::Config::new(libp2p::identity::Keypair::generate_ed25519());
    let (net, events) = omega_net::start(config).await?;
    let user = UserIdentity::generate(&mut rand::rngs::OsRng);
    let account = DeviceAccount::generate();
    let list = v1::DeviceList {
        user_key: user.public_key().as_bytes().to_vec(),
        version: 1,
        devices: vec![account.device_info(net.local_peer_id().to_bytes(), "bench")],
        created_ms: 0,
    };
    call(
        &net,
        server,
        v1::mailbox_request::Op::PublishDevices(v1::PublishDevices {
            devices: Some(user.sign_device_list(&list)),
        }),
    )
    .await?;
    let nonce = match call(
        &net,
        server,
        v1::mailbox_request::Op::Challenge(v1::ChallengeRequest {}),
    )
    .await?
    {
        v1::mailbox_response::Result::Challenge(challenge) => challenge.nonce,
        _ => bail!("unexpected answer"),
    };
    let signature = sign_mailbox_auth(
        &account,
        &server.peer.to_bytes(),
        &nonce,
        &user.public_key(),
    );
    let token = match call(
        &net,
        server,
        v1::mailbox_request::Op::Authenticate(v1::Authenticate {
            user_key: user.public_key().as_bytes().to_vec(),
            device_ed25519: account.ed25519().to_vec(),
            nonce,
            signature: signature.to_vec(),
        }),
    )
    .await?
    {
        v1::mailbox_response::Result::Session(session) => session.token,
        _ => bail!("unexpected answer"),
    };
    Ok(Client {
        net,
        _events: events,
        user,
        account,
        token,
    })
}

/// Sender deposits one envelope for the recipient; the recipient fetches and acks it.
async fn deliver(server: &ServerProcess, from: &Client, to: &Client) -> Result<Duration> {
    let started = Instant::now();
    let message_id = uuid::Uuid::now_v7().as_bytes().to_vec();
    call(
        &from.net,
        server,
        v1::mailbox_request::Op::Deposit(v1::Deposit {
            recipient_hash: mailbox_address(&to.user.public_key(), &to.account.curve25519())
                .to_vec(),
            message_id: message_id.clone(),
            envelope: vec![7; 256],
        }),
    )
    .await?;
    let page = match call(
        &to.net,
        server,
        v1::mailbox_request::Op::Fetch(v1::Fetch {
            token: to.token.clone(),
            after: 0,
            limit: 10,
        }),
    )
    .await?
    {
        v1::mailbox_response::Result::Page(page) => page,
        _ => bail!("unexpected answer"),
    };
    if !page
        .envelopes
        .iter()
        .any(|envelope| envelope.message_id == message_id)
    {
        bail!("the envelope did not arrive");
    }
    call(
        &to.net,
        server,
        v1::mailbox_request::Op::Ack(v1::MailboxAck {
            token: to.token.clone(),
            message_ids: vec![message_id],
        }),
    )
    .await?;
    Ok(started.elapsed())
}

/// Raw baseline: one libp2p request round trip to an echo node, same transport, same run.
async fn raw_round_trip(samples: usize) -> Result<Vec<Duration>> {
    let mut config = omega_net::Config::new(libp2p::identity::Keypair::generate_ed25519());
    config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?];
    let (echo, mut events) = omega_net::start(config).await?;
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if let NetEvent::Request {
                body, responder, ..
            } = event
            {
                responder.respond(body);
            }
        }
    });
    let (client, _client_events) = omega_net::start(omega_net::Config::new(
        libp2p::identity::Keypair::generate_ed25519(),
    ))
    .await?;
    let addrs = echo.listen_addrs().await;
    let mut latencies = Vec::with_capacity(samples);
    for _ in 0..samples {
        let started = Instant::now();
        client
            .request(
                Protocol::Msg,
                echo.local_peer_id(),
                addrs.clone(),
                vec![7; 256],
            )
            .await?;
        latencies.push(started.elapsed());
    }
    client.shutdown().await;
    echo.shutdown().await;
    Ok(latencies)
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    sorted
        .get(((sorted.len().saturating_sub(1)) as f64 * fraction).round() as usize)
        .copied()
        .unwrap_or_default()
}

pub fn run(count: u32, json_output: bool) -> Result<()> {
    let count = count as usize;
    let dir = tempfile::tempdir()?;
    let runtime = crate::commands::runtime()?;
    let server = start_server(dir.path())?;
    let pid = server.child.id();
    let (idle_kib, connected_kib, mut latencies, mut raw, connect_time) =
        runtime.block_on(async {
            let raw = raw_round_trip(200).await?;
            let idle_kib = rss_kib(pid)?;
            let started = Instant::now();
            let clients: Vec<Client> = futures::stream::iter(0..count)
                .map(|_| connect_client(&server))
                .buffer_unordered(32)
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .collect::<Result<_>>()?;
            let connect_time = started.elapsed();
            let connected_kib = rss_kib(pid)?;
            let pairs: Vec<(usize, usize)> = (0..count).map(|i| (i, (i + 1) % count)).collect();
            let latencies: Vec<Duration> = futures::stream::iter(pairs)
                .map(|(from, to)| {
                    let server = &server;
                    let clients = &clients;
                    async move { deliver(server, &clients[from], &clients[to]).await }
                })
                .buffer_unordered(32)
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .collect::<Result<_>>()?;
            for client in &clients {
                client.net.shutdown().await;
            }
            Ok::<_, anyhow::Error>((idle_kib, connected_kib, latencies, raw, connect_time))
        })?;
    latencies.sort();
    raw.sort();
    let per_connection_kib = connected_kib.saturating_sub(idle_kib) as f64 / count as f64;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (p50, p99) = (percentile(&latencies, 0.5), percentile(&latencies, 0.99));
    let (raw50, raw99) = (percentile(&raw, 0.5), percentile(&raw, 0.99));
    if json_output {
        println!(
            "{}",
            json!({
                "bench": "peers", "count": count,
                "server_rss_idle_kib": idle_kib, "server_rss_connected_kib": connected_kib,
                "server_rss_per_connection_kib": per_connection_kib,
                "connect_all_s": connect_time.as_secs_f64(),
                "delivery_p50_ms": ms(p50), "delivery_p99_ms": ms(p99),
                "raw_libp2p_p50_ms": ms(raw50), "raw_libp2p_p99_ms": ms(raw99),
                "ratio_delivery_p99_to_raw_p99": ms(p99) / ms(raw99).max(1e-9),
            })
        );
        return Ok(());
    }
    println!(
        "omega bench peers — {count} clients connected to one omega server process (SQLite), loopback"
    );
    println!(
        "server RSS: {idle_kib} KiB idle, {connected_kib} KiB with {count} connections → {per_connection_kib:.1} KiB per connection"
    );
    println!(
        "all clients connected, published, authenticated in {:.2} s",
        connect_time.as_secs_f64()
    );
    println!(
        "delivery through the mailbox (deposit, fetch, ack; 32 at a time): p50 {:.3} ms, p99 {:.3} ms",
        ms(p50),
        ms(p99)
    );
    println!(
        "raw libp2p request round trip: p50 {:.3} ms, p99 {:.3} ms",
        ms(raw50),
        ms(raw99)
    );
    println!(
        "ratio delivery p99 / raw p99: {:.2}x",
        ms(p99) / ms(raw99).max(1e-9)
    );
    Ok(())
}
