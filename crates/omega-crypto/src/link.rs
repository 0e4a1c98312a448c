//! Linking a new device to a user, sans IO: the `omega-link:` URI, the one-time offer an existing
//! device holds while it waits for one claim, and the keys derived from the one-time secret.
//!
//! The handshake (docs/devices.md):
//!
//! 1. The existing device makes an [`LinkOffer`] (a random 32-byte secret, an expiry) and shows
//!    the [`LinkInvite`] as a URI: its peer id and addresses, the secret, the expiry, the user key.
//! 2. The new device dials that peer id over libp2p (Noise authenticates it) and sends
//!    `LinkRequest { proof, device }`, where `proof` = [`link_proof`]: HKDF-SHA256 of the secret
//!    bound to both peer ids, so a proof is useless on any other connection.
//! 3. The existing device checks it with [`LinkOffer::claim`] (expiry, single use, at most
//!    [`MAX_WRONG_PROOFS`] wrong proofs, constant-time comparison), signs the new device into the
//!    list, and answers with the payload sealed by [`seal_payload`] (XChaCha20-Poly1305 under a
//!    second HKDF key of the secret, with the new device's Ed25519 key in the associated data), so
//!    the user secret is encrypted end to end under the secret in addition to Noise.

use std::fmt;

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{Key, KeyInit, XChaCha20Poly1305, XNonce};
use data_encoding::BASE32_NOPAD;
use hkdf::Hkdf;
use prost::Message;
use rand::{CryptoRng, RngCore};
use sha2_011::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use omega_proto::v1;

use crate::identity::{KeyError, UserKey};

/// URI scheme prefix of link invites (matched case-insensitively).
pub const LINK_URI_PREFIX: &str = "omega-link:";
/// Wrong proofs an offer takes before it is burned.
pub const MAX_WRONG_PROOFS: u32 = 5;
/// Most addresses an invite carries.
pub const MAX_INVITE_ADDRS: usize = 16;
/// Longest URI accepted (the encoded invite is at most 4 KiB).
const MAX_URI_CHARS: usize = LINK_URI_PREFIX.len() + 4096 * 8 / 5 + 8;

const SALT: &[u8] = b"omega/link/v1\0";
const PROOF_INFO: &[u8] = b"omega/link/v1 proof";
const PAYLOAD_INFO: &[u8] = b"omega/link/v1 payload";
const AAD_LABEL: &[u8] = b"omega/link-payload/v1\0";

/// Why a string is not a usable `omega-link:` URI.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InviteError {
    #[error("a link uri starts with {LINK_URI_PREFIX}")]
    MissingPrefix,
    #[error("link uri is {got} characters, expected at most {max}")]
    TooLong { max: usize, got: usize },
    #[error("link uri payload is not base32: {reason}")]
    Base32 { reason: String },
    #[error("link uri payload: {0}")]
    Decode(#[from] omega_proto::DecodeError),
    #[error("link uri names a bad user key: {0}")]
    UserKey(#[source] KeyError),
    #[error("link uri has no address of the existing device")]
    NoAddrs,
    #[error("link uri carries {got} addresses, expected at most {max}")]
    TooManyAddrs { max: usize, got: usize },
    #[error("link uri expired (ask the existing device for a new one with `omega device link`)")]
    Expired,
}

/// Why a claim of an offer was refused. `code()` is what travels in `LinkRefusal`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClaimError {
    #[error("no link offer is waiting (run `omega device link` on the existing device)")]
    NoOffer,
    #[error("the link secret expired")]
    Expired,
    #[error("the link secret was already used")]
    Used,
    #[error("wrong link secret")]
    WrongSecret,
    #[error("too many wrong link secrets: the offer is withdrawn")]
    Burned,
}

impl ClaimError {
    /// Stable machine-readable code.
    pub fn code(self) -> &'static str {
        match self {
            ClaimError::NoOffer => "no_offer",
            ClaimError::Expired => "expired",
            ClaimError::Used => "used",
            ClaimError::WrongSecret => "wrong_secret",
            ClaimError::Burned => "burned",
        }
    }
}

/// Why a sealed payload could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    #[error("link payload nonce is {got} bytes, expected 24")]
    Nonce { got: usize },
    #[error("link payload does not open with this secret (tampered, or not for this device)")]
    Open,
    #[error("link payload could not be sealed")]
    Seal,
}

/// A 32-byte one-time secret. Wiped on drop, never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct LinkSecret([u8; 32]);

