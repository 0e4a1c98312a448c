//! `omega open`: a one-time login link to the running node's web chat, opened with `$BROWSER`.
//!
//! The link carries a code the node hands out only to the API token (`POST /v1/web/login-codes`);
//! the browser trades it for a session cookie, so the token itself never reaches the browser.

use std::process::{Command, Stdio};

use anyhow::Result;
use omega_core::DataDir;
use serde::Deserialize;
use serde_json::json;

use crate::client::Client;

#[derive(Deserialize)]
struct LoginCode {
    url: String,
    expires_in_s: Option<u64>,
}

pub fn run(data_dir: &DataDir, json: bool) -> Result<()> {
    let client = Client::connect(data_dir)?;
    let code: LoginCode = client.post("/v1/web/login-codes", &json!({}))?;
    if json {
        println!("{}", json!({"url": code.url}));
    } else {
        let seconds = code.expires_in_s.unwrap_or(120);
        println!("Open this link in your browser (it works once, within {seconds} s):");
        println!("  {}", code.url);
    }
    if let Some(browser) = std::env::var_os("BROWSER").filter(|value| !value.is_empty()) {
        let browser = browser.to_string_lossy().into_owned();
        if !launch(&browser, &code.url) {
            eprintln!("omega: could not start $BROWSER ({browser}); open the link yourself");
        }
    }
    Ok(())
}

/// Tries each command of a `$BROWSER` list (`:`-separated; `%s` stands for the URL, else it is
/// appended). True once one started; the browser is not waited for.
fn launch(browser: &str, url: &str) -> bool {
    browser_commands(browser, url).into_iter().any(|argv| {
        let Some((program, args)) = argv.split_first() else {
            return false;
        };
        Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .is_ok()
    })
}

fn browser_commands(browser: &str, url: &str) -> Vec<Vec<String>> {
    browser
        .split(':')
        .map(str::trim)
        .filter(|command| !command.is_empty())
        .map(|command| {
            let mut argv: Vec<String> = command
                .split_whitespace()
                .map(|word| word.replace("%s", url).replace("%%", "%"))
                .collect();
            if !command.contains("%s") {
                argv.push(url.to_owned());
            }
            argv
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::browser_commands;

    #[test]
    fn browser_lists_substitute_or_append_the_url() {
        assert_eq!(
            browser_commands("firefox --new-tab:chromium %s", "U"),
            [vec!["firefox", "--new-tab", "U"], vec!["chromium", "U"]]
        );
        assert!(browser_commands(" : ", "U").is_empty());
    }
}
