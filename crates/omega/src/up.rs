//! `omega up`: the whole stack on embedded defaults under one data directory — a server
//! (`<data-dir>/server/`: mailbox, relay, bootstrap), the business hub (`<data-dir>/hub/`, with a
//! first business and owner created on first run) and the person's node (`<data-dir>/`, with an
//! identity created on first run), its home mailbox being the bundled server. Prints where each
//! one is (and, once, the owner's generated password); Ctrl-C stops the node, then the hub, then
//! the server.

use anyhow::{Context, Result};
use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use omega_core::{DataDir, Node};
use omega_hub::tenancy::{NewTenant, Plan};
use rand::Rng;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::cli::{ServerArgs, UpArgs};
use crate::client::Client;
use crate::commands::{Signals, init, map_open, node_config, print_qr, runtime};

/// The first business's owner, when `up` just created it.
pub(crate) struct NewOwner {
    pub tenant: String,
    pub email: String,
    pub password: Zeroizing<String>,
}

pub fn run(data_dir: &DataDir, args: &UpArgs, json: bool) -> Result<()> {
    if !data_dir.is_initialized() {
        let name = args
            .name
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "me".to_owned());
        init(data_dir, &name, json)?;
    }
    let server_args = ServerArgs {
        listen: args.server_listen.clone(),
        http: args.server_http,
        db: None,
        ttl_days: 14,
        max_envelope_bytes: 256 * 1024,
        rate_per_second: 50,
        rate_burst: 2000,
        blob_max_mib: 10 * 1024,
        blob_rate_mib: 64,
    };
    let hub_options = crate::hub::options(data_dir, None);
    let runtime = runtime()?;
    runtime.block_on(async {
        let server = crate::server::start(&data_dir.root().join("server"), &server_args)
            .await
            .context("cannot start the bundled server")?;
        let home = home_address(&server.info)?;
        let hub = match crate::hub::start(&hub_options, args.hub_http).await {
            Ok(hub) => hub,
            Err(error) => {
                server.stop().await;
                return Err(error.context("cannot start the bundled hub"));
            }
        };
        let owner = match first_business(&hub.hub, args).await {
            Ok(owner) => owner,
            Err(error) => {
                hub.stop().await;
                server.stop().await;
                return Err(error);
            }
        };
        let node = match node_config(data_dir, &args.node, Some(home.clone())) {
            Ok(config) => Node::start(config).await.map_err(map_open),
            Err(error) => Err(error),
        };
        let node = match node {
            Ok(node) => node,
            Err(error) => {
                hub.stop().await;
                server.stop().await;
                return Err(error);
            }
        };
        // Handlers are installed before anything is printed, so a signal right after is handled.
        let signals = Signals::install()?;
        let handle = node.handle();
        let info = handle.info();
        let api = handle.api_url().unwrap_or_default();
        let web = web_login_url(data_dir).await;
        let console = format!("{}/console/", hub.url);
        if json {
            let owner = owner.as_ref().map(|owner| {
                json!({"tenant": owner.tenant, "email": owner.email, "password": owner.password.as_str()})
            });
            println!(
                "{}",
                json!({
                    "event": "started",
                    "user_id": info.user_id,
                    "device_id": info.device_id,
                    "card": info.card,
                    "api": api,
                    "web": web,
                    "hub": hub.url,
                    "console": console,
                    "server": server.info,
                    "home": home.to_string(),
                    "owner": owner,
                })
            );
        } else {
            println!("Ômega is up — data in {}", data_dir.root().display());
            println!();
            println!("  you         {} ({})", info.name, info.user_id);
            match &web {
                Some(url) => println!("  web chat    {url}\n              (a one-time link; later run `omega open` for a new one)"),
                None => println!("  local API   {api}"),
            }
            println!("  hub console {console}");
            match &owner {
                Some(owner) => {
                    println!("              business \"{}\", owner {}", owner.tenant, owner.email);
                    println!("              password {}  (shown only now — write it down)", owner.password.as_str());
                }
                None => println!("              business \"{}\" (created on the first run)", args.business),
            }
            println!("  server      {home}\n              (your contacts' messages wait here while you are offline)");
            println!();
            println!("Your card — give it to your contacts:\n{}", info.card);
            print_qr(&info.card);
            println!();
            println!("From another terminal (same --data-dir / OMEGA_DATA_DIR):");
            println!("  omega contact add 'omega:...' --alias friend    omega chat    omega open");
            println!("Press Ctrl-C to stop everything.");
        }
        signals.wait().await;
        if !json {
            eprintln!("stopping…");
        }
        node.shutdown(data_dir).await;
        hub.stop().await;
        server.stop().await;
        if json {
            println!("{}", json!({"event": "stopped"}));
        }
        Ok::<(), anyhow::Error>(())
    })
}

/// The server address the node uses as its home mailbox (it goes into the node's card): a
/// non-loopback one when the server listens on all interfaces, so contacts on the network can
/// reach it, else the first.
fn home_address(info: &Value) -> Result<Multiaddr> {
    let addrs: Vec<Multiaddr> = info["listen_addrs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|addr| addr.as_str()?.parse().ok())
        .collect();
    let routable = addrs.iter().find(|addr| {
        addr.iter().any(|part| match part {
            Protocol::Ip4(ip) => !ip.is_loopback() && !ip.is_unspecified(),
            _ => false,
        })
    });
    routable
        .or_else(|| addrs.first())
        .cloned()
        .context("the bundled server reports no listen address")
}

/// Creates the first business and its owner when the hub does not have it yet.
async fn first_business(hub: &omega_hub::Hub, args: &UpArgs) -> Result<Option<NewOwner>> {
    if hub
        .db()
        .tenant_by_slug(&args.business)
        .await
        .context("cannot read the hub's businesses")?
        .is_some()
    {
        return Ok(None);
    }
    let password = new_password();
    let owner_name = args
        .owner_email
        .split('@')
        .next()
        .unwrap_or("owner")
        .to_owned();
    hub.create_tenant(NewTenant {
        slug: &args.business,
        name: &args.business,
        kind: "company",
        plan: Plan::Pro,
        owner_email: &args.owner_email,
        owner_name: &owner_name,
        owner_password: &password,
    })
    .await
    .map_err(|error| anyhow::anyhow!("cannot create the first business: {}", error.message))?;
    Ok(Some(NewOwner {
        tenant: args.business.clone(),
        email: args.owner_email.clone(),
        password,
    }))
}

/// A random password of 20 characters from an alphabet without look-alikes (~100 bits).
pub(crate) fn new_password() -> Zeroizing<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    Zeroizing::new(
        (0..20)
            .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
            .collect(),
    )
}

/// A one-time login link to the node's web chat (what `omega open` prints), if the node gives one.
pub(crate) async fn web_login_url(data_dir: &DataDir) -> Option<String> {
    let data_dir = data_dir.clone();
    tokio::task::spawn_blocking(move || {
        let client = Client::connect(&data_dir).ok()?;
        let answer: Value = client.post("/v1/web/login-codes", &json!({})).ok()?;
        answer["url"].as_str().map(str::to_owned)
    })
    .await
    .ok()
    .flatten()
}
