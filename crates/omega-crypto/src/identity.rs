//! User identities: the long-lived Ed25519 user key, its printable user id, fingerprints and safety
//! numbers, and device ids.

use std::fmt;

use data_encoding::BASE32_NOPAD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use prost::Message;
use rand::{CryptoRng, RngCore};
use sha2::{Digest, Sha256, Sha512};
use zeroize::{ZeroizeOnDrop, Zeroizing};

use omega_proto::v1;

/// Domain label of the user-id checksum.
const USER_ID_LABEL: &[u8] = b"omega/user-id/v1";
/// Domain label of device ids.
const DEVICE_ID_LABEL: &[u8] = b"omega/device-id/v1";
/// Bytes of checksum appended to the key in a user id.
const USER_ID_CHECKSUM_LEN: usize = 2;
/// Characters in a user id: base32 of 34 bytes without padding.
pub const USER_ID_LEN: usize = 55;
/// SHA-512 iterations of a fingerprint (the idea of Signal's safety numbers).
const FINGERPRINT_ITERATIONS: usize = 1024;
/// Version prefix of the fingerprint hash input.
const FINGERPRINT_VERSION: u16 = 0;

/// Why bytes are not an acceptable Ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key has the wrong number of bytes.
    #[error("public key must be {expected} bytes, got {got}")]
    Length { expected: usize, got: usize },
    /// The bytes do not decode to a curve point.
    #[error("public key is not a valid curve point")]
    InvalidPoint,
    /// The point has small order: signatures under it prove nothing.
    #[error("public key has small order, expected a full-order point")]
    WeakKey,
}

/// Why a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The public key itself is unacceptable.
    #[error("bad signing key: {0}")]
    Key(#[from] KeyError),
    /// The signature has the wrong number of bytes.
    #[error("signature must be 64 bytes, got {got}")]
    Length { got: usize },
    /// The signature does not verify for this key and message.
    #[error("signature does not verify")]
    Invalid,
}

/// Why a string is not a user id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UserIdError {
    /// Wrong number of characters.
    #[error("user id must be {expected} characters, got {got}")]
    Length { expected: usize, got: usize },
    /// A character outside the base32 alphabet (or non-canonical trailing bits).
    #[error("user id is not base32: {reason}")]
    Encoding { reason: String },
    /// The checksum does not match: most likely a typo.
    #[error("user id checksum does not match, expected {expected}, got {got} (typo?)")]
    Checksum { expected: String, got: String },
    /// The checksum matches but the key is not a usable Ed25519 key.
    #[error("user id holds an unusable key: {0}")]
    Key(#[from] KeyError),
}

/// A user's secret identity: the Ed25519 key that signs the user's device list.
///
/// The secret is wiped from memory on drop; `Debug` shows only the public user id.
#[derive(ZeroizeOnDrop)]
pub struct UserIdentity {
    signing_key: SigningKey,
}

impl UserIdentity {
    /// Generates a new identity from the given cryptographic RNG.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let mut secret = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(secret.as_mut());
        Self::from_secret_bytes(&secret)
    }

    /// Restores an identity from its 32-byte secret (as returned by [`Self::secret_bytes`]).
    pub fn from_secret_bytes(secret: &[u8; 32]) -> Self {
        Self {
            signing_key: SigningKey::from_bytes(secret),
        }
    }

    /// The 32-byte secret, for the sealed keystore. Wiped when the returned value is dropped.
    pub fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.signing_key.to_bytes())
    }

    /// The public user key.
    pub fn public_key(&self) -> UserKey {
        UserKey(self.signing_key.verifying_key().to_bytes())
    }

    /// Signs arbitrary bytes with the user key (standard Ed25519). Callers add their own domain label.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing_key.sign(message).to_bytes()
    }

    /// Encodes `list` and signs it. The caller sets `list.user_key` to [`Self::public_key`]; a list
    /// naming another user would sign fine but never verify.
    pub fn sign_device_list(&self, list: &v1::DeviceList) -> v1::SignedDeviceList {
        let device_list = list.encode_to_vec();
        let signature = self.sign(&omega_proto::signing::device_list_signing_bytes(
            &device_list,
        ));
        v1::SignedDeviceList {
            device_list,
            signature: signature.to_vec(),
        }
    }
}

