//! The hub's supervisor: opens the database, keys and audit log, owns the configuration and the
//! limiters, serves HTTP and shuts everything down.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use omega_auth::ratelimit::{KeyedLimiter, LimitConfig, Lockout, LockoutConfig};
use tokio::sync::watch;

use crate::audit::{Actor, AuditEvent, AuditLog};
use crate::config::{HubConfig, text_sha256};
use crate::keys::KeyRing;
use crate::metrics::Metrics;
use crate::seal::MasterKey;
use crate::store::{HubDb, now_ms};

/// Where the hub keeps things.
#[derive(Clone, Debug)]
pub struct HubOptions {
    /// Holds `hub.toml` and `hub-master.key`.
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://…`.
    pub db_url: String,
}

impl HubOptions {
    pub fn new(data_dir: &Path, db_url: &str) -> HubOptions {
        HubOptions {
            data_dir: data_dir.to_owned(),
            db_url: db_url.to_owned(),
        }
    }

    pub fn config_path(&self) -> PathBuf {
        self.data_dir.join("hub.toml")
    }
}

/// Rate limiters and the login lockout, rebuilt from the configuration on reload.
pub(crate) struct Limiters {
    pub per_ip: KeyedLimiter<String>,
    pub per_token: KeyedLimiter<String>,
    pub login_per_ip: KeyedLimiter<String>,
    pub lockout: Lockout,
}

impl Limiters {
    fn new(config: &HubConfig) -> Limiters {
        let (per_ip, per_token, login, lockout) = limit_configs(config);
        Limiters {
            per_ip: KeyedLimiter::new(per_ip),
            per_token: KeyedLimiter::new(per_token),
            login_per_ip: KeyedLimiter::new(login),
            lockout: Lockout::new(lockout),
        }
    }

    fn reconfigure(&mut self, config: &HubConfig) {
        let (per_ip, per_token, login, lockout) = limit_configs(config);
        self.per_ip.reconfigure(per_ip);
        self.per_token.reconfigure(per_token);
        self.login_per_ip.reconfigure(login);
        self.lockout.reconfigure(lockout);
    }
}

fn limit_configs(config: &HubConfig) -> (LimitConfig, LimitConfig, LimitConfig, LockoutConfig) {
    let limits = &config.limits;
    let bucket = |burst, per_second| LimitConfig {
        burst,
        per_second,
        max_keys: 100_000,
    };
    (
        bucket(limits.per_ip_burst, limits.per_ip_per_second),
        bucket(limits.per_token_burst, limits.per_token_per_second),
        bucket(limits.login_per_ip_burst, limits.login_per_ip_per_second),
        LockoutConfig {
            free_failures: limits.lockout_free_failures,
            base_ms: limits.lockout_base_ms,
            max_ms: limits.lockout_max_ms,
            max_keys: 100_000,
        },
    )
}

pub(crate) struct HubInner {
    pub options: HubOptions,
    pub db: HubDb,
    pub master: Arc<MasterKey>,
    pub keys: Arc<KeyRing>,
    pub audit: AuditLog,
    pub config: RwLock<Arc<HubConfig>>,
    pub limiters: Mutex<Limiters>,
    pub metrics: Metrics,
    pub started_ms: i64,
    pub inbox_wakeup: tokio::sync::Notify,
    pub outbound_wakeup: tokio::sync::Notify,
    pub events: tokio::sync::broadcast::Sender<crate::events::HubEvent>,
    pub scorer: Arc<dyn omega_leads::LeadScorer>,
    /// Serializes updates of connector sessions (webhook events and the session worker).
    pub sessions_lock: tokio::sync::Mutex<()>,
    /// Set when the hub stops, so long-lived streams end and graceful shutdown can finish.
    pub stopping: watch::Sender<bool>,
    /// The embedded Ômega nodes of `omega` channels.
    pub omega: crate::omega_channel::OmegaNodes,
}

/// A hub: cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Hub(pub(crate) Arc<HubInner>);

