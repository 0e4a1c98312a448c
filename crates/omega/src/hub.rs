//! `omega hub`: runs the business hub, and its operator commands (`admin`, `config`). The hub
//! keeps `hub.toml`, `hub-master.key` and (by default) `hub.db` in `<data-dir>/hub/`, and writes
//! `hub.json` (`{"http", "pid"}`) while it runs.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use omega_core::DataDir;
use omega_hub::tenancy::{NewTenant, Plan};
use omega_hub::{Hub, HubOptions};
use serde_json::json;
use zeroize::Zeroizing;

use crate::cli::{HubAdminCommand, HubArgs, HubCommand, HubConfigCommand};
use crate::commands::{Signals, runtime};

const INFO_FILE: &str = "hub.json";

pub(crate) fn hub_dir(data_dir: &DataDir) -> PathBuf {
    data_dir.root().join("hub")
}

pub(crate) fn options(data_dir: &DataDir, db: Option<&str>) -> HubOptions {
    let dir = hub_dir(data_dir);
    let db = db.map_or_else(
        || format!("sqlite://{}", dir.join("hub.db").display()),
        str::to_owned,
    );
    HubOptions::new(&dir, &db)
}

pub fn run(data_dir: &DataDir, args: HubArgs, json: bool) -> Result<()> {
    let options = options(data_dir, args.db.as_deref());
    match args.command {
        None => serve(options, args.http, json),
        Some(HubCommand::Admin(command)) => admin(options, command, json),
        Some(HubCommand::Config(command)) => config(options, command, json),
    }
}

/// A hub started by [`start`]; [`Started::stop`] shuts it down and removes `hub.json`.
pub struct Started {
    pub hub: Hub,
    pub running: omega_hub::RunningHub,
    /// `http://ADDR`.
    pub url: String,
    info_path: PathBuf,
}

impl Started {
    pub async fn stop(self) {
        let _ = std::fs::remove_file(&self.info_path);
        self.running.shutdown().await;
        self.hub.db().close().await;
    }
}

