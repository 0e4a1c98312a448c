//! The passphrase-sealed keystore file: the few long-lived secrets of an installation, encrypted
//! with XChaCha20-Poly1305 under a key derived from the passphrase with Argon2id.
//!
//! The file is a small JSON document:
//!
//! ```json
//! {"format":"omega-keystore","version":1,
//!  "kdf":{"alg":"argon2id","m_kib":19456,"t":2,"p":1,"salt":"<base64, 16 bytes>"},
//!  "nonce":"<base64, 24 bytes>","ciphertext":"<base64>"}
//! ```
//!
//! The associated data of the AEAD binds the header (format, version and every KDF parameter,
//! salt included), so a file whose parameters were changed fails to open. Parameters are checked
//! against sane bounds before any work, so a hostile file cannot make us allocate gigabytes.

use std::fmt;

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{Key, KeyInit, XChaCha20Poly1305, XNonce};
use data_encoding::BASE64;
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Value of the `format` field.
pub const KEYSTORE_FORMAT: &str = "omega-keystore";
/// Version written by this build (the only one it reads).
pub const KEYSTORE_VERSION: u64 = 1;
/// Argon2id memory written by [`seal`] (KiB): 19 MiB, the OWASP recommendation.
pub const SEAL_M_KIB: u32 = 19 * 1024;
/// Argon2id passes written by [`seal`].
pub const SEAL_T: u32 = 2;
/// Argon2id lanes written by [`seal`].
pub const SEAL_P: u32 = 1;

const KDF_ALG: &str = "argon2id";
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 24;
const SECRETS_LEN: usize = 3 * 32;
const TAG_LEN: usize = 16;
/// Bounds on parameters read from a file.
const M_KIB_MIN: u64 = 8 * 1024;
const M_KIB_MAX: u64 = 4 * 1024 * 1024;
const T_MIN: u64 = 1;
const T_MAX: u64 = 100;
const P_MIN: u64 = 1;
const P_MAX: u64 = 16;
/// Label at the start of the associated data.
const AAD_LABEL: &[u8] = b"omega/keystore/v1\0";

/// Why a keystore could not be sealed. Not expected in practice: every input is fixed-size.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// Argon2 refused to derive the key.
    #[error("key derivation failed: {reason}")]
    Kdf { reason: String },
    /// The AEAD refused to encrypt.
    #[error("encryption failed")]
    Encrypt,
    /// The document could not be serialized.
    #[error("cannot serialize keystore: {reason}")]
    Serialize { reason: String },
}

/// Why a keystore could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeystoreError {
    /// Authentication failed: the passphrase is wrong (or the sealed parts were altered, which
    /// cannot be told apart).
    #[error("wrong passphrase")]
    WrongPassphrase,
    /// The file is not a well-formed keystore.
    #[error("corrupt keystore: {reason}")]
    Corrupt { reason: String },
    /// The file was written by a version this build does not read.
    #[error("unsupported keystore version {got}, expected {expected}")]
    UnsupportedVersion { got: u64, expected: u64 },
    /// A KDF parameter is outside the range we accept.
    #[error("keystore kdf parameter {param} is {got}, expected between {min} and {max}")]
    KdfOutOfBounds {
        param: &'static str,
        got: u64,
        min: u64,
        max: u64,
    },
}

impl KeystoreError {
    fn corrupt(reason: impl Into<String>) -> Self {
        Self::Corrupt {
            reason: reason.into(),
        }
    }
}

/// The secrets a keystore holds. Wiped on drop; `Debug` prints nothing secret.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct KeystoreSecrets {
    /// Secret of the user identity (see [`crate::UserIdentity::from_secret_bytes`]).
    pub user_secret: [u8; 32],
    /// Secret of the libp2p node key.
    pub libp2p_secret: [u8; 32],
    /// Key that encrypts the local store (pickles, messages).
    pub store_key: [u8; 32],
}

impl KeystoreSecrets {
    /// Fresh random secrets.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let mut secrets = Self {
            user_secret: [0; 32],
            libp2p_secret: [0; 32],
            store_key: [0; 32],
        };
        rng.fill_bytes(&mut secrets.user_secret);
        rng.fill_bytes(&mut secrets.libp2p_secret);
        rng.fill_bytes(&mut secrets.store_key);
        secrets
    }
}