impl LinkSecret {
    /// A fresh random secret.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    fn expand(&self, info: &[u8], inviter: &[u8], requester: &[u8]) -> Zeroizing<[u8; 32]> {
        let hkdf = Hkdf::<Sha256>::new(Some(SALT), &self.0);
        let mut full_info = info.to_vec();
        for part in [inviter, requester] {
            full_info.extend_from_slice(&(part.len() as u32).to_be_bytes());
            full_info.extend_from_slice(part);
        }
        let mut okm = Zeroizing::new([0u8; 32]);
        // 32 bytes is far below HKDF-SHA256's limit of 255 * 32.
        let _ = hkdf.expand(&full_info, okm.as_mut());
        okm
    }
}

impl fmt::Debug for LinkSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkSecret(..)")
    }
}

/// What an `omega-link:` URI carries.
#[derive(Clone)]
pub struct LinkInvite {
    /// libp2p peer id (bytes) of the existing device.
    pub peer_id: Vec<u8>,
    /// Its addresses (multiaddrs).
    pub addrs: Vec<String>,
    pub secret: LinkSecret,
    pub expires_ms: u64,
    pub user: UserKey,
}

impl fmt::Debug for LinkInvite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            peer_id: _,
            addrs,
            secret: _,
            expires_ms,
            user,
        } = self;
        f.debug_struct("LinkInvite")
            .field("addrs", addrs)
            .field("expires_ms", expires_ms)
            .field("user", user)
            .finish_non_exhaustive()
    }
}

impl LinkInvite {
    /// `omega-link:` followed by lowercase base32 (no padding) of the encoded `LinkInvite`.
    pub fn to_uri(&self) -> String {
        let mut bytes = v1::LinkInvite {
            peer_id: self.peer_id.clone(),
            addrs: self.addrs.clone(),
            secret: self.secret.0.to_vec(),
            expires_ms: self.expires_ms,
            user_key: self.user.as_bytes().to_vec(),
        }
        .encode_to_vec();
        let uri = format!(
            "{LINK_URI_PREFIX}{}",
            BASE32_NOPAD.encode(&bytes).to_ascii_lowercase()
        );
        bytes.zeroize();
        uri
    }

    /// Parses an `omega-link:` URI (prefix in any case, surrounding whitespace ignored) and checks
    /// it has not expired at `now_ms`.
    pub fn parse_uri(uri: &str, now_ms: u64) -> Result<Self, InviteError> {
        let trimmed = uri.trim();
        if trimmed.len() > MAX_URI_CHARS {
            return Err(InviteError::TooLong {
                max: MAX_URI_CHARS,
                got: trimmed.len(),
            });
        }
        let payload = match trimmed.get(..LINK_URI_PREFIX.len()) {
            Some(prefix) if prefix.eq_ignore_ascii_case(LINK_URI_PREFIX) => {
                &trimmed[LINK_URI_PREFIX.len()..]
            }
            _ => return Err(InviteError::MissingPrefix),
        };
        let mut bytes = BASE32_NOPAD
            .decode(payload.to_ascii_uppercase().as_bytes())
            .map_err(|error| InviteError::Base32 {
                reason: error.to_string(),
            })?;
        let decoded = omega_proto::decode_link_invite(&bytes);
        bytes.zeroize();
        let mut invite = decoded?;
        let user = UserKey::from_bytes(&invite.user_key).map_err(InviteError::UserKey)?;
        if invite.addrs.is_empty() {
            return Err(InviteError::NoAddrs);
        }
        if invite.addrs.len() > MAX_INVITE_ADDRS {
            return Err(InviteError::TooManyAddrs {
                max: MAX_INVITE_ADDRS,
                got: invite.addrs.len(),
            });
        }
        let mut secret = [0u8; 32];
        secret.copy_from_slice(&invite.secret);
        invite.secret.zeroize();
        if invite.expires_ms <= now_ms {
            return Err(InviteError::Expired);
        }
        Ok(Self {
            peer_id: invite.peer_id,
            addrs: invite.addrs,
            secret: LinkSecret(secret),
            expires_ms: invite.expires_ms,
            user,
        })
    }
}

/// The proof that a requester knows the secret: HKDF-SHA256(salt "omega/link/v1\0", secret,
/// info "omega/link/v1 proof" ‖ len ‖ inviter peer id ‖ len ‖ requester peer id).
pub fn link_proof(secret: &LinkSecret, inviter: &[u8], requester: &[u8]) -> Zeroizing<[u8; 32]> {
    secret.expand(PROOF_INFO, inviter, requester)
}

/// The existing device's side: one offer, claimed at most once.
pub struct LinkOffer {
    secret: LinkSecret,
    expires_ms: u64,
    used: bool,
    wrong: u32,
}

impl fmt::Debug for LinkOffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            secret: _,
            expires_ms,
            used,
            wrong,
        } = self;
        f.debug_struct("LinkOffer")
            .field("expires_ms", expires_ms)
            .field("used", used)
            .field("wrong", wrong)
            .finish_non_exhaustive()
    }
}

