//! `omega bench ingest`: WhatsApp (WPPConnect) webhooks through a real hub, end to end —
//! the per-channel token checked, the body parsed and stored, then normalized into contacts,
//! conversations and messages and lead-scored by the inbox worker — beside a bare axum
//! handler that only inserts the same bodies into a SQLite table, with the same client, the
//! same concurrency and the same database settings, in the same run.
//!
//! Reported: answered requests per second and p50/p95/p99 of the HTTP answers for both;
//! for the hub also the end-to-end rate, N / (time from the first request until the queue is
//! drained); the hub/baseline ratios; and whether the seed target holds (p95 < 50 ms at
//! 10 000 webhooks a minute). Latencies are measured with the connections saturated, which is
//! harder than a steady 10 000 a minute. It asserts nothing but that every delivery was
//! accepted and normalized.

use std::ops::Range;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use axum::extract::{Path, State};
use omega_hub::tenancy::{NewTenant, Plan};
use omega_hub::{Hub, HubOptions};
use serde_json::{Value, json};

use crate::bench::percentile;

/// The webhook every request is made from (a private text message, as WPPConnect posts it).
const TEMPLATE: &str =
    include_str!("../../omega-channels/tests/fixtures/wppconnect/onmessage_text_private.json");

/// Customer messages the requests cycle through, so the lead scorer does real work.
const TEXTS: [&str; 12] = [
    "Olá, vocês entregam hoje?",
    "Quanto custa o bolo de chocolate de 2kg? Quero encomendar pra sábado",
    "oi, qto fica a entrega pro centro? vcs aceitam pix?",
    "Bom dia! Tem esse tênis no tamanho 42?",
    "Vou querer 3 unidades, pode mandar o link de pagamento?",
    "péssimo atendimento, meu pedido veio errado e ninguém responde",
    "obrigada pela ajuda, até mais",
    "Hi, how much is the large pizza? Do you deliver tonight?",
    "I'd like to book a cleaning appointment for next Tuesday",
    "Do you have the blue hoodie in size M? I want to buy two",
    "this is the third time my order is late, I want a refund",
    "thanks, just looking for now",
];

/// Display names of the senders.
const NAMES: [&str; 6] = [
    "Maria Souza",
    "João Pereira",
    "Ana Lima",
    "Emily Carter",
    "Lucas Rocha",
    "David Brown",
];

/// Distinct senders (contacts): each sends several messages, so leads are updated, not only
/// created.
const SENDERS: usize = 250;

/// Requests sent to each endpoint before measuring.
const WARM_UP: usize = 200;

/// The seed target: p95 of the webhook answers under this…
const TARGET_P95: Duration = Duration::from_millis(50);
/// …while taking this many webhooks a minute.
const TARGET_PER_MINUTE: f64 = 10_000.0;

/// How long the queue may make no progress before the bench gives up.
const STALL: Duration = Duration::from_secs(60);

/// Webhook bodies, made on demand from the template (a million of them would not fit in
/// memory beforehand).
struct Payloads {
    template: Value,
}

impl Payloads {
    fn new() -> Result<Payloads> {
        let template: Value =
            serde_json::from_str(TEMPLATE).context("the WPPConnect webhook fixture")?;
        Ok(Payloads { template })
    }