impl Hub {
    /// Opens the data directory and database, creating the configuration file, the master
    /// key and the signing keys on first start.
    pub async fn open(options: HubOptions) -> anyhow::Result<Hub> {
        std::fs::create_dir_all(&options.data_dir)
            .with_context(|| format!("create {}", options.data_dir.display()))?;
        let config_path = options.config_path();
        if !config_path.exists() {
            std::fs::write(&config_path, HubConfig::default_file())
                .with_context(|| format!("write {}", config_path.display()))?;
        }
        let text = std::fs::read_to_string(&config_path)
            .with_context(|| format!("read {}", config_path.display()))?;
        let config = HubConfig::load(&text, &config_path.display().to_string(), std::env::vars())?;
        let master = Arc::new(MasterKey::load_or_create(
            &options.data_dir.join("hub-master.key"),
        )?);
        let db = HubDb::open(&options.db_url)
            .await
            .with_context(|| format!("open the hub database {}", redact_url(&options.db_url)))?;
        let (rotation_ms, grace_ms) = key_timing(&config);
        let keys =
            Arc::new(KeyRing::load(db.clone(), master.clone(), rotation_ms, grace_ms).await?);
        let audit = AuditLog::start(db.clone(), keys.clone()).await?;
        let hub = Hub(Arc::new(HubInner {
            limiters: Mutex::new(Limiters::new(&config)),
            config: RwLock::new(Arc::new(config)),
            options,
            db,
            master,
            keys,
            audit,
            metrics: Metrics::default(),
            started_ms: now_ms(),
            inbox_wakeup: tokio::sync::Notify::new(),
            outbound_wakeup: tokio::sync::Notify::new(),
            events: tokio::sync::broadcast::channel(crate::events::BUS_CAPACITY).0,
            scorer: Arc::new(omega_leads::RuleScorer),
            sessions_lock: tokio::sync::Mutex::new(()),
            stopping: watch::channel(false).0,
            omega: crate::omega_channel::OmegaNodes::default(),
        }));
        hub.record_config(&text, "startup", None).await?;
        Ok(hub)
    }

    /// The database.
    pub fn db(&self) -> &HubDb {
        &self.0.db
    }

