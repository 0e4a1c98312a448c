//! The fakes driven over real HTTP with a blocking `ureq` client on the blocking pool.

mod cloud_api;
mod evolution;
mod telegram;
mod wppconnect;

use std::io::Read;
use std::time::Duration;

use serde_json::{Value, json};

use super::*;

const WPP_TOKEN: &str = "$2b$10$FAKEFAKEFAKEFAKEFAKEFuFAKEFAKEFAKEFAKEFAKEFAKE.FAKEFAKE";
const BOT_TOKEN: &str = "000000000:FAKE_BOT_TOKEN_FAKE_FAKE_FAKE";

#[derive(Debug)]
struct Answer {
    status: u16,
    /// The JSON body, or the text as a JSON string when it is not JSON.
    body: Value,
}

async fn try_call(
    timeout: Duration,
    method: &str,
    url: String,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Result<Answer, ureq::Error> {
    let method = method.to_owned();
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    let body = body.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build()
            .into();
        let mut request = ureq::http::Request::builder()
            .method(method.as_str())
            .uri(&url);
        for (name, value) in &headers {
            request = request.header(name, value);
        }
        let mut response = match body {
            Some(body) => agent.run(
                request
                    .header("Content-Type", "application/json")
                    .body(body)
                    .unwrap(),
            )?,
            None => agent.run(request.body(()).unwrap())?,
        };
        let mut text = String::new();
        response
            .body_mut()
            .as_reader()
            .read_to_string(&mut text)
            .unwrap();
        Ok(Answer {
            status: response.status().as_u16(),
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        })
    })
    .await
    .unwrap()
}

async fn call(method: &str, url: String, headers: &[(&str, &str)], body: Option<Value>) -> Answer {
    let body = body.map(|body| body.to_string());
    try_call(
        Duration::from_secs(10),
        method,
        url,
        headers,
        body.as_deref(),
    )
    .await
    .unwrap()
}

async fn wppconnect() -> FakeSource {
    FakeSource::start(FakeKind::WppConnect {
        session: "NERDWHATS_AMERICA".to_owned(),
        token: WPP_TOKEN.to_owned(),
    })
    .await
}

/// Calls `/api/NERDWHATS_AMERICA/{endpoint}` with the right token.
async fn evolution() -> FakeSource {
    FakeSource::start(FakeKind::Evolution {
        instance: "loja-centro".to_owned(),
        apikey: "FAKE-API-KEY".to_owned(),
    })
    .await
}

async fn telegram() -> FakeSource {
    FakeSource::start(FakeKind::Telegram {
        bot_token: BOT_TOKEN.to_owned(),
    })
    .await
}

#[tokio::test]
async fn garbage_bodies_are_400_for_every_source() {
    let garbage = "{not json";
    let wpp_fake = wppconnect().await;
    let evo_fake = evolution().await;
    let cloud = FakeSource::start(FakeKind::CloudApi {
        phone_number_id: "106540352242922".to_owned(),
        access_token: "FAKE_SYSTEM_USER_TOKEN".to_owned(),
    })
    .await;
    let bot = FakeSource::start(FakeKind::Telegram {
        bot_token: BOT_TOKEN.to_owned(),
    })
    .await;
    let wpp_bearer = format!("Bearer {WPP_TOKEN}");
    let cases = [
        (
            format!("{}/api/NERDWHATS_AMERICA/send-message", wpp_fake.base_url()),
            ("Authorization", wpp_bearer.as_str()),
        ),
        (
            format!("{}/message/sendText/loja-centro", evo_fake.base_url()),
            ("apikey", "FAKE-API-KEY"),
        ),
        (
            format!("{}/106540352242922/messages", cloud.base_url()),
            ("Authorization", "Bearer FAKE_SYSTEM_USER_TOKEN"),
        ),
        (
            format!("{}/bot{BOT_TOKEN}/sendMessage", bot.base_url()),
            ("X-Unused", "-"),
        ),
    ];
    for (url, header) in cases {
        let answer = try_call(
            Duration::from_secs(10),
            "POST",
            url.clone(),
            &[header],
            Some(garbage),
        )
        .await
        .unwrap();
        assert_eq!(answer.status, 400, "{url}: {answer:?}");
    }
    for fake in [&wpp_fake, &evo_fake, &cloud, &bot] {
        assert!(fake.sent().is_empty());
    }
}

#[tokio::test]
async fn delayed_answer_times_out_the_caller_but_the_send_is_delivered() {
    let fake = telegram().await;
    fake.set_delay(Duration::from_secs(5));
    let url = format!("{}/bot{BOT_TOKEN}/sendMessage", fake.base_url());
    let body = json!({ "chat_id": 111111111, "text": "Oi" }).to_string();
    let outcome = try_call(Duration::from_millis(200), "POST", url, &[], Some(&body)).await;
    assert!(outcome.is_err(), "{outcome:?}");
    assert_eq!(fake.sent().len(), 1);
}

#[tokio::test]
async fn stopped_fake_refuses_new_calls() {
    let fake = telegram().await;
    let url = format!("{}/bot{BOT_TOKEN}/setWebhook", fake.base_url());
    let body = json!({ "url": "https://inbox.example.test/hooks/telegram/1" });
    let answer = call("POST", url.clone(), &[], Some(body.clone())).await;
    assert_eq!(answer.body["description"], "Webhook was set");
    fake.stop().await;
    let body = body.to_string();
    let outcome = try_call(Duration::from_secs(10), "POST", url, &[], Some(&body)).await;
    assert!(outcome.is_err(), "{outcome:?}");
}

#[tokio::test]
async fn stopping_cuts_kept_alive_connections() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let fake = telegram().await;
    let address = fake.base_url().trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let body = r#"{"chat_id":111111111,"text":"Oi"}"#;
    let request = format!(
        "POST /bot{BOT_TOKEN}/sendMessage HTTP/1.1\r\nHost: {address}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    while !answer.ends_with(b"}}") {
        let mut buffer = [0; 4096];
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer));
        let n = read.await.unwrap().unwrap();
        assert!(n > 0, "connection closed early");
        answer.extend_from_slice(&buffer[..n]);
    }
    assert!(answer.starts_with(b"HTTP/1.1 200"));
    assert_eq!(fake.sent().len(), 1);

    fake.stop().await;
    // The write may or may not reach the socket; the answer must never come.
    let _ = stream.write_all(request.as_bytes()).await;
    let mut buffer = [0; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer));
    match read.await.unwrap() {
        Ok(0) | Err(_) => {}
        Ok(n) => panic!(
            "a stopped fake answered: {}",
            String::from_utf8_lossy(&buffer[..n])
        ),
    }
}

#[test]
fn qr_code_changes_on_every_reset_and_is_offered_only_while_waiting_for_a_scan() {
    let mut state = State::default();
    assert_eq!(state.qr_code(), None);
    state.enter(FakeSession::Qr);
    let first = state.qr_code().unwrap();
    state.enter(FakeSession::Qr);
    let second = state.qr_code().unwrap();
    assert_eq!(
        (first.as_str(), second.as_str()),
        ("2@FAKE-QR-1", "2@FAKE-QR-2")
    );
    state.enter(FakeSession::Connected);
    assert_eq!(state.qr_code(), None);
}
