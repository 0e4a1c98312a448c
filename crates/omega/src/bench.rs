//! `omega bench msg`: the full end-to-end message path between two nodes on loopback, measured
//! side by side with two raw baselines in the same run — libp2p request-response on the same
//! transport (omega-net with an echo responder) and vodozemac encrypt+decrypt on one core. It prints
//! ratios to the baselines; it asserts nothing (machines are shared; numbers go to docs/benchmarks.md).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use omega_core::{DataDir, Node, NodeConfig, NodeHandle};
use omega_net::{NetEvent, Protocol};
use serde_json::json;
use vodozemac::olm::{Account, OlmMessage, SessionConfig};
use zeroize::Zeroizing;

const MESSAGE_BYTES: usize = 256;

struct Figures {
    p50: Duration,
    p99: Duration,
    per_second: f64,
}

pub(crate) fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn summarize(mut latencies: Vec<Duration>, per_second: f64) -> Figures {
    latencies.sort();
    Figures {
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
        per_second,
    }
}

pub fn msg(count: u32, json: bool) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let count = count as usize;
    let (e2e, libp2p) = runtime.block_on(async {
        let e2e = end_to_end(count).await?;
        let libp2p = raw_libp2p(count).await?;
        Ok::<_, anyhow::Error>((e2e, libp2p))
    })?;
    let olm = raw_vodozemac(count.max(1000))?;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    if json {
        println!(
            "{}",
            json!({
                "bench": "msg", "message_bytes": MESSAGE_BYTES, "count": count,
                "e2e": {"p50_ms": ms(e2e.p50), "p99_ms": ms(e2e.p99), "msgs_per_s": e2e.per_second},
                "raw_libp2p": {"p50_ms": ms(libp2p.p50), "p99_ms": ms(libp2p.p99), "msgs_per_s": libp2p.per_second},
                "raw_vodozemac": {"p50_ms": ms(olm.p50), "p99_ms": ms(olm.p99), "ops_per_s": olm.per_second},
                "ratio_latency_e2e_to_libp2p": ms(e2e.p50) / ms(libp2p.p50).max(1e-9),
                "ratio_throughput_e2e_to_libp2p": e2e.per_second / libp2p.per_second.max(1e-9),
                "ratio_throughput_e2e_to_vodozemac": e2e.per_second / olm.per_second.max(1e-9),
            })
        );
        return Ok(());
    }
    println!(
        "omega bench msg — {count} messages of {MESSAGE_BYTES} bytes, loopback, this machine, same run"
    );
    println!(
        "{:<34} {:>10} {:>10} {:>14}",
        "path", "p50 ms", "p99 ms", "per second"
    );
    for (name, figures) in [
        ("end-to-end (send → stored+acked)", &e2e),
        ("raw libp2p request-response", &libp2p),
        ("raw vodozemac encrypt+decrypt", &olm),
    ] {
        println!(
            "{:<34} {:>10.3} {:>10.3} {:>14.0}",
            name,
            ms(figures.p50),
            ms(figures.p99),
            figures.per_second
        );
    }
    println!();
    println!(
        "ratio e2e/libp2p latency p50: {:.2}x   throughput: {:.2}x of raw libp2p, {:.3}x of raw vodozemac",
        ms(e2e.p50) / ms(libp2p.p50).max(1e-9),
        e2e.per_second / libp2p.per_second.max(1e-9),
        e2e.per_second / olm.per_second.max(1e-9)
    );
    Ok(())
}

async fn start_node(name: &str, root: &std::path::Path) -> Result<(DataDir, Node)> {
    let data_dir = DataDir::new(root.join(name));
    let passphrase = Zeroizing::new(b"bench passphrase".to_vec());
    data_dir.init(name, &passphrase, 0).await?;
    let mut config = NodeConfig::new(data_dir.clone(), passphrase);
    config.outbox.base_backoff = Duration::from_millis(20);
    let node = Node::start(config).await?;
    Ok((data_dir, node))
}

async fn wait_status(node: &NodeHandle, id: &str, status: omega_store::Status) -> Result<()> {
    let message = node
        .wait_for_status(id, status, Duration::from_secs(60))
        .await?;
    if message.status == status.as_str()
        || omega_store::Status::parse(&message.status).is_some_and(|s| s.rank() >= status.rank())
    {
        Ok(())
    } else {
        Err(anyhow!("message {id} stuck at {}", message.status))
    }
}

