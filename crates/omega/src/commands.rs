//! What each subcommand does.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use omega_core::{ContactView, DataDir, MessageView, Node, NodeConfig, OpenError, PublicInfo};
use serde_json::json;
use zeroize::Zeroizing;

use crate::cli::{
    AuditCommand, BackupCommand, BenchCommand, Cli, Command, ContactCommand, DeviceCommand,
    NodeArgs,
};
use crate::client::{Client, segment};
use crate::{Exit, exit};
use omega_core::devices::{DeviceView, LinkView};

pub fn run(cli: Cli) -> Result<()> {
    let data_dir = DataDir::new(match &cli.data_dir {
        Some(dir) => dir.clone(),
        None => default_data_dir()?,
    });
    let json = cli.json;
    match cli.command {
        Command::Init {
            name,
            link,
            device_name,
        } => match (name, link) {
            (_, Some(uri)) => init_linked(&data_dir, &uri, &device_name, json),
            (Some(name), None) => init(&data_dir, &name, json),
            (None, None) => bail!("give --name NAME (or --link URI to join an existing user)"),
        },
        Command::Device(command) => device(&data_dir, command, json),
        Command::Archive { with } => meta(&data_dir, &with, json!({ "archived": true }), json),
        Command::Unarchive { with } => meta(&data_dir, &with, json!({ "archived": false }), json),
        Command::Mute { with } => meta(&data_dir, &with, json!({ "muted": true }), json),
        Command::Unmute { with } => meta(&data_dir, &with, json!({ "muted": false }), json),
        Command::Alias { with, alias } => meta(&data_dir, &with, json!({ "alias": alias }), json),
        Command::Id { card } => id(&data_dir, json, card),
        Command::Node(args) => run_node(&data_dir, &args, json),
        Command::Up(args) => crate::up::run(&data_dir, &args, json),
        Command::Demo(args) => crate::demo::run(&args, json),
        Command::Contact(command) => contact(&data_dir, command, json),
        Command::Group(command) => crate::group::run(&data_dir, command, json),
        Command::Server(args) => crate::server::run(&data_dir, &args, json),
        Command::Hub(args) => crate::hub::run(&data_dir, args, json),
        Command::Backup(BackupCommand::Create {
            path,
            force,
            backup_passphrase_env,
        }) => crate::backup::create(
            &data_dir,
            &path,
            force,
            backup_passphrase_env.as_deref(),
            json,
        ),
        Command::Backup(BackupCommand::Restore {
            path,
            backup_passphrase_env,
        }) => crate::backup::restore(&data_dir, &path, backup_passphrase_env.as_deref(), json),
        Command::Audit(AuditCommand::Verify {
            head,
            proof,
            old_head,
            key,
        }) => crate::audit_verify::run(&head, &proof, old_head.as_deref(), key.as_deref(), json),
        Command::Send {
            to,
            text,
            reply_to,
            mentions,
            location,
            label,
            contact,
            sticker,
            wait,
            timeout,
        } => {
            let mut body = json!({ "to": to, "reply_to": reply_to });
            if let Some(location) = location {
                let (latitude, longitude) = parse_location(&location)?;
                body["location"] = json!({ "latitude": latitude, "longitude": longitude, "label": label.unwrap_or_default() });
            } else if let Some(contact) = contact {
                body["contact"] = json!(contact);
            } else if let Some(sticker) = sticker {
                let (pack, name) = sticker
                    .split_once('/')
                    .filter(|(pack, name)| !pack.is_empty() && !name.is_empty())
                    .with_context(|| format!("--sticker {sticker:?}: expected PACK/NAME"))?;
                body["sticker"] =
                    json!({ "pack": pack, "name": name, "alt": text.clone().unwrap_or_default() });
            } else {
                let text =
                    text.context("give the text to send (or --location, --contact, --sticker)")?;
                body["text"] = json!(text);
                body["mentions"] = json!(mentions);
            }
            send(&data_dir, &body, wait.map(|w| w.as_str()), timeout, json)
        }
        Command::SendFile { to, path } => crate::files::send_file(&data_dir, &to, &path, json),
        Command::FetchFile { message_id, out } => {
            crate::files::fetch_file(&data_dir, &message_id, out.as_ref(), json)
        }
        Command::React {
            message_id,
            emoji,
            remove,
        } => {
            let client = Client::connect(&data_dir)?;
            let path = format!("/v1/messages/{}/reactions", segment(&message_id));
            let message: MessageView = match (emoji, remove) {
                (Some(emoji), false) => client.post(&path, &json!({ "emoji": emoji }))?,
                (None, true) => client.delete(&path)?,
                _ => bail!("give an emoji, or --remove"),
            };
            print_message(&message, json)
        }
        Command::Edit { message_id, text } => {
            let client = Client::connect(&data_dir)?;
            let message: MessageView = client.post(
                &format!("/v1/messages/{}/edit", segment(&message_id)),
                &json!({ "text": text }),
            )?;
            print_message(&message, json)
        }
        Command::Delete { message_id } => {
            let client = Client::connect(&data_dir)?;
            let message: MessageView =
                client.delete(&format!("/v1/messages/{}", segment(&message_id)))?;
            print_message(&message, json)
        }
        Command::Timer { with, duration } => {
            let seconds = parse_duration(&duration)?;
            let client = Client::connect(&data_dir)?;
            let message: MessageView = client.put(
                &format!("/v1/conversations/{}/timer", segment(&with)),
                &json!({ "seconds": seconds }),
            )?;
            print_message(&message, json)
        }
        Command::Messages { with, limit } => messages(&data_dir, with.as_deref(), limit, json),
        Command::Search { text, with, limit } => {
            search(&data_dir, &text, with.as_deref(), limit, json)
        }
        Command::Chat { with } => crate::chat::run(&data_dir, with),
        Command::Open => crate::open::run(&data_dir, json),
        Command::Read { with } => {
            let client = Client::connect(&data_dir)?;
            let answer: serde_json::Value = client.post(
                &format!("/v1/conversations/{}/read", segment(&with)),
                &json!({}),
            )?;
            if json {
                println!("{answer}");
            } else {
                println!("marked {} message(s) read", answer["marked"]);
            }
            Ok(())
        }
        Command::Bench(BenchCommand::Msg { count }) => crate::bench::msg(count, json),
        Command::Bench(BenchCommand::Files { mib }) => crate::bench_files::files(mib, json),
        Command::Bench(BenchCommand::Hub { count, concurrency }) => {
            crate::bench_hub::run(count, concurrency, json)
        }
        Command::Bench(BenchCommand::Peers { count }) => crate::bench_peers::run(count, json),
        Command::Bench(BenchCommand::Group { members, messages }) => {
            crate::bench_group::run(members, messages, json)
        }
        Command::Bench(BenchCommand::Mailbox { count, postgres }) => {
            crate::bench_mailbox::run(count, postgres, json)
        }
        Command::Bench(BenchCommand::Ingest { count, concurrency }) => {
            crate::bench_ingest::run(count, concurrency, json)
        }
        Command::Bench(BenchCommand::Leads { rounds }) => crate::bench_leads::run(rounds, json),
    }
}

