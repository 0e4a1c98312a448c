//! `omega bench files`: a file sent end to end — sealed, cached and uploaded to a server's blob
//! store by one node, then fetched, verified and written by another — measured beside raw libp2p
//! request-response throughput on the same transport with the same 1 MiB bodies and the same
//! number in flight, in the same run. It prints both and their ratio; it asserts nothing
//! (machines are shared; numbers go to docs/benchmarks.md).

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use omega_core::{DataDir, Node, NodeConfig, NodeHandle, TransferView};
use omega_net::{NetEvent, Protocol};
use serde_json::json;
use zeroize::Zeroizing;

const MIB: u64 = 1024 * 1024;

pub fn files(mib: u32, json: bool) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let size = u64::from(mib) * MIB;
    let (upload, fetch, raw) = runtime.block_on(async {
        let (upload, fetch) = end_to_end(size).await?;
        let raw = raw_libp2p(size).await?;
        Ok::<_, anyhow::Error>((upload, fetch, raw))
    })?;
    let rate = |elapsed: Duration| size as f64 / 1e6 / elapsed.as_secs_f64().max(1e-9);
    let (up, down, whole, base) = (rate(upload), rate(fetch), rate(upload + fetch), rate(raw));
    if json {
        println!(
            "{}",
            json!({
                "bench": "files", "bytes": size,
                "upload_mb_per_s": up, "fetch_mb_per_s": down, "file_transfer_mb_per_s": whole,
                "raw_libp2p_mb_per_s": base,
                "ratio_fetch_to_raw": down / base.max(1e-9),
                "ratio_upload_to_raw": up / base.max(1e-9),
                "ratio_file_transfer_to_raw": whole / base.max(1e-9),
            })
        );
        return Ok(());
    }
    println!(
        "omega bench files — a {mib} MiB file, 1 MiB chunks, {} in flight, loopback, this machine, same run",
        omega_core::files::IN_FLIGHT
    );
    println!("{:<52} {:>10}", "path", "MB/s");
    for (name, figure) in [
        ("upload (read, seal, cache, put to the blob store)", up),
        ("fetch (get, verify, decrypt, write, whole SHA-256)", down),
        ("file transfer (upload then fetch)", whole),
        ("raw libp2p request-response, 1 MiB bodies", base),
    ] {
        println!("{name:<52} {figure:>10.1}");
    }
    println!();
    println!(
        "ratio to raw libp2p: fetch {:.2}x   upload {:.2}x   file transfer {:.2}x",
        down / base.max(1e-9),
        up / base.max(1e-9),
        whole / base.max(1e-9)
    );
    Ok(())
}

async fn start_node(name: &str, root: &Path, home: &libp2p::Multiaddr) -> Result<(DataDir, Node)> {
    let data_dir = DataDir::new(root.join(name));
    let passphrase = Zeroizing::new(b"bench passphrase".to_vec());
    data_dir.init(name, &passphrase, 0).await?;
    let mut config = NodeConfig::new(data_dir.clone(), passphrase);
    config.outbox.base_backoff = Duration::from_millis(20);
    config.mailbox = Some(home.clone());
    config.mailbox_poll = Duration::from_millis(100);
    let node = Node::start(config).await?;
    Ok((data_dir, node))
}

async fn wait_done(node: &NodeHandle, id: &str) -> Result<TransferView> {
    loop {
        let view = node
            .transfer(id)
            .ok_or_else(|| anyhow!("transfer {id} vanished"))?;
        match view.state.as_str() {
            "running" => tokio::time::sleep(Duration::from_millis(20)).await,
            "done" => return Ok(view),
            _ => bail!("transfer failed: {}", view.error.unwrap_or_default()),
        }
    }
}

/// Two nodes and a server with a blob store: the time to send (until the message is queued)
/// and the time to fetch (until the file is verified and in place).
async fn end_to_end(size: u64) -> Result<(Duration, Duration)> {
    let root = tempfile::tempdir().context("temp dir")?;
    let mut server_config = omega_server::ServerConfig::new(
        libp2p::identity::Keypair::generate_ed25519(),
        vec!["/ip4/127.0.0.1/tcp/0".parse()?],
    );
    server_config.blobs = Some(root.path().join("server-blobs"));
    let store = omega_store::server::open_server_store(&format!(
        "sqlite://{}",
        root.path().join("server.db").display()
    ))
    .await?;
    let server = omega_server::Server::start(server_config, store).await?;
    let home = server
        .listen_addrs()
        .first()
        .cloned()
        .ok_or_else(|| anyhow!("the server listens nowhere"))?;
    let (alice_dir, alice) = start_node("alice", root.path(), &home).await?;
    let (bob_dir, bob) = start_node("bob", root.path(), &home).await?;
    let (a, b) = (alice.handle(), bob.handle());
    a.add_contact(&b.info().card, Some("bob")).await?;
    b.add_contact(&a.info().card, Some("alice")).await?;

    let path = root.path().join("bench.bin");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
    let mut block = vec![0u8; MIB as usize];
    for (i, byte) in block.iter_mut().enumerate() {
        *byte = (i * 31 % 251) as u8;
    }
    for n in 0..size / MIB {
        block[0] = n as u8;
        file.write_all(&block)?;
    }
    file.flush()?;
    drop(file);

    let started = Instant::now();
    let transfer = a.send_file("bob", &path).await?;
    let sent = wait_done(&a, &transfer.id).await?;
    let upload = started.elapsed();
    let message_id = sent.message_id.ok_or_else(|| anyhow!("no message id"))?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while b.message(&message_id).await.is_err() {
        if Instant::now() > deadline {
            bail!("the file message did not arrive");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out = root.path().join("out");
    std::fs::create_dir(&out)?;
    let started = Instant::now();
    let transfer = b.fetch_file(&message_id, Some(&out)).await?;
    wait_done(&b, &transfer.id).await?;
    let fetch = started.elapsed();
    alice.shutdown(&alice_dir).await;
    bob.shutdown(&bob_dir).await;
    server.shutdown().await;
    Ok((upload, fetch))
}

/// Baseline: the same transport and protocol (`/omega/blob/1`, TCP + Noise + Yamux) carrying
/// opaque 1 MiB bodies, as many in flight, to a responder that answers four bytes.
async fn raw_libp2p(size: u64) -> Result<Duration> {
    let listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?];
    let mut server_config = omega_net::Config::new(libp2p::identity::Keypair::generate_ed25519());
    server_config.listen = listen.clone();
    server_config.protocols = vec![Protocol::Blob];
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
    let body = vec![7u8; MIB as usize + 16];
    client
        .request(Protocol::Blob, peer, addrs.clone(), body.clone())
        .await?;
    let chunks = size / MIB;
    let started = Instant::now();
    let mut sent = 0;
    while sent < chunks {
        let batch = (chunks - sent).min(omega_core::files::IN_FLIGHT as u64);
        let requests =
            (0..batch).map(|_| client.request(Protocol::Blob, peer, addrs.clone(), body.clone()));
        for answer in futures::future::join_all(requests).await {
            answer?;
        }
        sent += batch;
    }
    let elapsed = started.elapsed();
    client.shutdown().await;
    server.shutdown().await;
    Ok(elapsed)
}
