//! Opaque bearer secrets: refresh tokens and API keys.
//!
//! Both carry 256 random bits in lowercase RFC 4648 base32 without padding, behind a prefix
//! that says what they are (`omr_`, `omk_`) so secret scanners and people can recognise them.
//! The hub stores only [`token_hash`] of the full string (SHA-256 suffices for 256-bit random
//! secrets) and compares hashes with [`ct_eq`].
//!
//! Formats:
//! - refresh token: `omr_` + 52 base32 characters;
//! - API key: `omk_<10-character public id>_<52-character secret>`; the id
//!   (`omk_` + 10 characters) is not secret and is what the hub indexes and shows.

use data_encoding::BASE32_NOPAD;
use rand::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Prefix of refresh tokens.
pub const REFRESH_PREFIX: &str = "omr_";
/// Prefix of API keys and their ids.
pub const API_KEY_PREFIX: &str = "omk_";
/// Random bytes in a refresh token or API key secret.
const SECRET_BYTES: usize = 32;
/// Base32 characters encoding [`SECRET_BYTES`].
const SECRET_CHARS: usize = 52;
/// Random characters in an API key id (50 bits).
const ID_CHARS: usize = 10;
/// Lowercase RFC 4648 base32.
const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// A new API key: the id to store and show, the full key to show once, and the hash to
/// store. Zeroized on drop; `Debug` shows only the id.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct ApiKeyMaterial {
    /// Public id, `omk_` + 10 characters.
    pub id: String,
    /// The full key, `<id>_<secret>`, shown to the creator once.
    pub secret_display: String,
    /// [`token_hash`] of `secret_display`.
    pub hash: [u8; 32],
}

impl std::fmt::Debug for ApiKeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self {
            id,
            secret_display: _,
            hash: _,
        } = self;
        f.debug_struct("ApiKeyMaterial")
            .field("id", id)
            .field("secret_display", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// SHA-256 of the full token string, as stored.
#[must_use]
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Constant-time equality for equal-length inputs (lengths are not secret).
#[must_use]
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// A new refresh token: the string for the client and its [`token_hash`] for storage.
pub fn new_refresh_token<R: RngCore + CryptoRng>(rng: &mut R) -> (String, [u8; 32]) {
    let mut token = String::from(REFRESH_PREFIX);
    token.push_str(&random_secret(rng));
    let hash = token_hash(&token);
    (token, hash)
}

/// Checks a presented refresh token's format and returns its [`token_hash`], or `None` if it
/// is not `omr_` + 52 lowercase base32 characters (surrounding whitespace is ignored).
#[must_use]
pub fn parse_refresh_token(token: &str) -> Option<[u8; 32]> {
    let token = token.trim();
    let secret = token.strip_prefix(REFRESH_PREFIX)?;
    is_secret(secret).then(|| token_hash(token))
}

/// A new API key.
pub fn new_api_key<R: RngCore + CryptoRng>(rng: &mut R) -> ApiKeyMaterial {
    let mut id = String::from(API_KEY_PREFIX);
    for _ in 0..ID_CHARS {
        id.push(char::from(ALPHABET[(rng.next_u32() & 0x1f) as usize]));
    }
    let secret_display = format!("{id}_{}", random_secret(rng));
    let hash = token_hash(&secret_display);
    ApiKeyMaterial {
        id,
        secret_display,
        hash,
    }
}

/// Splits a presented API key into its id and [`token_hash`], or `None` if it is not
/// `omk_<10 chars>_<52 chars>` in lowercase base32 (surrounding whitespace is ignored).
#[must_use]
pub fn parse_api_key(key: &str) -> Option<(String, [u8; 32])> {
    let key = key.trim();
    let rest = key.strip_prefix(API_KEY_PREFIX)?;
    let (id_chars, secret) = rest.split_once('_')?;
    if id_chars.len() != ID_CHARS || !id_chars.bytes().all(|b| ALPHABET.contains(&b)) {
        return None;
    }
    if !is_secret(secret) {
        return None;
    }
    let id = key[..API_KEY_PREFIX.len() + ID_CHARS].to_owned();
    Some((id, token_hash(key)))
}

fn random_secret<R: RngCore + CryptoRng>(rng: &mut R) -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    rng.fill_bytes(&mut bytes);
    let mut upper = BASE32_NOPAD.encode(&bytes);
    let text = upper.to_ascii_lowercase();
    bytes.zeroize();
    upper.zeroize();
    text
}

