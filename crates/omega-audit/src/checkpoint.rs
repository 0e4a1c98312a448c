//! C2SP signed notes (<https://c2sp.org/signed-note>) with Ed25519 keys, and C2SP
//! transparency-log checkpoints (<https://c2sp.org/tlog-checkpoint>) carried in them.
//!
//! A note is a text ending in `\n`, a blank line, then one line per signature:
//! `— <key name> <base64(key id (4 bytes) || signature)>\n` (U+2014 and a space). The
//! Ed25519 key id is the first four bytes of `SHA-256(name || "\n" || 0x01 || public key)`,
//! and a verifier key is written `<name>+<hex key id>+<base64(0x01 || public key)>`. The
//! parsing rules follow `golang.org/x/mod/sumdb/note` so its notes and ours interoperate.

use data_encoding::{BASE64, HEXLOWER_PERMISSIVE};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::merkle::Hash;

/// Signature type byte of Ed25519 in key ids and verifier keys.
const ALG_ED25519: u8 = 0x01;
/// Start of every signature line: U+2014 EM DASH then a space.
const SIG_PREFIX: &str = "\u{2014} ";
/// Most signature lines a note may carry, as in the Go implementation.
const MAX_SIGNATURES: usize = 100;

/// Why a note or verifier key was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum NoteError {
    /// A key name is empty, or contains a space or a `+`.
    #[error("invalid key name {name:?}: expected non-empty, no whitespace, no '+'")]
    InvalidKeyName {
        /// The refused name.
        name: String,
    },
    /// A verifier key string does not have the expected shape.
    #[error("malformed verifier key: {reason}")]
    MalformedVerifierKey {
        /// What is wrong.
        reason: &'static str,
    },
    /// A verifier key names a signature type other than Ed25519.
    #[error("unsupported signature type: expected 0x01 (ed25519), got {got:#04x}")]
    UnsupportedAlgorithm {
        /// The type byte found.
        got: u8,
    },
    /// A verifier key's key id is not the one its name and key hash to.
    #[error("verifier key id mismatch: expected {expected:08x}, got {got:08x}")]
    KeyIdMismatch {
        /// The id computed from name and key.
        expected: u32,
        /// The id written in the verifier key.
        got: u32,
    },
    /// The text to sign is not a valid note text.
    #[error("invalid note text: {reason}")]
    InvalidText {
        /// What is wrong.
        reason: &'static str,
    },
    /// The note does not have the signed-note shape.
    #[error("malformed note: {reason}")]
    MalformedNote {
        /// What is wrong.
        reason: &'static str,
    },
    /// A signature by the trusted key is present but does not verify.
    #[error("invalid signature by key {name:?}")]
    InvalidSignature {
        /// Name of the trusted key.
        name: String,
    },
    /// No signature line is by the trusted key.
    #[error("no signature by key {name:?} with id {key_id:08x}")]
    NoTrustedSignature {
        /// Name of the trusted key.
        name: String,
        /// Id of the trusted key.
        key_id: u32,
    },
}

/// Why a checkpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The signed note around the checkpoint was refused.
    #[error("checkpoint note: {0}")]
    Note(#[from] NoteError),
    /// The note text is not a checkpoint body.
    #[error("malformed checkpoint: {reason}")]
    MalformedCheckpoint {
        /// What is wrong.
        reason: &'static str,
    },
}

