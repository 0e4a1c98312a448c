//! Contact cards: the `omega:` URI (and its QR code) that carries everything needed to reach and
//! trust a user.

use data_encoding::BASE32_NOPAD;
use prost::Message;
use qrcode::render::unicode::Dense1x2;
use qrcode::{Color, EcLevel, QrCode};

use omega_proto::v1;

use crate::device_list::{DeviceListError, VerifiedDeviceList, verify_device_list};
use crate::identity::UserKey;

/// URI scheme prefix of contact cards (matched case-insensitively).
pub const CARD_URI_PREFIX: &str = "omega:";
/// Longest display name a card may carry, in characters.
pub const MAX_CARD_NAME_CHARS: usize = 64;
/// Most addresses (and, separately, mailboxes) a card may carry.
pub const MAX_CARD_ADDRS: usize = 16;
/// Largest encoded card accepted (matches `omega_proto::decode_contact_card`).
const MAX_CARD_BYTES: usize = 16 * 1024;

/// Why a string is not a valid contact card URI.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CardError {
    /// The string does not start with `omega:`.
    #[error("contact card uri must start with \"omega:\"")]
    MissingPrefix,
    /// The string is longer than any valid card.
    #[error("contact card uri is {got} characters, more than the limit of {max}")]
    TooLong { max: usize, got: usize },
    /// The payload is not lowercase or uppercase base32 without padding.
    #[error("contact card payload is not base32: {reason}")]
    Base32 { reason: String },
    /// The payload is not a protobuf `ContactCard`.
    #[error("malformed contact card: {0}")]
    Malformed(#[from] omega_proto::DecodeError),
    /// The card carries no device list.
    #[error("contact card has no device list")]
    MissingDevices,
    /// The device list does not verify.
    #[error("contact card device list: {0}")]
    DeviceList(#[from] DeviceListError),
    /// The display name is too long.
    #[error("contact card name is {got} characters, more than the limit of {max}")]
    NameTooLong { max: usize, got: usize },
    /// Too many addresses.
    #[error("contact card has {got} addresses, more than the limit of {max}")]
    TooManyAddrs { max: usize, got: usize },
    /// Too many mailboxes.
    #[error("contact card has {got} mailboxes, more than the limit of {max}")]
    TooManyMailboxes { max: usize, got: usize },
}

/// Why a card could not be drawn as a QR code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QrError {
    /// The URI does not fit in the largest QR code.
    #[error("contact card uri is {got} characters, too long for a qr code")]
    TooLarge { got: usize },
}

/// A verified contact card.
#[derive(Clone, Debug)]
pub struct ContactCard {
    pub name: String,
    pub devices: VerifiedDeviceList,
    /// libp2p multiaddrs, each ending in `/p2p/<peer id>`.
    pub addrs: Vec<String>,
    /// Home mailbox servers (multiaddrs).
    pub mailboxes: Vec<String>,
}

impl ContactCard {
    /// The user this card introduces.
    pub fn user(&self) -> UserKey {
        self.devices.user
    }

    /// The wire form of this card.
    pub fn to_proto(&self) -> v1::ContactCard {
        v1::ContactCard {
            name: self.name.clone(),
            devices: Some(self.devices.signed.clone()),
            addrs: self.addrs.clone(),
            mailboxes: self.mailboxes.clone(),
        }
    }

    /// `omega:` followed by lowercase base32 (no padding) of the encoded `ContactCard`.
    pub fn to_uri(&self) -> String {
        let payload = BASE32_NOPAD
            .encode(&self.to_proto().encode_to_vec())
            .to_ascii_lowercase();
        format!("{CARD_URI_PREFIX}{payload}")
    }

