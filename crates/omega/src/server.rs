//! `omega server`: runs the mailbox and prekey directory, keeping its libp2p identity in the data
//! directory (`server.key`, 0600) and announcing where it listens in `server.json`.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use libp2p::identity::Keypair;
use omega_core::DataDir;
use omega_server::{Limits, Server, ServerConfig, SystemClock};
use rand::RngCore;
use serde_json::json;

use crate::cli::ServerArgs;
use crate::commands::{Signals, runtime};

const KEY_FILE: &str = "server.key";
const INFO_FILE: &str = "server.json";

/// Loads the server's key, creating it on first run.
fn load_or_create_key(dir: &Path) -> Result<Keypair> {
    let path = dir.join(KEY_FILE);
    match std::fs::read(&path) {
        Ok(mut bytes) => {
            if bytes.len() != 32 {
                bail!(
                    "{} is corrupt (expected 32 bytes, got {})",
                    path.display(),
                    bytes.len()
                );
            }
            let keypair = Keypair::ed25519_from_bytes(&mut bytes)
                .with_context(|| format!("{} is not a valid key", path.display()))?;
            Ok(keypair)
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let mut secret = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut secret);
            let mut options = std::fs::OpenOptions::new();
            options.create_new(true).write(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut file = options
                .open(&path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            file.write_all(&secret)?;
            file.sync_all()?;
            let keypair = Keypair::ed25519_from_bytes(&mut secret)?;
            Ok(keypair)
        }
        Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// A server started by [`start`]: stop it with [`Started::stop`], which also removes
/// `server.json`.
pub struct Started {
    pub server: Server<omega_store::server::AnyServerStore>,
    /// `{"peer_id", "listen_addrs": [full multiaddrs], "http"}`, as written to `server.json`.
    pub info: serde_json::Value,
    pub backend: &'static str,
    info_path: std::path::PathBuf,
}

impl Started {
    pub async fn stop(self) {
        let _ = std::fs::remove_file(&self.info_path);
        self.server.shutdown().await;
    }
}

/// Starts a server keeping its key, database and `server.json` in `root`.
pub async fn start(root: &Path, args: &ServerArgs) -> Result<Started> {
    let listen = args
        .listen
        .iter()
        .map(|addr| {
            addr.parse()
                .with_context(|| format!("invalid --listen address {addr:?} (expected a multiaddr like /ip4/0.0.0.0/tcp/4040)"))
        })
        .collect::<Result<Vec<libp2p::Multiaddr>>>()?;
    std::fs::create_dir_all(root).with_context(|| format!("cannot create {}", root.display()))?;
    let keypair = load_or_create_key(root)?;
    let db = args
        .db
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", root.join("server.db").display()));
    let limits_ttl_ms = i64::from(args.ttl_days) * 24 * 3600 * 1000;
    let limits = Limits {
        ttl_ms: limits_ttl_ms,
        max_envelope_bytes: args.max_envelope_bytes as usize,
        rate_per_second: f64::from(args.rate_per_second),
        rate_burst: f64::from(args.rate_burst),
        ..Limits::default()
    };
    let store = omega_store::server::open_server_store(&db)
        .await
        .with_context(|| "cannot open the server database")?;
    let backend = store.backend();
    let mut config = ServerConfig::new(keypair, listen);
    config.http = Some(args.http);
    config.limits = limits;
    config.clock = Arc::new(SystemClock);
    // Sealed file chunks: same TTL as the mailbox, on disk beside the database.
    config.blobs = Some(root.join("blobs"));
    config.blob_limits = omega_server::BlobLimits {
        ttl_ms: limits_ttl_ms,
        max_total_bytes: args.blob_max_mib.saturating_mul(1024 * 1024),
        bytes_per_second: f64::from(args.blob_rate_mib) * 1024.0 * 1024.0,
        burst_bytes: f64::from(args.blob_rate_mib) * 8.0 * 1024.0 * 1024.0,
    };
    let server = Server::start(config, store).await?;
    let listen_addrs: Vec<String> = server
        .listen_addrs()
        .iter()
        .map(ToString::to_string)
        .collect();
    let http = server.http_addr().map(|addr| addr.to_string());
    let info = json!({
        "peer_id": server.peer_id().to_string(),
        "listen_addrs": listen_addrs,
        "http": http,
    });
    let info_path = root.join(INFO_FILE);
    let tmp = root.join("server.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&info)?)?;
    std::fs::rename(&tmp, &info_path)?;
    Ok(Started {
        server,
        info,
        backend,
        info_path,
    })
}

pub fn run(data_dir: &DataDir, args: &ServerArgs, json: bool) -> Result<()> {
    let root = data_dir.root().to_path_buf();
    runtime()?.block_on(async {
        let started = start(&root, args).await?;
        let signals = Signals::install()?;
        let info = &started.info;
        let backend = started.backend;
        if json {
            println!("{}", json!({"event": "started", "peer_id": info["peer_id"], "listen_addrs": info["listen_addrs"], "http": info["http"], "db": backend}));
        } else {
            println!("Ômega server {} ({backend} storage)", info["peer_id"].as_str().unwrap_or_default());
            let listen_addrs: Vec<&str> = info["listen_addrs"].as_array().into_iter().flatten().filter_map(|addr| addr.as_str()).collect();
            for addr in &listen_addrs {
                println!("  listening on {addr}");
            }
            if let Some(http) = info["http"].as_str() {
                println!("  http: http://{http}/health  http://{http}/metrics");
            }
            println!("Nodes join with: omega node --bootstrap {}", listen_addrs.first().copied().unwrap_or(""));
            println!("Press Ctrl-C to stop.");
        }
        signals.wait().await;
        started.stop().await;
        Ok::<(), anyhow::Error>(())
    })
}