/// A tree head as stated in a checkpoint body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line (conventionally `host/path`).
    pub origin: String,
    /// Number of entries in the tree.
    pub size: u64,
    /// Root hash of the tree of `size` entries.
    pub root: Hash,
    /// Extension lines after the root hash, without their newlines.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The checkpoint body: `<origin>\n<size>\n<base64 root>\n` then one line per extension.
    ///
    /// # Errors
    /// [`CheckpointError::MalformedCheckpoint`] if the origin or an extension is empty or
    /// holds a control character.
    pub fn to_body(&self) -> Result<String, CheckpointError> {
        check_line(
            &self.origin,
            "origin line is empty or has a control character",
        )?;
        for extension in &self.extensions {
            check_line(
                extension,
                "extension line is empty or has a control character",
            )?;
        }
        let mut body = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            BASE64.encode(&self.root)
        );
        for extension in &self.extensions {
            body.push_str(extension);
            body.push('\n');
        }
        Ok(body)
    }

    /// Parses a checkpoint body (the text of the note, ending in `\n`).
    ///
    /// # Errors
    /// [`CheckpointError::MalformedCheckpoint`].
    pub fn parse_body(body: &str) -> Result<Self, CheckpointError> {
        let malformed = |reason| CheckpointError::MalformedCheckpoint { reason };
        let Some(content) = body.strip_suffix('\n') else {
            return Err(malformed("body does not end with a newline"));
        };
        let mut lines = content.split('\n');
        let origin = lines.next().unwrap_or_default();
        check_line(origin, "origin line is empty or has a control character")?;
        let size_line = lines.next().ok_or(malformed("missing tree size line"))?;
        let size =
            parse_decimal(size_line).ok_or(malformed("tree size is not a canonical decimal"))?;
        let root_line = lines.next().ok_or(malformed("missing root hash line"))?;
        let root_bytes = BASE64
            .decode(root_line.as_bytes())
            .map_err(|_| malformed("root hash is not standard base64"))?;
        let root: Hash = root_bytes
            .try_into()
            .map_err(|_| malformed("root hash is not 32 bytes"))?;
        let mut extensions = Vec::new();
        for line in lines {
            check_line(line, "extension line is empty or has a control character")?;
            extensions.push(line.to_owned());
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }
}

fn check_line(line: &str, reason: &'static str) -> Result<(), CheckpointError> {
    if line.is_empty() || line.chars().any(char::is_control) {
        return Err(CheckpointError::MalformedCheckpoint { reason });
    }
    Ok(())
}

/// A decimal with no sign and no leading zero (except `0` itself).
fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if text.len() > 1 && text.starts_with('0') {
        return None;
    }
    text.parse().ok()
}

/// Whether `name` may name a key: non-empty, no Unicode whitespace, no `+`.
fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

fn check_name(name: &str) -> Result<(), NoteError> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(NoteError::InvalidKeyName {
            name: name.to_owned(),
        })
    }
}

/// The Ed25519 key id: the first four bytes of `SHA-256(name || "\n" || 0x01 || key)`,
/// read big-endian.
#[must_use]
pub fn key_id(name: &str, public_key: &VerifyingKey) -> u32 {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update(b"\n");
    hasher.update([ALG_ED25519]);
    hasher.update(public_key.as_bytes());
    let digest = hasher.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// A trusted Ed25519 note key: name, key id and public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_id: u32,
    public_key: VerifyingKey,
}

impl NoteVerifier {
    /// A verifier for `public_key` under `name`.
    ///
    /// # Errors
    /// [`NoteError::InvalidKeyName`].
    pub fn new(name: &str, public_key: VerifyingKey) -> Result<Self, NoteError> {
        check_name(name)?;
        Ok(Self {
            name: name.to_owned(),
            key_id: key_id(name, &public_key),
            public_key,
        })
    }