impl LinkOffer {
    pub fn new(secret: LinkSecret, expires_ms: u64) -> Self {
        Self {
            secret,
            expires_ms,
            used: false,
            wrong: 0,
        }
    }

    pub fn secret(&self) -> &LinkSecret {
        &self.secret
    }

    pub fn expires_ms(&self) -> u64 {
        self.expires_ms
    }

    /// Wrong proofs seen so far.
    pub fn wrong_proofs(&self) -> u32 {
        self.wrong
    }

    /// Checks a claim made at `now_ms` over a connection from `requester` to `inviter`. On
    /// success the offer is spent: any later claim is [`ClaimError::Used`].
    #[must_use = "a refused claim must be answered with its error"]
    pub fn claim(
        &mut self,
        now_ms: u64,
        inviter: &[u8],
        requester: &[u8],
        proof: &[u8],
    ) -> Result<(), ClaimError> {
        if self.used {
            return Err(ClaimError::Used);
        }
        if self.wrong >= MAX_WRONG_PROOFS {
            return Err(ClaimError::Burned);
        }
        if now_ms >= self.expires_ms {
            return Err(ClaimError::Expired);
        }
        let expected = link_proof(&self.secret, inviter, requester);
        if !bool::from(expected.as_slice().ct_eq(proof)) {
            self.wrong += 1;
            return Err(if self.wrong >= MAX_WRONG_PROOFS {
                ClaimError::Burned
            } else {
                ClaimError::WrongSecret
            });
        }
        self.used = true;
        Ok(())
    }
}

fn payload_key(secret: &LinkSecret, inviter: &[u8], requester: &[u8]) -> Zeroizing<[u8; 32]> {
    secret.expand(PAYLOAD_INFO, inviter, requester)
}

fn payload_aad(device_ed25519: &[u8]) -> Vec<u8> {
    let mut aad = AAD_LABEL.to_vec();
    aad.extend_from_slice(&(device_ed25519.len() as u32).to_be_bytes());
    aad.extend_from_slice(device_ed25519);
    aad
}

/// Seals an encoded `LinkPayload` for the new device `device_ed25519`.
pub fn seal_payload<R: RngCore + CryptoRng>(
    secret: &LinkSecret,
    inviter: &[u8],
    requester: &[u8],
    device_ed25519: &[u8],
    payload: &[u8],
    rng: &mut R,
) -> Result<v1::LinkSealed, PayloadError> {
    let key = payload_key(secret, inviter, requester);
    let cipher = XChaCha20Poly1305::new(Key::from_slice(key.as_slice()));
    let mut nonce = [0u8; 24];
    rng.fill_bytes(&mut nonce);
    let ciphertext = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: payload,
                aad: &payload_aad(device_ed25519),
            },
        )
        .map_err(|_| PayloadError::Seal)?;
    Ok(v1::LinkSealed {
        nonce: nonce.to_vec(),
        ciphertext,
    })
}

