//! `omega`: the one binary. CLI parsing, passphrase prompts, signals and logging live here; the
//! node itself is `omega-core`.

mod audit_verify;
mod backup;
mod bench;
mod bench_files;
mod bench_group;
mod bench_hub;
mod bench_ingest;
mod bench_leads;
mod bench_mailbox;
mod bench_peers;
mod chat;
mod cli;
mod client;
mod commands;
mod demo;
mod files;
mod group;
mod hub;
mod open;
mod server;
mod up;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

/// Exit codes (documented in README.md).
pub mod exit {
    /// Something failed; the message says what.
    pub const FAILURE: u8 = 1;
    /// Bad usage (clap's own code).
    pub const USAGE: u8 = 2;
    /// The command needs a running node and none runs for this data directory.
    pub const NO_NODE: u8 = 3;
    /// The passphrase does not open the keystore.
    pub const WRONG_PASSPHRASE: u8 = 4;
    /// `send --wait` gave up before the message reached the wanted status.
    pub const WAIT_TIMEOUT: u8 = 5;
}

/// An error with a chosen exit code.
#[derive(Debug)]
pub struct Exit {
    pub code: u8,
    pub message: String,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    init_logging(&args);
    match commands::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if let Some(io) = error.downcast_ref::<std::io::Error>()
                && io.kind() == std::io::ErrorKind::BrokenPipe
            {
                return ExitCode::SUCCESS;
            }
            let code = error
                .downcast_ref::<Exit>()
                .map_or(exit::FAILURE, |exit| exit.code);
            let mut stderr = std::io::stderr().lock();
            let _ = write!(stderr, "omega: {error}");
            for cause in error.chain().skip(1) {
                let _ = write!(stderr, ": {cause}");
            }
            let _ = writeln!(stderr);
            ExitCode::from(code)
        }
    }
}

fn init_logging(args: &cli::Cli) {
    // The hub logs one JSON line per request (with its request id) at info by default.
    let hub = matches!(&args.command, cli::Command::Hub(hub) if hub.command.is_none());
    let default_filter = if hub {
        "warn,omega_hub=info"
    } else {
        "warn,libp2p_kad=error"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("OMEGA_LOG")
        // libp2p-kad warns on every bootstrap attempt of a lone server; that is not news.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if args.log_json || hub {
        builder.json().init();
    } else {
        builder.init();
    }
}
