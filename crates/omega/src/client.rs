//! A small client of the node's local API (loopback HTTP + bearer token from `api.json`).

use std::time::Duration;

use anyhow::{Context, Result};
use omega_core::DataDir;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{Exit, exit};

pub struct Client {
    agent: ureq::Agent,
    base: String,
    token: String,
}

impl Client {
    /// Connects to the node running on `data_dir`, or explains that none runs.
    pub fn connect(data_dir: &DataDir) -> Result<Client> {
        let no_node = || Exit {
            code: exit::NO_NODE,
            message: format!(
                "no node is running for {} (start one with `omega node` or `omega up`)",
                data_dir.root().display()
            ),
        };
        let api = data_dir.read_api().ok_or_else(no_node)?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(600)))
            .build()
            .into();
        let client = Client {
            agent,
            base: api.url,
            token: api.token,
        };
        // A stale api.json (the node was killed) must read as "no node", not as a network error.
        match client
            .agent
            .get(format!("{}/v1/health", client.base))
            .call()
        {
            Ok(response) if response.status().is_success() => Ok(client),
            _ => Err(no_node().into()),
        }
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let response = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Authorization", &format!("Bearer {}", self.token))
            .call()
            .context("the node did not answer")?;
        decode(response)
    }

    pub fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T> {
        let response = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Authorization", &format!("Bearer {}", self.token))
            .send_json(body)
            .context("the node did not answer")?;
        decode(response)
    }

    pub fn put<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T> {
        let response = self
            .agent
            .put(format!("{}{path}", self.base))
            .header("Authorization", &format!("Bearer {}", self.token))
            .send_json(body)
            .context("the node did not answer")?;
        decode(response)
    }

    pub fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let response = self
            .agent
            .delete(format!("{}{path}", self.base))
            .header("Authorization", &format!("Bearer {}", self.token))
            .call()
            .context("the node did not answer")?;
        decode(response)
    }
}

fn decode<T: DeserializeOwned>(mut response: ureq::http::Response<ureq::Body>) -> Result<T> {
    let status = response.status();
    let body: Value = response
        .body_mut()
        .read_json()
        .context("the node sent an unreadable answer")?;
    if status.is_success() {
        return serde_json::from_value(body).context("the node sent an unexpected answer");
    }
    let message = body
        .pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or("request failed")
        .to_owned();
    Err(Exit {
        code: exit::FAILURE,
        message,
    }
    .into())
}

/// Percent-encodes a path segment.
pub fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