impl fmt::Debug for UserIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self { signing_key: _ } = self;
        f.debug_struct("UserIdentity")
            .field("user_id", &self.public_key().user_id())
            .finish_non_exhaustive()
    }
}

/// A user's public Ed25519 key: the user's identity as others see it.
///
/// Always a valid, full-order curve point: every constructor checks.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserKey([u8; 32]);

impl UserKey {
    /// Checks and wraps a 32-byte Ed25519 public key.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        ed25519_key(bytes).map(|key| Self(key.to_bytes()))
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The printable user id: lowercase base32 (no padding) of the key followed by a 2-byte checksum,
    /// 55 characters.
    pub fn user_id(&self) -> String {
        let mut bytes = [0u8; 32 + USER_ID_CHECKSUM_LEN];
        bytes[..32].copy_from_slice(&self.0);
        bytes[32..].copy_from_slice(&user_id_checksum(&self.0));
        BASE32_NOPAD.encode(&bytes).to_ascii_lowercase()
    }

    /// Parses a user id, case-insensitively and ignoring surrounding whitespace. A typo is reported
    /// as [`UserIdError::Checksum`].
    pub fn parse_user_id(user_id: &str) -> Result<Self, UserIdError> {
        let trimmed = user_id.trim();
        let got = trimmed.chars().count();
        if got != USER_ID_LEN {
            return Err(UserIdError::Length {
                expected: USER_ID_LEN,
                got,
            });
        }
        let bytes = BASE32_NOPAD
            .decode(trimmed.to_ascii_uppercase().as_bytes())
            .map_err(|error| UserIdError::Encoding {
                reason: error.to_string(),
            })?;
        let (key, checksum) = bytes.split_at(32);
        let mut key_bytes = [0u8; 32];
        key_bytes.copy_from_slice(key);
        let expected = user_id_checksum(&key_bytes);
        if expected[..] != *checksum {
            return Err(UserIdError::Checksum {
                expected: hex(&expected),
                got: hex(checksum),
            });
        }
        Ok(Self::from_bytes(&key_bytes)?)
    }

    /// This key's half of a safety number: 30 decimal digits in 6 groups of 5.
    ///
    /// The hash is iterated like Signal's safety numbers: start from `version (u16 BE 0) || key`,
    /// then 1024 times `hash = SHA-512(hash || key)`; each group is 5 bytes of the result, big
    /// endian, modulo 100000.
    pub fn fingerprint(&self) -> String {
        let mut hash = Vec::with_capacity(64 + 32);
        hash.extend_from_slice(&FINGERPRINT_VERSION.to_be_bytes());
        hash.extend_from_slice(&self.0);
        for _ in 0..FINGERPRINT_ITERATIONS {
            let mut hasher = Sha512::new();
            hasher.update(&hash);
            hasher.update(self.0);
            hash = hasher.finalize().to_vec();
        }
        let groups: Vec<String> = hash[..30]
            .chunks_exact(5)
            .map(|chunk| {
                let value = chunk
                    .iter()
                    .fold(0u64, |acc, byte| (acc << 8) | u64::from(*byte));
                format!("{:05}", value % 100_000)
            })
            .collect();
        groups.join(" ")
    }

    /// Verifies a standard Ed25519 signature (strict verification: no malleable signatures).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
        verify_ed25519(&self.0, message, signature)
    }
}

impl fmt::Display for UserKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.user_id())
    }
}

impl fmt::Debug for UserKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserKey({})", self.user_id())
    }
}

/// The safety number two users compare to check they see each other's real keys: both 30-digit
/// fingerprints, sorted and joined (60 digits in 12 groups of 5). Identical for both parties.
pub fn safety_number(a: &UserKey, b: &UserKey) -> String {
    let (first, second) = (a.fingerprint(), b.fingerprint());
    if first <= second {
        format!("{first} {second}")
    } else {
        format!("{second} {first}")
    }
}

