//! `omega bench group`: one message to a group of N members, all simulated in this process: each
//! member is its own libp2p swarm (omega-net with GossipSub) holding the sender's Megolm session,
//! joined in a sparse random mesh (each dials a few others, so most members are reached in
//! several hops, as in a real group). The sender encrypts a group message (Megolm, the
//! `GroupMessage` wire format) and publishes it on the group's topic; every member decrypts it.
//! Reported: for each message, the time until every member has it (p50/p99 over the messages)
//! and each member's delivery latency, beside raw GossipSub publishing of bytes of the same size
//! on the same swarms in the same run. Members here do not store messages (the engine's store
//! is measured by `omega bench msg`); the Megolm key is handed over in memory, as the Olm
//! share is not on this path.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use omega_crypto::{InboundGroup, OutboundGroup};
use omega_net::{NetEvent, NetHandle};
use omega_proto::{Message, v1};
use rand::seq::SliceRandom;
use serde_json::json;
use tokio::sync::mpsc;

use crate::bench::percentile;

const GROUP_TOPIC: &str = "/omega/group/bench";
const RAW_TOPIC: &str = "/omega/group/bench-raw";
/// Each member dials this many random others (and is dialled by as many on average).
const DIALS_PER_MEMBER: usize = 4;
const TEXT: &str = "Bom dia, grupo! Reunião às 10h na sala 3 — tragam o relatório.";

struct Member {
    net: NetHandle,
}

/// (message index, arrival instant) reported by members.
type Arrival = (usize, Instant);

pub fn run(members: u32, messages: u32, json: bool) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(measure(members as usize, messages as usize, json))
}

