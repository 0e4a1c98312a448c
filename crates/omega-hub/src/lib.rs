//! The Ômega business hub: a multi-tenant gateway with zero-trust auth, a security center and a
//! verifiable audit log. It is started by `omega hub` and is the base the omnichannel inbox,
//! leads, agents and the data lifecycle grow on.
//!
//! What it does: the `/api/v1` JSON API (axum + tower) with request ids, body and rate limits,
//! closed CORS, `/health`, `/metrics` and a generated OpenAPI document; tenants, departments,
//! members with roles and scopes, plans with quotas; Argon2id passwords, RFC 6238 TOTP with
//! recovery codes, EdDSA access tokens bound to a device, rotating refresh tokens, scoped API
//! keys, a JWKS; the security center; an RFC 6962 audit log with signed checkpoints and proofs;
//! a TOML configuration reloaded on `SIGHUP` with its history kept.
//!
//! It also serves the business console (`omega_web::CONSOLE`) at `/console/`, under a strict
//! Content-Security-Policy.
//!
//! What it does not do: no TLS (put it behind a reverse proxy or keep it on loopback).
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! let dir = std::path::Path::new("/tmp/hub");
//! let hub = omega_hub::Hub::open(omega_hub::HubOptions::new(dir, "sqlite:///tmp/hub/hub.db")).await?;
//! let running = hub.serve("127.0.0.1:0".parse()?).await?;
//! println!("hub on http://{}", running.addr());
//! running.shutdown().await;
//! # Ok(()) }
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod audit;
pub mod auth;
pub mod config;
pub mod console;
pub mod error;
pub mod events;
pub mod http;
pub mod inbox;
pub mod keys;
pub mod leads;
pub mod metrics;
pub mod outbound;
pub mod privacy;
pub mod seal;
pub mod security;
pub mod sessions;
pub mod store;
pub mod tenancy;

mod hub;
mod omega_channel;

pub use hub::{Hub, HubOptions, RunningHub};
