//! Secrets at rest: signing keys and TOTP secrets are sealed in the database with
//! XChaCha20-Poly1305 under the hub master key, which never enters the database. The master
//! key lives in `hub-master.key` (0600) in the hub's data directory, or in the environment
//! (`OMEGA_HUB_MASTER_KEY`, 64 hex digits) for deployments that keep it in a secret manager.

use std::path::Path;

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{Key, KeyInit, XChaCha20Poly1305, XNonce};
use rand::RngCore;
use zeroize::Zeroizing;

/// Why sealing or opening failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    #[error("sealed secret is damaged or was sealed under another master key")]
    Open,
    #[error("master key: {0}")]
    MasterKey(String),
}

/// The hub master key.
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let MasterKey(_) = self;
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    /// A key from 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> MasterKey {
        MasterKey(Zeroizing::new(bytes))
    }

    /// `OMEGA_HUB_MASTER_KEY` if set, else the key file, created (0600) when missing.
    pub fn load_or_create(path: &Path) -> Result<MasterKey, SealError> {
        if let Ok(hex_key) = std::env::var("OMEGA_HUB_MASTER_KEY") {
            return MasterKey::from_hex(hex_key.trim());
        }
        match std::fs::read_to_string(path) {
            Ok(text) => MasterKey::from_hex(text.trim())
                .map_err(|error| SealError::MasterKey(format!("{}: {error}", path.display()))),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = Zeroizing::new([0u8; 32]);
                rand::rngs::OsRng.fill_bytes(bytes.as_mut());
                let text = Zeroizing::new(hex::encode(bytes.as_ref()));
                write_private(path, text.as_bytes()).map_err(|error| {
                    SealError::MasterKey(format!("{}: {error}", path.display()))
                })?;
                Ok(MasterKey(bytes))
            }
            Err(error) => Err(SealError::MasterKey(format!("{}: {error}", path.display()))),
        }
    }

    fn from_hex(text: &str) -> Result<MasterKey, SealError> {
        let bytes = Zeroizing::new(
            hex::decode(text).map_err(|_| SealError::MasterKey("expected 64 hex digits".into()))?,
        );
        let array: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| SealError::MasterKey(format!("expected 32 bytes, got {}", bytes.len())))?;
        Ok(MasterKey::from_bytes(array))
    }

    /// Seals `secret`, bound to `context` (e.g. `"jwt:<kid>"`): nonce ‖ ciphertext.
    pub fn seal(&self, context: &str, secret: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let cipher = XChaCha20Poly1305::new(Key::from_slice(self.0.as_ref()));
        let payload = Payload {
            msg: secret,
            aad: context.as_bytes(),
        };
        // Encryption with a valid key and nonce cannot fail for inputs this small.
        let ciphertext = cipher
            .encrypt(XNonce::from_slice(&nonce), payload)
            .unwrap_or_default();
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    /// A keyed hash of `data` under `context`: SHA-256 over a key derived from the master key
    /// for that context, then the length-prefixed data. Equal inputs give equal hashes, but
    /// without the master key nobody can test a guess (a phone number space is small enough to
    /// enumerate an unkeyed hash).
    pub fn keyed_hash(&self, context: &str, data: &[u8]) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut derive = Sha256::new();
        derive.update(b"omega-hub keyed-hash v1\0");
        derive.update(self.0.as_ref());
        derive.update(context.as_bytes());
        let subkey = Zeroizing::new(<[u8; 32]>::from(derive.finalize()));
        let mut hash = Sha256::new();
        hash.update(subkey.as_ref());
        hash.update((data.len() as u64).to_be_bytes());
        hash.update(data);
        hash.finalize().into()
    }

    /// Opens what [`MasterKey::seal`] produced under the same context.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        if sealed.len() < 24 + 16 {
            return Err(SealError::Open);
        }
        let (nonce, ciphertext) = sealed.split_at(24);
        let cipher = XChaCha20Poly1305::new(Key::from_slice(self.0.as_ref()));
        let payload = Payload {
            msg: ciphertext,
            aad: context.as_bytes(),
        };
        cipher
            .decrypt(XNonce::from_slice(nonce), payload)
            .map(Zeroizing::new)
            .map_err(|_| SealError::Open)
    }
}

/// Writes a file readable only by its owner.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secret_opens_only_under_its_context_and_key() {
        let key = MasterKey::from_bytes([7; 32]);
        let sealed = key.seal("jwt:a", b"secret");
        assert_eq!(key.open("jwt:a", &sealed).unwrap().as_slice(), b"secret");
        assert!(key.open("jwt:b", &sealed).is_err());
        assert!(
            MasterKey::from_bytes([8; 32])
                .open("jwt:a", &sealed)
                .is_err()
        );
        assert!(key.open("jwt:a", &sealed[..10]).is_err());
    }

    #[test]
    fn key_file_is_created_once_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub-master.key");
        let first = MasterKey::load_or_create(&path).unwrap();
        let second = MasterKey::load_or_create(&path).unwrap();
        let sealed = first.seal("x", b"y");
        assert_eq!(second.open("x", &sealed).unwrap().as_slice(), b"y");
        std::fs::write(&path, "not hex").unwrap();
        assert!(MasterKey::load_or_create(&path).is_err());
    }
}