    /// Parses and verifies an `omega:` URI: prefix in any case, surrounding whitespace ignored,
    /// payload in either case. The device list must verify under its own user key (whose user id
    /// the caller shows, or compares with one obtained another way).
    pub fn parse_uri(uri: &str) -> Result<Self, CardError> {
        let trimmed = uri.trim();
        let max = CARD_URI_PREFIX.len() + BASE32_NOPAD.encode_len(MAX_CARD_BYTES);
        if trimmed.len() > max {
            return Err(CardError::TooLong {
                max,
                got: trimmed.len(),
            });
        }
        let payload = match trimmed.get(..CARD_URI_PREFIX.len()) {
            Some(prefix) if prefix.eq_ignore_ascii_case(CARD_URI_PREFIX) => {
                &trimmed[CARD_URI_PREFIX.len()..]
            }
            _ => return Err(CardError::MissingPrefix),
        };
        let bytes = BASE32_NOPAD
            .decode(payload.to_ascii_uppercase().as_bytes())
            .map_err(|error| CardError::Base32 {
                reason: error.to_string(),
            })?;
        let card = omega_proto::decode_contact_card(&bytes)?;
        let name_chars = card.name.chars().count();
        if name_chars > MAX_CARD_NAME_CHARS {
            return Err(CardError::NameTooLong {
                max: MAX_CARD_NAME_CHARS,
                got: name_chars,
            });
        }
        if card.addrs.len() > MAX_CARD_ADDRS {
            return Err(CardError::TooManyAddrs {
                max: MAX_CARD_ADDRS,
                got: card.addrs.len(),
            });
        }
        if card.mailboxes.len() > MAX_CARD_ADDRS {
            return Err(CardError::TooManyMailboxes {
                max: MAX_CARD_ADDRS,
                got: card.mailboxes.len(),
            });
        }
        let signed = card.devices.ok_or(CardError::MissingDevices)?;
        let devices = verify_device_list(&signed, None)?;
        Ok(Self {
            name: card.name,
            devices,
            addrs: card.addrs,
            mailboxes: card.mailboxes,
        })
    }

    /// The card's QR code: the URI in upper case, so the code can use its compact alphanumeric
    /// mode ([`Self::parse_uri`] accepts either case), at error correction level M, or L when M
    /// does not fit. Every picture of a card (terminal, SVG) is drawn from this.
    pub fn to_qr(&self) -> Result<CardQr, QrError> {
        let uri = self.to_uri().to_ascii_uppercase();
        let code = QrCode::with_error_correction_level(uri.as_bytes(), EcLevel::M)
            .or_else(|_| QrCode::with_error_correction_level(uri.as_bytes(), EcLevel::L))
            .map_err(|_| QrError::TooLarge { got: uri.len() })?;
        Ok(CardQr { code })
    }

    /// The URI as a QR code drawn with Unicode half blocks, two modules per character cell, with a
    /// quiet zone, lines separated by `\n`.
    ///
    /// Colours are inverted for the usual dark terminal: light modules are drawn as blocks, dark
    /// modules as spaces.
    pub fn to_terminal_qr(&self) -> Result<String, QrError> {
        Ok(self.to_qr()?.to_terminal())
    }
}

/// Any URI whose payload is base32 (an `omega:` card, an `omega-link:` invite) as a QR code: the
/// text in upper case, for the compact alphanumeric mode, at level M, or L when M does not fit.
pub fn uri_qr(uri: &str) -> Result<CardQr, QrError> {
    let uri = uri.to_ascii_uppercase();
    let code = QrCode::with_error_correction_level(uri.as_bytes(), EcLevel::M)
        .or_else(|_| QrCode::with_error_correction_level(uri.as_bytes(), EcLevel::L))
        .map_err(|_| QrError::TooLarge { got: uri.len() })?;
    Ok(CardQr { code })
}

/// A contact card's QR code (from [`ContactCard::to_qr`]): a square of dark and light modules.
pub struct CardQr {
    code: QrCode,
}

impl CardQr {
    /// Light modules drawn around the code by [`Self::to_svg`], as the QR standard asks.
    pub const QUIET_ZONE: usize = 4;
    /// Pixels per module in the SVG's intrinsic size (it scales to any size without blurring).
    const SVG_PIXELS_PER_MODULE: usize = 6;

    /// Modules per side, without the quiet zone.
    pub fn width(&self) -> usize {
        self.code.width()
    }

    /// Drawn with Unicode half blocks (see [`ContactCard::to_terminal_qr`]).
    pub fn to_terminal(&self) -> String {
        self.code
            .render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build()
    }