impl fmt::Debug for KeystoreSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            user_secret: _,
            libp2p_secret: _,
            store_key: _,
        } = self;
        f.write_str("KeystoreSecrets { .. }")
    }
}

/// Only `format` and `version`, read first so a future version is reported as such.
#[derive(Deserialize)]
struct Header {
    format: String,
    version: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    format: String,
    version: u64,
    kdf: KdfDocument,
    nonce: String,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KdfDocument {
    alg: String,
    m_kib: u64,
    t: u64,
    p: u64,
    salt: String,
}

/// Parameters checked against the bounds, ready for Argon2.
struct KdfParams {
    m_kib: u32,
    t: u32,
    p: u32,
    salt: [u8; SALT_LEN],
}

impl KdfParams {
    fn derive_key(&self, passphrase: &[u8]) -> Result<Zeroizing<[u8; 32]>, String> {
        let params =
            Params::new(self.m_kib, self.t, self.p, Some(32)).map_err(|e| e.to_string())?;
        let mut key = Zeroizing::new([0u8; 32]);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(passphrase, &self.salt, key.as_mut())
            .map_err(|e| e.to_string())?;
        Ok(key)
    }

    /// Associated data: the label, the version and every KDF parameter.
    fn associated_data(&self) -> Vec<u8> {
        let mut aad = AAD_LABEL.to_vec();
        aad.extend_from_slice(&(KEYSTORE_FORMAT.len() as u32).to_be_bytes());
        aad.extend_from_slice(KEYSTORE_FORMAT.as_bytes());
        aad.extend_from_slice(&KEYSTORE_VERSION.to_be_bytes());
        aad.extend_from_slice(&(KDF_ALG.len() as u32).to_be_bytes());
        aad.extend_from_slice(KDF_ALG.as_bytes());
        aad.extend_from_slice(&u64::from(self.m_kib).to_be_bytes());
        aad.extend_from_slice(&u64::from(self.t).to_be_bytes());
        aad.extend_from_slice(&u64::from(self.p).to_be_bytes());
        aad.extend_from_slice(&(SALT_LEN as u32).to_be_bytes());
        aad.extend_from_slice(&self.salt);
        aad
    }
}

/// Seals `secrets` under `passphrase`: Argon2id (19 MiB, 2 passes, 1 lane, random 16-byte salt)
/// then XChaCha20-Poly1305 with a random 24-byte nonce. Returns the JSON document.
pub fn seal<R: RngCore + CryptoRng>(
    secrets: &KeystoreSecrets,
    passphrase: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, SealError> {
    let mut kdf = KdfParams {
        m_kib: SEAL_M_KIB,
        t: SEAL_T,
        p: SEAL_P,
        salt: [0; SALT_LEN],
    };
    rng.fill_bytes(&mut kdf.salt);
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let key = kdf
        .derive_key(passphrase)
        .map_err(|reason| SealError::Kdf { reason })?;
    let mut plaintext = Zeroizing::new([0u8; SECRETS_LEN]);
    plaintext[..32].copy_from_slice(&secrets.user_secret);
    plaintext[32..64].copy_from_slice(&secrets.libp2p_secret);
    plaintext[64..].copy_from_slice(&secrets.store_key);
    let ciphertext = XChaCha20Poly1305::new(Key::from_slice(key.as_ref()))
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext.as_ref(),
                aad: &kdf.associated_data(),
            },
        )
        .map_err(|_| SealError::Encrypt)?;
    let document = Document {
        format: KEYSTORE_FORMAT.to_owned(),
        version: KEYSTORE_VERSION,
        kdf: KdfDocument {
            alg: KDF_ALG.to_owned(),
            m_kib: kdf.m_kib.into(),
            t: kdf.t.into(),
            p: kdf.p.into(),
            salt: BASE64.encode(&kdf.salt),
        },
        nonce: BASE64.encode(&nonce),
        ciphertext: BASE64.encode(&ciphertext),
    };
    serde_json::to_vec(&document).map_err(|error| SealError::Serialize {
        reason: error.to_string(),
    })
}