    /// Parses a verifier key `<name>+<hex key id>+<base64(0x01 || public key)>`.
    ///
    /// # Errors
    /// [`NoteError::MalformedVerifierKey`], [`NoteError::InvalidKeyName`],
    /// [`NoteError::UnsupportedAlgorithm`] or [`NoteError::KeyIdMismatch`].
    pub fn parse(verifier_key: &str) -> Result<Self, NoteError> {
        let malformed = |reason| NoteError::MalformedVerifierKey { reason };
        // The base64 part may itself contain '+', so split only twice.
        let mut parts = verifier_key.splitn(3, '+');
        let name = parts.next().unwrap_or_default();
        let id_hex = parts.next().ok_or(malformed("missing key id"))?;
        let key_b64 = parts.next().ok_or(malformed("missing key"))?;
        check_name(name)?;
        if id_hex.len() != 8 {
            return Err(malformed("key id is not 8 hex digits"));
        }
        let id_bytes = HEXLOWER_PERMISSIVE
            .decode(id_hex.as_bytes())
            .map_err(|_| malformed("key id is not hex"))?;
        let id_array: [u8; 4] = id_bytes
            .try_into()
            .map_err(|_| malformed("key id is not 4 bytes"))?;
        let written_id = u32::from_be_bytes(id_array);
        let key = BASE64
            .decode(key_b64.as_bytes())
            .map_err(|_| malformed("key is not standard base64"))?;
        let Some((&alg, raw)) = key.split_first() else {
            return Err(malformed("key is empty"));
        };
        if alg != ALG_ED25519 {
            return Err(NoteError::UnsupportedAlgorithm { got: alg });
        }
        let raw: [u8; 32] = raw
            .try_into()
            .map_err(|_| malformed("ed25519 key is not 32 bytes"))?;
        let public_key = VerifyingKey::from_bytes(&raw)
            .map_err(|_| malformed("ed25519 key is not a valid point"))?;
        let expected = key_id(name, &public_key);
        if expected != written_id {
            return Err(NoteError::KeyIdMismatch {
                expected,
                got: written_id,
            });
        }
        Ok(Self {
            name: name.to_owned(),
            key_id: written_id,
            public_key,
        })
    }

    /// The key name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    #[must_use]
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The Ed25519 public key.
    #[must_use]
    pub fn public_key(&self) -> &VerifyingKey {
        &self.public_key
    }

    /// The verifier key string `<name>+<hex key id>+<base64(0x01 || public key)>`.
    #[must_use]
    pub fn to_verifier_key(&self) -> String {
        let mut key = Vec::with_capacity(33);
        key.push(ALG_ED25519);
        key.extend_from_slice(self.public_key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.key_id, BASE64.encode(&key))
    }
}

/// The verifier key string for `signing_key` under `name`.
///
/// # Errors
/// [`NoteError::InvalidKeyName`].
pub fn verifier_key(name: &str, signing_key: &SigningKey) -> Result<String, NoteError> {
    Ok(NoteVerifier::new(name, signing_key.verifying_key())?.to_verifier_key())
}

/// Checks what the Go implementation requires of a whole note: no ASCII control
/// characters but `\n` (UTF-8 validity is given by `&str`).
fn check_note_chars(text: &str) -> bool {
    !text.chars().any(|c| c < '\u{20}' && c != '\n')
}

/// Signs `text` (non-empty, ending in `\n`, no blank line) as a one-signature note.
///
/// # Errors
/// [`NoteError::InvalidKeyName`] or [`NoteError::InvalidText`].
pub fn sign_note(text: &str, name: &str, signing_key: &SigningKey) -> Result<String, NoteError> {
    check_name(name)?;
    let invalid = |reason| NoteError::InvalidText { reason };
    if !text.ends_with('\n') {
        return Err(invalid("text does not end with a newline"));
    }
    if text.starts_with('\n') || text.contains("\n\n") {
        return Err(invalid("text contains a blank line"));
    }
    if !check_note_chars(text) {
        return Err(invalid("text contains a control character"));
    }
    let id = key_id(name, &signing_key.verifying_key());
    let signature = signing_key.sign(text.as_bytes());
    let mut blob = Vec::with_capacity(68);
    blob.extend_from_slice(&id.to_be_bytes());
    blob.extend_from_slice(&signature.to_bytes());
    Ok(format!(
        "{text}\n{SIG_PREFIX}{name} {}\n",
        BASE64.encode(&blob)
    ))
}