/// `$XDG_DATA_HOME/omega`, `~/.local/share/omega`, or the macOS / Windows equivalents.
fn default_data_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|dir| !dir.is_empty()) {
        return Ok(PathBuf::from(dir).join("omega"));
    }
    if cfg!(windows)
        && let Some(dir) = std::env::var_os("APPDATA")
    {
        return Ok(PathBuf::from(dir).join("omega"));
    }
    let home = std::env::var_os("HOME")
        .context("cannot find a data directory: set --data-dir or OMEGA_DATA_DIR")?;
    let home = PathBuf::from(home);
    Ok(if cfg!(target_os = "macos") {
        home.join("Library/Application Support/omega")
    } else {
        home.join(".local/share/omega")
    })
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// The passphrase from OMEGA_PASSPHRASE, or asked on the terminal (twice when creating).
pub(crate) fn passphrase(confirm: bool) -> Result<Zeroizing<Vec<u8>>> {
    if let Ok(value) = std::env::var("OMEGA_PASSPHRASE") {
        return Ok(Zeroizing::new(value.into_bytes()));
    }
    if !std::io::stdin().is_terminal() {
        bail!("no passphrase: set OMEGA_PASSPHRASE or run from a terminal to be asked");
    }
    let first = Zeroizing::new(rpassword::prompt_password("Passphrase: ")?);
    if confirm {
        let second = Zeroizing::new(rpassword::prompt_password("Repeat passphrase: ")?);
        if *first != *second {
            bail!("the passphrases differ");
        }
    }
    Ok(Zeroizing::new(first.as_bytes().to_vec()))
}

