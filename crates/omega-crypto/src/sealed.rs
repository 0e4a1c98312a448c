//! Sealed sender for mailbox deposits: the envelope (which names its sender) is padded to a size
//! bucket and encrypted to the recipient device's X25519 sealing key under a fresh ephemeral key,
//! so a mailbox server learns neither who wrote nor the exact size. The recipient unseals, then
//! verifies the envelope as usual — sealing adds privacy, never trust.
//!
//! The sealing key is derived from the store key held in the passphrase-sealed keystore, so it
//! needs no storage of its own; its public half is listed in the signed device list.

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{Key, KeyInit, XChaCha20Poly1305, XNonce};
use omega_proto::v1;
use rand::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

/// Size buckets a sealed envelope is padded to (the plaintext, before the AEAD tag).
pub const BUCKETS: [usize; 7] = [256, 1024, 4096, 16384, 65536, 262144, 524288];

const LABEL: &[u8] = b"omega/sealed/v1\0";

/// Why a sealed envelope could not be opened (or made).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SealError {
    #[error("envelope of {got} bytes is larger than the largest bucket ({limit})")]
    TooLarge { got: usize, limit: usize },
    #[error("sealed envelope does not decrypt with this device's key")]
    Undecryptable,
    #[error("sealed envelope has a bad padding")]
    BadPadding,
    #[error("malformed sealed envelope: {0}")]
    Malformed(String),
}

/// A device's sealing secret, derived from its store key.
pub struct SealingKey {
    secret: StaticSecret,
}

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self { secret: _ } = self;
        f.debug_struct("SealingKey")
            .field("public", &data_encoding::HEXLOWER.encode(&self.public()))
            .finish()
    }
}

impl SealingKey {
    /// Derives the sealing key from the device's store key.
    pub fn derive(store_key: &[u8; 32]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"omega/sealing-key/v1\0");
        hasher.update(store_key);
        let bytes = Zeroizing::new(<[u8; 32]>::from(hasher.finalize()));
        SealingKey {
            secret: StaticSecret::from(*bytes),
        }
    }

    pub fn public(&self) -> [u8; 32] {
        PublicKey::from(&self.secret).to_bytes()
    }

    /// Opens a sealed envelope addressed to this key; returns the inner envelope bytes.
    pub fn unseal(&self, sealed: &v1::SealedEnvelope) -> Result<Vec<u8>, SealError> {
        let ephemeral: [u8; 32] = sealed
            .ephemeral_x25519
            .as_slice()
            .try_into()
            .map_err(|_| SealError::Malformed("ephemeral key is not 32 bytes".into()))?;
        let nonce: [u8; 24] = sealed
            .nonce
            .as_slice()
            .try_into()
            .map_err(|_| SealError::Malformed("nonce is not 24 bytes".into()))?;
        let shared = self.secret.diffie_hellman(&PublicKey::from(ephemeral));
        let key = derive_key(shared.as_bytes(), &ephemeral, &self.public());
        let padded = Zeroizing::new(
            XChaCha20Poly1305::new(Key::from_slice(key.as_ref()))
                .decrypt(
                    XNonce::from_slice(&nonce),
                    Payload {
                        msg: &sealed.ciphertext,
                        aad: LABEL,
                    },
                )
                .map_err(|_| SealError::Undecryptable)?,
        );
        unpad(&padded)
    }
}

fn derive_key(
    shared: &[u8; 32],
    ephemeral: &[u8; 32],
    recipient: &[u8; 32],
) -> Zeroizing<[u8; 32]> {
    let mut hasher = Sha256::new();
    hasher.update(LABEL);
    hasher.update(shared);
    hasher.update(ephemeral);
    hasher.update(recipient);
    Zeroizing::new(hasher.finalize().into())
}

fn pad(envelope: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
    let needed = envelope.len() + 4;
    let limit = BUCKETS[BUCKETS.len() - 1];
    let bucket = BUCKETS
        .iter()
        .copied()
        .find(|bucket| *bucket >= needed)
        .ok_or(SealError::TooLarge {
            got: envelope.len(),
            limit: limit - 4,
        })?;
    let mut padded = Zeroizing::new(Vec::with_capacity(bucket));
    padded.extend_from_slice(&(envelope.len() as u32).to_be_bytes());
    padded.extend_from_slice(envelope);
    padded.resize(bucket, 0);
    Ok(padded)
}

