//! `omega demo`: a scripted tour on a throwaway data directory, all on 127.0.0.1 — a server;
//! Alice, Bob and Carol (real nodes) chat; Carol goes offline and catches up through her
//! mailbox; a business hub with a WhatsApp number (a simulated WPPConnect server) receives a
//! customer's message, scores the lead and answers. Each step is printed as it happens (with
//! `--json`, one JSON object per step); then the web UIs stay open until Ctrl-C, unless `--exit`.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use omega_core::{DataDir, Node, NodeConfig, NodeHandle};
use omega_testkit::fakes::{FakeKind, FakeSession, FakeSource};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::cli::{DemoArgs, ServerArgs};
use crate::commands::{Signals, runtime};
use crate::up::{new_password, web_login_url};

/// How long one step may take before the tour says it is stuck.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);
const BUSINESS: &str = "padaria-demo";
const OWNER: &str = "dona@padaria.example";
const CUSTOMER: &str = "5511988887777";
const BUSINESS_NUMBER: &str = "5511999990000";

/// Prints one step: a sentence for people, a JSON object for scripts.
struct Narrator {
    json: bool,
}

impl Narrator {
    fn say(&self, event: &str, text: &str, details: Value) {
        if self.json {
            let mut line = json!({ "event": event });
            if let (Some(line), Value::Object(details)) = (line.as_object_mut(), details) {
                line.extend(details);
            }
            println!("{line}");
        } else {
            println!("{text}");
        }
    }
}

struct Person {
    name: &'static str,
    dir: DataDir,
    passphrase: Zeroizing<Vec<u8>>,
    node: Option<Node>,
}

impl Person {
    fn handle(&self) -> Result<NodeHandle> {
        Ok(self
            .node
            .as_ref()
            .with_context(|| format!("{} is offline", self.name))?
            .handle())
    }

    async fn start(&mut self, home: &libp2p::Multiaddr) -> Result<()> {
        let mut config = NodeConfig::new(self.dir.clone(), self.passphrase.clone());
        config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?];
        config.api = Some("127.0.0.1:0".parse()?);
        config.mailbox = Some(home.clone());
        config.bootstrap = vec![home.clone()];
        config.mailbox_poll = Duration::from_millis(500);
        config.mdns = false;
        let node = Node::start(config)
            .await
            .map_err(|error| anyhow::anyhow!("{}'s node: {error}", self.name))?;
        self.node = Some(node);
        Ok(())
    }

    async fn stop(&mut self) {
        if let Some(node) = self.node.take() {
            node.shutdown(&self.dir).await;
        }
    }
}

