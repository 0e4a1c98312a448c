//! The QR endpoints of the node's API, over real HTTP against real node processes:
//! `GET /v1/id/qr.svg` (our card as an SVG QR code) and `POST /v1/contacts/scan` (the card in a
//! PNG or JPEG picture of a QR code). The pictures are drawn here, from the card's QR matrix
//! (`omega_crypto::CardQr`, what the SVG is drawn from) or from the SVG the node serves.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use image::{GrayImage, ImageEncoder, Luma};
use omega_crypto::ContactCard;
use serde_json::{Value, json};

const PASSPHRASE: &str = "qr test passphrase";

struct Running {
    child: Child,
    url: String,
    token: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn omega(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_omega"));
    command
        .arg("--data-dir")
        .arg(dir)
        .env("OMEGA_PASSPHRASE", PASSPHRASE)
        .env_remove("BROWSER")
        .stdin(Stdio::null());
    command
}

fn start(dir: &Path, name: &str) -> Running {
    let status = omega(dir)
        .args(["init", "--name", name])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let mut child = omega(dir)
        .args([
            "--json",
            "node",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--no-mdns",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let api: Value = serde_json::from_slice(&std::fs::read(dir.join("api.json")).unwrap()).unwrap();
    Running {
        child,
        url: api["url"].as_str().unwrap().to_owned(),
        token: api["token"].as_str().unwrap().to_owned(),
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// `GET path` with the token: status, content type, body.
fn get(node: &Running, path: &str) -> (u16, String, Vec<u8>) {
    let mut response = agent()
        .get(format!("{}{path}", node.url))
        .header("Authorization", format!("Bearer {}", node.token))
        .call()
        .unwrap();
    let content_type = response
        .headers()
        .get("content-type")
        .map_or("", |value| value.to_str().unwrap())
        .to_owned();
    let mut body = Vec::new();
    response
        .body_mut()
        .as_reader()
        .read_to_end(&mut body)
        .unwrap();
    (response.status().as_u16(), content_type, body)
}

/// `POST /v1/contacts/scan` with the token: status and JSON answer.
fn scan(node: &Running, content_type: &str, picture: &[u8]) -> (u16, Value) {
    let mut response = agent()
        .post(format!("{}/v1/contacts/scan", node.url))
        .header("Authorization", format!("Bearer {}", node.token))
        .header("Content-Type", content_type)
        .send(picture)
        .unwrap();
    let body: Value = response.body_mut().read_json().unwrap_or(Value::Null);
    (response.status().as_u16(), body)
}

fn assert_error(answer: &(u16, Value), status: u16, code: &str) {
    assert_eq!(answer.0, status, "{answer:?}");
    assert_eq!(answer.1["error"]["code"], code, "{answer:?}");
    assert!(answer.1["error"]["message"].is_string(), "{answer:?}");
}

/// A module grid (`dark(x, y)`, `width` modules a side, quiet zone included) as a PNG with
/// `scale` pixels per module.
fn grid_png(width: usize, scale: u32, dark: impl Fn(usize, usize) -> bool) -> Vec<u8> {
    let side = width as u32 * scale;
    let picture = GrayImage::from_fn(side, side, |x, y| {
        let dark = dark((x / scale) as usize, (y / scale) as usize);
        Luma([if dark { 0 } else { 255 }])
    });
    encode_png(&picture)
}

fn encode_png(picture: &GrayImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new(&mut bytes)
        .write_image(
            picture.as_raw(),
            picture.width(),
            picture.height(),
            image::ExtendedColorType::L8,
        )
        .unwrap();
    bytes
}

/// A card's QR code as a PNG, drawn from the matrix the node's SVG is drawn from.
fn card_png(card: &str) -> Vec<u8> {
    let qr = ContactCard::parse_uri(card).unwrap().to_qr().unwrap();
    let quiet = omega_crypto::CardQr::QUIET_ZONE;
    grid_png(qr.width() + 2 * quiet, 4, |x, y| {
        x >= quiet && y >= quiet && qr.is_dark(x - quiet, y - quiet)
    })
}

/// Reads back the module grid of an SVG served by `/v1/id/qr.svg` (a `viewBox` of one unit per
/// module and one path of `M{x} {y}h{n}v1h-{n}z` runs) and draws it as a PNG.
fn svg_png(svg: &str) -> Vec<u8> {
    let size: usize = svg
        .split("viewBox=\"0 0 ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    let path = svg
        .split(" d=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let mut dark = vec![false; size * size];
    for run in path.split('M').filter(|run| !run.is_empty()) {
        let (x, rest) = run.split_once(' ').unwrap();
        let (y, rest) = rest.split_once('h').unwrap();
        let length = rest.split_once('v').unwrap().0;
        let (x, y, length): (usize, usize, usize) = (
            x.parse().unwrap(),
            y.parse().unwrap(),
            length.parse().unwrap(),
        );
        for column in x..x + length {
            dark[y * size + column] = true;
        }
    }
    grid_png(size, 4, |x, y| dark[y * size + x])
}

fn card_of(dir: &Path) -> String {
    let output = omega(dir).args(["id", "--card"]).output().unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[test]
fn my_card_is_served_as_an_svg_qr_code_that_scans_back_to_it() {
    let root = tempfile::tempdir().unwrap();
    let alice = start(&root.path().join("alice"), "Alice");
    let bob = start(&root.path().join("bob"), "Bob");

    let (status, content_type, body) = get(&alice, "/v1/id/qr.svg");
    assert_eq!(status, 200);
    assert_eq!(content_type, "image/svg+xml");
    let svg = String::from_utf8(body).unwrap();
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.contains("<path d=\"M") && svg.contains("<rect "));
    assert!(!svg.contains("<script"));

    // Bob's node reads the SVG's modules back as Alice's card.
    let (status, body) = scan(&bob, "image/png", &svg_png(&svg));
    assert_eq!(status, 200, "{body}");
    let card = ContactCard::parse_uri(body["card"].as_str().unwrap()).unwrap();
    let (_, _, id) = get(&alice, "/v1/id");
    let id: Value = serde_json::from_slice(&id).unwrap();
    assert_eq!(card.user().user_id(), id["user_id"].as_str().unwrap());
    assert_eq!(card.name, "Alice");

    // Alice's own node says it is her own card.
    assert_error(&scan(&alice, "image/png", &svg_png(&svg)), 400, "own_card");

    // Without a token or session: 401, like every /v1 endpoint.
    let response = agent()
        .get(format!("{}/v1/id/qr.svg", alice.url))
        .call()
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
}

#[test]
fn a_scanned_card_is_returned_not_added() {
    let root = tempfile::tempdir().unwrap();
    let alice = start(&root.path().join("alice"), "Alice");
    let carol_dir = root.path().join("carol");
    let status = omega(&carol_dir)
        .args(["init", "--name", "Carol"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let carol = card_of(&carol_dir);

    let (status, body) = scan(&alice, "image/png", &card_png(&carol));
    assert_eq!(status, 200, "{body}");
    let carol_id = ContactCard::parse_uri(&carol).unwrap().user().user_id();
    assert_eq!(
        body,
        json!({ "card": carol, "name": "Carol", "user_id": carol_id })
    );
    // As a JPEG too, and with a charset-like parameter on the media type.
    let picture = image::load_from_memory(&card_png(&carol)).unwrap();
    let mut jpeg = Vec::new();
    picture
        .to_luma8()
        .write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
            &mut jpeg, 85,
        ))
        .unwrap();
    let (status, body) = scan(&alice, "image/jpeg; q=1", &jpeg);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["card"], carol);

    let (_, _, contacts) = get(&alice, "/v1/contacts");
    assert_eq!(
        serde_json::from_slice::<Value>(&contacts).unwrap(),
        json!([])
    );

    // Added (with the alias "scan"), she is still found at GET /v1/contacts/scan.
    let added = agent()
        .post(format!("{}/v1/contacts", alice.url))
        .header("Authorization", format!("Bearer {}", alice.token))
        .send_json(json!({ "card": carol, "alias": "scan" }))
        .unwrap();
    assert_eq!(added.status().as_u16(), 201);
    let (status, _, contact) = get(&alice, "/v1/contacts/scan");
    assert_eq!(status, 200);
    let contact: Value = serde_json::from_slice(&contact).unwrap();
    assert_eq!(contact["user_id"], carol_id);
}

/// A PNG claiming `width` × `height` grey pixels, with an empty IDAT chunk behind its header.
fn png_header(width: u32, height: u32) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for byte in bytes {
            crc ^= u32::from(*byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [
        (&b"IHDR"[..], {
            let mut data = width.to_be_bytes().to_vec();
            data.extend(height.to_be_bytes());
            data.extend([8, 0, 0, 0, 0]);
            data
        }),
        (&b"IDAT"[..], Vec::new()),
    ] {
        let mut chunk = kind.to_vec();
        chunk.extend(&data);
        bytes.extend((data.len() as u32).to_be_bytes());
        bytes.extend(&chunk);
        bytes.extend(crc32(&chunk).to_be_bytes());
    }
    bytes
}

#[test]
fn pictures_without_a_card_get_clear_errors() {
    let root = tempfile::tempdir().unwrap();
    let alice = start(&root.path().join("alice"), "Alice");

    let url = qrcode::QrCode::new(b"https://example.com/omega").unwrap();
    let colors = url.to_colors();
    let width = url.width();
    let url_png = grid_png(width + 8, 4, |x, y| {
        (4..width + 4).contains(&x)
            && (4..width + 4).contains(&y)
            && colors[(y - 4) * width + (x - 4)] == qrcode::Color::Dark
    });
    assert_error(&scan(&alice, "image/png", &url_png), 422, "not_a_card");

    let blank = encode_png(&GrayImage::from_pixel(400, 300, Luma([255])));
    assert_error(&scan(&alice, "image/png", &blank), 422, "no_qr_code");

    assert_error(
        &scan(&alice, "image/png", b"\x89PNG but not really an image"),
        400,
        "invalid_image",
    );
    assert_error(
        &scan(&alice, "image/jpeg", &[0xAB; 4096]),
        400,
        "invalid_image",
    );
    assert_error(
        &scan(&alice, "application/json", b"{}"),
        415,
        "unsupported_media_type",
    );

    // A header claiming 60000 × 60000 pixels is refused from the header, without allocating.
    let started = Instant::now();
    assert_error(
        &scan(&alice, "image/png", &png_header(60_000, 60_000)),
        413,
        "image_too_large",
    );
    assert!(started.elapsed() < Duration::from_secs(5));

    // Just under the body limit is read (and is no picture) ...
    let mut almost = b"\x89PNG\r\n\x1a\n".to_vec();
    almost.resize(8 * 1024 * 1024, 0);
    assert_error(&scan(&alice, "image/png", &almost), 400, "invalid_image");
}

#[test]
fn a_picture_over_8_mib_is_refused_before_it_is_read() {
    let root = tempfile::tempdir().unwrap();
    let alice = start(&root.path().join("alice"), "Alice");
    let nine_mib = 9 * 1024 * 1024;

    // Declared too long: the answer comes before any of the body is sent.
    let address = alice.url.strip_prefix("http://").unwrap();
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "POST /v1/contacts/scan HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: image/png\r\nContent-Length: {nine_mib}\r\nExpect: 100-continue\r\n\r\n",
        alice.token
    )
    .unwrap();
    let mut answer = vec![0; 4096];
    let read = stream.read(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    assert!(answer.contains("image_too_large"), "{answer}");

    // Sent in chunks with no length: cut off at the limit.
    let chunked = std::iter::repeat_n(vec![0u8; 1024 * 1024], 9);
    let mut response = agent()
        .post(format!("{}/v1/contacts/scan", alice.url))
        .header("Authorization", format!("Bearer {}", alice.token))
        .header("Content-Type", "image/png")
        .send(ureq::SendBody::from_owned_reader(std::io::Cursor::new(
            chunked.flatten().collect::<Vec<u8>>(),
        )));
    // The node may close the connection while the rest is still being sent; when the answer
    // arrives, it is 413.
    if let Ok(response) = response.as_mut() {
        assert_eq!(response.status().as_u16(), 413);
        let body: Value = response.body_mut().read_json().unwrap();
        assert_eq!(body["error"]["code"], "image_too_large");
    }
}