    /// Whether the module at column `x`, row `y` (from the top left, without the quiet zone) is
    /// dark; anything outside the code is light.
    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        x < self.width() && y < self.width() && self.code[(x, y)] == Color::Dark
    }

    /// A standalone SVG image: a white square with the quiet zone, one black path of horizontal
    /// runs of dark modules, `shape-rendering="crispEdges"` so it stays sharp at any size, and an
    /// intrinsic size of a few pixels per module. Nothing in it is taken from the card as text.
    pub fn to_svg(&self) -> String {
        let width = self.width();
        let size = width + 2 * Self::QUIET_ZONE;
        let pixels = size * Self::SVG_PIXELS_PER_MODULE;
        let mut path = String::new();
        for y in 0..width {
            let mut x = 0;
            while x < width {
                if !self.is_dark(x, y) {
                    x += 1;
                    continue;
                }
                let run = (x..width).take_while(|&x| self.is_dark(x, y)).count();
                let (left, top) = (x + Self::QUIET_ZONE, y + Self::QUIET_ZONE);
                path.push_str(&format!("M{left} {top}h{run}v1h-{run}z"));
                x += run;
            }
        }
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{pixels}\" height=\"{pixels}\" \
             viewBox=\"0 0 {size} {size}\" shape-rendering=\"crispEdges\">\
             <rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/>\
             <path d=\"{path}\" fill=\"#000\"/></svg>"
        )
    }
}