pub(crate) fn map_open(error: OpenError) -> anyhow::Error {
    match error {
        OpenError::WrongPassphrase => Exit {
            code: exit::WRONG_PASSPHRASE,
            message: error.to_string(),
        }
        .into(),
        other => other.into(),
    }
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}

pub(crate) fn init(data_dir: &DataDir, name: &str, json: bool) -> Result<()> {
    if data_dir.is_initialized() {
        bail!("{} already holds an identity", data_dir.root().display());
    }
    let passphrase = passphrase(true)?;
    if passphrase.is_empty() {
        bail!("the passphrase is empty");
    }
    let public = runtime()?
        .block_on(data_dir.init(name, &passphrase, now_ms()))
        .map_err(map_open)?;
    print_id(&public, json, false);
    Ok(())
}

/// `omega init --link URI`: this directory becomes a new device of an existing user.
fn init_linked(data_dir: &DataDir, uri: &str, device_name: &str, json: bool) -> Result<()> {
    if data_dir.is_initialized() {
        bail!("{} already holds an identity", data_dir.root().display());
    }
    // Check the URI before asking for a passphrase.
    omega_crypto::link::LinkInvite::parse_uri(uri, now_ms()).context("invalid link uri")?;
    let passphrase = passphrase(true)?;
    if passphrase.is_empty() {
        bail!("the passphrase is empty");
    }
    let joined = runtime()?
        .block_on(omega_core::join::join(
            data_dir,
            uri,
            device_name,
            &passphrase,
            now_ms(),
            Duration::from_secs(30),
        ))
        .context("could not link this device")?;
    if json {
        println!(
            "{}",
            json!({
                "user_id": joined.public.user_id,
                "device_id": joined.public.device_id,
                "name": joined.public.name,
                "card": joined.public.card,
                "fingerprint": joined.public.fingerprint,
                "mailboxes": joined.mailboxes,
                "contacts": joined.contacts,
            })
        );
    } else {
        println!(
            "linked: device {} of {} ({})",
            joined.public.device_id, joined.public.name, joined.public.user_id
        );
        println!("{} contact(s) copied", joined.contacts);
        for mailbox in &joined.mailboxes {
            println!("home mailbox: {mailbox} (omega node --mailbox {mailbox})");
        }
        println!("start it with: omega node (history arrives from the other device)");
    }
    Ok(())
}

/// Changes a conversation's shared metadata and prints it as it now is.
fn meta(data_dir: &DataDir, with: &str, change: serde_json::Value, json: bool) -> Result<()> {
    let client = Client::connect(data_dir)?;
    let meta: serde_json::Value = client.put(
        &format!("/v1/conversations/{}/meta", segment(with)),
        &change,
    )?;
    if json {
        println!("{meta}");
    } else {
        println!(
            "{with}: archived {}, muted {}, alias {}",
            meta["archived"],
            meta["muted"],
            meta["alias"].as_str().unwrap_or("(none)")
        );
    }
    Ok(())
}