/// Opens a sealed keystore. Never panics: any input gives secrets or a [`KeystoreError`].
pub fn open(sealed: &[u8], passphrase: &[u8]) -> Result<KeystoreSecrets, KeystoreError> {
    let header: Header = serde_json::from_slice(sealed)
        .map_err(|error| KeystoreError::corrupt(format!("not a keystore document: {error}")))?;
    if header.format != KEYSTORE_FORMAT {
        return Err(KeystoreError::corrupt(format!(
            "format is not \"{KEYSTORE_FORMAT}\""
        )));
    }
    if header.version != KEYSTORE_VERSION {
        return Err(KeystoreError::UnsupportedVersion {
            got: header.version,
            expected: KEYSTORE_VERSION,
        });
    }
    let document: Document = serde_json::from_slice(sealed)
        .map_err(|error| KeystoreError::corrupt(format!("bad keystore document: {error}")))?;
    let kdf = check_kdf(&document.kdf)?;
    let nonce: [u8; NONCE_LEN] = decode_fixed("nonce", &document.nonce)?;
    let ciphertext = decode_base64("ciphertext", &document.ciphertext)?;
    if ciphertext.len() != SECRETS_LEN + TAG_LEN {
        return Err(KeystoreError::corrupt(format!(
            "ciphertext must be {} bytes, got {}",
            SECRETS_LEN + TAG_LEN,
            ciphertext.len()
        )));
    }
    let key = kdf.derive_key(passphrase).map_err(KeystoreError::corrupt)?;
    let plaintext = Zeroizing::new(
        XChaCha20Poly1305::new(Key::from_slice(key.as_ref()))
            .decrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad: &kdf.associated_data(),
                },
            )
            .map_err(|_| KeystoreError::WrongPassphrase)?,
    );
    if plaintext.len() != SECRETS_LEN {
        return Err(KeystoreError::corrupt(
            "decrypted secrets have the wrong length",
        ));
    }
    let mut secrets = KeystoreSecrets {
        user_secret: [0; 32],
        libp2p_secret: [0; 32],
        store_key: [0; 32],
    };
    secrets.user_secret.copy_from_slice(&plaintext[..32]);
    secrets.libp2p_secret.copy_from_slice(&plaintext[32..64]);
    secrets.store_key.copy_from_slice(&plaintext[64..]);
    Ok(secrets)
}

fn check_kdf(kdf: &KdfDocument) -> Result<KdfParams, KeystoreError> {
    if kdf.alg != KDF_ALG {
        return Err(KeystoreError::corrupt(format!(
            "kdf.alg must be \"{KDF_ALG}\""
        )));
    }
    Ok(KdfParams {
        m_kib: bounded("m_kib", kdf.m_kib, M_KIB_MIN, M_KIB_MAX)?,
        t: bounded("t", kdf.t, T_MIN, T_MAX)?,
        p: bounded("p", kdf.p, P_MIN, P_MAX)?,
        salt: decode_fixed("kdf.salt", &kdf.salt)?,
    })
}

fn bounded(param: &'static str, got: u64, min: u64, max: u64) -> Result<u32, KeystoreError> {
    let out_of_bounds = KeystoreError::KdfOutOfBounds {
        param,
        got,
        min,
        max,
    };
    if !(min..=max).contains(&got) {
        return Err(out_of_bounds);
    }
    u32::try_from(got).map_err(|_| out_of_bounds)
}

fn decode_base64(field: &str, text: &str) -> Result<Vec<u8>, KeystoreError> {
    BASE64
        .decode(text.as_bytes())
        .map_err(|error| KeystoreError::corrupt(format!("{field} is not base64: {error}")))
}

fn decode_fixed<const N: usize>(field: &str, text: &str) -> Result<[u8; N], KeystoreError> {
    let bytes = decode_base64(field, text)?;
    bytes.as_slice().try_into().map_err(|_| {
        KeystoreError::corrupt(format!("{field} must be {N} bytes, got {}", bytes.len()))
    })
}

#[cfg(test)]
#[path = "keystore_tests.rs"]
mod tests;