pub fn run(args: &DemoArgs, json: bool) -> Result<()> {
    let scratch = tempfile::Builder::new()
        .prefix("omega-demo-")
        .tempdir()
        .context("cannot create a scratch directory")?;
    let say = Narrator { json };
    runtime()?.block_on(async {
        let signals = Signals::install()?;
        let server_args = ServerArgs {
            listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
            http: "127.0.0.1:0".parse()?,
            db: None,
            ttl_days: 14,
            max_envelope_bytes: 256 * 1024,
            rate_per_second: 1000,
            rate_burst: 10_000,
            blob_max_mib: 10 * 1024,
            blob_rate_mib: 64,
        };
        let server = crate::server::start(&scratch.path().join("server"), &server_args).await?;
        let home: libp2p::Multiaddr = server.info["listen_addrs"][0]
            .as_str()
            .context("the server has no address")?
            .parse()?;
        say.say(
            "server",
            &format!(
                "1. A server is up: it keeps sealed mail for people who are offline and relays for those who cannot reach each other.\n   {home}"
            ),
            json!({ "address": home.to_string(), "data_dir": scratch.path() }),
        );

        let mut people = Vec::new();
        for name in ["Alice", "Bob", "Carol"] {
            let dir = DataDir::new(scratch.path().join(name.to_lowercase()));
            let passphrase = Zeroizing::new(new_password().as_bytes().to_vec());
            dir.init(name, &passphrase, crate::commands::now_ms())
                .await
                .map_err(|error| anyhow::anyhow!("{name}'s identity: {error}"))?;
            let mut person = Person {
                name,
                dir,
                passphrase,
                node: None,
            };
            person.start(&home).await?;
            people.push(person);
        }
        let tour = tour(&say, &mut people, &home, scratch.path()).await;
        let outcome = match tour {
            Ok(mut hub) => {
                let mut links = Vec::new();
                for person in &people {
                    if let Some(url) = web_login_url(&person.dir).await {
                        links.push((person.name, url));
                    }
                }
                let console = format!("{}/console/", hub.started.url);
                let mut text = String::from("6. Look around — the web UIs are open:\n");
                for (name, url) in &links {
                    text.push_str(&format!("   {:<17}{url}\n", format!("{name}'s web chat")));
                }
                text.push_str(&format!(
                    "   {:<17}{console}\n   {:<17}business \"{BUSINESS}\", login {OWNER}, password {}",
                    "Hub console",
                    "",
                    hub.password.as_str()
                ));
                say.say(
                    "open",
                    &text,
                    json!({
                        "web": links.iter().map(|(name, url)| json!({ "name": name, "url": url })).collect::<Vec<_>>(),
                        "console": console,
                        "tenant": BUSINESS,
                        "email": OWNER,
                        "password": hub.password.as_str(),
                    }),
                );
                if !args.exit {
                    if !json {
                        println!("Press Ctrl-C to end the demo (its data directory is then deleted).");
                    }
                    signals.wait().await;
                }
                hub.started.stop().await;
                drop(hub.fake.take());
                Ok(())
            }
            Err(error) => Err(error),
        };
        for person in &mut people {
            person.stop().await;
        }
        server.stop().await;
        say.say("done", "The demo is over.", json!({}));
        outcome
    })
}

struct DemoHub {
    started: crate::hub::Started,
    password: Zeroizing<String>,
    fake: Option<FakeSource>,
}

async fn tour(
    say: &Narrator,
    people: &mut [Person],
    home: &libp2p::Multiaddr,
    scratch: &std::path::Path,
) -> Result<DemoHub> {
    // Everyone adds everyone from their cards (what scanning a QR code does).
    for i in 0..people.len() {
        for j in 0..people.len() {
            if i != j {
                let card = people[j].handle()?.info().card;
                let alias = people[j].name.to_lowercase();
                people[i]
                    .handle()?
                    .add_contact(&card, Some(&alias))
                    .await
                    .map_err(|error| anyhow::anyhow!("adding a contact: {error}"))?;
            }
        }
    }
    let alice_id = people[0].handle()?.info().user_id;
    say.say(
        "people",
        &format!(
            "2. Alice, Bob and Carol create identities — keys only, no phone number, no e-mail — and swap contact cards.\n   Alice is {alice_id}"
        ),
        json!({ "people": people.iter().map(|p| p.handle().map(|h| h.info().user_id).unwrap_or_default()).collect::<Vec<_>>() }),
    );

    // Alice writes to Bob; Bob reads it.
    let alice = people[0].handle()?;
    let bob = people[1].handle()?;
    let text = "Oi Bob! Isto está cifrado de ponta a ponta.";
    let sent = alice.send_text("bob", text).await?;
    wait_status(&alice, &sent.message_id, "delivered").await?;
    wait_incoming(&bob, "alice", text).await?;
    bob.mark_read("alice").await?;
    wait_status(&alice, &sent.message_id, "read").await?;
    say.say(
        "chat",
        &format!("3. Alice → Bob: \"{text}\"  ✓ sent  ✓✓ delivered  — Bob opens it —  ✓✓ read"),
        json!({ "from": "alice", "to": "bob", "text": text, "status": "read" }),
    );

    // Carol goes offline; Alice's message waits in Carol's mailbox.
    people[2].stop().await;
    let text = "Carol, a reunião mudou para as 15h.";
    let sent = alice.send_text("carol", text).await?;
    wait_status(&alice, &sent.message_id, "sent").await?;
    say.say(
        "offline",
        &format!(
            "4. Carol goes offline. Alice → Carol: \"{text}\"  ✓ sent — sealed in Carol's mailbox on the server"
        ),
        json!({ "to": "carol", "text": text, "status": "sent" }),
    );
    people[2].start(home).await?;
    let carol = people[2].handle()?;
    wait_incoming(&carol, "alice", text).await?;
    wait_status(&alice, &sent.message_id, "delivered").await?;
    say.say(
        "caught_up",
        "   Carol comes back, fetches her mailbox and has it; Alice sees ✓✓ delivered.",
        json!({ "to": "carol", "status": "delivered" }),
    );

    business(say, scratch).await
}