/// Exactly the canonical encoding of 32 bytes: right length, lowercase alphabet, and zero
/// trailing bits (checked by decoding), so each secret has one spelling.
fn is_secret(text: &str) -> bool {
    if text.len() != SECRET_CHARS || !text.bytes().all(|b| ALPHABET.contains(&b)) {
        return false;
    }
    let mut upper = text.to_ascii_uppercase();
    let valid = BASE32_NOPAD
        .decode(upper.as_bytes())
        .is_ok_and(|mut bytes| {
            bytes.zeroize();
            true
        });
    upper.zeroize();
    valid
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn refresh_token_format_and_hash() {
        let mut rng = StdRng::seed_from_u64(1);
        let (token, hash) = new_refresh_token(&mut rng);
        assert!(token.starts_with("omr_"));
        assert_eq!(token.len(), 4 + 52);
        assert!(token[4..].bytes().all(|b| ALPHABET.contains(&b)), "{token}");
        assert_eq!(hash, token_hash(&token));
        assert_eq!(parse_refresh_token(&format!(" {token}\n")), Some(hash));
        let (other, _) = new_refresh_token(&mut rng);
        assert_ne!(token, other);
    }

    #[test]
    fn api_key_format_parse_and_debug() {
        let mut rng = StdRng::seed_from_u64(2);
        let key = new_api_key(&mut rng);
        assert!(key.id.starts_with("omk_"));
        assert_eq!(key.id.len(), 14);
        assert_eq!(key.secret_display.len(), 14 + 1 + 52);
        assert!(key.secret_display.starts_with(&format!("{}_", key.id)));
        assert_eq!(key.hash, token_hash(&key.secret_display));
        let (id, hash) = parse_api_key(&key.secret_display).unwrap();
        assert_eq!(id, key.id);
        assert!(ct_eq(&hash, &key.hash));
        let debug = format!("{key:?}");
        assert!(debug.contains(&key.id));
        assert!(!debug.contains(&key.secret_display[15..]));
    }

    #[test]
    fn malformed_inputs_are_none() {
        let mut rng = StdRng::seed_from_u64(3);
        let key = new_api_key(&mut rng).secret_display.clone();
        let (refresh, _) = new_refresh_token(&mut rng);
        let bad_keys = [
            String::new(),
            "omk_".into(),
            "omk__".into(),
            key.to_uppercase(),
            key.replacen("omk_", "omr_", 1),
            key[..key.len() - 1].to_string(),
            format!("{key}a"),
            key.replacen('_', "-", 2),
            format!("{}1{}", &key[..20], &key[21..]),
            format!("{}é{}", &key[..20], &key[22..]),
            // Last symbol with non-zero trailing bits: same bytes, different spelling.
            format!("{}7", &key[..key.len() - 1]),
            refresh.clone(),
        ];
        for bad in &bad_keys {
            if bad != &key {
                assert_eq!(parse_api_key(bad), None, "{bad}");
            }
        }
        for bad in [
            String::new(),
            "omr_".into(),
            refresh.to_uppercase(),
            format!("{refresh}a"),
            key.clone(),
            format!("{}7", &refresh[..refresh.len() - 1]),
        ] {
            assert_eq!(parse_refresh_token(&bad), None, "{bad}");
        }
    }

    #[test]
    fn ct_eq_semantics() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(ct_eq(b"", b""));
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(input in ".{0,80}") {
            let _ = parse_api_key(&input);
            let _ = parse_refresh_token(&input);
            let _ = parse_api_key(&format!("omk_{input}"));
            let _ = parse_refresh_token(&format!("omr_{input}"));
        }
    }
}
