//! The command line (clap). The contract scripts rely on is documented in README.md.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "omega",
    version,
    about = "Private, offline-first messaging: node, server and hub in one binary"
)]
pub struct Cli {
    /// Data directory of the identity (default: the platform data dir, e.g. ~/.local/share/omega).
    #[arg(long, global = true, env = "OMEGA_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    pub json: bool,
    /// Log as JSON lines on stderr (level from env OMEGA_LOG, default warn).
    #[arg(long, global = true)]
    pub log_json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new identity (user key, first device) in the data directory.
    Init {
        /// Your display name, shown to contacts.
        #[arg(long, required_unless_present = "link", conflicts_with = "link")]
        name: Option<String>,
        /// Join an existing user as a new device: the `omega-link:` URI that `omega device link`
        /// printed on one of their devices (which must be running).
        #[arg(long, value_name = "URI")]
        link: Option<String>,
        /// With --link: this device's name in the device list.
        #[arg(long, requires = "link", default_value = "linked")]
        device_name: String,
    },
    /// Show your user id, device id, contact card and fingerprint.
    Id {
        /// Print only the `omega:` card (for pasting or piping).
        #[arg(long)]
        card: bool,
    },
    /// Run the node in the foreground (Ctrl-C or SIGTERM stops it cleanly).
    Node(NodeArgs),
    /// Manage contacts.
    #[command(subcommand)]
    Contact(ContactCommand),
    /// Archive a conversation (on all my devices).
    Archive {
        /// Alias, user id or name of the contact.
        with: String,
    },
    /// Take a conversation out of the archive (on all my devices).
    Unarchive { with: String },
    /// Mute a conversation (on all my devices).
    Mute { with: String },
    /// Unmute a conversation (on all my devices).
    Unmute { with: String },
    /// Give a contact a local alias, the same on all my devices ("" clears it).
    Alias {
        /// Alias, user id or name of the contact.
        with: String,
        /// The new alias.
        #[arg(allow_hyphen_values = true)]
        alias: String,
    },
    /// Manage this user's devices (link a new one, list, revoke).
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Send a text message (exits once it is durably queued, or reached --wait).
    Send {
        /// Alias, user id or name of the contact.
        to: String,
        /// The text (leave it out with --location, --contact or --sticker).
        text: Option<String>,
        /// Quote this message (its id, from `messages --json`).
        #[arg(long)]
        reply_to: Option<String>,
        /// A contact mentioned in the text (repeatable).
        #[arg(long = "mention")]
        mentions: Vec<String>,
        /// Send a location: LATITUDE,LONGITUDE (e.g. -23.5505,-46.6333).
        #[arg(long, allow_hyphen_values = true, conflicts_with_all = ["text", "contact", "sticker"])]
        location: Option<String>,
        /// The location's label.
        #[arg(long, requires = "location")]
        label: Option<String>,
        /// Pass on a contact: one of yours (by name) or an `omega:` card.
        #[arg(long, conflicts_with_all = ["text", "sticker"])]
        contact: Option<String>,
        /// Send a sticker: PACK/NAME (e.g. omega/thumbs-up); TEXT, if given, is its text.
        #[arg(long)]
        sticker: Option<String>,
        /// Wait until the message reaches this status.
        #[arg(long, value_enum)]
        wait: Option<WaitFor>,
        /// Seconds to wait with --wait.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
    },
    /// Send a file (up to 1 GiB, end-to-end encrypted, through your mailbox server's blob store
    /// and directly); a progress bar on a terminal; exits once its message is queued.
    SendFile {
        /// Alias, user id or name of the contact.
        to: String,
        /// The file to send.
        #[arg(allow_hyphen_values = true)]
        path: PathBuf,
    },
    /// Fetch a received file (an interrupted fetch resumes where it stopped); every chunk and
    /// the whole file's SHA-256 are verified.
    FetchFile {
        /// The file message's id (from `messages --json`).
        message_id: String,
        /// A directory, or a new file's path (default: the current directory).
        #[arg(long, allow_hyphen_values = true)]
        out: Option<PathBuf>,
    },
    /// React to a message with an emoji (replaces your earlier reaction), or take it back.
    React {
        /// The message's id.
        message_id: String,
        /// The emoji (leave it out with --remove).
        emoji: Option<String>,
        #[arg(long, conflicts_with = "emoji")]
        remove: bool,
    },
    /// Replace the text of one of your messages (everyone sees it marked edited).
    Edit { message_id: String, text: String },
    /// Delete one of your messages for everyone.
    Delete { message_id: String },
    /// Set a conversation's disappearing-message timer for both sides: 30s, 5m, 1h, 7d… or off.
    Timer {
        /// Alias, user id or name of the contact.
        with: String,
        /// How long messages live after they arrive (1s to 28d), or `off`.
        duration: String,
    },
    /// Search your messages: every word must appear (prefixes match; case and accents are
    /// ignored); best match first.
    Search {
        /// The words to look for.
        text: String,
        /// Only the conversation with this contact.
        #[arg(long)]
        with: Option<String>,
        /// At most this many results.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=1000))]
        limit: i64,
    },
    /// List messages, oldest first.
    Messages {
        /// Only the conversation with this contact.
        #[arg(long)]
        with: Option<String>,
        /// At most this many (the most recent).
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(i64).range(1..=100000))]
        limit: i64,
    },
    /// Mark a conversation read (sends read receipts).
    Read {
        /// Alias, user id or name of the contact.
        with: String,
    },
    /// Open the web chat of the running node in a browser: prints a one-time login link (valid
    /// two minutes) and opens it with $BROWSER when set.
    Open,
    /// Full-screen terminal chat with the running node: conversations, live messages and
    /// delivery ticks, a composer (Enter sends, Esc quits).
    Chat {
        /// Open the conversation with this contact (alias, user id or name) first.
        #[arg(long)]
        with: Option<String>,
    },
    /// Run a server: store-and-forward mailbox and prekey directory (later: DHT bootstrap, relay).
    Server(ServerArgs),
    /// Start everything on embedded defaults under one data dir: a server (mailbox, relay,
    /// bootstrap), the business hub (a first business and owner on first run) and your node
    /// (an identity on first run); prints the URLs; Ctrl-C stops all three.
    Up(UpArgs),
    /// A scripted tour on a throwaway data dir: three people chat, one catches up through the
    /// mailbox, a WhatsApp customer (simulated) writes to a business and is scored; then the web
    /// UIs stay open until Ctrl-C.
    Demo(DemoArgs),
    /// Run the business hub (gateway, tenants, auth, audit log), or manage it.
    Hub(HubArgs),
    /// Groups of up to 1,000 members: create, change the membership, send, read.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Back up this identity with its history into one encrypted file, or restore one.
    #[command(subcommand)]
    Backup(BackupCommand),
    /// Verify the hub's audit log offline.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Measure performance against raw baselines in the same run.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct HubArgs {
    /// HTTP address of the API.
    #[arg(long, default_value = "127.0.0.1:8700")]
    pub http: SocketAddr,
    /// Storage: sqlite://PATH or postgres://USER@HOST:PORT/DB (default: sqlite in <data-dir>/hub).
    #[arg(long, env = "OMEGA_HUB_DB", global = true)]
    pub db: Option<String>,
    #[command(subcommand)]
    pub command: Option<HubCommand>,
}