/// A short printable id of a device: lowercase base32 (no padding) of the first 10 bytes of
/// `SHA-256("omega/device-id/v1" || ed25519)`, 16 characters.
pub fn device_id(ed25519: &[u8; 32]) -> String {
    let digest = Sha256::new()
        .chain_update(DEVICE_ID_LABEL)
        .chain_update(ed25519)
        .finalize();
    BASE32_NOPAD.encode(&digest[..10]).to_ascii_lowercase()
}

fn user_id_checksum(key: &[u8; 32]) -> [u8; USER_ID_CHECKSUM_LEN] {
    let digest = Sha256::new()
        .chain_update(USER_ID_LABEL)
        .chain_update(key)
        .finalize();
    [digest[0], digest[1]]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Checks that `bytes` is a 32-byte, full-order Ed25519 public key.
pub(crate) fn ed25519_key(bytes: &[u8]) -> Result<VerifyingKey, KeyError> {
    let array: &[u8; 32] = bytes.try_into().map_err(|_| KeyError::Length {
        expected: 32,
        got: bytes.len(),
    })?;
    let key = VerifyingKey::from_bytes(array).map_err(|_| KeyError::InvalidPoint)?;
    if key.is_weak() {
        return Err(KeyError::WeakKey);
    }
    Ok(key)
}

/// Verifies a strict Ed25519 signature by a raw 32-byte public key.
pub fn verify_ed25519(key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
    let key = ed25519_key(key)?;
    let signature: &[u8; 64] = signature.try_into().map_err(|_| SignatureError::Length {
        got: signature.len(),
    })?;
    key.verify_strict(message, &Signature::from_bytes(signature))
        .map_err(|_| SignatureError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn identity(seed: u64) -> UserIdentity {
        UserIdentity::generate(&mut StdRng::seed_from_u64(seed))
    }

    #[test]
    fn user_id_round_trips_in_any_case_and_with_whitespace() {
        let key = identity(1).public_key();
        let id = key.user_id();
        assert_eq!(id.len(), USER_ID_LEN);
        assert_eq!(id, id.to_ascii_lowercase());
        assert_eq!(UserKey::parse_user_id(&id).unwrap(), key);
        assert_eq!(UserKey::parse_user_id(&id.to_uppercase()).unwrap(), key);
        assert_eq!(UserKey::parse_user_id(&format!("  {id}\n")).unwrap(), key);
        assert_eq!(key.to_string(), id);
        assert_eq!(format!("{key:?}"), format!("UserKey({id})"));
    }

    #[test]
    fn a_typo_in_a_user_id_is_detected() {
        let id = identity(2).public_key().user_id();
        let mut detected = 0;
        let mut tried = 0;
        for position in 0..id.len() - 1 {
            let mut chars: Vec<char> = id.chars().collect();
            chars[position] = if chars[position] == 'a' { 'b' } else { 'a' };
            let typo: String = chars.into_iter().collect();
            tried += 1;
            if matches!(
                UserKey::parse_user_id(&typo),
                Err(UserIdError::Checksum { .. })
            ) {
                detected += 1;
            }
        }
        assert_eq!(
            detected, tried,
            "every single-character typo is a checksum error"
        );
    }

    #[test]
    fn malformed_user_ids_give_each_error_kind() {
        assert!(matches!(
            UserKey::parse_user_id("abc"),
            Err(UserIdError::Length {
                expected: 55,
                got: 3
            })
        ));
        let id = identity(3).public_key().user_id();
        let bad_char = format!("1{}", &id[1..]);
        assert!(matches!(
            UserKey::parse_user_id(&bad_char),
            Err(UserIdError::Encoding { .. })
        ));
        // The identity point (small order) with a correct checksum: a key error, not a checksum one.
        let mut weak = [0u8; 32];
        weak[0] = 1;
        let mut bytes = weak.to_vec();
        bytes.extend_from_slice(&user_id_checksum(&weak));
        let weak_id = BASE32_NOPAD.encode(&bytes).to_ascii_lowercase();
        assert_eq!(
            UserKey::parse_user_id(&weak_id),
            Err(UserIdError::Key(KeyError::WeakKey))
        );
    }

    #[test]
    fn user_key_rejects_wrong_length_and_bad_points() {
        assert_eq!(
            UserKey::from_bytes(&[0u8; 31]),
            Err(KeyError::Length {
                expected: 32,
                got: 31
            })
        );
        let mut weak = [0u8; 32];
        weak[0] = 1;
        assert_eq!(UserKey::from_bytes(&weak), Err(KeyError::WeakKey));
        // y = 2 is not on the curve.
        let mut off_curve = [0u8; 32];
        off_curve[0] = 2;
        assert_eq!(UserKey::from_bytes(&off_curve), Err(KeyError::InvalidPoint));
    }

    #[test]
    fn secret_bytes_restore_the_same_identity() {
        let original = identity(4);
        let restored = UserIdentity::from_secret_bytes(&original.secret_bytes());
        assert_eq!(restored.public_key(), original.public_key());
        let debug = format!("{original:?}");
        assert!(debug.contains(&original.public_key().user_id()), "{debug}");
    }

    #[test]
    fn signatures_verify_and_a_flipped_bit_does_not() {
        let identity = identity(5);
        let key = identity.public_key();
        let signature = identity.sign(b"hello");
        key.verify(b"hello", &signature).unwrap();
        assert_eq!(
            key.verify(b"hellp", &signature),
            Err(SignatureError::Invalid)
        );
        let mut flipped = signature;
        flipped[10] ^= 1;
        assert_eq!(key.verify(b"hello", &flipped), Err(SignatureError::Invalid));
        assert_eq!(
            key.verify(b"hello", &signature[..63]),
            Err(SignatureError::Length { got: 63 })
        );
    }

    #[test]
    fn fingerprint_has_six_groups_of_five_digits() {
        let fingerprint = identity(6).public_key().fingerprint();
        let groups: Vec<&str> = fingerprint.split(' ').collect();
        assert_eq!(groups.len(), 6);
        assert!(
            groups
                .iter()
                .all(|group| group.len() == 5 && group.bytes().all(|b| b.is_ascii_digit()))
        );
    }

    #[test]
    fn safety_number_is_symmetric_and_differs_for_different_pairs() {
        let (alice, bob, carol) = (
            identity(7).public_key(),
            identity(8).public_key(),
            identity(9).public_key(),
        );
        let number = safety_number(&alice, &bob);
        assert_eq!(number, safety_number(&bob, &alice));
        assert_eq!(number.split(' ').count(), 12);
        assert_eq!(number.chars().filter(char::is_ascii_digit).count(), 60);
        assert_ne!(number, safety_number(&alice, &carol));
        assert_ne!(number, safety_number(&carol, &bob));
    }

    #[test]
    fn device_id_is_sixteen_lowercase_base32_characters() {
        let id = device_id(&[7u8; 32]);
        assert_eq!(id.len(), 16);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
        );
        assert_ne!(id, device_id(&[8u8; 32]));
    }

    /// Known answers for a fixed key (the RFC 8032 test 1 key pair). The user id, fingerprint and
    /// device id were computed once and cross-checked with an independent Python script (hashlib +
    /// base64), then frozen: a change here breaks every printed user id and safety number.
    #[test]
    fn known_answer_user_id_fingerprint_and_device_id() {
        // RFC 8032 section 7.1, TEST 1.
        let secret: [u8; 32] = [
            0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec,
            0x2c, 0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03,
            0x1c, 0xae, 0x7f, 0x60,
        ];
        let public: [u8; 32] = [
            0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64,
            0x07, 0x3a, 0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68,
            0xf7, 0x07, 0x51, 0x1a,
        ];
        let key = UserIdentity::from_secret_bytes(&secret).public_key();
        assert_eq!(key.as_bytes(), &public, "RFC 8032 key derivation");
        let signature = UserIdentity::from_secret_bytes(&secret).sign(b"");
        assert_eq!(
            hex(&signature),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
            "RFC 8032 signature"
        );
        key.verify(b"", &signature).unwrap();
        assert_eq!(
            key.user_id(),
            "25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenjvtq"
        );
        assert_eq!(key.fingerprint(), "42166 55675 69470 47738 26297 79643");
        assert_eq!(device_id(&public), "o3tw2aviindl66gy");
    }
}