/// Opens a sealed payload; the plaintext is wiped when dropped.
pub fn open_payload(
    secret: &LinkSecret,
    inviter: &[u8],
    requester: &[u8],
    device_ed25519: &[u8],
    sealed: &v1::LinkSealed,
) -> Result<Zeroizing<Vec<u8>>, PayloadError> {
    if sealed.nonce.len() != 24 {
        return Err(PayloadError::Nonce {
            got: sealed.nonce.len(),
        });
    }
    let key = payload_key(secret, inviter, requester);
    let cipher = XChaCha20Poly1305::new(Key::from_slice(key.as_slice()));
    cipher
        .decrypt(
            XNonce::from_slice(&sealed.nonce),
            Payload {
                msg: &sealed.ciphertext,
                aad: &payload_aad(device_ed25519),
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| PayloadError::Open)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UserIdentity;

    fn invite(expires_ms: u64) -> LinkInvite {
        LinkInvite {
            peer_id: vec![1, 2, 3],
            addrs: vec!["/ip4/127.0.0.1/tcp/4001".into()],
            secret: LinkSecret::generate(&mut rand::rngs::OsRng),
            expires_ms,
            user: UserIdentity::generate(&mut rand::rngs::OsRng).public_key(),
        }
    }

    #[test]
    fn invite_uri_round_trips_in_either_case() {
        let invite = invite(1_000);
        let uri = invite.to_uri();
        assert!(uri.starts_with("omega-link:"));
        for text in [uri.clone(), uri.to_ascii_uppercase(), format!("  {uri}\n")] {
            let parsed = LinkInvite::parse_uri(&text, 999).unwrap();
            assert_eq!(parsed.peer_id, invite.peer_id);
            assert_eq!(parsed.addrs, invite.addrs);
            assert_eq!(parsed.secret.0, invite.secret.0);
            assert_eq!(parsed.user, invite.user);
        }
    }

    #[test]
    fn garbage_uris_are_refused_with_clear_errors() {
        assert!(matches!(
            LinkInvite::parse_uri("omega:abc", 0),
            Err(InviteError::MissingPrefix)
        ));
        assert!(matches!(
            LinkInvite::parse_uri("hello", 0),
            Err(InviteError::MissingPrefix)
        ));
        assert!(matches!(
            LinkInvite::parse_uri("omega-link:!!!", 0),
            Err(InviteError::Base32 { .. })
        ));
        assert!(matches!(
            LinkInvite::parse_uri("omega-link:aaaa", 0),
            Err(InviteError::Decode(_))
        ));
        let long = format!("omega-link:{}", "a".repeat(10_000));
        assert!(matches!(
            LinkInvite::parse_uri(&long, 0),
            Err(InviteError::TooLong { .. })
        ));
        let mut no_addrs = invite(10);
        no_addrs.addrs.clear();
        assert!(matches!(
            LinkInvite::parse_uri(&no_addrs.to_uri(), 0),
            Err(InviteError::NoAddrs)
        ));
    }

    #[test]
    fn an_expired_invite_is_refused_when_parsed() {
        let uri = invite(1_000).to_uri();
        assert!(matches!(
            LinkInvite::parse_uri(&uri, 1_000),
            Err(InviteError::Expired)
        ));
    }

    #[test]
    fn a_right_proof_claims_the_offer_once() {
        let secret = LinkSecret::generate(&mut rand::rngs::OsRng);
        let mut offer = LinkOffer::new(secret.clone(), 100);
        let proof = link_proof(&secret, b"old", b"new");
        assert_eq!(offer.claim(10, b"old", b"new", proof.as_slice()), Ok(()));
        assert_eq!(
            offer.claim(11, b"old", b"new", proof.as_slice()),
            Err(ClaimError::Used)
        );
    }

    #[test]
    fn a_proof_for_another_connection_is_wrong() {
        let secret = LinkSecret::generate(&mut rand::rngs::OsRng);
        let mut offer = LinkOffer::new(secret.clone(), 100);
        let proof = link_proof(&secret, b"old", b"someone-else");
        assert_eq!(
            offer.claim(10, b"old", b"new", proof.as_slice()),
            Err(ClaimError::WrongSecret)
        );
        assert_eq!(offer.wrong_proofs(), 1);
    }

    #[test]
    fn wrong_secrets_are_counted_and_burn_the_offer() {
        let secret = LinkSecret::generate(&mut rand::rngs::OsRng);
        let other = LinkSecret::generate(&mut rand::rngs::OsRng);
        let mut offer = LinkOffer::new(secret.clone(), 100);
        let wrong = link_proof(&other, b"old", b"new");
        for _ in 1..MAX_WRONG_PROOFS {
            assert_eq!(
                offer.claim(10, b"old", b"new", wrong.as_slice()),
                Err(ClaimError::WrongSecret)
            );
        }
        assert_eq!(
            offer.claim(10, b"old", b"new", wrong.as_slice()),
            Err(ClaimError::Burned)
        );
        // Even the right secret no longer works.
        let right = link_proof(&secret, b"old", b"new");
        assert_eq!(
            offer.claim(10, b"old", b"new", right.as_slice()),
            Err(ClaimError::Burned)
        );
    }

    #[test]
    fn an_expired_offer_refuses_the_right_secret() {
        let secret = LinkSecret::generate(&mut rand::rngs::OsRng);
        let mut offer = LinkOffer::new(secret.clone(), 100);
        let proof = link_proof(&secret, b"old", b"new");
        assert_eq!(
            offer.claim(100, b"old", b"new", proof.as_slice()),
            Err(ClaimError::Expired)
        );
    }

    #[test]
    fn the_payload_opens_only_for_its_device_and_secret() {
        let secret = LinkSecret::generate(&mut rand::rngs::OsRng);
        let sealed = seal_payload(
            &secret,
            b"old",
            b"new",
            b"device",
            b"user secret",
            &mut rand::rngs::OsRng,
        )
        .unwrap();
        assert_eq!(
            open_payload(&secret, b"old", b"new", b"device", &sealed)
                .unwrap()
                .as_slice(),
            b"user secret"
        );
        assert!(open_payload(&secret, b"old", b"new", b"other", &sealed).is_err());
        let other = LinkSecret::generate(&mut rand::rngs::OsRng);
        assert!(open_payload(&other, b"old", b"new", b"device", &sealed).is_err());
        let mut tampered = sealed.clone();
        tampered.ciphertext[0] ^= 1;
        assert!(open_payload(&secret, b"old", b"new", b"device", &tampered).is_err());
    }
}
