//! The hub configuration: a TOML file (`hub.toml` in the hub's data directory) with
//! environment overrides, validated as a whole. Unknown keys are errors (a typo must not
//! silently fall back to a default). `SIGHUP` reloads it; every version that ran is kept in the
//! database for `omega hub config history|rollback`.
//!
//! Environment overrides: `OMEGA_HUB_CFG_<SECTION>_<KEY>=value`, e.g.
//! `OMEGA_HUB_CFG_LIMITS_PER_IP_BURST=50`. The value is parsed as TOML (so strings that are not
//! numbers or booleans may be written bare).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("{source_name}: {message}")]
    Parse {
        source_name: String,
        message: String,
    },
    #[error("{key}: {message}")]
    Invalid { key: &'static str, message: String },
    #[error("environment override {name}: {message}")]
    Env { name: String, message: String },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[derive(Default)]
pub struct HubConfig {
    pub http: HttpConfig,
    pub limits: LimitsConfig,
    pub auth: AuthConfig,
    pub connectors: ConnectorsConfig,
}

/// How the hub looks after WhatsApp instances (WPPConnect, Evolution API).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectorsConfig {
    /// Reconnect attempts after a session logs out, before the instance is reset to a new QR.
    pub max_reconnects: u32,
    /// First reconnect delay; doubles per attempt up to `backoff_max_ms`.
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    /// How often a connected (or QR-waiting) session's status is checked.
    pub poll_interval_ms: u64,
    /// Attempts at sending one reply before it is marked failed.
    pub send_max_attempts: u32,
    /// First retry delay of a reply (jittered, doubling, capped at `send_backoff_max_ms`).
    pub send_backoff_base_ms: u64,
    pub send_backoff_max_ms: u64,
    /// After an answer that leaves it unknown whether a reply went out (a timeout, 500, 502 or
    /// 504), the retry waits at least this long, so the source's echo of a delivered reply can
    /// arrive and be adopted instead of sending it twice.
    pub send_echo_wait_ms: u64,
    /// Where the embedded Ômega nodes of `omega` channels listen (libp2p multiaddrs).
    pub omega_listen: Vec<String>,
    /// The home mailbox server of those nodes (a full multiaddr ending in `/p2p/<peer id>`),
    /// so customers reach the business while it is offline or unreachable; empty: none.
    pub omega_mailbox: String,
    /// The hub's public base URL (e.g. `https://inbox.example.com`), given to sources that
    /// take a webhook URL when a session starts; empty leaves their webhook setting alone.
    pub public_url: String,
}

impl Default for ConnectorsConfig {
    fn default() -> Self {
        ConnectorsConfig {
            max_reconnects: 3,
            backoff_base_ms: 2_000,
            backoff_max_ms: 60_000,
            poll_interval_ms: 30_000,
            send_max_attempts: 6,
            send_backoff_base_ms: 1_000,
            send_backoff_max_ms: 60_000,
            send_echo_wait_ms: 5_000,
            omega_listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
            omega_mailbox: String::new(),
            public_url: String::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Largest accepted request body.
    pub body_limit_bytes: usize,
    /// Origins allowed by CORS; empty means CORS is closed.
    pub cors_allowed_origins: Vec<String>,
    /// Trust `X-Forwarded-For` for the client IP (only behind your own reverse proxy).
    pub trust_forwarded_for: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    pub per_ip_burst: u32,
    pub per_ip_per_second: f64,
    pub per_token_burst: u32,
    pub per_token_per_second: f64,
    /// Login attempts per IP.
    pub login_per_ip_burst: u32,
    pub login_per_ip_per_second: f64,
    /// Consecutive failed logins of one account before it locks.
    pub lockout_free_failures: u32,
    pub lockout_base_ms: u64,
    pub lockout_max_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// `iss` of our tokens.
    pub issuer: String,
    pub access_ttl_secs: u64,
    pub refresh_ttl_days: u64,
    /// A new JWT signing key is made when the newest is older than this.
    pub jwt_key_rotation_days: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            body_limit_bytes: 1024 * 1024,
            cors_allowed_origins: Vec::new(),
            trust_forwarded_for: false,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            per_ip_burst: 600,
            per_ip_per_second: 200.0,
            per_token_burst: 300,
            per_token_per_second: 100.0,
            login_per_ip_burst: 20,
            login_per_ip_per_second: 1.0,
            lockout_free_failures: 5,
            lockout_base_ms: 1_000,
            lockout_max_ms: 15 * 60 * 1_000,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            issuer: "omega-hub".into(),
            access_ttl_secs: 15 * 60,
            refresh_ttl_days: 30,
            jwt_key_rotation_days: 30,
        }
    }
}

