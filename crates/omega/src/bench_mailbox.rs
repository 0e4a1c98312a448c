//! `omega bench mailbox`: the server's full deposit → fetch → ack path over libp2p on loopback,
//! on SQLite and (when a PostgreSQL URL is given) on PostgreSQL, beside a raw batched
//! INSERT / SELECT / DELETE of the same rows on the same database, in the same run.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use libp2p::{Multiaddr, PeerId};
use omega_crypto::{DeviceAccount, UserIdentity, mailbox_address, sign_mailbox_auth};
use omega_net::Protocol;
use omega_proto::{Message, v1};
use omega_server::{Limits, Server, ServerConfig};
use omega_store::server::{AnyServerStore, open_server_store};
use serde_json::json;
use sqlx::Connection;

const ENVELOPE_BYTES: usize = 256;

struct Figures {
    backend: &'static str,
    deposit_p50: Duration,
    deposit_p99: Duration,
    end_to_end_per_second: f64,
    raw_per_second: f64,
}

pub fn run(count: u32, postgres: Option<String>, json_output: bool) -> Result<()> {
    let runtime = crate::commands::runtime()?;
    let count = count as usize;
    let figures = runtime.block_on(async {
        let mut figures = Vec::new();
        let dir = tempfile::tempdir()?;
        let sqlite_url = format!("sqlite://{}", dir.path().join("bench.db").display());
        figures.push(measure("sqlite", &sqlite_url, count).await?);
        if let Some(admin) = &postgres {
            let database = format!("omega_bench_{}", std::process::id());
            let mut connection = sqlx::PgConnection::connect(admin)
                .await
                .context("cannot reach PostgreSQL")?;
            // The name is built here from digits, never from input.
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "CREATE DATABASE \"{database}\""
            )))
            .execute(&mut connection)
            .await?;
            let url = omega_store::server::with_database(admin, &database);
            let result = measure("postgres", &url, count).await;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
            )))
            .execute(&mut connection)
            .await?;
            figures.push(result?);
        }
        Ok::<_, anyhow::Error>(figures)
    })?;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    if json_output {
        let rows: Vec<_> = figures
            .iter()
            .map(|f| {
                json!({
                    "backend": f.backend,
                    "deposit_p50_ms": ms(f.deposit_p50),
                    "deposit_p99_ms": ms(f.deposit_p99),
                    "end_to_end_envelopes_per_s": f.end_to_end_per_second,
                    "raw_rows_per_s": f.raw_per_second,
                    "ratio_to_raw": f.end_to_end_per_second / f.raw_per_second.max(1e-9),
                })
            })
            .collect();
        println!(
            "{}",
            json!({"bench": "mailbox", "count": count, "envelope_bytes": ENVELOPE_BYTES, "results": rows})
        );
        return Ok(());
    }
    println!(
        "omega bench mailbox — {count} envelopes of {ENVELOPE_BYTES} bytes, deposit + fetch + ack over libp2p, loopback"
    );
    if postgres.is_none() {
        println!(
            "(PostgreSQL not measured: pass --postgres postgres://USER@HOST:PORT/DB, or set OMEGA_TEST_POSTGRES_URL)"
        );
    }
    println!(
        "{:<10} {:>14} {:>14} {:>18} {:>16} {:>10}",
        "backend", "deposit p50 ms", "deposit p99 ms", "e2e envelopes/s", "raw rows/s", "ratio"
    );
    for f in &figures {
        println!(
            "{:<10} {:>14.3} {:>14.3} {:>18.0} {:>16.0} {:>9.3}x",
            f.backend,
            ms(f.deposit_p50),
            ms(f.deposit_p99),
            f.end_to_end_per_second,
            f.raw_per_second,
            f.end_to_end_per_second / f.raw_per_second.max(1e-9)
        );
    }
    Ok(())
}

async fn request(
    net: &omega_net::NetHandle,
    server: PeerId,
    addrs: &[Multiaddr],
    op: v1::mailbox_request::Op,
) -> Result<v1::mailbox_response::Result> {
    let bytes = net
        .request(
            Protocol::Mailbox,
            server,
            addrs.to_vec(),
            v1::MailboxRequest { op: Some(op) }.encode_to_vec(),
        )
        .await?;
    match omega_proto::decode_mailbox_response(&bytes)?.result {
        Some(v1::mailbox_response::Result::Error(error)) => {
            bail!("server refused: {} {}", error.code, error.message)
        }
        Some(result) => Ok(result),
        None => bail!("empty answer"),
    }
}