fn device(data_dir: &DataDir, command: DeviceCommand, json: bool) -> Result<()> {
    let client = Client::connect(data_dir)?;
    let print_list = |devices: &[DeviceView]| -> Result<()> {
        if json {
            println!("{}", serde_json::to_string(devices)?);
        } else {
            for device in devices {
                println!(
                    "{} {:<24} {}{}",
                    device.device_id,
                    device.name,
                    device.peer_id,
                    if device.current {
                        "  (this device)"
                    } else {
                        ""
                    }
                );
            }
        }
        Ok(())
    };
    match command {
        DeviceCommand::Link => {
            let link: LinkView = client.post("/v1/devices/link", &json!({}))?;
            if json {
                println!(
                    "{}",
                    json!({ "uri": link.uri, "expires_ms": link.expires_ms })
                );
            } else {
                println!("{}", link.qr);
                println!("{}", link.uri);
                println!(
                    "on the new device: omega init --link URI (valid 10 minutes, for one device; \
                     keep this node running)"
                );
            }
            Ok(())
        }
        DeviceCommand::List => {
            let devices: Vec<DeviceView> = client.get("/v1/devices")?;
            print_list(&devices)
        }
        DeviceCommand::Revoke { device } => {
            let devices: Vec<DeviceView> = client.post(
                &format!("/v1/devices/{}/revoke", segment(&device)),
                &json!({}),
            )?;
            if !json {
                println!("revoked {device}; the device list is now:");
            }
            print_list(&devices)
        }
    }
}

fn id(data_dir: &DataDir, json: bool, card_only: bool) -> Result<()> {
    let public: PublicInfo = match Client::connect(data_dir) {
        Ok(client) => client.get("/v1/id")?,
        Err(_) => data_dir.read_public().map_err(map_open)?,
    };
    if card_only {
        println!("{}", public.card);
    } else {
        print_id(&public, json, true);
    }
    Ok(())
}

fn print_id(public: &PublicInfo, json: bool, qr: bool) {
    if json {
        println!(
            "{}",
            json!({
                "user_id": public.user_id,
                "device_id": public.device_id,
                "name": public.name,
                "card": public.card,
                "fingerprint": public.fingerprint,
                "addrs": public.addrs,
            })
        );
        return;
    }
    println!("name:        {}", public.name);
    println!("user id:     {}", public.user_id);
    println!("device id:   {}", public.device_id);
    println!("fingerprint: {}", public.fingerprint);
    println!("card:        {}", public.card);
    if qr {
        print_qr(&public.card);
    }
}

/// Prints a card as a terminal QR code (nothing if it does not fit in one).
pub(crate) fn print_qr(card: &str) {
    if let Ok(card) = omega_crypto::ContactCard::parse_uri(card)
        && let Ok(code) = card.to_terminal_qr()
    {
        println!("\n{code}");
    }
}

/// A node's configuration from its command-line flags (asks for the passphrase). `home` is a
/// server to use as the first bootstrap and, unless `--mailbox` names another, the home mailbox.
pub(crate) fn node_config(
    data_dir: &DataDir,
    args: &NodeArgs,
    home: Option<libp2p::Multiaddr>,
) -> Result<NodeConfig> {
    let listen = args
        .listen
        .iter()
        .map(|addr| {
            addr.parse()
                .with_context(|| format!("invalid --listen address {addr:?} (expected a multiaddr like /ip4/0.0.0.0/tcp/4001)"))
        })
        .collect::<Result<Vec<_>>>()?;
    if !args.api.ip().is_loopback() {
        bail!(
            "--api must be a loopback address (got {}); the local API is for this machine only",
            args.api
        );
    }
    let parse_full = |addr: &String, flag: &str| -> Result<libp2p::Multiaddr> {
        let parsed: libp2p::Multiaddr = addr
            .parse()
            .with_context(|| format!("invalid {flag} address {addr:?}"))?;
        if omega_core::delivery::split_peer_addr(&parsed).is_none() {
            bail!(
                "{flag} address {addr:?} must end in /p2p/<peer id> (copy it from the server's server.json)"
            );
        }
        Ok(parsed)
    };
    let bootstrap = home
        .into_iter()
        .map(Ok)
        .chain(
            args.bootstrap
                .iter()
                .map(|addr| parse_full(addr, "--bootstrap")),
        )
        .collect::<Result<Vec<_>>>()?;
    let mailbox = match &args.mailbox {
        Some(addr) => Some(parse_full(addr, "--mailbox")?),
        None => bootstrap.first().cloned(),
    };
    let passphrase = passphrase(false)?;
    let mut config = NodeConfig::new(data_dir.clone(), passphrase);
    config.listen = listen;
    config.api = Some(args.api);
    config.mailbox = mailbox;
    config.bootstrap = bootstrap;
    config.mailbox_poll = Duration::from_millis(args.mailbox_poll_ms);
    config.mdns = !args.no_mdns;
    Ok(config)
}