/// Verifies `note` against one trusted key and returns its text (ending in `\n`).
///
/// Signature lines by other keys are ignored, as the spec requires; a failing signature
/// by the trusted key rejects the note.
///
/// # Errors
/// [`NoteError::MalformedNote`], [`NoteError::InvalidSignature`] or
/// [`NoteError::NoTrustedSignature`].
pub fn open_note<'a>(note: &'a str, verifier: &NoteVerifier) -> Result<&'a str, NoteError> {
    let malformed = |reason| NoteError::MalformedNote { reason };
    if !check_note_chars(note) {
        return Err(malformed("note contains a control character"));
    }
    let split = note
        .rfind("\n\n")
        .ok_or(malformed("no blank line before the signatures"))?;
    let text = &note[..=split];
    let signatures = &note[split + 2..];
    let Some(signatures) = signatures.strip_suffix('\n') else {
        return Err(malformed(
            "signature block is empty or does not end with a newline",
        ));
    };

    let mut trusted: Option<Signature> = None;
    for (count, line) in signatures.split('\n').enumerate() {
        if count >= MAX_SIGNATURES {
            return Err(malformed("too many signatures"));
        }
        let line = line.strip_prefix(SIG_PREFIX).ok_or(malformed(
            "signature line does not start with an em dash and a space",
        ))?;
        let (name, b64) = line
            .split_once(' ')
            .ok_or(malformed("signature line has no space after the key name"))?;
        if !is_valid_name(name) || b64.is_empty() {
            return Err(malformed(
                "signature line has a bad key name or no signature",
            ));
        }
        let blob = BASE64
            .decode(b64.as_bytes())
            .map_err(|_| malformed("signature is not standard base64"))?;
        let Some((id_bytes, signature_bytes)) = blob.split_first_chunk::<4>() else {
            return Err(malformed("signature is shorter than 5 bytes"));
        };
        let id = u32::from_be_bytes(*id_bytes);
        if name != verifier.name || id != verifier.key_id || trusted.is_some() {
            // Unknown key, or a repeat of the trusted key's line (Go keeps the first).
            continue;
        }
        let signature = <[u8; 64]>::try_from(signature_bytes)
            .map(|bytes| Signature::from_bytes(&bytes))
            .map_err(|_| NoteError::InvalidSignature {
                name: name.to_owned(),
            })?;
        trusted = Some(signature);
    }

    let Some(signature) = trusted else {
        return Err(NoteError::NoTrustedSignature {
            name: verifier.name.clone(),
            key_id: verifier.key_id,
        });
    };
    verifier
        .public_key
        .verify_strict(text.as_bytes(), &signature)
        .map_err(|_| NoteError::InvalidSignature {
            name: verifier.name.clone(),
        })?;
    Ok(text)
}

/// Signs the checkpoint `<origin>\n<size>\n<base64 root>\n` as a note under `name`.
///
/// # Errors
/// [`CheckpointError::MalformedCheckpoint`] for a bad origin, or
/// [`CheckpointError::Note`] for a bad key name.
pub fn sign_checkpoint(
    origin: &str,
    size: u64,
    root: &Hash,
    name: &str,
    signing_key: &SigningKey,
) -> Result<String, CheckpointError> {
    let body = Checkpoint {
        origin: origin.to_owned(),
        size,
        root: *root,
        extensions: Vec::new(),
    }
    .to_body()?;
    Ok(sign_note(&body, name, signing_key)?)
}

/// Verifies a signed checkpoint against the verifier key string and returns its content.
///
/// # Errors
/// [`CheckpointError::Note`] for a bad verifier key, a malformed note, a bad signature or
/// no signature by that key; [`CheckpointError::MalformedCheckpoint`] for a bad body.
pub fn verify_checkpoint(note: &str, verifier_key: &str) -> Result<Checkpoint, CheckpointError> {
    let verifier = NoteVerifier::parse(verifier_key)?;
    verify_checkpoint_with(note, &verifier)
}

/// Like [`verify_checkpoint`], with an already parsed verifier.
///
/// # Errors
/// As [`verify_checkpoint`].
pub fn verify_checkpoint_with(
    note: &str,
    verifier: &NoteVerifier,
) -> Result<Checkpoint, CheckpointError> {
    let body = open_note(note, verifier)?;
    Checkpoint::parse_body(body)
}