async fn measure(backend: &'static str, url: &str, count: usize) -> Result<Figures> {
    let raw_per_second = raw_baseline(url, count).await?;
    let store: AnyServerStore = open_server_store(url).await?;
    let server_key = libp2p::identity::Keypair::generate_ed25519();
    let mut config = ServerConfig::new(server_key, vec!["/ip4/127.0.0.1/tcp/0".parse()?]);
    config.limits = Limits {
        rate_per_second: 1e9,
        rate_burst: 1e9,
        ..Limits::default()
    };
    let server = Server::start(config, store.clone()).await?;
    let server_peer = server.peer_id();
    let addrs: Vec<Multiaddr> = server.listen_addrs().to_vec();

    let mut client_config = omega_net::Config::new(libp2p::identity::Keypair::generate_ed25519());
    client_config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?];
    let (net, _events) = omega_net::start(client_config).await?;

    let user = UserIdentity::generate(&mut rand::rngs::OsRng);
    let account = DeviceAccount::generate();
    let list = v1::DeviceList {
        user_key: user.public_key().as_bytes().to_vec(),
        version: 1,
        devices: vec![account.device_info(net.local_peer_id().to_bytes(), "bench")],
        created_ms: 0,
    };
    let signed = user.sign_device_list(&list);
    request(
        &net,
        server_peer,
        &addrs,
        v1::mailbox_request::Op::PublishDevices(v1::PublishDevices {
            devices: Some(signed),
        }),
    )
    .await?;
    let recipient_hash = mailbox_address(&user.public_key(), &account.curve25519());

    let envelope = vec![7u8; ENVELOPE_BYTES];
    let mut latencies = Vec::with_capacity(count);
    let started = Instant::now();
    for _ in 0..count {
        let one = Instant::now();
        request(
            &net,
            server_peer,
            &addrs,
            v1::mailbox_request::Op::Deposit(v1::Deposit {
                recipient_hash: recipient_hash.to_vec(),
                message_id: uuid_bytes(),
                envelope: envelope.clone(),
            }),
        )
        .await?;
        latencies.push(one.elapsed());
    }
    let nonce = match request(
        &net,
        server_peer,
        &addrs,
        v1::mailbox_request::Op::Challenge(v1::ChallengeRequest {}),
    )
    .await?
    {
        v1::mailbox_response::Result::Challenge(challenge) => challenge.nonce,
        _ => bail!("unexpected answer"),
    };
    let signature = sign_mailbox_auth(
        &account,
        &server_peer.to_bytes(),
        &nonce,
        &user.public_key(),
    );
    let token = match request(
        &net,
        server_peer,
        &addrs,
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
    let mut fetched = 0;
    let mut after = 0;
    loop {
        let page = match request(
            &net,
            server_peer,
            &addrs,
            v1::mailbox_request::Op::Fetch(v1::Fetch {
                token: token.clone(),
                after,
                limit: 500,
            }),
        )
        .await?
        {
            v1::mailbox_response::Result::Page(page) => page,
            _ => bail!("unexpected answer"),
        };
        let Some(last) = page.envelopes.last() else {
            break;
        };
        after = last.cursor;
        fetched += page.envelopes.len();
        let ids = page.envelopes.into_iter().map(|e| e.message_id).collect();
        request(
            &net,
            server_peer,
            &addrs,
            v1::mailbox_request::Op::Ack(v1::MailboxAck {
                token: token.clone(),
                message_ids: ids,
            }),
        )
        .await?;
        if !page.more {
            break;
        }
    }
    let elapsed = started.elapsed();
    if fetched != count {
        bail!("fetched {fetched} of {count} envelopes");
    }
    net.shutdown().await;
    server.shutdown().await;
    store.close().await;
    latencies.sort();
    let pick =
        |fraction: f64| latencies[((latencies.len() as f64 - 1.0) * fraction).round() as usize];
    Ok(Figures {
        backend,
        deposit_p50: pick(0.5),
        deposit_p99: pick(0.99),
        end_to_end_per_second: count as f64 / elapsed.as_secs_f64(),
        raw_per_second,
    })
}

fn uuid_bytes() -> Vec<u8> {
    let mut bytes = vec![0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    bytes
}

/// The database alone: the same rows inserted in one batched transaction, read back, deleted.
async fn raw_baseline(url: &str, count: usize) -> Result<f64> {
    let envelope = vec![7u8; ENVELOPE_BYTES];
    let hash = vec![1u8; 32];
    if let Some(path) = url.strip_prefix("sqlite://") {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(format!("{path}.raw"))
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sqlx::sqlite::SqliteSynchronous::Full);
        let mut db = sqlx::SqliteConnection::connect_with(&options).await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS raw (recipient_hash BLOB, message_id BLOB, envelope BLOB)",
        )
        .execute(&mut db)
        .await?;
        let started = Instant::now();
        let mut tx = db.begin().await?;
        for _ in 0..count {
            sqlx::query("INSERT INTO raw VALUES (?, ?, ?)")
                .bind(hash.clone())
                .bind(uuid_bytes())
                .bind(envelope.clone())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        let rows = sqlx::query("SELECT envelope FROM raw WHERE recipient_hash = ?")
            .bind(hash.clone())
            .fetch_all(&mut db)
            .await?;
        sqlx::query("DELETE FROM raw WHERE recipient_hash = ?")
            .bind(hash)
            .execute(&mut db)
            .await?;
        let elapsed = started.elapsed();
        if rows.len() != count {
            bail!("raw baseline read {} rows of {count}", rows.len());
        }
        Ok(count as f64 / elapsed.as_secs_f64())
    } else {
        let mut db = sqlx::PgConnection::connect(url).await?;
        sqlx::query("CREATE TABLE IF NOT EXISTS raw (recipient_hash BYTEA, message_id BYTEA, envelope BYTEA)").execute(&mut db).await?;
        let started = Instant::now();
        let mut tx = db.begin().await?;
        for _ in 0..count {
            sqlx::query("INSERT INTO raw VALUES ($1, $2, $3)")
                .bind(hash.clone())
                .bind(uuid_bytes())
                .bind(envelope.clone())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        let rows = sqlx::query("SELECT envelope FROM raw WHERE recipient_hash = $1")
            .bind(hash.clone())
            .fetch_all(&mut db)
            .await?;
        sqlx::query("DELETE FROM raw WHERE recipient_hash = $1")
            .bind(hash)
            .execute(&mut db)
            .await?;
        let elapsed = started.elapsed();
        if rows.len() != count {
            bail!("raw baseline read {} rows of {count}", rows.len());
        }
        Ok(count as f64 / elapsed.as_secs_f64())
    }
}