fn run_node(data_dir: &DataDir, args: &NodeArgs, json: bool) -> Result<()> {
    let config = node_config(data_dir, args, None)?;
    let runtime = runtime()?;
    runtime.block_on(async {
        let node = Node::start(config).await.map_err(map_open)?;
        // Handlers are installed before "started" is printed, so a signal right after it is handled.
        let signals = Signals::install()?;
        let handle = node.handle();
        let info = handle.info();
        let api = handle.api_url().unwrap_or_default();
        if json {
            println!(
                "{}",
                json!({"event": "started", "user_id": info.user_id, "device_id": info.device_id, "card": info.card, "api": api})
            );
        } else {
            println!("Ômega node running as {} ({})", info.name, info.user_id);
            println!("local API: {api}");
            println!("your card (give it to your contacts):\n{}", info.card);
            println!("Press Ctrl-C to stop.");
        }
        signals.wait().await;
        if !json {
            eprintln!("stopping…");
        }
        node.shutdown(data_dir).await;
        Ok::<(), anyhow::Error>(())
    })
}

/// SIGINT (Ctrl-C) and SIGTERM, registered up front.
pub(crate) struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    pub(crate) fn install() -> Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                interrupt: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
                terminate: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    pub(crate) async fn wait(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(not(unix))]
        {
            let _ = &mut self;
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn contact(data_dir: &DataDir, command: ContactCommand, json: bool) -> Result<()> {
    let client = Client::connect(data_dir)?;
    match command {
        ContactCommand::Add { card, alias } => {
            let view: ContactView =
                client.post("/v1/contacts", &json!({"card": card, "alias": alias}))?;
            if json {
                println!("{}", serde_json::to_string(&view)?);
            } else {
                println!(
                    "added {} ({})",
                    view.alias.as_deref().unwrap_or(&view.name),
                    view.user_id
                );
                println!("safety number: {}", view.safety_number);
                println!(
                    "compare it with them, then: omega contact verify {} --yes",
                    view.alias.as_deref().unwrap_or(&view.user_id)
                );
            }
        }
        ContactCommand::List => {
            let contacts: Vec<ContactView> = client.get("/v1/contacts")?;
            if json {
                println!("{}", serde_json::to_string(&contacts)?);
            } else if contacts.is_empty() {
                println!("no contacts yet (omega contact add CARD --alias NAME)");
            } else {
                for contact in contacts {
                    println!(
                        "{:<16} {:<24} {} {}",
                        contact.alias.as_deref().unwrap_or("-"),
                        contact.name,
                        if contact.verified {
                            "verified  "
                        } else {
                            "unverified"
                        },
                        contact.user_id
                    );
                }
            }
        }
        ContactCommand::Verify {
            name,
            safety_number,
            yes,
        } => {
            if safety_number.is_none() && !yes {
                let view: ContactView = client.get(&format!("/v1/contacts/{}", segment(&name)))?;
                if json {
                    println!("{}", serde_json::to_string(&view)?);
                } else {
                    println!(
                        "safety number with {}:\n  {}",
                        view.alias.as_deref().unwrap_or(&view.name),
                        view.safety_number
                    );
                    println!("If theirs matches, run: omega contact verify {name} --yes");
                    println!("(or pass --safety-number 'DIGITS' to have it checked)");
                }
                return Ok(());
            }
            let view: ContactView = client.post(
                &format!("/v1/contacts/{}/verify", segment(&name)),
                &json!({"safety_number": safety_number}),
            )?;
            if json {
                println!("{}", serde_json::to_string(&view)?);
            } else {
                println!(
                    "{} is now verified",
                    view.alias.as_deref().unwrap_or(&view.name)
                );
            }
        }
    }
    Ok(())
}

/// `LAT,LON` as two numbers.
fn parse_location(text: &str) -> Result<(f64, f64)> {
    let parsed = text.split_once(',').and_then(|(lat, lon)| {
        Some((
            lat.trim().parse::<f64>().ok()?,
            lon.trim().parse::<f64>().ok()?,
        ))
    });
    parsed.with_context(|| {
        format!("--location {text:?}: expected LATITUDE,LONGITUDE (e.g. -23.5505,-46.6333)")
    })
}

/// `30s`, `5m`, `1h`, `7d` or `off`, in seconds (0: off).
pub(crate) fn parse_duration(text: &str) -> Result<u64> {
    let text = text.trim().to_ascii_lowercase();
    if text == "off" || text == "0" {
        return Ok(0);
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .ok()
        .with_context(|| format!("{text:?}: expected a duration like 30s, 5m, 1h, 7d, or off"))?;
    let factor = match unit {
        "s" | "" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => bail!("{text:?}: the unit is s, m, h, d or w"),
    };
    Ok(number.saturating_mul(factor))
}

pub(crate) fn print_message(message: &MessageView, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(message)?);
    } else {
        println!("{} {} {}", message.message_id, message.kind, message.text);
    }
    Ok(())
}