impl std::fmt::Debug for CardQr {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("CardQr")
            .field("width", &self.width())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DeviceAccount, UserIdentity};
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn card_proto(identity: &UserIdentity) -> v1::ContactCard {
        let account = DeviceAccount::generate();
        let list = v1::DeviceList {
            user_key: identity.public_key().as_bytes().to_vec(),
            version: 1,
            devices: vec![account.device_info(vec![0, 36, 8, 1], "laptop")],
            created_ms: 5,
        };
        v1::ContactCard {
            name: "Alice".to_owned(),
            devices: Some(identity.sign_device_list(&list)),
            addrs: vec!["/ip4/192.0.2.1/tcp/4001/p2p/12D3KooW".to_owned()],
            mailboxes: vec![],
        }
    }

    fn uri_of(card: &v1::ContactCard) -> String {
        format!(
            "omega:{}",
            BASE32_NOPAD
                .encode(&card.encode_to_vec())
                .to_ascii_lowercase()
        )
    }

    fn identity() -> UserIdentity {
        UserIdentity::generate(&mut StdRng::seed_from_u64(42))
    }

    #[test]
    fn card_uri_round_trips() {
        let identity = identity();
        let card = ContactCard::parse_uri(&uri_of(&card_proto(&identity))).unwrap();
        assert_eq!(card.user(), identity.public_key());
        assert_eq!(card.name, "Alice");
        let uri = card.to_uri();
        assert!(uri.starts_with("omega:"));
        assert_eq!(uri, uri.to_ascii_lowercase());
        let again = ContactCard::parse_uri(&uri).unwrap();
        assert_eq!(again.to_uri(), uri);
        assert_eq!(again.addrs, card.addrs);
        assert_eq!(again.devices.hash(), card.devices.hash());
    }

    #[test]
    fn card_uri_accepts_any_case_and_surrounding_whitespace() {
        let uri = uri_of(&card_proto(&identity()));
        for variant in [
            uri.to_ascii_uppercase(),
            format!("  {uri}\n"),
            format!("OmEgA:{}", &uri[6..]),
        ] {
            ContactCard::parse_uri(&variant).unwrap();
        }
    }

    #[test]
    fn garbage_uris_give_each_error_kind() {
        let identity = identity();
        assert!(matches!(
            ContactCard::parse_uri("https://example.com"),
            Err(CardError::MissingPrefix)
        ));
        assert!(matches!(
            ContactCard::parse_uri("omeg"),
            Err(CardError::MissingPrefix)
        ));
        assert!(matches!(
            ContactCard::parse_uri("omé"),
            Err(CardError::MissingPrefix)
        ));
        assert!(matches!(
            ContactCard::parse_uri("omega:not base32!"),
            Err(CardError::Base32 { .. })
        ));
        assert!(matches!(
            ContactCard::parse_uri(&format!("omega:{}", "a".repeat(40_000))),
            Err(CardError::TooLong { .. })
        ));
        let garbage = BASE32_NOPAD.encode(&[0xff; 10]);
        assert!(matches!(
            ContactCard::parse_uri(&format!("omega:{garbage}")),
            Err(CardError::Malformed(_))
        ));

        let mut card = card_proto(&identity);
        card.devices = None;
        assert!(matches!(
            ContactCard::parse_uri(&uri_of(&card)),
            Err(CardError::MissingDevices)
        ));

        let mut card = card_proto(&identity);
        if let Some(devices) = card.devices.as_mut() {
            devices.signature[0] ^= 1;
        }
        assert!(matches!(
            ContactCard::parse_uri(&uri_of(&card)),
            Err(CardError::DeviceList(_))
        ));

        let mut card = card_proto(&identity);
        card.name = "é".repeat(65);
        assert!(matches!(
            ContactCard::parse_uri(&uri_of(&card)),
            Err(CardError::NameTooLong { max: 64, got: 65 })
        ));
        card.name = "é".repeat(64);
        ContactCard::parse_uri(&uri_of(&card)).unwrap();

        let mut card = card_proto(&identity);
        card.addrs = vec!["/ip4/192.0.2.1/tcp/1".to_owned(); 17];
        assert!(matches!(
            ContactCard::parse_uri(&uri_of(&card)),
            Err(CardError::TooManyAddrs { max: 16, got: 17 })
        ));

        let mut card = card_proto(&identity);
        card.mailboxes = vec!["/ip4/192.0.2.1/tcp/1".to_owned(); 17];
        assert!(matches!(
            ContactCard::parse_uri(&uri_of(&card)),
            Err(CardError::TooManyMailboxes { max: 16, got: 17 })
        ));
    }

    #[test]
    fn terminal_qr_is_drawn_with_half_blocks() {
        let card = ContactCard::parse_uri(&uri_of(&card_proto(&identity()))).unwrap();
        let qr = card.to_terminal_qr().unwrap();
        let lines: Vec<&str> = qr.lines().collect();
        assert!(lines.len() > 10);
        let width = lines[0].chars().count();
        assert!(lines.iter().all(|line| line.chars().count() == width));
        assert!(
            qr.chars()
                .all(|c| matches!(c, ' ' | '\u{2580}' | '\u{2584}' | '\u{2588}' | '\n'))
        );
        // Two modules per character cell vertically: about half as many lines as columns.
        assert!(lines.len() * 2 >= width && lines.len() * 2 <= width + 2);
    }

    #[test]
    fn svg_qr_draws_exactly_the_dark_modules_inside_the_quiet_zone() {
        let card = ContactCard::parse_uri(&uri_of(&card_proto(&identity()))).unwrap();
        let qr = card.to_qr().unwrap();
        let svg = qr.to_svg();
        let size = qr.width() + 2 * CardQr::QUIET_ZONE;
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.contains(&format!("viewBox=\"0 0 {size} {size}\"")));
        // Replay the path's runs onto a grid and compare it with the code, module by module.
        let path = svg
            .split(" d=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let mut drawn = vec![false; size * size];
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
                assert!(!drawn[y * size + column], "module drawn twice");
                drawn[y * size + column] = true;
            }
        }
        for y in 0..size {
            for x in 0..size {
                let dark = x >= CardQr::QUIET_ZONE
                    && y >= CardQr::QUIET_ZONE
                    && qr.is_dark(x - CardQr::QUIET_ZONE, y - CardQr::QUIET_ZONE);
                assert_eq!(drawn[y * size + x], dark, "module ({x}, {y})");
            }
        }
        assert!(!qr.is_dark(qr.width(), 0));
        assert!(!svg.contains("omega") && !svg.contains("OMEGA") && !svg.contains("<script"));
    }

    #[test]
    fn an_oversized_card_is_a_qr_error_not_a_panic() {
        let mut card = ContactCard::parse_uri(&uri_of(&card_proto(&identity()))).unwrap();
        card.addrs = vec!["x".repeat(1000); 16];
        assert!(matches!(
            card.to_terminal_qr(),
            Err(QrError::TooLarge { .. })
        ));
        assert!(matches!(card.to_qr(), Err(QrError::TooLarge { .. })));
    }

    proptest! {
        #[test]
        fn parse_uri_never_panics_on_arbitrary_strings(input in ".*") {
            let _ = ContactCard::parse_uri(&input);
        }

        #[test]
        fn parse_uri_never_panics_on_base32_payloads(payload in "[a-zA-Z2-7]{0,400}") {
            let _ = ContactCard::parse_uri(&format!("omega:{payload}"));
        }

        #[test]
        fn parse_uri_never_panics_on_arbitrary_encoded_bytes(
            bytes in prop::collection::vec(any::<u8>(), 0..600)
        ) {
            let _ = ContactCard::parse_uri(&format!("omega:{}", BASE32_NOPAD.encode(&bytes)));
        }
    }
}