#[derive(Debug, Subcommand)]
pub enum HubCommand {
    /// Operator commands (work on the database directly).
    #[command(subcommand)]
    Admin(HubAdminCommand),
    /// Configuration versions.
    #[command(subcommand)]
    Config(HubConfigCommand),
}

#[derive(Debug, Subcommand)]
pub enum HubAdminCommand {
    /// Create a tenant and its first owner (password from OMEGA_HUB_OWNER_PASSWORD or a prompt).
    CreateTenant {
        /// Short unique handle members sign in with (a-z, 0-9, '-').
        #[arg(long)]
        slug: String,
        /// Display name (default: the slug).
        #[arg(long)]
        name: Option<String>,
        /// company (departments, many members) or individual (one person).
        #[arg(long, default_value = "company")]
        kind: String,
        /// free, pro or enterprise.
        #[arg(long, default_value = "free")]
        plan: String,
        #[arg(long)]
        owner_email: String,
        #[arg(long)]
        owner_name: Option<String>,
    },
    /// Move a tenant to another plan.
    SetPlan {
        /// Tenant slug or id.
        #[arg(long)]
        tenant: String,
        /// free, pro or enterprise.
        #[arg(long)]
        plan: String,
    },
    /// Start signing access tokens with a new key now.
    RotateKeys,
}