fn send(
    data_dir: &DataDir,
    body: &serde_json::Value,
    wait: Option<&str>,
    timeout: u64,
    json: bool,
) -> Result<()> {
    let client = Client::connect(data_dir)?;
    let mut message: MessageView = client.post("/v1/messages", body)?;
    if let Some(wait) = wait {
        message = client.get(&format!(
            "/v1/messages/{}?wait={wait}&timeout_ms={}",
            message.message_id,
            Duration::from_secs(timeout).as_millis()
        ))?;
        let rank = |status: &str| {
            ["queued", "sent", "delivered", "read"]
                .iter()
                .position(|s| *s == status)
        };
        let reached = rank(&message.status)
            .zip(rank(wait))
            .is_some_and(|(got, want)| got >= want);
        if !reached {
            if json {
                println!("{}", serde_json::to_string(&message)?);
            }
            return Err(Exit {
                code: exit::WAIT_TIMEOUT,
                message: format!(
                    "message {} is {} after {timeout}s, not {wait} (it stays queued and will be retried)",
                    message.message_id, message.status
                ),
            }
            .into());
        }
    }
    if json {
        println!("{}", serde_json::to_string(&message)?);
    } else {
        println!("{} {}", message.message_id, message.status);
    }
    Ok(())
}

fn messages(data_dir: &DataDir, with: Option<&str>, limit: i64, json: bool) -> Result<()> {
    let client = Client::connect(data_dir)?;
    let mut path = format!("/v1/messages?limit={limit}");
    if let Some(with) = with {
        path.push_str(&format!("&with={}", segment(with)));
    }
    let messages: Vec<MessageView> = client.get(&path)?;
    print_messages(&messages, json)
}

/// `omega search`: messages containing every word, best match first.
fn search(
    data_dir: &DataDir,
    text: &str,
    with: Option<&str>,
    limit: i64,
    json: bool,
) -> Result<()> {
    if text.trim().is_empty() {
        bail!("give some words to look for");
    }
    let client = Client::connect(data_dir)?;
    let mut path = format!("/v1/search?q={}&limit={limit}", segment(text));
    if let Some(with) = with {
        path.push_str(&format!("&with={}", segment(with)));
    }
    let messages: Vec<MessageView> = client.get(&path)?;
    if !json && messages.is_empty() {
        println!("nothing found");
        return Ok(());
    }
    print_messages(&messages, json)
}

pub(crate) fn print_messages(messages: &[MessageView], json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(messages)?);
        return Ok(());
    }
    for message in messages {
        let who = message.peer.clone().unwrap_or_else(|| {
            let other = if message.direction == "in" {
                &message.from
            } else {
                &message.to
            };
            other.chars().take(12).collect()
        });
        let arrow = if message.direction == "in" {
            format!("{who} →")
        } else {
            format!("→ {who}")
        };
        println!(
            "{} {arrow}: {} [{}]",
            format_time(message.timestamp),
            message.text,
            message.status
        );
    }
    Ok(())
}

/// `YYYY-MM-DD HH:MM:SS` in UTC.
fn format_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_utc_time() {
        assert_eq!(super::format_time(0), "1970-01-01 00:00:00");
        assert_eq!(super::format_time(1_700_000_000_000), "2023-11-14 22:13:20");
    }
}