impl HubConfig {
    /// Parses `text` (named `source_name` in errors), applies `env` overrides (pairs of name and
    /// value; pass `std::env::vars()`), validates.
    pub fn load(
        text: &str,
        source_name: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<HubConfig, ConfigError> {
        let located = |error: toml::de::Error| ConfigError::Parse {
            source_name: source_name.to_owned(),
            message: locate(text, &error),
        };
        // Parse the file alone first, so an error points at its line.
        toml::from_str::<HubConfig>(text).map_err(located)?;
        let mut table: toml::Table = text.parse().map_err(located)?;
        for (name, value) in env {
            let Some(path) = name.strip_prefix("OMEGA_HUB_CFG_") else {
                continue;
            };
            apply_override(&mut table, &name, path, &value)?;
        }
        let config: HubConfig =
            table
                .try_into()
                .map_err(|error: toml::de::Error| ConfigError::Parse {
                    source_name: source_name.to_owned(),
                    message: error.message().to_owned(),
                })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks ranges a typo could break.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| {
            Err(ConfigError::Invalid {
                key,
                message: message.to_owned(),
            })
        };
        if !(1024..=64 * 1024 * 1024).contains(&self.http.body_limit_bytes) {
            return invalid("http.body_limit_bytes", "expected 1024 ..= 67108864");
        }
        for origin in &self.http.cors_allowed_origins {
            if !(origin.starts_with("http://") || origin.starts_with("https://"))
                || origin.ends_with('/')
            {
                return Err(ConfigError::Invalid {
                    key: "http.cors_allowed_origins",
                    message: format!(
                        "expected an origin like https://console.example.com, got {origin:?}"
                    ),
                });
            }
        }
        let limits = &self.limits;
        for (key, burst, rate) in [
            (
                "limits.per_ip",
                limits.per_ip_burst,
                limits.per_ip_per_second,
            ),
            (
                "limits.per_token",
                limits.per_token_burst,
                limits.per_token_per_second,
            ),
            (
                "limits.login_per_ip",
                limits.login_per_ip_burst,
                limits.login_per_ip_per_second,
            ),
        ] {
            if burst == 0 || !(rate.is_finite() && rate > 0.0) {
                return invalid(key, "burst and per_second must be positive");
            }
        }
        if limits.lockout_base_ms == 0 || limits.lockout_max_ms < limits.lockout_base_ms {
            return invalid(
                "limits.lockout_max_ms",
                "expected lockout_base_ms > 0 and lockout_max_ms >= lockout_base_ms",
            );
        }
        if !(60..=24 * 3600).contains(&self.auth.access_ttl_secs) {
            return invalid("auth.access_ttl_secs", "expected 60 ..= 86400");
        }
        if !(1..=365).contains(&self.auth.refresh_ttl_days) {
            return invalid("auth.refresh_ttl_days", "expected 1 ..= 365");
        }
        if !(1..=365).contains(&self.auth.jwt_key_rotation_days) {
            return invalid("auth.jwt_key_rotation_days", "expected 1 ..= 365");
        }
        if self.auth.issuer.is_empty() {
            return invalid("auth.issuer", "must not be empty");
        }
        let connectors = &self.connectors;
        if !(1..=20).contains(&connectors.max_reconnects) {
            return invalid("connectors.max_reconnects", "expected 1 ..= 20");
        }
        if connectors.backoff_base_ms < 10 || connectors.backoff_max_ms < connectors.backoff_base_ms
        {
            return invalid(
                "connectors.backoff_max_ms",
                "expected backoff_base_ms >= 10 and backoff_max_ms >= backoff_base_ms",
            );
        }
        if !(1..=20).contains(&connectors.send_max_attempts) {
            return invalid("connectors.send_max_attempts", "expected 1 ..= 20");
        }
        if connectors.send_backoff_base_ms < 10
            || connectors.send_backoff_max_ms < connectors.send_backoff_base_ms
        {
            return invalid(
                "connectors.send_backoff_max_ms",
                "expected send_backoff_base_ms >= 10 and send_backoff_max_ms >= send_backoff_base_ms",
            );
        }
        if connectors.send_echo_wait_ms > 600_000 {
            return invalid("connectors.send_echo_wait_ms", "expected at most 600000");
        }
        if connectors.omega_listen.is_empty()
            || connectors
                .omega_listen
                .iter()
                .any(|addr| !addr.starts_with('/'))
            || !(connectors.omega_mailbox.is_empty() || connectors.omega_mailbox.starts_with('/'))
        {
            return invalid(
                "connectors.omega_listen",
                "expected multiaddrs like /ip4/0.0.0.0/tcp/4011 (and omega_mailbox empty or a multiaddr)",
            );
        }
        if !(100..=3_600_000).contains(&connectors.poll_interval_ms) {
            return invalid("connectors.poll_interval_ms", "expected 100 ..= 3600000");
        }
        if !(connectors.public_url.is_empty()
            || ((connectors.public_url.starts_with("http://")
                || connectors.public_url.starts_with("https://"))
                && !connectors.public_url.ends_with('/')))
        {
            return invalid(
                "connectors.public_url",
                "expected empty or a base URL like https://inbox.example.com",
            );
        }
        Ok(())
    }

    /// The default configuration as a commented TOML file (written on first start).
    pub fn default_file() -> String {
        let body = toml::to_string_pretty(&HubConfig::default()).unwrap_or_default();
        format!(
            "# Ômega hub configuration. Reloaded on SIGHUP; every version is kept\n\
             # (`omega hub config history`, `omega hub config rollback VERSION`).\n\
             # Override any key with OMEGA_HUB_CFG_<SECTION>_<KEY>=value.\n\n{body}"
        )
    }
}

/// `line N: message (in `the line`)` for a TOML error.
fn locate(text: &str, error: &toml::de::Error) -> String {
    match error.span() {
        Some(span) => {
            let line_number = text[..span.start.min(text.len())].matches('\n').count() + 1;
            let line = text.lines().nth(line_number - 1).unwrap_or("").trim();
            format!("line {line_number}: {} (in `{line}`)", error.message())
        }
        None => error.message().to_owned(),
    }
}

/// SHA-256 of a configuration text, hex.
pub fn text_sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn apply_override(
    table: &mut toml::Table,
    name: &str,
    path: &str,
    value: &str,
) -> Result<(), ConfigError> {
    let lower = path.to_ascii_lowercase();
    let env_error = |message: String| ConfigError::Env {
        name: name.to_owned(),
        message,
    };
    let (section, key) = ["http", "limits", "auth"]
        .iter()
        .find_map(|section| {
            lower
                .strip_prefix(section)
                .and_then(|rest| rest.strip_prefix('_'))
                .map(|key| (*section, key.to_owned()))
        })
        .ok_or_else(|| env_error("expected OMEGA_HUB_CFG_<HTTP|LIMITS|AUTH>_<KEY>".into()))?;
    let parsed: toml::Value = match format!("v = {value}").parse::<toml::Table>() {
        Ok(mut wrapper) => wrapper
            .remove("v")
            .unwrap_or(toml::Value::String(value.to_owned())),
        Err(_) => toml::Value::String(value.to_owned()),
    };
    let entry = table
        .entry(section.to_owned())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let toml::Value::Table(section_table) = entry else {
        return Err(env_error(format!("[{section}] in the file is not a table")));
    };
    section_table.insert(key, parsed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env() -> Vec<(String, String)> {
        Vec::new()
    }

    #[test]
    fn default_file_parses_back_to_the_defaults() {
        let config = HubConfig::load(&HubConfig::default_file(), "hub.toml", no_env()).unwrap();
        assert_eq!(config, HubConfig::default());
    }

    #[test]
    fn env_override_wins_over_the_file() {
        let text = "[limits]\nper_ip_burst = 10\n";
        let env = vec![
            (
                "OMEGA_HUB_CFG_LIMITS_PER_IP_BURST".to_owned(),
                "3".to_owned(),
            ),
            ("OMEGA_HUB_CFG_AUTH_ISSUER".to_owned(), "acme".to_owned()),
            ("UNRELATED".to_owned(), "x".to_owned()),
        ];
        let config = HubConfig::load(text, "hub.toml", env).unwrap();
        assert_eq!(config.limits.per_ip_burst, 3);
        assert_eq!(config.auth.issuer, "acme");
    }

    #[test]
    fn typos_and_bad_values_are_refused_with_the_key() {
        let typo =
            HubConfig::load("[limits]\nper_ip_brust = 10\n", "hub.toml", no_env()).unwrap_err();
        assert!(typo.to_string().contains("per_ip_brust"), "{typo}");
        let wrong_type =
            HubConfig::load("[auth]\naccess_ttl_secs = \"soon\"\n", "hub.toml", no_env())
                .unwrap_err();
        assert!(
            wrong_type.to_string().starts_with("hub.toml"),
            "{wrong_type}"
        );
        let range =
            HubConfig::load("[auth]\naccess_ttl_secs = 5\n", "hub.toml", no_env()).unwrap_err();
        assert!(
            range.to_string().contains("auth.access_ttl_secs"),
            "{range}"
        );
        let garbage = HubConfig::load("[[[", "hub.toml", no_env()).unwrap_err();
        assert!(garbage.to_string().starts_with("hub.toml"));
        let bad_env = HubConfig::load(
            "",
            "hub.toml",
            vec![("OMEGA_HUB_CFG_NOPE".to_owned(), "1".to_owned())],
        );
        assert!(bad_env.is_err());
        let cors = HubConfig::load(
            "[http]\ncors_allowed_origins = [\"*\"]\n",
            "hub.toml",
            no_env(),
        )
        .unwrap_err();
        assert!(cors.to_string().contains("cors"));
    }
}