#[derive(Debug, Subcommand)]
pub enum HubConfigCommand {
    /// Every configuration the hub ran with.
    History,
    /// Put an earlier version back into hub.toml and make the running hub reload it.
    Rollback { version: i64 },
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Create a group of your contacts; you are its owner.
    Create {
        /// The group's name (1 to 128 bytes).
        #[arg(allow_hyphen_values = true)]
        name: String,
        /// Contacts (alias, name or user id), comma-separated.
        #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
        members: Vec<String>,
    },
    /// Add a contact to a group (admins add members; owners add admins and owners).
    Add {
        /// Group id, id prefix or name.
        group: String,
        /// The contact to add.
        #[arg(allow_hyphen_values = true)]
        member: String,
        /// member, admin or owner.
        #[arg(long, default_value = "member")]
        role: String,
    },
    /// Remove a member (admins remove members; owners remove anyone but themselves).
    Remove {
        group: String,
        #[arg(allow_hyphen_values = true)]
        member: String,
    },
    /// Change a member's role (owners only).
    Promote {
        group: String,
        #[arg(allow_hyphen_values = true)]
        member: String,
        /// member, admin or owner.
        #[arg(long, default_value = "admin")]
        role: String,
    },
    /// Leave a group (the last owner names a successor).
    Leave {
        group: String,
        /// A member who becomes an owner as you leave.
        #[arg(long)]
        successor: Option<String>,
    },
    /// Rename a group (admins and owners).
    Rename {
        group: String,
        #[arg(allow_hyphen_values = true)]
        name: String,
    },
    /// Send a text to a group.
    Send {
        group: String,
        #[arg(allow_hyphen_values = true)]
        text: String,
    },
    /// List your groups.
    List,
    /// Show a group: members and roles, epoch, log heads.
    Show { group: String },
    /// List a group's messages, oldest first.
    Messages {
        group: String,
        /// At most this many (the most recent).
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(i64).range(1..=100000))]
        limit: i64,
    },
    /// The Megolm sessions this device holds for a group.
    Sessions { group: String },
    /// Set the group's disappearing-message timer for every member (1s to 28d), or `off`.
    Timer { group: String, duration: String },
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Write an encrypted backup of this identity with its contacts, messages and sessions
    /// (works while the node runs). Asks for the identity's passphrase, which also encrypts the
    /// backup unless --backup-passphrase-env names another.
    Create {
        /// The backup file to write (refused if it exists, unless --force).
        path: PathBuf,
        /// Overwrite PATH if it exists.
        #[arg(long)]
        force: bool,
        /// Encrypt the backup with the passphrase in this environment variable instead of the
        /// identity's (restoring then needs both).
        #[arg(long, value_name = "VAR")]
        backup_passphrase_env: Option<String>,
    },
    /// Restore a backup into an empty or new data directory; everything is checked before the
    /// directory appears, so a damaged backup or a wrong passphrase leaves nothing behind.
    Restore {
        /// The backup file to read.
        path: PathBuf,
        /// The backup was encrypted with the passphrase in this environment variable (the
        /// identity's own passphrase is asked for too).
        #[arg(long, value_name = "VAR")]
        backup_passphrase_env: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check a signed tree head and an inclusion or consistency proof, offline.
    Verify {
        /// HEAD.json from GET /api/v1/audit/head.
        #[arg(long)]
        head: PathBuf,
        /// PROOF.json from GET /api/v1/audit/proof/inclusion or /consistency.
        #[arg(long)]
        proof: PathBuf,
        /// The earlier HEAD.json a consistency proof starts from.
        #[arg(long)]
        old_head: Option<PathBuf>,
        /// The log's verifier key you trust (default: the one in HEAD.json, printed for you to compare).
        #[arg(long)]
        key: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct NodeArgs {
    /// libp2p listen address(es).
    #[arg(long, num_args = 1.., default_values_t = ["/ip4/0.0.0.0/tcp/0".to_string()])]
    pub listen: Vec<String>,
    /// Loopback address of the local API.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub api: SocketAddr,
    /// Servers to join (full multiaddrs ending in /p2p/<peer id>, as in server.json). The first
    /// is the home mailbox unless --mailbox says otherwise.
    #[arg(long, num_args = 1..)]
    pub bootstrap: Vec<String>,
    /// Home mailbox server (full multiaddr); it goes into your contact card.
    #[arg(long)]
    pub mailbox: Option<String>,
    /// How often to check the home mailbox, in milliseconds.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(50..=3_600_000))]
    pub mailbox_poll_ms: u64,
    /// Turn off mDNS discovery of peers on the local network.
    #[arg(long)]
    pub no_mdns: bool,
}

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// libp2p listen address(es).
    #[arg(long, num_args = 1.., default_values_t = ["/ip4/0.0.0.0/tcp/4040".to_string()])]
    pub listen: Vec<String>,
    /// HTTP address for /health, /metrics and the HTTP mailbox.
    #[arg(long, default_value = "127.0.0.1:8040")]
    pub http: SocketAddr,
    /// Storage: sqlite://PATH or postgres://USER@HOST:PORT/DB (default: sqlite in the data dir).
    #[arg(long, env = "OMEGA_SERVER_DB")]
    pub db: Option<String>,
    /// Days an envelope waits for its recipient before it is purged.
    #[arg(long, default_value_t = 14, value_parser = clap::value_parser!(u32).range(1..=365))]
    pub ttl_days: u32,
    /// Largest envelope accepted, in bytes.
    #[arg(long, default_value_t = 256 * 1024, value_parser = clap::value_parser!(u64).range(1024..=16_777_216))]
    pub max_envelope_bytes: u64,
    /// Deposits and prekey claims per second allowed per source.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub rate_per_second: u32,
    /// Burst above the rate allowed per source.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub rate_burst: u32,
    /// Most bytes the blob store (sealed file chunks, kept in <data-dir>/blobs) holds, in MiB.
    #[arg(long, default_value_t = 10 * 1024, value_parser = clap::value_parser!(u64).range(1..=1 << 30))]
    pub blob_max_mib: u64,
    /// Bytes per second each peer may put into or get from the blob store, in MiB.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub blob_rate_mib: u32,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// End after the tour instead of leaving the web UIs open.
    #[arg(long)]
    pub exit: bool,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Display name for the identity created on first run (default: $USER).
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub node: NodeArgs,
    /// libp2p listen address(es) of the bundled server (mailbox, relay, bootstrap); it keeps
    /// its key and database in <data-dir>/server/.
    #[arg(long, num_args = 1.., default_values_t = ["/ip4/0.0.0.0/tcp/4040".to_string()])]
    pub server_listen: Vec<String>,
    /// HTTP address of the bundled server (/health, /metrics).
    #[arg(long, default_value = "127.0.0.1:8040")]
    pub server_http: SocketAddr,
    /// HTTP address of the bundled business hub (API and console).
    #[arg(long, default_value = "127.0.0.1:8700")]
    pub hub_http: SocketAddr,
    /// Slug of the business created in the hub on first run.
    #[arg(long, default_value = "my-business")]
    pub business: String,
    /// Login of that business's owner (the password is generated and printed once).
    #[arg(long, default_value = "owner@omega.local")]
    pub owner_email: String,
}

#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Show a one-time `omega-link:` URI (and its QR code) for `omega init --link` on a new
    /// device; valid 10 minutes, for one device. The node must be running.
    Link,
    /// List this user's devices.
    List,
    /// Remove a device from the device list: it receives nothing new and its mailbox is closed.
    Revoke {
        /// Device name or device id (or a unique prefix of it).
        #[arg(allow_hyphen_values = true)]
        device: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ContactCommand {
    /// Add a contact from their `omega:` card.
    Add {
        card: String,
        /// A short local name to address them by.
        #[arg(long)]
        alias: Option<String>,
    },
    /// List contacts.
    List,
    /// Show the safety number with a contact and mark them verified.
    Verify {
        /// Alias, user id or name.
        name: String,
        /// The safety number your contact reads to you; it must match (spaces ignored).
        #[arg(long)]
        safety_number: Option<String>,
        /// Mark verified after comparing the numbers yourself.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Authenticated API requests against a bare axum handler; audit appends against raw inserts.
    Hub {
        /// Requests per measurement.
        #[arg(long, default_value_t = 20000, value_parser = clap::value_parser!(u32).range(100..=10_000_000))]
        count: u32,
        /// Concurrent connections.
        #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
        concurrency: u32,
    },
    /// One message to a group of many members (each a libp2p swarm in this process): time
    /// until every member has it, beside raw GossipSub publishing of the same bytes.
    Group {
        /// Members of the group, the sender included.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(2..=5000))]
        members: u32,
        /// Messages sent (one at a time).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        messages: u32,
    },
    /// Many clients connected to one server process: memory per connection, delivery latency.
    Peers {
        /// Number of simulated peers.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(2..=100_000))]
        count: u32,
    },
    /// Mailbox deposit + fetch + ack through a server, against raw batched SQL on the same database.
    Mailbox {
        /// Envelopes per measurement.
        #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(10..=1_000_000))]
        count: u32,
        /// Also measure PostgreSQL (an admin URL; a scratch database is created and dropped).
        #[arg(long, env = "OMEGA_TEST_POSTGRES_URL")]
        postgres: Option<String>,
    },
    /// A file sent through a server's blob store and fetched by a second node (seal, upload,
    /// fetch, verify), against raw libp2p request-response with the same 1 MiB bodies.
    Files {
        /// Size of the file, in MiB.
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=1024))]
        mib: u32,
    },
    /// Two nodes on loopback, 256-byte messages, against raw libp2p and raw vodozemac.
    Msg {
        /// Messages per measurement.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(10..=1_000_000))]
        count: u32,
    },
    /// WhatsApp webhooks through a hub (token, store, normalize, lead score) against a bare
    /// axum handler inserting the same bodies into SQLite; checks p95 < 50 ms at 10k/minute.
    Ingest {
        /// Webhooks per measurement.
        #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u32).range(100..=1_000_000))]
        count: u32,
        /// Concurrent connections.
        #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
        concurrency: u32,
    },
    /// The lead scorer against a keyword baseline: quality on the labelled set (dev, test,
    /// held-out) and messages per second beside a raw lowercasing floor.
    Leads {
        /// Times the speed test scores the whole labelled set.
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        rounds: u32,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum WaitFor {
    Sent,
    Delivered,
    Read,
}

impl WaitFor {
    pub fn as_str(self) -> &'static str {
        match self {
            WaitFor::Sent => "sent",
            WaitFor::Delivered => "delivered",
            WaitFor::Read => "read",
        }
    }
}