/// Full path: queue (durable), encrypt, sign, transmit, verify, decrypt, store, ack.
async fn end_to_end(count: usize) -> Result<Figures> {
    let root = tempfile::tempdir().context("temp dir")?;
    let (alice_dir, alice) = start_node("alice", root.path()).await?;
    let (bob_dir, bob) = start_node("bob", root.path()).await?;
    let (a, b) = (alice.handle(), bob.handle());
    a.add_contact(&b.info().card, Some("bob")).await?;
    b.add_contact(&a.info().card, Some("alice")).await?;
    let text = "x".repeat(MESSAGE_BYTES);
    // Warm-up: establishes the Olm session.
    for _ in 0..5 {
        let message = a.send_text("bob", &text).await?;
        wait_status(&a, &message.message_id, omega_store::Status::Delivered).await?;
    }
    let mut latencies = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        let message = a.send_text("bob", &text).await?;
        wait_status(&a, &message.message_id, omega_store::Status::Sent).await?;
        latencies.push(started.elapsed());
    }
    let started = Instant::now();
    let mut ids = Vec::with_capacity(count);
    for _ in 0..count {
        ids.push(a.send_text("bob", &text).await?.message_id);
    }
    for id in &ids {
        wait_status(&a, id, omega_store::Status::Sent).await?;
    }
    let per_second = count as f64 / started.elapsed().as_secs_f64();
    alice.shutdown(&alice_dir).await;
    bob.shutdown(&bob_dir).await;
    Ok(summarize(latencies, per_second))
}

/// Baseline: the same transport (TCP + Noise + Yamux request-response) with an echo responder.
async fn raw_libp2p(count: usize) -> Result<Figures> {
    let listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?];
    let mut server_config = omega_net::Config::new(libp2p::identity::Keypair::generate_ed25519());
    server_config.listen = listen.clone();
    let (server, mut events) = omega_net::start(server_config).await?;
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if let NetEvent::Request { responder, .. } = event {
                responder.respond(vec![1; 4]);
            }
        }
    });
    let mut client_config = omega_net::Config::new(libp2p::identity::Keypair::generate_ed25519());
    client_config.listen = listen;
    let (client, _client_events) = omega_net::start(client_config).await?;
    let peer = server.local_peer_id();
    let addrs = server.listen_addrs().await;
    let body = vec![7u8; MESSAGE_BYTES];
    for _ in 0..5 {
        client
            .request(Protocol::Msg, peer, addrs.clone(), body.clone())
            .await?;
    }
    let mut latencies = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        client
            .request(Protocol::Msg, peer, addrs.clone(), body.clone())
            .await?;
        latencies.push(started.elapsed());
    }
    // Throughput with one request in flight, like the outbox's per-device window.
    let started = Instant::now();
    for _ in 0..count {
        client
            .request(Protocol::Msg, peer, addrs.clone(), body.clone())
            .await?;
    }
    let per_second = count as f64 / started.elapsed().as_secs_f64();
    client.shutdown().await;
    server.shutdown().await;
    Ok(summarize(latencies, per_second))
}

/// Baseline: Olm encrypt + decrypt of a 256-byte message on one core, no IO.
fn raw_vodozemac(count: usize) -> Result<Figures> {
    let alice = Account::new();
    let mut bob = Account::new();
    bob.generate_one_time_keys(1);
    let one_time_key = *bob
        .one_time_keys()
        .values()
        .next()
        .ok_or_else(|| anyhow!("no one-time key"))?;
    bob.mark_keys_as_published();
    let mut alice_session = alice.create_outbound_session(
        SessionConfig::version_1(),
        bob.curve25519_key(),
        one_time_key,
    )?;
    let plaintext = vec![7u8; MESSAGE_BYTES];
    let OlmMessage::PreKey(first) = alice_session.encrypt(&plaintext)? else {
        return Err(anyhow!("first message is not a pre-key message"));
    };
    let mut bob_session = bob
        .create_inbound_session(SessionConfig::version_1(), alice.curve25519_key(), &first)?
        .session;
    let reply = bob_session.encrypt(&plaintext)?;
    alice_session.decrypt(&reply)?;
    let mut latencies = Vec::with_capacity(count);
    let started = Instant::now();
    for _ in 0..count {
        let one = Instant::now();
        let message = alice_session.encrypt(&plaintext)?;
        let decrypted = bob_session.decrypt(&message)?;
        std::hint::black_box(decrypted);
        latencies.push(one.elapsed());
    }
    let per_second = count as f64 / started.elapsed().as_secs_f64();
    Ok(summarize(latencies, per_second))
}