async fn measure(n: usize, messages: usize, json: bool) -> Result<()> {
    let started = Instant::now();
    let mut sender = OutboundGroup::new();
    let key = sender.session_key();
    let (group_tx, mut group_rx) = mpsc::unbounded_channel::<Arrival>();
    let (raw_tx, mut raw_rx) = mpsc::unbounded_channel::<Arrival>();
    let mut members = Vec::with_capacity(n);
    for _ in 0..n {
        let mut config = omega_net::Config::new(libp2p::identity::Keypair::generate_ed25519());
        config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?];
        config.idle_connection_timeout = Duration::from_secs(600);
        let (net, mut events) = omega_net::start(config).await.context("start a member")?;
        net.subscribe(GROUP_TOPIC, true).await;
        net.subscribe(RAW_TOPIC, true).await;
        let mut inbound = InboundGroup::new(&key)?;
        let group_tx = group_tx.clone();
        let raw_tx = raw_tx.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                let NetEvent::Gossip { topic, data, .. } = event else {
                    continue;
                };
                let now = Instant::now();
                if topic == RAW_TOPIC {
                    let index = u32::from_be_bytes(data[..4].try_into().unwrap_or_default());
                    let _ = raw_tx.send((index as usize, now));
                    continue;
                }
                let Ok(message) = omega_proto::decode_group_message(&data) else {
                    continue;
                };
                let Ok((plaintext, _)) = inbound.decrypt(&message.ciphertext) else {
                    continue;
                };
                let Ok(payload) = omega_proto::decode_group_payload(&plaintext) else {
                    continue;
                };
                let _ = group_tx.send((payload.timestamp_ms as usize, Instant::now()));
            }
        });
        members.push(Member { net });
    }
    // A sparse random mesh: every member dials a few others.
    let mut addrs = Vec::with_capacity(n);
    for member in &members {
        addrs.push((member.net.local_peer_id(), member.net.listen_addrs().await));
    }
    let mut rng = rand::thread_rng();
    let indexes: Vec<usize> = (0..n).collect();
    for (index, member) in members.iter().enumerate() {
        for target in indexes
            .choose_multiple(&mut rng, DIALS_PER_MEMBER + 1)
            .filter(|target| **target != index)
            .take(DIALS_PER_MEMBER)
        {
            let (peer, addrs) = addrs[*target].clone();
            let _ = member.net.dial(peer, addrs).await;
        }
    }
    // Wait until every member sees someone on both topics, then for a few heartbeats so the
    // meshes form.
    for member in &members {
        let deadline = Instant::now() + Duration::from_secs(60);
        while member.net.topic_peers(GROUP_TOPIC).await.is_empty()
            || member.net.topic_peers(RAW_TOPIC).await.is_empty()
        {
            if Instant::now() > deadline {
                bail!("a member never joined the topic");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let setup = started.elapsed();
    let publisher = members[0].net.clone();
    let receivers = n - 1;

    // The group path: Megolm encrypt, wire format, publish; each member decrypts.
    let sample = v1::GroupMessage {
        version: omega_proto::WIRE_VERSION,
        group_id: vec![0; 32],
        session_id: sender.session_id(),
        ciphertext: Vec::new(),
    };
    // The two paths take turns, message by message, so that both see the same machine.
    let mut group_results = Vec::new();
    let mut raw_results = Vec::new();
    let mut wire_len = 0;
    for index in 0..messages {
        let payload = v1::GroupPayload {
            message_id: uuid::Uuid::now_v7().as_bytes().to_vec(),
            timestamp_ms: index as u64,
            content: Some(v1::Content {
                body: Some(v1::content::Body::Text(v1::Text {
                    body: TEXT.to_owned(),
                    mentions: Vec::new(),
                })),
                ..v1::Content::default()
            }),
        };
        // The group path: Megolm encrypt, wire format, publish; each member decrypts.
        let sent_at = Instant::now();
        let mut message = sample.clone();
        message.ciphertext = sender.encrypt(&payload.encode_to_vec());
        let wire = message.encode_to_vec();
        wire_len = wire.len();
        publisher.publish(GROUP_TOPIC, wire).await?;
        group_results.push(collect(&mut group_rx, index, receivers, sent_at).await);
        // The raw path: bytes of the same size, published and received as they are.
        let mut bytes = vec![0u8; wire_len.max(8)];
        bytes[..4].copy_from_slice(&(index as u32).to_be_bytes());
        bytes[4..8].copy_from_slice(&rand::random::<u32>().to_be_bytes());
        let sent_at = Instant::now();
        publisher.publish(RAW_TOPIC, bytes).await?;
        raw_results.push(collect(&mut raw_rx, index, receivers, sent_at).await);
    }
    let group = Summary::of(&group_results, receivers);
    let raw = Summary::of(&raw_results, receivers);
    for member in members {
        member.net.shutdown().await;
    }
    let ratio = group.all_p50.as_secs_f64() / raw.all_p50.as_secs_f64().max(1e-9);
    if json {
        println!(
            "{}",
            json!({
                "bench": "group",
                "members": n,
                "messages": messages,
                "wire_bytes": wire_len,
                "setup_s": setup.as_secs_f64(),
                "group": group.json(),
                "raw_gossipsub": raw.json(),
                "ratio_all_members_p50_group_to_raw": ratio,
            })
        );
    } else {
        println!(
            "{n} members ({} receivers), {messages} messages of {wire_len} bytes; mesh ready in {:.1} s",
            receivers,
            setup.as_secs_f64()
        );
        println!(
            "{:<16} {:>14} {:>14} {:>14} {:>14} {:>10}",
            "path", "all have it p50", "all p99", "member p50", "member p99", "delivered"
        );
        for (name, summary) in [("group (Megolm)", &group), ("raw GossipSub", &raw)] {
            println!(
                "{:<16} {:>12.2}ms {:>12.2}ms {:>12.2}ms {:>12.2}ms {:>9.1}%",
                name,
                ms(summary.all_p50),
                ms(summary.all_p99),
                ms(summary.member_p50),
                ms(summary.member_p99),
                summary.delivered * 100.0
            );
        }
        println!("ratio (time until all members have it, p50): {ratio:.2}x raw GossipSub");
    }
    Ok(())
}

/// Waits for `receivers` arrivals of message `index` (at most 30 s) and returns each latency.
async fn collect(
    arrivals: &mut mpsc::UnboundedReceiver<Arrival>,
    index: usize,
    receivers: usize,
    sent_at: Instant,
) -> Vec<Duration> {
    let mut latencies = Vec::with_capacity(receivers);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while latencies.len() < receivers {
        match tokio::time::timeout_at(deadline, arrivals.recv()).await {
            Ok(Some((got, at))) if got == index => latencies.push(at - sent_at),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    latencies
}

struct Summary {
    all_p50: Duration,
    all_p99: Duration,
    member_p50: Duration,
    member_p99: Duration,
    /// Share of (message, member) deliveries that happened.
    delivered: f64,
}

impl Summary {
    fn of(results: &[Vec<Duration>], receivers: usize) -> Summary {
        let mut all: Vec<Duration> = results
            .iter()
            .map(|latencies| latencies.iter().max().copied().unwrap_or_default())
            .collect();
        all.sort();
        let mut each: Vec<Duration> = results.iter().flatten().copied().collect();
        each.sort();
        let expected = (results.len() * receivers).max(1);
        Summary {
            all_p50: percentile(&all, 0.50),
            all_p99: percentile(&all, 0.99),
            member_p50: percentile(&each, 0.50),
            member_p99: percentile(&each, 0.99),
            delivered: each.len() as f64 / expected as f64,
        }
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "all_members_p50_ms": ms(self.all_p50),
            "all_members_p99_ms": ms(self.all_p99),
            "member_p50_ms": ms(self.member_p50),
            "member_p99_ms": ms(self.member_p99),
            "delivered": self.delivered,
        })
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
