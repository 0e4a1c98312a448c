//! `omega send-file` and `omega fetch-file`: start the transfer through the local API, then
//! follow it (`GET /v1/transfers/{id}`) with a progress bar on a terminal.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use omega_core::{DataDir, TransferView};
use serde_json::json;

use crate::client::{Client, segment};
use crate::{Exit, exit};

/// How often the transfer is polled.
const POLL: Duration = Duration::from_millis(100);

/// `omega send-file TO PATH`.
pub fn send_file(data_dir: &DataDir, to: &str, path: &Path, json: bool) -> Result<()> {
    let path = std::path::absolute(path)
        .with_context(|| format!("cannot resolve the path {}", path.display()))?;
    let client = Client::connect(data_dir)?;
    let started: TransferView = client.post("/v1/files", &json!({ "to": to, "path": path }))?;
    let done = follow(&client, started, json, "Sending")?;
    if json {
        println!("{}", serde_json::to_string(&done)?);
    } else {
        println!(
            "Sent {} ({}) to {to}: message {}",
            done.name,
            omega_core::kinds::human_size(done.bytes_total),
            done.message_id.as_deref().unwrap_or("?"),
        );
        println!("  sha256 {}", done.sha256.as_deref().unwrap_or("?"));
    }
    Ok(())
}

/// `omega fetch-file MESSAGE_ID [--out PATH]`.
pub fn fetch_file(
    data_dir: &DataDir,
    message_id: &str,
    out: Option<&PathBuf>,
    json: bool,
) -> Result<()> {
    let out = match out {
        Some(out) => std::path::absolute(out)
            .with_context(|| format!("cannot resolve the path {}", out.display()))?,
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    let client = Client::connect(data_dir)?;
    let started: TransferView = client.post(
        &format!("/v1/files/{}/fetch", segment(message_id)),
        &json!({ "out": out }),
    )?;
    let done = follow(&client, started, json, "Fetching")?;
    if json {
        println!("{}", serde_json::to_string(&done)?);
    } else {
        let resumed = if done.resumed_bytes > 0 {
            format!(
                ", resumed after {}",
                omega_core::kinds::human_size(done.resumed_bytes)
            )
        } else {
            String::new()
        };
        println!(
            "Fetched {} ({}{resumed}) to {}",
            done.name,
            omega_core::kinds::human_size(done.bytes_total),
            done.path.as_deref().unwrap_or("?"),
        );
        println!(
            "  sha256 {} verified",
            done.sha256.as_deref().unwrap_or("?")
        );
        if done.corrupt_chunks > 0 {
            println!(
                "  {} damaged chunk(s) were detected and fetched again",
                done.corrupt_chunks
            );
        }
    }
    Ok(())
}

/// Polls the transfer until it ends: a bar on a terminal, a line every 10 % on a pipe (nothing
/// with `--json`). Fails with the transfer's error.
fn follow(client: &Client, started: TransferView, json: bool, verb: &str) -> Result<TransferView> {
    let path = format!("/v1/transfers/{}", segment(&started.id));
    let bar = (!json && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(started.bytes_total);
        bar.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message(format!("{verb} {}", started.name));
        bar
    });
    let mut last_tenth = 0;
    loop {
        let view: TransferView = client.get(&path)?;
        if let Some(bar) = &bar {
            bar.set_position(view.bytes_done);
        } else if !json && view.bytes_total > 0 {
            let tenth = view.bytes_done.saturating_mul(10) / view.bytes_total;
            if tenth > last_tenth && view.state == "running" {
                last_tenth = tenth;
                eprintln!(
                    "{verb} {}: {} of {} bytes",
                    view.name, view.bytes_done, view.bytes_total
                );
            }
        }
        match view.state.as_str() {
            "running" => std::thread::sleep(POLL),
            "done" => {
                if let Some(bar) = bar {
                    bar.finish_and_clear();
                }
                return Ok(view);
            }
            _ => {
                if let Some(bar) = bar {
                    bar.abandon();
                }
                return Err(Exit {
                    code: exit::FAILURE,
                    message: view
                        .error
                        .unwrap_or_else(|| "the transfer failed".to_owned()),
                }
                .into());
            }
        }
    }
}