/// Opens the hub and serves it on `http`, writing `hub.json`.
pub async fn start(options: &HubOptions, http: std::net::SocketAddr) -> Result<Started> {
    let hub = Hub::open(options.clone()).await?;
    let running = hub.serve(http).await?;
    let url = format!("http://{}", running.addr());
    let info_path = options.data_dir.join(INFO_FILE);
    let info = json!({ "http": url, "pid": std::process::id() });
    let tmp = options.data_dir.join("hub.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&info)?)?;
    std::fs::rename(&tmp, &info_path)?;
    Ok(Started {
        hub,
        running,
        url,
        info_path,
    })
}

fn serve(options: HubOptions, http: std::net::SocketAddr, json: bool) -> Result<()> {
    runtime()?.block_on(async {
        let started = start(&options, http).await?;
        let signals = Signals::install()?;
        #[cfg(unix)]
        let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .context("cannot handle SIGHUP")?;
        let url = &started.url;
        if json {
            println!("{}", json!({ "event": "started", "http": url, "config": options.config_path() }));
        } else {
            println!("Ômega hub on {url}");
            println!("  API: {url}/api/v1   OpenAPI: {url}/api/openapi.json   health: {url}/health");
            println!("  configuration: {} (reloaded on SIGHUP)", options.config_path().display());
            println!("Press Ctrl-C to stop.");
        }
        let wait = signals.wait();
        tokio::pin!(wait);
        loop {
            #[cfg(unix)]
            {
                tokio::select! {
                    () = &mut wait => break,
                    _ = hangup.recv() => {
                        match started.hub.reload_config().await {
                            Ok(version) => tracing::info!(version, "configuration reloaded"),
                            Err(error) => tracing::error!(error = format!("{error:#}"), "configuration reload refused"),
                        }
                    }
                }
            }
            #[cfg(not(unix))]
            {
                (&mut wait).await;
                break;
            }
        }
        started.stop().await;
        Ok(())
    })
}

fn password_from_env_or_prompt(variable: &str, prompt: &str) -> Result<Zeroizing<String>> {
    if let Ok(password) = std::env::var(variable) {
        return Ok(Zeroizing::new(password));
    }
    let password = Zeroizing::new(
        rpassword::prompt_password(prompt)
            .with_context(|| format!("no {variable} and no terminal to ask on"))?,
    );
    Ok(password)
}

fn admin(options: HubOptions, command: HubAdminCommand, json: bool) -> Result<()> {
    runtime()?.block_on(async {
        let hub = Hub::open(options).await?;
        let result = match command {
            HubAdminCommand::CreateTenant {
                slug,
                name,
                kind,
                plan,
                owner_email,
                owner_name,
            } => {
                let password = password_from_env_or_prompt("OMEGA_HUB_OWNER_PASSWORD", "Owner password: ")?;
                let plan = Plan::parse(&plan).map_err(|error| anyhow::anyhow!(error.message))?;
                let owner_name = owner_name.unwrap_or_else(|| owner_email.split('@').next().unwrap_or("owner").to_owned());
                let (tenant, owner) = hub
                    .create_tenant(NewTenant {
                        slug: &slug,
                        name: name.as_deref().unwrap_or(&slug),
                        kind: &kind,
                        plan,
                        owner_email: &owner_email,
                        owner_name: &owner_name,
                        owner_password: &password,
                    })
                    .await
                    .map_err(|error| anyhow::anyhow!(error.message))?;
                if json {
                    println!(
                        "{}",
                        json!({ "tenant_id": tenant.id, "slug": tenant.slug, "kind": tenant.kind, "plan": tenant.plan, "owner_id": owner.id, "owner_email": owner.email })
                    );
                } else {
                    println!("created tenant {} ({}), owner {} <{}>", tenant.slug, tenant.id, owner.display_name, owner.email);
                }
                Ok(())
            }
            HubAdminCommand::SetPlan { tenant, plan } => {
                let plan = Plan::parse(&plan).map_err(|error| anyhow::anyhow!(error.message))?;
                let row = hub.set_plan(&tenant, plan).await.map_err(|error| anyhow::anyhow!(error.message))?;
                if json {
                    println!("{}", json!({ "tenant_id": row.id, "plan": row.plan }));
                } else {
                    println!("tenant {} is on the {} plan", row.slug, row.plan);
                }
                Ok(())
            }
            HubAdminCommand::RotateKeys => {
                hub.rotate_jwt_key().await?;
                if json {
                    println!("{}", json!({ "rotated": true }));
                } else {
                    println!("a new JWT signing key is in use; tokens signed with the old one stay valid until they expire");
                }
                Ok(())
            }
        };
        hub.db().close().await;
        result
    })
}

fn config(options: HubOptions, command: HubConfigCommand, json: bool) -> Result<()> {
    runtime()?.block_on(async {
        let db = omega_hub::store::HubDb::open(&options.db_url).await.context("open the hub database")?;
        let versions = db.config_versions().await?;
        let result = match command {
            HubConfigCommand::History => {
                if json {
                    let rows: Vec<_> = versions
                        .iter()
                        .map(|row| json!({ "version": row.version, "sha256": row.sha256, "source": row.source, "applied_ms": row.applied_ms }))
                        .collect();
                    println!("{}", serde_json::Value::Array(rows));
                } else if versions.is_empty() {
                    println!("no configuration recorded yet (the hub records one when it starts)");
                } else {
                    for row in &versions {
                        println!("{:>4}  {}  {}  {}", row.version, &row.sha256[..12.min(row.sha256.len())], row.applied_ms, row.source);
                    }
                }
                Ok(())
            }
            HubConfigCommand::Rollback { version } => {
                let Some(row) = versions.iter().find(|row| row.version == version) else {
                    bail!("no configuration version {version} (see `omega hub config history`)");
                };
                let path = options.config_path();
                let tmp = options.data_dir.join("hub.toml.tmp");
                std::fs::write(&tmp, &row.toml).with_context(|| format!("write {}", tmp.display()))?;
                std::fs::rename(&tmp, &path).with_context(|| format!("replace {}", path.display()))?;
                let signalled = signal_running_hub(&options.data_dir)?;
                if json {
                    println!("{}", json!({ "version": version, "written": path, "reloaded": signalled }));
                } else if signalled {
                    println!("restored version {version} into {} and told the running hub to reload", path.display());
                } else {
                    println!("restored version {version} into {}; it applies when the hub starts", path.display());
                }
                Ok(())
            }
        };
        db.close().await;
        result
    })
}

/// Sends SIGHUP to the hub named in `hub.json`; `false` when none runs.
fn signal_running_hub(dir: &Path) -> Result<bool> {
    let Ok(text) = std::fs::read_to_string(dir.join(INFO_FILE)) else {
        return Ok(false);
    };
    let info: serde_json::Value = serde_json::from_str(&text).context("hub.json is corrupt")?;
    let Some(pid) = info["pid"].as_u64() else {
        return Ok(false);
    };
    #[cfg(unix)]
    {
        let status = std::process::Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .context("run kill -HUP")?;
        Ok(status.success())
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        Ok(false)
    }
}
