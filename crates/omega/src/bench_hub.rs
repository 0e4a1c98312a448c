//! `omega bench hub`: authenticated requests per second and latency on a cheap endpoint
//! (`GET /api/v1/me`, every request verifying the EdDSA token and checking the device in the
//! database) beside a bare axum handler with no middleware on the same machine, with the same
//! client, in the same run; and audit-log appends beside raw single-row inserts on the same
//! database.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use omega_hub::audit::{Actor, AuditEvent};
use omega_hub::tenancy::{NewTenant, Plan};
use omega_hub::{Hub, HubOptions};
use serde_json::json;

use crate::bench::percentile;

struct Http {
    per_second: f64,
    p50: Duration,
    p95: Duration,
    p99: Duration,
}

/// `count` GETs spread over `concurrency` threads, each with its own keep-alive connection.
fn hammer(url: &str, token: Option<&str>, count: usize, concurrency: usize) -> Result<Http> {
    let per_thread = count.div_ceil(concurrency);
    let started = Instant::now();
    let mut latencies: Vec<Duration> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..concurrency)
            .map(|_| {
                scope.spawn(move || -> Result<Vec<Duration>> {
                    let agent: ureq::Agent = ureq::Agent::config_builder()
                        .http_status_as_error(true)
                        .timeout_global(Some(Duration::from_secs(30)))
                        .build()
                        .into();
                    let mut latencies = Vec::with_capacity(per_thread);
                    for _ in 0..per_thread {
                        let sent = Instant::now();
                        let mut request = agent.get(url);
                        if let Some(token) = token {
                            request = request.header("Authorization", &format!("Bearer {token}"));
                        }
                        let mut response = request.call().with_context(|| format!("GET {url}"))?;
                        let _ = response.body_mut().read_to_vec()?;
                        latencies.push(sent.elapsed());
                    }
                    Ok(latencies)
                })
            })
            .collect();
        let mut all = Vec::new();
        for worker in workers {
            all.extend(
                worker
                    .join()
                    .map_err(|_| anyhow::anyhow!("a load thread panicked"))??,
            );
        }
        Ok::<_, anyhow::Error>(all)
    })?;
    let elapsed = started.elapsed();
    latencies.sort();
    Ok(Http {
        per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(&latencies, 0.50),
        p95: percentile(&latencies, 0.95),
        p99: percentile(&latencies, 0.99),
    })
}

pub fn run(count: u32, concurrency: u32, json_output: bool) -> Result<()> {
    let count = count as usize;
    let concurrency = concurrency.max(1) as usize;
    let runtime = crate::commands::runtime()?;
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("hub.toml"),
        "[limits]\nper_ip_burst = 10000000\nper_ip_per_second = 10000000.0\n\
         per_token_burst = 10000000\nper_token_per_second = 10000000.0\n",
    )?;
    let db_url = format!("sqlite://{}", dir.path().join("hub.db").display());
    let (hub, running, bare_addr) = runtime.block_on(async {
        let hub = Hub::open(HubOptions::new(dir.path(), &db_url)).await?;
        hub.create_tenant(NewTenant {
            slug: "bench",
            name: "Bench",
            kind: "company",
            plan: Plan::Free,
            owner_email: "owner@bench.test",
            owner_name: "Owner",
            owner_password: "bench password 1",
        })
        .await
        .map_err(|error| anyhow::anyhow!(error.message))?;
        let running = hub.serve("127.0.0.1:0".parse()?).await?;
        let bare = axum::Router::new().route(
            "/me",
            axum::routing::get(|| async {
                axum::Json(json!({ "kind": "member", "scopes": ["inbox:read"] }))
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let bare_addr = listener.local_addr()?;
        tokio::spawn(async move { axum::serve(listener, bare).await });
        Ok::<_, anyhow::Error>((hub, running, bare_addr))
    })?;
    let hub_url = format!("http://{}", running.addr());
    let login: serde_json::Value = ureq::post(&format!("{hub_url}/api/v1/auth/login"))
        .send_json(json!({ "tenant": "bench", "email": "owner@bench.test", "password": "bench password 1" }))?
        .body_mut()
        .read_json()?;
    let token = login["access_token"]
        .as_str()
        .context("login returned no token")?
        .to_owned();

    // Warm up both, then measure.
    hammer(&format!("http://{bare_addr}/me"), None, 200, concurrency)?;
    hammer(
        &format!("{hub_url}/api/v1/me"),
        Some(&token),
        200,
        concurrency,
    )?;
    let bare = hammer(&format!("http://{bare_addr}/me"), None, count, concurrency)?;
    let authed = hammer(
        &format!("{hub_url}/api/v1/me"),
        Some(&token),
        count,
        concurrency,
    )?;

    let (audit_per_second, raw_per_second) =
        runtime.block_on(audit_rates(&hub, count.min(5000)))?;
    runtime.block_on(running.shutdown());

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    if json_output {
        println!(
            "{}",
            json!({
                "requests": count, "concurrency": concurrency,
                "hub_me": { "per_second": authed.per_second, "p50_ms": ms(authed.p50), "p95_ms": ms(authed.p95), "p99_ms": ms(authed.p99) },
                "bare_axum": { "per_second": bare.per_second, "p50_ms": ms(bare.p50), "p95_ms": ms(bare.p95), "p99_ms": ms(bare.p99) },
                "ratio_throughput": authed.per_second / bare.per_second,
                "audit_appends_per_second": audit_per_second,
                "raw_inserts_per_second": raw_per_second,
                "ratio_audit_to_raw": audit_per_second / raw_per_second,
            })
        );
    } else {
        println!("hub: {count} GET requests, {concurrency} connections, loopback, SQLite");
        println!(
            "  GET /api/v1/me (JWT + device check): {:>8.0} req/s  p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms",
            authed.per_second,
            ms(authed.p50),
            ms(authed.p95),
            ms(authed.p99)
        );
        println!(
            "  bare axum handler:                   {:>8.0} req/s  p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms",
            bare.per_second,
            ms(bare.p50),
            ms(bare.p95),
            ms(bare.p99)
        );
        println!(
            "  throughput ratio hub/bare: {:.2}",
            authed.per_second / bare.per_second
        );
        println!(
            "  audit appends (64 in flight, group commit): {audit_per_second:.0}/s; raw single-row inserts: {raw_per_second:.0}/s; ratio {:.2}",
            audit_per_second / raw_per_second
        );
    }
    Ok(())
}

/// Audit appends with 64 in flight, beside the same number of raw autocommitted single-row
/// inserts with 64 in flight, on a scratch table of the same database.
async fn audit_rates(hub: &Hub, count: usize) -> Result<(f64, f64)> {
    let audit = hub.audit().clone();
    let started = Instant::now();
    let semaphore = Arc::new(tokio::sync::Semaphore::new(64));
    let mut tasks = Vec::with_capacity(count);
    for n in 0..count {
        let permit = semaphore.clone().acquire_owned().await?;
        let audit = audit.clone();
        tasks.push(tokio::spawn(async move {
            let event = AuditEvent::new(
                None,
                Actor::System {
                    name: "bench".into(),
                },
                "bench.append",
            )
            .target(format!("n/{n}"));
            let result = audit.append(event).await;
            drop(permit);
            result
        }));
    }
    for task in tasks {
        task.await??;
    }
    let audit_per_second = count as f64 / started.elapsed().as_secs_f64();
    let raw_per_second = hub.db().raw_insert_rate(count, 64).await?;
    Ok((audit_per_second, raw_per_second))
}