    /// The audit log.
    pub fn audit(&self) -> &AuditLog {
        &self.0.audit
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<HubConfig> {
        match self.0.config.read() {
            Ok(config) => config.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub(crate) fn limiters(&self) -> std::sync::MutexGuard<'_, Limiters> {
        match self.0.limiters.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Re-reads `hub.toml` (on SIGHUP). A bad file is refused and the running configuration
    /// stays; either way the attempt is audited. Returns the version now in force.
    pub async fn reload_config(&self) -> anyhow::Result<i64> {
        let path = self.0.options.config_path();
        let text =
            std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
        match HubConfig::load(&text, &path.display().to_string(), std::env::vars()) {
            Ok(config) => {
                self.limiters().reconfigure(&config);
                match self.0.config.write() {
                    Ok(mut current) => *current = Arc::new(config),
                    Err(poisoned) => *poisoned.into_inner() = Arc::new(config),
                }
                self.record_config(&text, "reload", None).await
            }
            Err(error) => {
                let event = AuditEvent::new(None, system(), "config.reload")
                    .denied()
                    .details(serde_json::json!({ "sha256": text_sha256(&text), "error": error.to_string() }));
                self.0.audit.record(event).await;
                Err(anyhow::Error::new(error)
                    .context("configuration refused; the previous one stays in force"))
            }
        }
    }

    /// Records `text` as a configuration version unless it equals the newest one; a text equal
    /// to an older version is recorded as a rollback to it.
    async fn record_config(
        &self,
        text: &str,
        source: &str,
        reason: Option<&str>,
    ) -> anyhow::Result<i64> {
        let sha = text_sha256(text);
        let versions = self.0.db.config_versions().await?;
        if let Some(newest) = versions.last()
            && newest.sha256 == sha
        {
            return Ok(newest.version);
        }
        let previous = versions.last().map(|row| row.version);
        let rollback_of = versions
            .iter()
            .rev()
            .skip(1)
            .find(|row| row.sha256 == sha)
            .map(|row| row.version);
        let source = match rollback_of {
            Some(version) => format!("rollback to {version}"),
            None => source.to_owned(),
        };
        let version = self
            .0
            .db
            .insert_config_version(text, &sha, &source, now_ms())
            .await?;
        let mut event = AuditEvent::new(None, system(), "config.applied")
            .target(format!("config/{version}"))
            .details(serde_json::json!({ "sha256": sha, "source": source, "previous": previous }));
        if let Some(reason) = reason {
            event = event.reason(reason);
        }
        self.0.audit.append(event).await?;
        Ok(version)
    }

    /// Serves HTTP on `addr` until [`RunningHub::shutdown`].
    pub async fn serve(&self, addr: SocketAddr) -> anyhow::Result<RunningHub> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("listen on {addr}"))?;
        let addr = listener.local_addr()?;
        let (stop, mut stopped) = watch::channel(false);
        let router = crate::http::router(self.clone());
        let server = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            };
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(shutdown)
            .await
        });
        if let Err(error) = self.start_omega_nodes().await {
            tracing::error!(%error, "an Ômega channel's node did not start");
        }
        let maintenance = tokio::spawn(self.clone().maintenance(stop.subscribe()));
        let inbox = tokio::spawn(self.clone().inbox_worker(stop.subscribe()));
        let outbound = tokio::spawn(self.clone().outbound_worker(stop.subscribe()));
        Ok(RunningHub {
            hub: self.clone(),
            addr,
            stop,
            server,
            maintenance,
            inbox,
            outbound,
        })
    }

    /// Reloads keys (another instance may have rotated) and rotates when due.
    async fn maintenance(self, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = stop.wait_for(|stop| *stop) => return,
                () = tokio::time::sleep(Duration::from_secs(60)) => {}
            }
            let (rotation_ms, grace_ms) = key_timing(&self.config());
            if let Err(error) = self.0.keys.refresh(rotation_ms, grace_ms, false).await {
                tracing::error!(%error, "signing key refresh failed");
            }
            // The recurring purge of hide mode.
            if let Err(error) = self.sweep_hidden().await {
                tracing::error!(%error, "hidden-contact sweep failed");
            }
        }
    }

    /// Rotates the JWT signing key now (old tokens stay valid until they expire).
    pub async fn rotate_jwt_key(&self) -> anyhow::Result<()> {
        let (rotation_ms, grace_ms) = key_timing(&self.config());
        self.0.keys.refresh(rotation_ms, grace_ms, true).await?;
        let kid = self.0.keys.current().jwt_signer.kid().to_owned();
        self.0
            .audit
            .append(
                AuditEvent::new(None, system(), "keys.jwt_rotated").target(format!("jwk/{kid}")),
            )
            .await?;
        Ok(())
    }
}

pub(crate) fn system() -> Actor {
    Actor::System { name: "hub".into() }
}

fn key_timing(config: &HubConfig) -> (i64, i64) {
    let day_ms = 24 * 3600 * 1000;
    let rotation_ms = i64::try_from(config.auth.jwt_key_rotation_days).unwrap_or(365) * day_ms;
    // A retired key verifies for one access-token lifetime after retirement (plus slack).
    let grace_ms = i64::try_from(config.auth.access_ttl_secs).unwrap_or(86_400) * 1000 + 60_000;
    (rotation_ms, grace_ms)
}

/// A database URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// A hub serving HTTP.
pub struct RunningHub {
    hub: Hub,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    maintenance: tokio::task::JoinHandle<()>,
    inbox: tokio::task::JoinHandle<()>,
    outbound: tokio::task::JoinHandle<()>,
}

impl RunningHub {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, finishes in-flight requests, stops background tasks.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        self.hub.0.stopping.send_replace(true);
        let _ = self.server.await;
        let _ = self.maintenance.await;
        let _ = self.inbox.await;
        let _ = self.outbound.await;
        self.hub.stop_omega_nodes().await;
    }
}