fn unpad(padded: &[u8]) -> Result<Vec<u8>, SealError> {
    let (length, rest) = padded.split_at_checked(4).ok_or(SealError::BadPadding)?;
    let length = u32::from_be_bytes(length.try_into().map_err(|_| SealError::BadPadding)?) as usize;
    if length > rest.len() || rest[length..].iter().any(|byte| *byte != 0) {
        return Err(SealError::BadPadding);
    }
    Ok(rest[..length].to_vec())
}

/// Seals `envelope` to a device's public sealing key.
pub fn seal<R: RngCore + CryptoRng>(
    recipient: &[u8; 32],
    envelope: &[u8],
    rng: &mut R,
) -> Result<v1::SealedEnvelope, SealError> {
    let padded = pad(envelope)?;
    let mut ephemeral_secret = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(ephemeral_secret.as_mut());
    let ephemeral = StaticSecret::from(*ephemeral_secret);
    let ephemeral_public = PublicKey::from(&ephemeral).to_bytes();
    let shared = ephemeral.diffie_hellman(&PublicKey::from(*recipient));
    let key = derive_key(shared.as_bytes(), &ephemeral_public, recipient);
    let mut nonce = [0u8; 24];
    rng.fill_bytes(&mut nonce);
    let ciphertext = XChaCha20Poly1305::new(Key::from_slice(key.as_ref()))
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &padded,
                aad: LABEL,
            },
        )
        .map_err(|_| SealError::Malformed("encryption failed".into()))?;
    Ok(v1::SealedEnvelope {
        ephemeral_x25519: ephemeral_public.to_vec(),
        nonce: nonce.to_vec(),
        ciphertext,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use omega_proto::Message;

    #[test]
    fn sealed_envelope_round_trips_and_hides_the_size() {
        let key = SealingKey::derive(&[7; 32]);
        for size in [0usize, 1, 200, 252, 253, 1000, 5000] {
            let envelope = vec![9u8; size];
            let sealed = seal(&key.public(), &envelope, &mut rand::rngs::OsRng).unwrap();
            assert!(
                BUCKETS.contains(&(sealed.ciphertext.len() - 16)),
                "size {size}"
            );
            assert_eq!(key.unseal(&sealed).unwrap(), envelope);
        }
        let small = seal(&key.public(), &[1; 10], &mut rand::rngs::OsRng).unwrap();
        let larger = seal(&key.public(), &[1; 200], &mut rand::rngs::OsRng).unwrap();
        assert_eq!(
            small.encode_to_vec().len(),
            larger.encode_to_vec().len(),
            "same bucket"
        );
    }

    #[test]
    fn another_key_or_a_flipped_bit_cannot_unseal() {
        let key = SealingKey::derive(&[7; 32]);
        let other = SealingKey::derive(&[8; 32]);
        let mut sealed = seal(&key.public(), b"envelope", &mut rand::rngs::OsRng).unwrap();
        assert_eq!(other.unseal(&sealed), Err(SealError::Undecryptable));
        sealed.ciphertext[3] ^= 1;
        assert_eq!(key.unseal(&sealed), Err(SealError::Undecryptable));
        sealed.ephemeral_x25519.pop();
        assert!(matches!(key.unseal(&sealed), Err(SealError::Malformed(_))));
    }

    #[test]
    fn oversized_envelope_is_refused() {
        let key = SealingKey::derive(&[7; 32]);
        let envelope = vec![0u8; BUCKETS[BUCKETS.len() - 1]];
        assert!(matches!(
            seal(&key.public(), &envelope, &mut rand::rngs::OsRng),
            Err(SealError::TooLarge { .. })
        ));
    }

    #[test]
    fn the_sealing_key_is_stable_per_store_key() {
        assert_eq!(
            SealingKey::derive(&[1; 32]).public(),
            SealingKey::derive(&[1; 32]).public()
        );
        assert_ne!(
            SealingKey::derive(&[1; 32]).public(),
            SealingKey::derive(&[2; 32]).public()
        );
    }
}