    /// Body number `n`: a new message id, one of [`SENDERS`] senders, one of [`TEXTS`].
    fn body(&self, n: usize) -> Vec<u8> {
        let sender = n % SENDERS;
        let number = format!("5511998{sender:06}");
        let jid = format!("{number}@c.us");
        let name = NAMES[sender % NAMES.len()];
        let text = TEXTS[(n / SENDERS + sender) % TEXTS.len()];
        let time = 1_751_371_200 + n as u64;
        let mut body = self.template.clone();
        body["id"] = json!(format!("false_{jid}_3AB{n:019X}"));
        body["body"] = json!(text);
        body["content"] = json!(text);
        body["from"] = json!(jid);
        body["chatId"] = json!(jid);
        body["notifyName"] = json!(name);
        body["t"] = json!(time);
        body["timestamp"] = json!(time);
        body["sender"]["id"] = json!(jid);
        body["sender"]["pushname"] = json!(name);
        body["sender"]["formattedName"] =
            json!(format!("+55 11 {}-{}", &number[4..9], &number[9..]));
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

/// What one measurement saw.
struct Http {
    /// Requests answered per second.
    per_second: f64,
    p50: Duration,
    p95: Duration,
    p99: Duration,
    /// When the first request was about to be sent.
    started: Instant,
}

/// POSTs bodies `range` to `url` over `concurrency` threads, each with its own keep-alive
/// connection; every answer must be a 2xx.
fn post_all(
    url: &str,
    token: Option<&str>,
    payloads: &Payloads,
    range: Range<usize>,
    concurrency: usize,
) -> Result<Http> {
    let threads = concurrency.min(range.len()).max(1);
    let started = Instant::now();
    let mut latencies: Vec<Duration> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|thread| {
                let range = range.clone();
                scope.spawn(move || -> Result<Vec<Duration>> {
                    let agent: ureq::Agent = ureq::Agent::config_builder()
                        .http_status_as_error(true)
                        .timeout_global(Some(Duration::from_secs(30)))
                        .build()
                        .into();
                    let mut latencies = Vec::with_capacity(range.len() / threads + 1);
                    for n in range.skip(thread).step_by(threads) {
                        let body = payloads.body(n);
                        let sent = Instant::now();
                        let mut request =
                            agent.post(url).header("Content-Type", "application/json");
                        if let Some(token) = token {
                            request = request.header("X-Omega-Webhook-Token", token);
                        }
                        let mut response = request
                            .send(&body[..])
                            .with_context(|| format!("POST {url}"))?;
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
        started,
    })
}

/// Waits until the hub's inbound queue holds nothing pending or processing; fails when it
/// stops making progress for [`STALL`].
async fn drained(hub: &Hub) -> Result<Instant> {
    let mut last = i64::MAX;
    let mut progress = Instant::now();
    loop {
        let left =
            hub.db().inbound_count("pending").await? + hub.db().inbound_count("processing").await?;
        if left == 0 {
            return Ok(Instant::now());
        }
        if left < last {
            last = left;
            progress = Instant::now();
        } else if progress.elapsed() > STALL {
            bail!(
                "the inbox worker made no progress for {} s ({left} deliveries left)",
                STALL.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The baseline: a bare axum handler storing each body in a SQLite file opened with the
/// hub's settings (WAL, synchronous=FULL, busy_timeout, a pool of 8), in a table shaped
/// like the hub's queue.
async fn baseline(dir: &std::path::Path) -> Result<std::net::SocketAddr> {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.join("baseline.db"))
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .synchronous(sqlx::sqlite::SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true);
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .context("open the baseline SQLite database")?;
    sqlx::query(
        "CREATE TABLE inbound_events (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, \
         channel_id TEXT NOT NULL, received_ms BIGINT NOT NULL, body BLOB NOT NULL, \
         state TEXT NOT NULL, error TEXT)",
    )
    .execute(&pool)
    .await?;
    sqlx::query("CREATE INDEX inbound_pending ON inbound_events (state, received_ms)")
        .execute(&pool)
        .await?;
    let router = axum::Router::new()
        .route("/hooks/v1/{channel_id}", axum::routing::post(store_raw))
        .with_state(pool);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(addr)
}

/// The baseline handler: one autocommitted insert of the raw body, then the hub's answer.
async fn store_raw(
    State(pool): State<sqlx::SqlitePool>,
    Path(channel_id): Path<String>,
    body: axum::body::Bytes,
) -> Result<axum::Json<Value>, (axum::http::StatusCode, String)> {
    let received_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as i64);
    sqlx::query(
        "INSERT INTO inbound_events (id, tenant_id, channel_id, received_ms, body, state) \
         VALUES (?, 'bench', ?, ?, ?, 'pending')",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(channel_id)
    .bind(received_ms)
    .bind(&body[..])
    .execute(&pool)
    .await
    .map_err(|error| {
        (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            error.to_string(),
        )
    })?;
    Ok(axum::Json(json!({ "accepted": true })))
}

/// Runs the benchmark: `count` webhooks per measurement over `concurrency` connections.
pub fn run(count: u32, concurrency: u32, json_output: bool) -> Result<()> {
    let count = count as usize;
    let concurrency = concurrency.max(1) as usize;
    let payloads = Payloads::new()?;
    let runtime = crate::commands::runtime()?;
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("hub.toml"),
        "[limits]\nper_ip_burst = 10000000\nper_ip_per_second = 10000000.0\n\
         per_token_burst = 10000000\nper_token_per_second = 10000000.0\n",
    )?;
    let db_url = format!("sqlite://{}", dir.path().join("hub.db").display());
    let (hub, running, baseline_addr) = runtime.block_on(async {
        let hub = Hub::open(HubOptions::new(dir.path(), &db_url)).await?;
        hub.create_tenant(NewTenant {
            slug: "bench",
            name: "Bench",
            kind: "company",
            plan: Plan::Pro,
            owner_email: "owner@bench.test",
            owner_name: "Owner",
            owner_password: "bench password 1",
        })
        .await
        .map_err(|error| anyhow::anyhow!(error.message))?;
        let running = hub.serve("127.0.0.1:0".parse()?).await?;
        let baseline_addr = baseline(dir.path()).await?;
        Ok::<_, anyhow::Error>((hub, running, baseline_addr))
    })?;
    let hub_url = format!("http://{}", running.addr());
    let login: Value = ureq::post(&format!("{hub_url}/api/v1/auth/login"))
        .send_json(json!({ "tenant": "bench", "email": "owner@bench.test", "password": "bench password 1" }))
        .context("log in to the bench hub")?
        .body_mut()
        .read_json()?;
    let access = login["access_token"]
        .as_str()
        .context("login returned no token")?;
    let channel: Value = ureq::post(&format!("{hub_url}/api/v1/channels"))
        .header("Authorization", &format!("Bearer {access}"))
        .send_json(json!({ "kind": "whatsapp-wppconnect", "name": "Bench WPP" }))
        .context("create the bench channel")?
        .body_mut()
        .read_json()?;
    let (Some(path), Some(webhook_token)) = (
        channel["webhook_path"].as_str(),
        channel["webhook_token"].as_str(),
    ) else {
        bail!("the channel answer has no webhook_path or webhook_token: {channel}");
    };
    let hub_hook = format!("{hub_url}{path}");
    let baseline_hook = format!("http://{baseline_addr}{path}");

    // Warm up both (the hub's warm-up deliveries are normalized before measuring).
    let warm = 0..WARM_UP.min(count);
    post_all(&baseline_hook, None, &payloads, warm.clone(), concurrency)?;
    post_all(
        &hub_hook,
        Some(webhook_token),
        &payloads,
        warm.clone(),
        concurrency,
    )?;
    runtime.block_on(drained(&hub))?;

    let measured = warm.end..warm.end + count;
    let base = post_all(
        &baseline_hook,
        None,
        &payloads,
        measured.clone(),
        concurrency,
    )?;
    let ingest = post_all(
        &hub_hook,
        Some(webhook_token),
        &payloads,
        measured,
        concurrency,
    )?;
    let answered = Instant::now();
    let drained_at = runtime.block_on(drained(&hub))?;
    let end_to_end = count as f64 / (drained_at - ingest.started).as_secs_f64();
    let drain_after_answers = drained_at.saturating_duration_since(answered);

    let expected = (warm.end + count) as i64;
    let (done, failed) = runtime.block_on(async {
        Ok::<_, anyhow::Error>((
            hub.db().inbound_count("done").await?,
            hub.db().inbound_count("failed").await?,
        ))
    })?;
    runtime.block_on(running.shutdown());
    if done != expected {
        bail!(
            "the hub normalized {done} of {expected} deliveries ({failed} failed); see the hub's log (OMEGA_LOG=info)"
        );
    }

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let per_minute = end_to_end * 60.0;
    let target_holds = per_minute >= TARGET_PER_MINUTE && ingest.p95 < TARGET_P95;
    let body_bytes = payloads.body(0).len();
    let figures = |http: &Http| json!({ "per_second": http.per_second, "p50_ms": ms(http.p50), "p95_ms": ms(http.p95), "p99_ms": ms(http.p99) });
    if json_output {
        println!(
            "{}",
            json!({
                "bench": "ingest",
                "requests": count,
                "concurrency": concurrency,
                "body_bytes": body_bytes,
                "senders": SENDERS,
                "hub_webhook": figures(&ingest),
                "hub_end_to_end_per_second": end_to_end,
                "hub_drain_after_last_answer_ms": ms(drain_after_answers),
                "baseline_sqlite_insert": figures(&base),
                "ratio_throughput": ingest.per_second / base.per_second,
                "ratio_end_to_end_throughput": end_to_end / base.per_second,
                "ratio_p95": ms(ingest.p95) / ms(base.p95).max(1e-9),
                "target": {
                    "p95_ms_below": ms(TARGET_P95),
                    "per_minute_at_least": TARGET_PER_MINUTE,
                    "observed_per_minute": per_minute,
                    "observed_p95_ms": ms(ingest.p95),
                    "holds": target_holds,
                },
            })
        );
        return Ok(());
    }
    println!(
        "ingest: {count} WPPConnect webhooks ({body_bytes} bytes, {SENDERS} senders), {concurrency} connections, loopback, SQLite (WAL, synchronous=FULL)"
    );
    println!(
        "  hub POST /hooks/v1/{{channel}} (token, parse, store): {:>8.0} req/s  p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms",
        ingest.per_second,
        ms(ingest.p50),
        ms(ingest.p95),
        ms(ingest.p99)
    );
    println!(
        "  hub end to end (stored, normalized, lead-scored): {:>8.0} msg/s  queue drained {:.0} ms after the last answer",
        end_to_end,
        ms(drain_after_answers)
    );
    println!(
        "  baseline axum + SQLite insert:                     {:>8.0} req/s  p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms",
        base.per_second,
        ms(base.p50),
        ms(base.p95),
        ms(base.p99)
    );
    println!(
        "  ratio hub/baseline: throughput {:.2} (end to end {:.2}), p95 {:.2}",
        ingest.per_second / base.per_second,
        end_to_end / base.per_second,
        ms(ingest.p95) / ms(base.p95).max(1e-9)
    );
    println!(
        "  seed target p95 < {:.0} ms at {:.0} requests/minute: {} (end to end {:.0} requests/minute, p95 {:.2} ms, at {concurrency} in flight)",
        ms(TARGET_P95),
        TARGET_PER_MINUTE,
        if target_holds { "holds" } else { "MISSED" },
        per_minute,
        ms(ingest.p95)
    );
    Ok(())
}