/// Step 5: a business hub, a WhatsApp number on a simulated WPPConnect, a customer, a lead.
async fn business(say: &Narrator, scratch: &std::path::Path) -> Result<DemoHub> {
    let options = omega_hub::HubOptions::new(
        &scratch.join("hub"),
        &format!("sqlite://{}", scratch.join("hub").join("hub.db").display()),
    );
    let started = crate::hub::start(&options, "127.0.0.1:0".parse()?).await?;
    let password = new_password();
    started
        .hub
        .create_tenant(omega_hub::tenancy::NewTenant {
            slug: BUSINESS,
            name: "Padaria Demo",
            kind: "company",
            plan: omega_hub::tenancy::Plan::Pro,
            owner_email: OWNER,
            owner_name: "Dona Rosa",
            owner_password: &password,
        })
        .await
        .map_err(|error| anyhow::anyhow!("creating the business: {}", error.message))?;
    let fake = FakeSource::start(FakeKind::WppConnect {
        session: "padaria".into(),
        token: "demo-wpp-token".into(),
    })
    .await;
    fake.set_session(FakeSession::Connected);
    let hub = HubClient {
        base: started.url.clone(),
    };
    let login = hub
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            &[],
            Some(json!({ "tenant": BUSINESS, "email": OWNER, "password": password.as_str(), "device_name": "omega demo" })),
        )
        .await?;
    let token = login["access_token"]
        .as_str()
        .context("no access token")?
        .to_owned();
    let channel = hub
        .call(
            "POST",
            "/api/v1/channels",
            Some(&token),
            &[],
            Some(json!({ "kind": "whatsapp-wppconnect", "name": "WhatsApp da padaria" })),
        )
        .await?;
    let channel_id = channel["id"].as_str().context("no channel id")?.to_owned();
    hub.call(
        "PUT",
        &format!("/api/v1/channels/{channel_id}/credentials"),
        Some(&token),
        &[],
        Some(json!({ "kind": "wpp_connect", "base_url": fake.base_url(), "session": "padaria", "token": "demo-wpp-token" })),
    )
    .await?;
    say.say(
        "hub",
        "5. The business hub: \"Padaria Demo\" connects its WhatsApp number (here a simulated WPPConnect server).",
        json!({ "hub": started.url, "channel": channel_id }),
    );

    let text = "Oi! Quanto custa o bolo de chocolate? Quero 3 para sábado.";
    let now = crate::commands::now_ms() / 1000;
    let webhook = json!({
        "event": "onmessage",
        "session": "padaria",
        "id": format!("false_{CUSTOMER}@c.us_3A{now:018X}"),
        "body": text,
        "type": "chat",
        "t": now,
        "notifyName": "Maria",
        "from": format!("{CUSTOMER}@c.us"),
        "to": format!("{BUSINESS_NUMBER}@c.us"),
        "fromMe": false,
    });
    let path = channel["webhook_path"]
        .as_str()
        .context("no webhook path")?;
    let webhook_token = channel["webhook_token"]
        .as_str()
        .context("no webhook token")?;
    hub.call(
        "POST",
        path,
        None,
        &[("X-Omega-Webhook-Token", webhook_token)],
        Some(webhook),
    )
    .await?;
    let deadline = Instant::now() + STEP_TIMEOUT;
    let lead = loop {
        let leads = hub
            .call("GET", "/api/v1/leads", Some(&token), &[], None)
            .await?;
        if let Some(lead) = leads.as_array().and_then(|leads| leads.first()) {
            break lead.clone();
        }
        if Instant::now() > deadline {
            bail!("the customer's message never became a lead");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let reasons: Vec<&str> = lead["reasons"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|reason| reason["en"].as_str())
        .collect();
    say.say(
        "lead",
        &format!(
            "   Maria writes on WhatsApp: \"{text}\"\n   → lead score {}/100 ({}); suggested next action: {}",
            lead["score"],
            reasons.join(", "),
            lead["next_action"]["en"].as_str().unwrap_or("-"),
        ),
        json!({ "score": lead["score"], "reasons": reasons, "next_action": lead["next_action"]["code"] }),
    );

    let conversations = hub
        .call("GET", "/api/v1/conversations", Some(&token), &[], None)
        .await?;
    let conversation = conversations
        .as_array()
        .and_then(|list| list.first())
        .and_then(|conversation| conversation["id"].as_str())
        .context("no conversation")?
        .to_owned();
    let answer = "Olá Maria! O bolo de chocolate sai por R$ 45. Separo 3 para sábado?";
    hub.call(
        "POST",
        &format!("/api/v1/conversations/{conversation}/messages"),
        Some(&token),
        &[("Idempotency-Key", "demo-reply-1")],
        Some(json!({ "text": answer })),
    )
    .await?;
    let deadline = Instant::now() + STEP_TIMEOUT;
    while fake.sent().is_empty() {
        if Instant::now() > deadline {
            bail!("the reply never reached the simulated WhatsApp");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    say.say(
        "reply",
        &format!("   The agent answers from the inbox: \"{answer}\" → delivered to WhatsApp ✓"),
        json!({ "text": answer, "delivered": fake.sent().len() }),
    );
    Ok(DemoHub {
        started,
        password,
        fake: Some(fake),
    })
}

async fn wait_status(node: &NodeHandle, message_id: &str, wanted: &str) -> Result<()> {
    let order = ["queued", "sent", "delivered", "read"];
    let rank = |status: &str| order.iter().position(|s| *s == status);
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let message = node.message(message_id).await?;
        if message.status == "failed" {
            bail!("message {message_id} failed");
        }
        if rank(&message.status) >= rank(wanted) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "message {message_id} stayed {} (waited for {wanted})",
                message.status
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_incoming(node: &NodeHandle, from: &str, text: &str) -> Result<()> {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let messages = node.messages(Some(from), 50).await?;
        if messages
            .iter()
            .any(|message| message.direction == "in" && message.text == text)
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("\"{text}\" never arrived");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The tour drives the hub over HTTP, as a console would.
struct HubClient {
    base: String,
}

impl HubClient {
    async fn call(
        &self,
        method: &'static str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let token = token.map(str::to_owned);
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(30)))
                .build()
                .into();
            let mut request = ureq::http::Request::builder().method(method).uri(&url);
            if let Some(token) = &token {
                request = request.header("Authorization", format!("Bearer {token}"));
            }
            for (name, value) in &headers {
                request = request.header(name, value);
            }
            let body = body.map(|body| body.to_string()).unwrap_or_default();
            if !body.is_empty() {
                request = request.header("Content-Type", "application/json");
            }
            let mut response = agent.run(request.body(body)?)?;
            let status = response.status().as_u16();
            let text = response.body_mut().read_to_string()?;
            if status >= 300 {
                bail!("{method} {url}: {status} {text}");
            }
            Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
        })
        .await?
    }
}
